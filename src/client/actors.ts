/**
 * The side effects of the client machine as XState actors: TCP connect, handshake
 * plus `Hello`, the control channel, and one proxy per public connection. Each is a
 * thin wrapper over a plain function of this folder.
 */
import type { Socket } from 'node:net';
import { fromCallback, fromPromise } from 'xstate';
import type { Authenticator } from '../protocol/auth.js';
import type { Logger } from '../log.js';
import { connectTcp } from './connect.js';
import { type ErrorCode, TunnelError, classify } from './errors.js';
import { type ClientFramed, authenticate, frameClientSocket, requestPort } from './handshake.js';
import { type DataConnectionTarget, runDataConnection } from './data-connection.js';
import { setControlSocketBasics } from '../socket-options.js';
import { onClose, onEnd } from '../socket-events.js';

/**
 * What the machine's actors need that is not data: the logger, the credentials, the
 * set of open proxied sockets (for the drain on stop), and the sources of randomness
 * and time (injected, so tests fix them). Hidden from JSON so snapshots stay
 * serializable and the secret never leaks into them.
 */
export class ClientRuntime {
  readonly logger: Logger;
  readonly auth: Authenticator | undefined;
  /** Sockets of in-flight proxied connections. */
  readonly proxied = new Set<Socket>();
  /** Returns a number in [0, 1): the backoff jitter. */
  readonly random: () => number;
  /** Returns the time in epoch ms: when the next retry starts. */
  readonly now: () => number;

  constructor(logger: Logger, auth: Authenticator | undefined, random: () => number = Math.random, now: () => number = Date.now) {
    this.logger = logger;
    this.auth = auth;
    this.random = random;
    this.now = now;
  }

  /** Waits until every proxied connection has closed, or destroys the rest after `ms`. */
  async drain(ms: number): Promise<void> {
    const open = [...this.proxied].filter((s) => !s.closed);
    if (open.length === 0) return;
    this.logger.info('draining connections', { count: open.length, drainMs: ms });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(open.map((s) => new Promise<void>((r) => onClose(s, r)))),
      new Promise((r) => (timer = setTimeout(r, ms))),
    ]);
    clearTimeout(timer);
    for (const s of this.proxied) s.destroy();
  }

  toJSON(): string {
    return '[ClientRuntime]';
  }
}

/** An open control connection, carried in the machine's context between states. */
export class ControlConnection {
  readonly framed: ClientFramed;
  constructor(socket: Socket) {
    this.framed = frameClientSocket(socket);
  }
  /** Closes the connection (idempotent). */
  close(): void {
    this.framed.socket.destroy();
  }
  toJSON(): string {
    return '[ControlConnection]';
  }
}

/** Opens the control connection (abortable, 3 s deadline) and tunes its socket. */
export const connectActor = fromPromise<ControlConnection, { host: string; port: number; runtime: ClientRuntime }>(
  async ({ input, signal }) => {
    const socket = await connectTcp({ host: input.host, port: input.port, signal });
    setControlSocketBasics(socket);
    return new ControlConnection(socket);
  },
);

/** Authenticates and asks for a public port; outputs the port the server opened. */
export const handshakeActor = fromPromise<number, { control: ControlConnection; port: number; runtime: ClientRuntime }>(
  async ({ input, signal }) => {
    const onAbort = () => input.control.close();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await authenticate(input.control.framed, input.runtime.auth);
      return await requestPort(input.control.framed, input.port);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  },
);

/** Events the control channel sends to the machine. */
export type ControlEvent =
  | { type: 'SERVER.HEARTBEAT' }
  | { type: 'SERVER.CONNECTION'; id: string }
  | { type: 'SERVER.ERROR'; message: string }
  | { type: 'CONTROL.LOST'; code: ErrorCode; message: string };

/**
 * Turns the server's messages into machine events; any message proves the server is
 * alive. EOF or a socket error becomes `CONTROL.LOST`. Stopping it closes the socket.
 */
export const controlActor = fromCallback<{ type: string }, { control: ControlConnection }>(({ sendBack, input }) => {
  const { framed } = input.control;
  const socket = framed.socket;
  let lost = false;
  const lose = (err: TunnelError) => {
    if (lost) return;
    lost = true;
    sendBack({ type: 'CONTROL.LOST', code: err.code, message: err.message } satisfies ControlEvent);
  };
  socket.on('error', (err) => lose(classify(err)));
  onEnd(socket, () => lose(new TunnelError('server-closed', 'server closed the connection')));
  onClose(socket, () => lose(new TunnelError('server-closed', 'server closed the connection')));
  framed.listen((msg) => {
    switch (msg.type) {
      case 'Connection':
        sendBack({ type: 'SERVER.CONNECTION', id: msg.id } satisfies ControlEvent);
        break;
      case 'Error':
        sendBack({ type: 'SERVER.ERROR', message: msg.message } satisfies ControlEvent);
        break;
      default:
        // Heartbeat, or an unexpected Hello or Challenge: ignored like the Rust client does.
        sendBack({ type: 'SERVER.HEARTBEAT' } satisfies ControlEvent);
    }
  });
  return () => {
    lost = true;
    input.control.close();
  };
});

/**
 * Events the proxies actor sends to the machine. `PROXY.CLOSED` with an `error` means
 * the connection never opened (no `PROXY.OPENED` came before it).
 */
export type ProxyEvent = { type: 'PROXY.OPENED'; id: string } | { type: 'PROXY.CLOSED'; id: string; error?: string };

/** Asks the proxies actor to serve public connection `id`. */
export type ProxyRequest = { type: 'SERVER.CONNECTION'; id: string };

/**
 * Every public connection of the tunnel: for each `SERVER.CONNECTION` it receives, it
 * claims the connection and proxies it to the local service, and reports when it is
 * open and when it is done. One long-lived actor for all of them (not an actor per
 * connection, whose spawn and stop cost grows with the number open). Stopping it does
 * not cut connections: in-flight bytes survive control reconnects, and a stop drains
 * them via the runtime.
 */
export const proxiesActor = fromCallback<ProxyRequest, { target: Omit<DataConnectionTarget, 'auth'>; runtime: ClientRuntime }>(
  ({ sendBack, receive, input }) => {
    const { runtime } = input;
    const target = { ...input.target, auth: runtime.auth };
    let stopped = false;
    const report = (event: ProxyEvent) => {
      if (!stopped) sendBack(event);
    };
    receive(({ id }) => {
      runDataConnection(id, target, (remote, local) => {
        runtime.proxied.add(remote).add(local);
        onClose(remote, () => runtime.proxied.delete(remote));
        onClose(local, () => runtime.proxied.delete(local));
        report({ type: 'PROXY.OPENED', id });
      }).then(
        () => report({ type: 'PROXY.CLOSED', id }),
        (err: Error) => {
          runtime.logger.warn('public connection closed: could not reach the local service or the server', { id, reason: err.message });
          report({ type: 'PROXY.CLOSED', id, error: err.message });
        },
      );
    });
    return () => {
      stopped = true;
    };
  },
);
