/**
 * TLS on the control port: the first byte of a connection decides (0x16 opens a TLS
 * handshake record; a bore frame starts with `{`), so one port serves plaintext bore
 * (Rust clients, ours without TLS) and TLS at once. Public ports stay raw TCP.
 */
import type { SecureContext, TLSSocket } from 'node:tls';
import { nodeTls } from '../protocol/on-demand.js';
import type { Socket } from 'node:net';
import { onClose, onEnd } from '../net/socket-events.js';

/** The first byte of a TLS handshake record. */
export const TLS_HANDSHAKE_BYTE = 0x16;

/**
 * How long a server with a secret and a certificate waits for a client's first byte
 * before it sends its `Challenge` (a TLS client speaks first, a plaintext one with a
 * secret waits for the challenge).
 */
export const TLS_SNIFF_GRACE_MS = 100;

/**
 * The same wait on a server that requires TLS, where a plaintext client with a secret is
 * only told to use TLS: long enough that a TLS client slowed by a busy machine is never
 * taken for plaintext, short of the client's 3 s wait for the challenge.
 */
export const TLS_REQUIRED_GRACE_MS = 1000;

/** The server's certificate and key (PEM; the certificate with its full chain). */
export interface ServerTlsOptions {
  cert: string | Buffer;
  key: string | Buffer;
}

/** The secure context of `options`; throws if the certificate or key is invalid. */
export function serverSecureContext(options: ServerTlsOptions): SecureContext {
  return nodeTls().createSecureContext({ cert: options.cert, key: options.key, minVersion: 'TLSv1.3' });
}

/**
 * What a connection's first byte says: `tls`, `plain`, or `closed` (the peer went first);
 * `plain` too when nothing came within `waitMs`. The byte stays in the socket's stream.
 */
export function sniff(socket: Socket, waitMs: number): Promise<'tls' | 'plain' | 'closed'> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (result: 'tls' | 'plain' | 'closed') => {
      settled = true;
      clearTimeout(timer);
      socket.off('data', onData);
      offClose();
      offEnd();
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      socket.pause();
      socket.unshift(chunk);
      done(chunk[0] === TLS_HANDSHAKE_BYTE ? 'tls' : 'plain');
    };
    const closed = () => done('closed');
    // After the grace, one more turn of the event loop: a first byte that came while the
    // process was busy is read (poll phase) before the grace is called over (check phase).
    const timer = setTimeout(
      () =>
        setImmediate(() => {
          if (settled) return;
          socket.pause();
          done('plain');
        }),
      Math.max(0, waitMs),
    );
    socket.on('data', onData);
    const offClose = onClose(socket, closed);
    const offEnd = onEnd(socket, closed);
  });
}

/** Runs the server's side of a TLS handshake on `socket`; rejects on a failure or after `waitMs`. */
export function acceptTls(socket: Socket, context: SecureContext, waitMs: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const secure = new (nodeTls().TLSSocket)(socket, { isServer: true, secureContext: context, minVersion: 'TLSv1.3' });
    // A half-close passes through, as on a plaintext data connection.
    secure.allowHalfOpen = true;
    const timer = setTimeout(() => fail(new Error('timed out in the TLS handshake')), Math.max(0, waitMs));
    const fail = (err: Error) => {
      clearTimeout(timer);
      secure.destroy();
      reject(err);
    };
    secure.once('error', fail);
    const offClose = onClose(secure, () => fail(new Error('closed in the TLS handshake')));
    secure.once('secure', () => {
      clearTimeout(timer);
      secure.off('error', fail);
      offClose();
      resolve(secure);
    });
  });
}
