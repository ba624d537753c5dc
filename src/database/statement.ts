import { ISO_TIMESTAMP_TYPES } from './iso-timestamps';

/**
 * One SQL statement of a repository: its text with `$n` placeholders, and which named parameter
 * each `$n` is. `P` is the parameters object a caller passes, `R` the row it gets back.
 */
export interface Statement<P extends object = object, R = unknown> {
  /** Unique; the prepared statement's name unless `planEachTime`. */
  readonly id: string;
  /** As written in the repository (for the generated `queries/` files). */
  readonly source: string;
  /** As sent: whitespace collapsed. */
  readonly text: string;
  /** The parameter behind `$1`, `$2`, … */
  readonly keys: readonly (keyof P & string)[];
  readonly options: StatementOptions;
  /** What node-postgres is given besides the values, worked out once. */
  readonly name: string | undefined;
  readonly types: typeof ISO_TIMESTAMP_TYPES | undefined;
  /** Never set: carries the row type. */
  readonly row?: R;
}

export interface StatementOptions {
  /**
   * timestamptz columns arrive as the API's ISO strings ("2026-01-31T12:00:00.120Z") instead
   * of Date objects.
   */
  isoTimestamps?: boolean;
  /**
   * Sent unnamed, so PostgreSQL plans it for each execution's values: for statements whose best
   * plan depends on them (a prepared statement may switch to one generic plan after five runs).
   */
  planEachTime?: boolean;
  /**
   * Always on a pooled connection, never a pipelined one: a statement whose cost varies with the
   * data would hold up every statement queued behind it on a pipelined connection, which
   * PostgreSQL answers in order.
   */
  pooled?: boolean;
}

/** What a statement's text is built from: each parameter as its `$n` placeholder. */
export type Placeholders<P> = { readonly [K in keyof P]-?: string };

/** The values of a statement's parameters, in `$n` order. */
export function valuesOf<P extends object>(statement: Statement<P, unknown>, params: P): unknown[] {
  const values = new Array<unknown>(statement.keys.length);
  for (let i = 0; i < values.length; i++) {
    const value = params[statement.keys[i]];
    values[i] = value === undefined ? null : value;
  }
  return values;
}

/** The config node-postgres takes for a statement and its values (undefined: its default). */
export function queryConfig<P extends object>(statement: Statement<P, unknown>, params: P) {
  return {
    name: statement.name,
    text: statement.text,
    values: valuesOf(statement, params),
    types: statement.types,
  };
}

const declared = new Map<string, Statement>();

/** Every statement declared so far, by id (the generated `queries/` files list them). */
export function declaredStatements(): ReadonlyMap<string, Statement> {
  return declared;
}

/**
 * Declares a statement. `build` receives each parameter as its placeholder (`p.roomId` is `$1`
 * the first time it is used, the same `$1` every time after), so the text names what it binds
 * and a misspelt parameter does not compile. Ids are unique (checked here, at load).
 */
export function statement<P extends object = Record<never, never>, R = unknown>(
  id: string,
  build: (p: Placeholders<P>) => string,
  options: StatementOptions = {},
): Statement<P, R> {
  if (declared.has(id)) throw new Error(`Duplicate SQL statement id: ${id}`);
  const keys: (keyof P & string)[] = [];
  const placeholders = new Proxy({} as Placeholders<P>, {
    get(_target, key) {
      if (typeof key !== 'string') throw new Error(`Bad parameter in ${id}`);
      let index = keys.indexOf(key as keyof P & string);
      if (index < 0) index = keys.push(key as keyof P & string) - 1;
      return `$${index + 1}`;
    },
  });
  const source = dedent(build(placeholders));
  const result: Statement<P, R> = {
    id,
    source,
    text: source.replace(/\s+/g, ' ').trim(),
    keys,
    options,
    name: options.planEachTime ? undefined : id,
    types: options.isoTimestamps ? ISO_TIMESTAMP_TYPES : undefined,
  };
  declared.set(id, result as Statement);
  return result;
}

/** The text without the indentation it shares (template literals inherit the code's). */
export function dedent(text: string): string {
  const lines = text
    .replace(/^\s*\n/, '')
    .trimEnd()
    .split('\n');
  const indents = lines.filter((line) => line.trim()).map((line) => /^ */.exec(line)![0].length);
  const common = Math.min(...indents);
  return lines.map((line) => line.slice(common)).join('\n');
}

/** The parameters object of a statement. */
export type ParamsOf<S> = S extends Statement<infer P, unknown> ? P : never;
