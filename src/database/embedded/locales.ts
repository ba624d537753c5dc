import { execFileSync } from 'node:child_process';

/** The system's locales (`locale -a`); none without a `locale` command (Windows). */
function availableLocales(): string[] {
  try {
    return execFileSync('locale', ['-a'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .split(/\r?\n/)
      .map((l) => l.trim());
  } catch {
    return [];
  }
}

/**
 * initdb options of a new cluster: UTF-8 and a UTF-8 libc locale. pg_trgm's word characters and
 * lower()/ILIKE follow the cluster's LC_CTYPE, and in "C" only ASCII letters are letters, so
 * search would find no trigrams in Hangul, kana, CJK or accented words, and "É" would not match
 * "é". The first UTF-8 locale the system has wins (`C.UTF-8` on glibc and musl); without one,
 * the start-up check of SearchModule warns. Existing clusters keep the locale they were made with.
 */
export function initdbLocaleFlags(): string[] {
  const available = availableLocales();
  const utf8 =
    ['C.UTF-8', 'C.utf8', 'en_US.UTF-8', 'en_US.utf8'].find((l) => available.includes(l)) ??
    available.find((l) => /\.utf-?8$/i.test(l));
  return ['--encoding=UTF8', ...(utf8 ? [`--locale=${utf8}`] : [])];
}

/** UTF-8 messages in English: PostgreSQL's output is read to know when it is ready. */
export function messagesLocale(): string {
  const locales = availableLocales();
  return ['en_US.UTF-8', 'C.UTF-8', 'en_US.utf8', 'C.utf8'].find((l) => locales.includes(l)) ?? 'C';
}
