import { EmbeddedPostgresError, REMEDY } from './errors';
import { isRoot } from './root-safe-directory';

/**
 * The last lines initdb or the server wrote, kept to turn a failure into one line: what failed,
 * what PostgreSQL said, and the remedy.
 */
export class ServerOutput {
  private readonly lines: string[] = [];

  constructor(
    private readonly dataDir: string,
    private readonly port: number,
  ) {}

  /** A listener for the programs' stdout and stderr. */
  readonly remember = (chunk: Buffer): void => {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    this.lines.splice(0, Math.max(0, this.lines.length - 20));
  };

  clear(): void {
    this.lines.length = 0;
  }

  /** One line: what failed, what PostgreSQL said last (cut short), and the remedy. */
  failure(what: string, detail?: string): EmbeddedPostgresError {
    const said = this.lines
      .filter((l) => /FATAL|ERROR|PANIC|error/.test(l))
      .at(-1)
      ?.trim();
    const quoted = said ? ` [${said.length > 200 ? `${said.slice(0, 200)}…` : said}]` : '';
    return new EmbeddedPostgresError(
      `Embedded PostgreSQL ${what} (${this.dataDir})${quoted}: ${detail ?? this.explain(this.lines.join('\n'))}`,
    );
  }

  /** A program that could not be spawned at all: as root, the postgres user may not reach it. */
  notRunnable(what: string, program: string, error: NodeJS.ErrnoException): EmbeddedPostgresError {
    return this.failure(
      what,
      `${program} cannot be run (${error.code ?? error.message}): ${this.explain('Permission denied')}`,
    );
  }

  /** The remedy for what PostgreSQL said when it failed, in one line. */
  explain(output: string): string {
    if (/Address already in use|could not create any TCP\/IP sockets/i.test(output)) {
      return `port ${this.port} is in use: set EMBEDDED_PG_PORT to a free port, ${REMEDY}`;
    }
    if (/incompatible with server|database files are incompatible/i.test(output)) {
      return `${this.dataDir} holds a cluster of another PostgreSQL version: move it away (a new one is made), ${REMEDY}`;
    }
    if (
      /Permission denied|could not (open|access|change directory)|wrong ownership|invalid permissions/i.test(
        output,
      )
    ) {
      return `the server cannot use ${this.dataDir} (permissions): give ${isRoot() ? 'the postgres user' : 'this user'} access to it, set DATA_DIR elsewhere, ${REMEDY}`;
    }
    if (/lock file .* already exists/i.test(output)) {
      return `another server runs on ${this.dataDir}: stop it, ${REMEDY}`;
    }
    return `fix what it said, set DATA_DIR elsewhere, ${REMEDY}`;
  }
}
