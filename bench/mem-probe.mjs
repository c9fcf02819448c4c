/**
 * Preloaded into the bore processes by `bench/churn.ts` (NODE_OPTIONS `--expose-gc
 * --import=<this file>`): on SIGUSR2, writes `mem-probe {"before":...,"after":...}` to
 * stderr, `process.memoryUsage()` before and after a full GC, so the harness can read
 * the heap of a process it only knows by pid.
 */
process.on('SIGUSR2', () => {
  const before = process.memoryUsage();
  globalThis.gc?.();
  process.stderr.write(`mem-probe ${JSON.stringify({ before, after: process.memoryUsage() })}\n`);
});
