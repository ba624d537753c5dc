import { ServerOutput } from './server-output';

describe('ServerOutput', () => {
  const said = (output: ServerOutput, text: string) => output.remember(Buffer.from(text));

  it('names the port and EMBEDDED_PG_PORT when the port is taken, quoting the last error', () => {
    const output = new ServerOutput('/data/pg', 5433);
    said(output, 'LOG:  starting PostgreSQL 17\n');
    said(output, 'LOG:  could not bind IPv4 address "127.0.0.1": Address already in use\n');
    said(output, 'FATAL:  could not create any TCP/IP sockets\n');
    const { message } = output.failure('did not start');
    expect(message).toBe(
      'Embedded PostgreSQL did not start (/data/pg) [FATAL:  could not create any TCP/IP sockets]: ' +
        'port 5433 is in use: set EMBEDDED_PG_PORT to a free port, ' +
        'or set DATABASE_URL to a PostgreSQL of your own',
    );
  });

  it('keeps the message to one line, the quote cut short', () => {
    const output = new ServerOutput('/data/pg', 5433);
    said(output, `FATAL:  ${'x'.repeat(500)}\nsecond line\n`);
    const { message } = output.failure('could not be initialised');
    expect(message).not.toContain('\n');
    expect(message).toContain(`[FATAL:  ${'x'.repeat(192)}…]`);
    expect(message).toMatch(/fix what it said, set DATA_DIR elsewhere, or set DATABASE_URL/);
  });

  it('reads a program that cannot be spawned as a permissions problem on the data directory', () => {
    const output = new ServerOutput('/data/pg', 5433);
    const error = Object.assign(new Error('spawn EACCES'), { code: 'EACCES' });
    expect(output.notRunnable('did not start', 'postgres', error).message).toMatch(
      /^Embedded PostgreSQL did not start \(\/data\/pg\): postgres cannot be run \(EACCES\): the server cannot use \/data\/pg \(permissions\)/,
    );
  });

  it('forgets what an earlier program said once cleared', () => {
    const output = new ServerOutput('/data/pg', 5433);
    said(output, 'FATAL:  lock file "postmaster.pid" already exists\n');
    output.clear();
    expect(output.failure('did not start').message).not.toMatch(/FATAL|another server/);
  });
});
