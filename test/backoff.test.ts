/** The reconnect schedule: sequence, cap, jitter bounds. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DEFAULT_MAX_DELAY_MS, JITTER, backoffDelay } from '../src/client/backoff.js';

const noJitter = () => 0.5;

test('doubles from 1 s', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelay(n, DEFAULT_MAX_DELAY_MS, noJitter)),
    [1000, 2000, 4000, 8000, 16000, 32000, 64000],
  );
});

test('is capped by the maximum delay, also far out', () => {
  assert.equal(backoffDelay(8, 64_000, noJitter), 64_000);
  assert.equal(backoffDelay(1000, 64_000, noJitter), 64_000);
  assert.equal(backoffDelay(4, 5000, noJitter), 5000);
  assert.equal(backoffDelay(1, 500, noJitter), 500, 'a cap below 1 s caps the first delay too');
});

test('jitter stays within ±25% of the base and never exceeds the cap', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 60 }),
      fc.integer({ min: 1000, max: 600_000 }),
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      (n, max, r) => {
        const base = Math.min(1000 * 2 ** Math.min(n - 1, 30), max);
        const d = backoffDelay(n, max, () => r);
        return d >= Math.floor(base * (1 - JITTER)) && d <= Math.ceil(base * (1 + JITTER)) && d <= max;
      },
    ),
  );
});

test('jitter spreads the delays (fleet of clients do not retry in lockstep)', () => {
  const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(3)));
  assert.ok(delays.size > 10, `only ${delays.size} distinct delays`);
  for (const d of delays) assert.ok(d >= 3000 && d <= 5000, String(d));
});
