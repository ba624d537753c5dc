import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { clusterDirectory, startEmbeddedPostgres } from '../database/embedded-postgres';
import { validateEnv } from './env.validation';

export interface Runtime {
  /** Values to layer over process.env when the app's configuration is built. */
  env: Record<string, string>;
  /** What the operator should know at start-up (where the embedded database keeps its data). */
  notes: string[];
  /** Releases what prepareRuntime() started (the embedded database); safe to call twice. */
  stop(): Promise<void>;
}

async function developmentSecret(dataDir: string): Promise<string> {
  const file = join(dataDir, 'jwt-secret');
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
  const secret = randomBytes(48).toString('base64url');
  await writeFile(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}

/**
 * Fills in what a fresh checkout lacks, outside production only: a JWT secret generated once
 * and kept in DATA_DIR, and an embedded PostgreSQL when DATABASE_URL is unset.
 * Invalid settings throw here, before anything starts.
 */
export async function prepareRuntime(raw: NodeJS.ProcessEnv = process.env): Promise<Runtime> {
  const env = validateEnv(raw);
  const dataDir = resolve(env.DATA_DIR);
  const overrides: Record<string, string> = {};
  const notes: string[] = [];
  let stop = async () => {};

  if (!env.JWT_SECRET || !env.DATABASE_URL) await mkdir(dataDir, { recursive: true });
  if (!env.JWT_SECRET) overrides.JWT_SECRET = await developmentSecret(dataDir);
  if (!env.DATABASE_URL) {
    const db = await startEmbeddedPostgres({
      dataDir: await clusterDirectory(dataDir),
      port: env.EMBEDDED_PG_PORT,
      database: 'chat',
      durable: true,
      passwordFile: join(dataDir, 'pg-password'),
    });
    overrides.DATABASE_URL = db.url;
    notes.push(`Embedded PostgreSQL on 127.0.0.1:${env.EMBEDDED_PG_PORT}, data in ${db.dataDir}`);
    stop = () => db.stop();
  }
  return { env: overrides, notes, stop };
}
