/**
 * Deterministic pseudo-random data: the same BENCH_SEED gives the same data set, so runs are
 * comparable. Not cryptographic, and it does not need to be.
 */

/** mulberry32: a tiny, fast 32-bit PRNG with good enough statistics for test data. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Random = () => number;

export function intBetween(random: Random, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

/**
 * Log-uniform integer in [min, max]: as many values between 10 and 100 as between 100 and 1,000.
 * Real chat data is skewed like this (many short rooms and messages, a long tail of big ones);
 * a uniform draw would make the average room and message several times larger than typical.
 */
export function logUniform(random: Random, min: number, max: number): number {
  if (min >= max) return min;
  const value = Math.exp(Math.log(min) + random() * (Math.log(max + 1) - Math.log(min)));
  return Math.min(max, Math.floor(value));
}

export function pick<T>(random: Random, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)];
}

const WORDS = (
  'the of and to in is you that it he was for on are as with his they at be this have from ' +
  'or one had by word but not what all were we when your can said there use an each which she ' +
  'do how their if will up other about out many then them these so some her would make like him ' +
  'into time has look two more write go see number no way could people my than first water been ' +
  'call who oil its now find long down day did get come made may part database query index ' +
  'server request response latency cache token session message room user assistant system ' +
  'model prompt answer question explain example code function error value type string number ' +
  'array object return async await promise stream buffer socket thread process memory cpu ' +
  'deploy build test bench metric throughput p99 percentile json schema migration table row ' +
  'column transaction commit rollback lock vacuum analyze plan cost rows width loops buffers'
).split(' ');

/**
 * A large block of word salad with punctuation. Message contents are slices of it: much
 * cheaper than generating every message word by word, and still text-like for PostgreSQL's
 * TOAST compression and for JSON escaping (quotes, newlines, a few non-ASCII characters).
 */
export function corpus(random: Random, length: number): string {
  const parts: string[] = [];
  let size = 0;
  let sentence = 0;
  while (size < length) {
    let word = pick(random, WORDS);
    if (sentence === 0) word = word[0].toUpperCase() + word.slice(1);
    sentence++;
    const r = random();
    if (sentence > 6 && r < 0.12) {
      word += pick(random, [
        '.',
        '.',
        '.',
        '?',
        '!',
        '.\n',
        '.\n\n',
        ' — ok.',
        ' "quoted".',
        ' (ünïcödé).',
      ]);
      sentence = 0;
    } else if (r < 0.06) {
      word += ',';
    }
    parts.push(word);
    size += word.length + 1;
  }
  return parts.join(' ');
}

/** A text of exactly `length` characters cut from the corpus, never blank. */
export function textOfLength(random: Random, source: string, length: number): string {
  const start = Math.floor(random() * (source.length - length - 1));
  let text = source.slice(start, start + length);
  if (text.trim().length === 0 || text[0] === ' ') text = 'x' + text.slice(1);
  return text;
}
