/**
 * The few libc calls Node does not offer, through ffi-rs (loaded at the first use, as
 * it costs about 5 MB of resident memory for the life of the process): `dup` and
 * `close` for a listener's pause (`pausable-listener.ts`), `setsockopt` for a socket
 * option Node has no method for (`TCP_NOTSENT_LOWAT` on a multiplexed connection).
 */
import type { Server, Socket } from 'node:net';
import { type FfiRs, requireFfiRs } from './native-keepalive.js';

/** The libc calls, or null where ffi-rs cannot load. */
export interface Libc {
  dup(fd: number): number;
  close(fd: number): number;
  /** `setsockopt` with an `int` value: 0, or -1 on failure. */
  setsockoptInt(fd: number, level: number, name: number, value: number): number;
}

let libc: Libc | null | undefined;

/** libc through ffi-rs, loaded now if it was not; null (and nothing works) where it cannot load. */
export function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  try {
    const ffi: FfiRs = requireFfiRs();
    ffi.open({ library: 'bore-libc', path: '' });
    const I32 = ffi.DataType.I32;
    const call = (funcName: string, fd: number): number =>
      ffi.load({ library: 'bore-libc', funcName, retType: I32, paramsType: [I32], paramsValue: [fd] });
    libc = {
      dup: (fd) => call('dup', fd),
      close: (fd) => call('close', fd),
      setsockoptInt: (fd, level, name, value) => {
        const pointer = ffi.createPointer({ paramsType: [I32], paramsValue: [value] });
        try {
          return ffi.load({
            library: 'bore-libc',
            funcName: 'setsockopt',
            retType: I32,
            paramsType: [I32, I32, I32, ffi.DataType.External, I32],
            paramsValue: [fd, level, name, pointer[0], 4],
          });
        } finally {
          ffi.freePointer({ paramsType: [I32], paramsValue: pointer, pointerType: ffi.PointerType.RsPointer });
        }
      },
    };
  } catch {
    libc = null;
  }
  return libc;
}

/** The descriptor of a connected socket (plain or TLS) or a listening server, or undefined where Node does not show it. */
export function handleFd(target: Socket | Server): number | undefined {
  const fd = (target as { _handle?: { fd?: number } | null })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}
