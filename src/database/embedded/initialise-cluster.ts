import { randomBytes } from 'node:crypto';
import { chown, mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { initdbLocaleFlags } from './locales';
import { Launch, spawnAs } from './supervisor';

/**
 * Makes a new cluster in `dataDir` with initdb: superuser `postgres` with `password`
 * (scram-sha-256), the locale search needs, English messages. A failed initdb leaves nothing
 * behind, so the next start tries again.
 */
export async function initialiseCluster(
  initdb: string,
  dataDir: string,
  password: string,
  launch: Launch,
): Promise<void> {
  const { account, output } = launch;
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (account) await chown(dataDir, account.uid, account.gid);
  // Readable by the account initdb runs as, and by nobody else.
  const pwfile = join(
    dirname(dataDir),
    `.pg-initdb-${process.pid}-${randomBytes(4).toString('hex')}`,
  );
  await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
  if (account) await chown(pwfile, account.uid, account.gid);
  try {
    const child = spawnAs(
      initdb,
      [
        `--pgdata=${dataDir}`,
        '--auth=scram-sha-256',
        '--username=postgres',
        `--pwfile=${pwfile}`,
        // The cluster's character classes (search), then English messages (read for errors).
        ...initdbLocaleFlags(),
        `--lc-messages=${launch.locale}`,
      ],
      launch,
    );
    await new Promise<void>((done, fail) => {
      child.once('error', (error: NodeJS.ErrnoException) =>
        fail(output.notRunnable('could not be initialised', 'initdb', error)),
      );
      child.once('close', (code) =>
        code === 0 ? done() : fail(output.failure('could not be initialised')),
      );
    });
  } catch (error) {
    // A half-made cluster would be taken for a real one next time.
    await rm(dataDir, { recursive: true, force: true }).catch(() => undefined);
    throw error;
  } finally {
    await rm(pwfile, { force: true });
  }
}
