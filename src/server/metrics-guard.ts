/**
 * What keeps the metrics listener (`--metrics`) from hurting the server it reports on:
 * it shares the server's file descriptors, so its connections are capped and slow
 * ones time out in seconds, and it answers only requests whose `Host` is one it
 * expects (a page in a browser on the same host could otherwise read a loopback
 * `/metrics` by DNS rebinding). No prom-client here: the CLI checks `--metrics-host`
 * with it without loading the metrics.
 */
import type { IncomingMessage, Server, ServerOptions, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { Socket } from 'node:net';
import { onClose } from '../net/socket-events.js';

/** Connections the metrics listener keeps open at most (past it, the oldest idle one is closed). */
export const METRICS_MAX_CONNECTIONS = 64;

/** Milliseconds a connection has to send a whole request, and that it may stay idle or stalled. */
export const METRICS_TIMEOUT_MS = 5000;

/** Node's HTTP server options of the metrics listener: every slow request times out in seconds. */
export const METRICS_SERVER_OPTIONS: ServerOptions = {
  headersTimeout: METRICS_TIMEOUT_MS,
  requestTimeout: METRICS_TIMEOUT_MS,
  keepAliveTimeout: 2000,
  // How often Node checks the two timeouts above (default 30 s, which would let them run 35 s).
  connectionsCheckingInterval: 500,
};

/** A host name as `--metrics-host` takes it (letters, digits, `-`, dot-separated labels). */
const HOST_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

/**
 * The names of a comma-separated `--metrics-host` value, lower-cased; throws an `Error`
 * whose message says what is wrong with which name.
 */
export function parseMetricsHosts(text: string): string[] {
  const names = text
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
  if (names.length === 0) throw new Error('expected one or more host names, comma-separated');
  for (const name of names) {
    if (!HOST_NAME.test(name)) {
      throw new Error(
        `'${name}' is not a host name: expected names such as metrics.internal, comma-separated; IP addresses and localhost are always allowed`,
      );
    }
  }
  return names.map((n) => n.toLowerCase().replace(/\.$/, ''));
}

/**
 * Whether a request's `Host` header is one the metrics listener answers: none at all
 * (not a browser), an IP address (with or without a port), `localhost`, or one of
 * `allowed`. A name a browser resolved by DNS (rebinding) is anything else.
 */
export function isAllowedHost(header: string | undefined, allowed: readonly string[] = []): boolean {
  if (header === undefined) return true;
  const m = /^(?:\[([0-9a-f:.]+)\]|([^:[\]]+))(?::\d{1,5})?$/i.exec(header.trim());
  if (!m) return false;
  if (m[1] !== undefined) return isIP(m[1]) === 6;
  const host = (m[2] ?? '').toLowerCase().replace(/\.$/, '');
  return isIP(host) === 4 || host === 'localhost' || allowed.includes(host);
}

/**
 * Wraps `handle` so that a request with an unexpected `Host` gets `421` and a short
 * text instead.
 */
export function checkHost(
  allowed: readonly string[],
  handle: (req: IncomingMessage, res: ServerResponse) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    if (isAllowedHost(req.headers.host, allowed)) return handle(req, res);
    res
      .writeHead(421, { 'content-type': 'text/plain', connection: 'close' })
      .end('unexpected Host header: use the address of the listener, or allow the name with --metrics-host\n');
  };
}

/**
 * Caps `listener`'s connections at `max`: when one more arrives, the oldest connection
 * not in the middle of answering a request is closed (a slow or idle one: a flood of
 * them cannot keep a scrape out), or the new one if every one is busy. Idle and
 * stalled connections are closed after {@link METRICS_TIMEOUT_MS}.
 */
export function capConnections(listener: Server, max = METRICS_MAX_CONNECTIONS): void {
  // Insertion order: the first entry that is not busy is the oldest idle one.
  const open = new Map<Socket, { busy: boolean }>();
  listener.setTimeout(METRICS_TIMEOUT_MS, (socket) => socket.destroy());
  listener.on('connection', (socket: Socket) => {
    open.set(socket, { busy: false });
    onClose(socket, () => open.delete(socket));
    if (open.size <= max) return;
    const victim = [...open].find(([, state]) => !state.busy)?.[0] ?? socket;
    open.delete(victim);
    victim.destroy();
  });
  listener.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    const state = open.get(req.socket);
    if (!state) return;
    state.busy = true;
    // The response was created for this request: its 'close' is still to come.
    // eslint-disable-next-line no-restricted-syntax
    res.once('close', () => (state.busy = false));
  });
}
