/** Reading Prometheus's text exposition format in the metrics tests. */
import assert from 'node:assert/strict';

/** Parses the text exposition format into `name{labels}` → value (comments skipped); fails on any other line. */
export function parseExposition(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    assert.ok(m, `not an exposition line: ${line}`);
    values.set(m[1] ?? '', Number(m[2]));
  }
  return values;
}
