/**
 * "Did you mean ...?" for a mistyped command or flag, as the Rust bore's clap offers:
 * the closest known name by edit distance, when it is close enough to be a typo.
 */

/** Edit distance between `a` and `b` (optimal string alignment: a swap of two adjacent letters counts as one edit). */
export function editDistance(a: string, b: string): number {
  // d[i][j]: distance between the first i letters of a and the first j of b.
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    const row = d[i]!;
    const prev = d[i - 1]!;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** Words users reach for that bore calls otherwise (the flags of other tunnel tools). */
const SYNONYMS: Readonly<Record<string, string>> = { retry: 'reconnect', 'no-retry': 'no-reconnect', server: 'to', host: 'to' };

/**
 * The candidate closest to `word`, if it is within one edit per three letters of
 * `word` (at least one): `too` → `to`, `lcoal` → `local`, `secert` → `secret`; else
 * bore's name for a word of other tools (`no-retry` → `no-reconnect`); else the first
 * candidate `word` begins (`heartbeat` → `heartbeat-timeout`, from three letters on). A one-letter word gets no suggestion. Ties go to the first candidate.
 */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  if (word.length < 2) return undefined;
  return closest(word, candidates) ?? synonymOf(word, candidates) ?? prefixOf(word, candidates);
}

/** The candidate that begins with `word` (three letters or more), if any. */
function prefixOf(word: string, candidates: readonly string[]): string | undefined {
  return word.length < 3 ? undefined : candidates.find((name) => name !== word && name.startsWith(word));
}

/** bore's name for `word`, if it is one of the candidates. */
function synonymOf(word: string, candidates: readonly string[]): string | undefined {
  const name = SYNONYMS[word];
  return name !== undefined && candidates.includes(name) ? name : undefined;
}

/** The candidate within one edit per three letters of `word`, the closest first. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  const limit = Math.max(1, Math.floor(word.length / 3));
  let best: { name: string; distance: number } | undefined;
  for (const name of candidates) {
    const distance = editDistance(word, name);
    if (distance > 0 && distance <= limit && (best === undefined || distance < best.distance)) best = { name, distance };
  }
  return best?.name;
}
