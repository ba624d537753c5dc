import { Writable } from 'node:stream';

/** Collects the app's log lines (pass `stream` as createApp's logStream). */
export class LogCapture {
  readonly lines: string[] = [];
  readonly stream = new Writable({
    write: (chunk: Buffer, _encoding, done) => {
      this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  get text(): string {
    return this.lines.join('\n');
  }
}

// What must never reach a client or a log line: SQL, stack frames, driver and library messages.
const FORBIDDEN: [string, RegExp][] = [
  ['an argon2 hash', /\$argon2(id|i|d)\$/],
  ['a column of secrets', /password_hash|passwordHash/],
  ['SQL', /\b(SELECT|INSERT INTO|UPDATE|DELETE FROM)\s+["a-z_*]/],
  ['a stack frame', /\n\s+at \S+ \(|\bat (Object|Function|process)\.|node:internal/],
  [
    'a PostgreSQL message',
    /duplicate key value|violates|invalid input syntax|relation "|terminating connection|the database system is/i,
  ],
  [
    'a driver message',
    /connect ECONNREFUSED|Connection terminated|timeout exceeded when trying to connect/,
  ],
];

/**
 * Throws if `text` (responses, log lines) carries a secret or a forbidden kind of detail.
 * `secrets` are exact values: passwords, tokens, the JWT secret.
 */
export function expectNoLeaks(text: string, secrets: string[]): void {
  for (const secret of secrets.filter((s) => s.length >= 8)) {
    if (text.includes(secret)) throw new Error(`leak: a secret (${secret.slice(0, 4)}…) appears`);
  }
  for (const [what, pattern] of FORBIDDEN) {
    const match = pattern.exec(text);
    if (match) {
      const at = Math.max(0, match.index - 60);
      throw new Error(`leak: ${what}: …${text.slice(at, match.index + 60)}…`);
    }
  }
}
