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
  const [a0, b0] = [performance.now(), monotonicMs()];
  // Some 20 ms of work, no sleep: both clocks read around it.
  while (performance.now() - a0 < 20);
  const [b1, a1] = [monotonicMs(), performance.now()];
  assert.ok(b1 - b0 >= 20 - 0.001, `monotonicMs measured ${b1 - b0} ms of at least 20`);
  assert.ok(Math.abs(b1 - b0 - (a1 - a0)) < 1, `monotonicMs ${b1 - b0} ms against performance.now ${a1 - a0}`);
});
