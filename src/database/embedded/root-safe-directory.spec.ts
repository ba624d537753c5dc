import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { clusterDirectory, ROOT_HOME } from './root-safe-directory';

const asRoot = process.getuid?.() === 0;

describe('clusterDirectory', () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'chat-cluster-dir-'));
  });
  afterEach(async () => {
    const link = join(dataDir, 'pg');
    const info = await lstat(link).catch(() => undefined);
    if (info?.isSymbolicLink()) await rm(dirname(await readlink(link)), { recursive: true });
    await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps a cluster that already lives in DATA_DIR/pg where it is', async () => {
    await mkdir(join(dataDir, 'pg'));
    await writeFile(join(dataDir, 'pg', 'PG_VERSION'), '17\n');
    expect(await clusterDirectory(dataDir)).toBe(join(dataDir, 'pg'));
    expect((await lstat(join(dataDir, 'pg'))).isDirectory()).toBe(true);
  });

  (asRoot ? it : it.skip)(
    'as root, puts a new cluster under ROOT_HOME, linked from DATA_DIR/pg, and finds it again',
    async () => {
      await mkdir(join(dataDir, 'pg')); // left empty by a start that could not run initdb
      const cluster = await clusterDirectory(dataDir);
      expect(cluster.startsWith(`${ROOT_HOME}/chat-cluster-dir-`)).toBe(true);
      expect(existsSync(cluster)).toBe(true);
      expect(await readlink(join(dataDir, 'pg'))).toBe(cluster);
      expect(await clusterDirectory(dataDir)).toBe(cluster);
    },
  );

  (asRoot ? it : it.skip)('as root, refuses a DATA_DIR/pg that holds something else', async () => {
    await mkdir(join(dataDir, 'pg'));
    await writeFile(join(dataDir, 'pg', 'notes.txt'), 'mine');
    await expect(clusterDirectory(dataDir)).rejects.toThrow(/holds files but no cluster/);
    expect(existsSync(join(dataDir, 'pg', 'notes.txt'))).toBe(true);
  });
});
