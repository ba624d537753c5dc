export interface EventuallyOptions {
  /** How long the condition has to come true; past it, the test fails. */
  timeoutMs?: number;
  /** Pause between two checks. */
  intervalMs?: number;
  /** What was awaited, for the failure. */
  message?: string;
}

/**
 * Checks `check` until it returns a value (not undefined/false) and returns that value, or fails
 * once `timeoutMs` (or `options.timeoutMs`) has passed. What a test waits for is a condition it
 * can observe (a row, a lock, a log line, an event), never an amount of time that usually
 * suffices. An error thrown by `check` fails at once: it is not a condition still to come.
 */
export async function eventually<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  options: number | EventuallyOptions = {},
): Promise<T> {
  const {
    timeoutMs = 10_000,
    intervalMs = 50,
    message = 'condition',
  } = typeof options === 'number' ? { timeoutMs: options } : options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`${message} not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
