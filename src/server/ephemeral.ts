/**
 * Linux's ephemeral ports (`net.ipv4.ip_local_port_range`, 32768-60999 by default): the
 * kernel gives them to outgoing connections, and the server's own (a data connection's
 * peer is not one of them, but any local process's outgoing connection is) can hold a
 * port of the public range, so that a client asking for that fixed `remote_port` is
 * refused as in use with no listener on it. The default public range (1024-65535, as
 * the Rust bore's) overlaps it; the server says so once at start.
 */
import { readFileSync } from 'node:fs';

/** Where Linux keeps its ephemeral port range. */
export const EPHEMERAL_RANGE_FILE = '/proc/sys/net/ipv4/ip_local_port_range';

/** A range of ports, both ends included. */
export interface PortSpan {
  min: number;
  max: number;
}

/** The ephemeral port range in `file`; undefined where it cannot be read (not Linux) or makes no sense. */
export function ephemeralRange(file = EPHEMERAL_RANGE_FILE): PortSpan | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const m = /^\s*(\d+)\s+(\d+)\s*$/.exec(text);
  if (!m) return undefined;
  const min = Number(m[1]);
  const max = Number(m[2]);
  return min >= 1 && min <= max && max <= 65535 ? { min, max } : undefined;
}

/** The ports `minPort`-`maxPort` shares with the ephemeral range of `file`; undefined if none (or no such file). */
export function ephemeralOverlap(minPort: number, maxPort: number, file = EPHEMERAL_RANGE_FILE): PortSpan | undefined {
  const range = ephemeralRange(file);
  if (!range) return undefined;
  const min = Math.max(minPort, range.min);
  const max = Math.min(maxPort, range.max);
  return min <= max ? { min, max } : undefined;
}
