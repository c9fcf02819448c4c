/**
 * Test helpers for server tests: a hand-driven bore client speaking the wire protocol
 * message by message over a real loopback socket (so a test can misbehave on purpose),
 * and a logger that records what the server logs.
 */
import net from 'node:net';
import { once } from 'node:events';
import { Authenticator } from '../../src/protocol/auth.js';
import { FramedSocket } from '../../src/protocol/framed-socket.js';
import { type ClientMessage, type ServerMessage, clientMessageJson, decodeServerMessage } from '../../src/protocol/messages.js';
import type { Logger } from '../../src/log/logger.js';

/** A client-side framed connection to a bore server. */
export type RawFramed = FramedSocket<ServerMessage, ClientMessage>;

/** Opens a framed connection to the control port on loopback. */
export async function rawConnect(port: number, host = '127.0.0.1'): Promise<RawFramed> {
  const socket = net.connect({ port, host, allowHalfOpen: true });
  socket.on('error', () => {});
  await once(socket, 'connect');
  return new FramedSocket(socket, decodeServerMessage, clientMessageJson);
}

/** Answers the server's challenge with `secret`. */
export async function rawAuthenticate(framed: RawFramed, secret: string): Promise<void> {
  const msg = await framed.recv();
  if (msg?.type !== 'Challenge') throw new Error(`expected Challenge, got ${JSON.stringify(msg)}`);
  framed.send({ type: 'Authenticate', tag: new Authenticator(secret).answer(msg.id) });
}

/** A control connection that has been given a public port. */
export interface RawTunnel {
  framed: RawFramed;
  port: number;
  /** Resolves with the id of the next `Connection` message (heartbeats skipped). */
  nextConnection(timeoutMs?: number): Promise<string>;
}

/** Connects, authenticates if `secret` is given, sends `Hello(port)` and waits for the reply. */
export async function rawTunnel(controlPort: number, opts: { port?: number; secret?: string } = {}): Promise<RawTunnel> {
  const framed = await rawConnect(controlPort);
  if (opts.secret !== undefined) await rawAuthenticate(framed, opts.secret);
  framed.send({ type: 'Hello', port: opts.port ?? 0 });
  const reply = await framed.recv();
  if (reply?.type !== 'Hello') throw new Error(`expected Hello, got ${JSON.stringify(reply)}`);
  return {
    framed,
    port: reply.port,
    async nextConnection(timeoutMs = 5000) {
      for (;;) {
        const msg = await framed.recv(timeoutMs);
        if (msg === undefined) throw new Error('control connection closed');
        if (msg.type === 'Connection') return msg.id;
      }
    },
  };
}

/**
 * Opens a data connection that claims public connection `id`; returns its raw socket,
 * paused (read it with {@link nextData} or {@link readAll}).
 */
export async function rawAccept(controlPort: number, id: string, secret?: string): Promise<net.Socket> {
  const framed = await rawConnect(controlPort);
  if (secret !== undefined) await rawAuthenticate(framed, secret);
  framed.send({ type: 'Accept', id });
  framed.detach();
  return framed.socket;
}

/**
 * Resolves once the peer has closed `socket` (its FIN or RST arrived, or the socket is
 * already closed). The socket must be flowing (or have been read to its end) for a FIN
 * to be seen; {@link readAll} does that.
 */
export function closed(socket: net.Socket): Promise<void> {
  if (socket.closed || socket.readableEnded) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => resolve();
    socket.once('end', done);
    socket.once('close', done);
    socket.once('error', done);
  });
}

/** The next chunk read from `socket` (which is resumed). */
export function nextData(socket: net.Socket): Promise<Buffer> {
  const got = once(socket, 'data').then(([chunk]) => chunk as Buffer);
  socket.resume();
  return got;
}

/** Everything read from `socket` until it closes. */
export async function readAll(socket: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.resume();
  await closed(socket);
  socket.destroy();
  return Buffer.concat(chunks);
}

/** Whether a TCP listener can be bound on `port` right now (it is then closed again). */
export function portIsFree(port: number, host = '0.0.0.0'): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

/** A logger that keeps every line, with a way to wait for one. */
export class CaptureLogger implements Logger {
  readonly lines: { level: string; message: string; meta: Record<string, unknown> }[] = [];
  #waiters: { test: (m: string) => boolean; resolve: () => void }[] = [];

  #add(level: string, message: string, meta: Record<string, unknown> = {}): void {
    this.lines.push({ level, message, meta });
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.test(message)) return true;
      w.resolve();
      return false;
    });
  }

  error(message: string, meta?: Record<string, unknown>) {
    this.#add('error', message, meta);
  }
  warn(message: string, meta?: Record<string, unknown>) {
    this.#add('warn', message, meta);
  }
  info(message: string, meta?: Record<string, unknown>) {
    this.#add('info', message, meta);
  }
  debug(message: string, meta?: Record<string, unknown>) {
    this.#add('debug', message, meta);
  }

  /** Lines whose message is `message`. */
  find(message: string) {
    return this.lines.filter((l) => l.message === message);
  }

  /** Resolves when a line with exactly `message` has been logged (now or later). */
  waitFor(message: string, timeoutMs = 10_000): Promise<void> {
    if (this.lines.some((l) => l.message === message)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for log line '${message}'`)), timeoutMs);
      this.#waiters.push({
        test: (m) => m === message,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }
}
