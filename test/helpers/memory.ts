/** Memory of running processes, read from /proc (Linux). */
import { readFileSync } from 'node:fs';

/** Resident set size of `pid` in MB (VmRSS of /proc/<pid>/status). */
export function rssMb(pid: number): number {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) / 1024;
}

/**
 * Samples the RSS of `pids` every `intervalMs` until `stop()`, which returns the peak
 * seen for each (in MB, same order as `pids`).
 */
export function sampleRss(pids: number[], intervalMs = 20): { stop(): number[] } {
  const peaks = pids.map((pid) => rssMb(pid));
  const timer = setInterval(() => {
    pids.forEach((pid, i) => {
      try {
        peaks[i] = Math.max(peaks[i]!, rssMb(pid));
      } catch {
        // the process has exited; keep its last peak
      }
    });
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      return peaks;
    },
  };
}
