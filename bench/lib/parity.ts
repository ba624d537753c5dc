/**
 * "Same JSON" checks between app and floor: the floor is only a fair floor if it answers the
 * same request with the same document.
 */

/** JSON text with object keys sorted, so key order does not count as a difference. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) =>
            a < b ? -1 : a > b ? 1 : 0,
          ),
        )
      : v,
  );
}

/** The type skeleton of a document: values replaced by their types; arrays by their first item. */
export function shape(value: unknown): unknown {
  if (value === null) return 'null';
  if (Array.isArray(value)) return value.length === 0 ? [] : [shape(value[0])];
  if (typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, shape(v)]),
    );
  }
  return typeof value;
}

/** Where two documents first differ, as a readable path with both values (shortened). */
export function firstDifference(a: unknown, b: unknown, path = '$'): string | null {
  if (canonical(a) === canonical(b)) return null;
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    if (Array.isArray(a) !== Array.isArray(b)) return `${path}: array vs object`;
    if (Array.isArray(a) && Array.isArray(b) && a.length !== b.length) {
      return `${path}: ${a.length} items vs ${b.length} items`;
    }
    const ra = a as Record<string, unknown>;
    const rb = b as Record<string, unknown>;
    for (const key of new Set([...Object.keys(ra), ...Object.keys(rb)])) {
      if (!(key in ra)) return `${path}.${key}: missing in app`;
      if (!(key in rb)) return `${path}.${key}: missing in floor`;
      const diff = firstDifference(
        ra[key],
        rb[key],
        Array.isArray(a) ? `${path}[${key}]` : `${path}.${key}`,
      );
      if (diff !== null) return diff;
    }
  }
  const short = (v: unknown) => {
    const text = JSON.stringify(v) ?? 'undefined';
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  };
  return `${path}: app ${short(a)} vs floor ${short(b)}`;
}
