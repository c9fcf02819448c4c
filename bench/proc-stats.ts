/**
 * Reading another process's memory and CPU from /proc (Linux), and small statistics
 * helpers for the benchmark.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { rssMb } from '../test/helpers/memory.js';

export { rssMb };

function statusField(pid: number, field: string): number {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]) / 1024;
}

/** Peak resident set size of `pid` since start or the last {@link resetPeakRss}, MB (VmHWM). */
export function peakRssMb(pid: number): number {
  return statusField(pid, 'VmHWM');
}

/** Resets `pid`'s VmHWM to its current RSS; false where the kernel does not allow it. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** CPU time (user + system) `pid` has used so far, ms. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat(5) (utime, stime) are at 11 and 12 after the command name.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/** The `p`-th percentile (0-100) of `samples`, nearest-rank. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) throw new Error('percentile of no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/** Median of `samples`. */
export function median(samples: readonly number[]): number {
  return percentile(samples, 50);
}
