/**
 * The log lines' time stamp (`isoTime`, `src/log/line-format.ts`), written from the UTC
 * fields rather than by `Date.prototype.toISOString` (which loads ICU's time-zone names
 * at its first call): the same text as `toISOString` for every time, the years before
 * 0 and after 9999 and invalid times included (those it leaves to `toISOString`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isoTime } from '../src/log/line-format.js';

/** The first and the last millisecond of the years 0 to 9999. */
const YEAR_0 = Date.parse('0000-01-01T00:00:00.000Z');
const YEAR_9999_END = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

test('isoTime writes what toISOString writes, for any time of the years 0 to 9999', () => {
  fc.assert(
    fc.property(fc.integer({ min: YEAR_0, max: YEAR_9999_END }), (ms) => {
      assert.equal(isoTime(ms), new Date(ms).toISOString());
    }),
    { numRuns: 20_000 },
  );
  for (const text of ['0000-01-01T00:00:00.000Z', '1970-01-01T00:00:00.000Z', '2024-02-29T23:59:59.999Z', '9999-12-31T23:59:59.999Z']) {
    assert.equal(isoTime(Date.parse(text)), text);
  }
  assert.match(isoTime(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'now, by default');
});

test('isoTime leaves the years outside 0-9999 and invalid times to toISOString', () => {
  for (const ms of [Date.parse('-000001-12-31T23:59:59.999Z'), Date.parse('+010000-01-01T00:00:00.000Z'), 8.64e15, -8.64e15]) {
    assert.equal(isoTime(ms), new Date(ms).toISOString());
  }
  assert.throws(() => isoTime(Number.NaN), RangeError);
  assert.throws(() => isoTime(8.64e15 + 1), RangeError);
});
