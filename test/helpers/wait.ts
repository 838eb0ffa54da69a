// Deadline-bounded polling for tests, so they synchronise on conditions rather than on sleeps.

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Names the awaited condition in the timeout error. */
  what: string;
}

/**
 * Calls fn until it returns a truthy value and resolves with that value. Errors thrown by fn
 * count as "not yet" (the condition may depend on something still starting), and the last one
 * is quoted in the timeout error to make failures easy to read.
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  opts: WaitOptions,
): Promise<NonNullable<T>> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = undefined;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() >= deadline) break;
    await delay(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
  const cause = lastError === undefined ? '' : ` (last error: ${describe(lastError)})`;
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.what}${cause}`);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
