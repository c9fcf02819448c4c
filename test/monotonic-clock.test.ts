/**
 * `monotonicMs()` (`src/protocol/on-demand.ts`), the clock the client and the server take
 * instead of the `performance` global (which loads perf_hooks): it never goes back, and
 * it measures an interval as `performance.now()` does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { monotonicMs } from '../src/protocol/on-demand.js';

test('monotonicMs never goes back and measures an interval as performance.now does', () => {
  let last = monotonicMs();
  for (let i = 0; i < 10_000; i++) {
    const now = monotonicMs();
    assert.ok(now >= last, `went back from ${last} to ${now}`);
    last = now;
  }
  // An interval of at least 2 ms of work, no sleep. Each end of it is read between two
  // readings of performance.now, so the interval monotonicMs gives lies between the
  // shortest and the longest performance.now allows, however the process is scheduled.
  const a0 = performance.now();
  const b0 = monotonicMs();
  const a0After = performance.now();
  while (performance.now() - a0After < 2);
  const a1 = performance.now();
  const b1 = monotonicMs();
  const a1After = performance.now();
  // Both clocks are CLOCK_MONOTONIC; a microsecond for their rounding.
  const slack = 0.001;
  assert.ok(b1 - b0 >= a1 - a0After - slack, `monotonicMs measured ${b1 - b0} ms, at least ${a1 - a0After}`);
  assert.ok(b1 - b0 <= a1After - a0 + slack, `monotonicMs measured ${b1 - b0} ms, at most ${a1After - a0}`);
});
