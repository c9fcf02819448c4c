/**
 * Socket options as the kernel holds them, for tests: `getsockopt` of an int through
 * ffi-rs, and the descriptors of this process's TCP sockets found by their local port
 * (from `/proc/net/tcp` and `/proc/self/fd`: Linux only).
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';

export { IPPROTO_TCP, TCP_NOTSENT_LOWAT } from '../../src/net/socket-options.js';

/** Linux's `TCP_NODELAY` (`include/uapi/linux/tcp.h`). */
export const TCP_NODELAY = 1;

/** The int value of socket option `name` at `level` of descriptor `fd`. */
export function getsockoptInt(fd: number, level: number, name: number): number {
  const ffi = createRequire(import.meta.url)('ffi-rs') as typeof import('ffi-rs');
  ffi.open({ library: 'test-libc', path: '' });
  const I32 = ffi.DataType.I32;
  const [value] = ffi.createPointer({ paramsType: [I32], paramsValue: [0] });
  const [length] = ffi.createPointer({ paramsType: [I32], paramsValue: [4] });
  const ret = ffi.load({
    library: 'test-libc',
    funcName: 'getsockopt',
    retType: I32,
    paramsType: [I32, I32, I32, ffi.DataType.External, ffi.DataType.External],
    paramsValue: [fd, level, name, value, length],
  });
  assert.equal(ret, 0, 'getsockopt');
  return (ffi.restorePointer({ retType: [I32], paramsValue: [value!] }) as number[])[0]!;
}

/** Descriptors of this process's established IPv4 TCP sockets whose `end` (local or remote) port is `port`. */
export function establishedOn(port: number, end: 'local' | 'remote'): number[] {
  const inodes = new Set<string>();
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    // sl local_address rem_address st ... inode: addresses are HEXIP:HEXPORT, state 01 is ESTABLISHED.
    const f = line.trim().split(/\s+/);
    const address = end === 'local' ? f[1] : f[2];
    if (f.length > 9 && address && parseInt(address.split(':')[1]!, 16) === port && f[3] === '01') inodes.add(f[9]!);
  }
  const fds: number[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m && inodes.has(m[1]!)) fds.push(Number(fd));
    } catch {
      // closed while listed
    }
  }
  return fds;
}
