/**
 * Compiles the floor server and the load worker to plain JavaScript in a temporary directory
 * before a run. Running them under ts-node instead would load the TypeScript compiler into the
 * floor's process — tens of MB of RSS the app (run from dist/) does not carry — and skew the
 * memory comparison. The output stays out of the repository, where ESLint and Prettier would
 * trip over it; the children find their packages through NODE_PATH (see NODE_PATH below).
 * Relative imports are followed, so only what the entry points need is built; the output keeps
 * the repository's layout, so an import of the app's own plain helpers (src/) works too.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import * as ts from 'typescript';

export const BENCH_DIR = resolve(__dirname, '..');
const REPO_DIR = resolve(BENCH_DIR, '..');

/** Where the compiled files resolve `pg`, `argon2` and `autocannon` from. */
export const NODE_PATH = resolve(BENCH_DIR, '..', 'node_modules');

export interface Build {
  dir: string;
  /** Compiled file of a source path relative to bench/, e.g. `floor/server.ts`. */
  outputs: Map<string, string>;
  remove(): void;
}

export function buildEntryPoints(entries: string[]): Build {
  const dir = mkdtempSync(join(tmpdir(), 'chat-bench-build-'));
  const outputs = new Map<string, string>();
  const queue = entries.map((entry) => resolve(BENCH_DIR, entry));
  const seen = new Set<string>();
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    const { outputText, diagnostics } = ts.transpileModule(source, {
      fileName: file,
      reportDiagnostics: true,
      compilerOptions: {
        module: ts.ModuleKind.CommonJS,
        target: ts.ScriptTarget.ES2022,
        esModuleInterop: true,
        sourceMap: false,
        inlineSourceMap: true,
        inlineSources: true,
      },
    });
    if (diagnostics && diagnostics.length > 0) {
      throw new Error(
        ts.formatDiagnostics(diagnostics, {
          getCanonicalFileName: (f) => f,
          getCurrentDirectory: () => BENCH_DIR,
          getNewLine: () => '\n',
        }),
      );
    }
    const out = join(dir, relative(REPO_DIR, file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, outputText);
    outputs.set(relative(BENCH_DIR, file), out);
    for (const imported of ts.preProcessFile(source, true, true).importedFiles) {
      if (imported.fileName.startsWith('.'))
        queue.push(resolve(dirname(file), `${imported.fileName}.ts`));
    }
  }
  return { dir, outputs, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
