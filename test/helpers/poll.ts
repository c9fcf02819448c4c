/**
 * Waiting on a state that no event announces (a server's count of quiet pool joins, a
 * process's sockets, a logger's lines): checked every `everyMs` until it holds.
 */

/** Resolves once `check()` holds; rejects after `timeoutMs` with `what` (a text, or a function that says what was seen). */
export async function waitUntil(check: () => boolean, what: string | (() => string), timeoutMs = 5000, everyMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${typeof what === 'string' ? what : what()}: not reached in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
