/**
 * The `--inspect` HTTP server, on 127.0.0.1 only. Routes:
 *   GET /            the page (works offline: everything it needs is served here)
 *   GET /app.js      the page's script;  GET /app.css  its styles
 *   GET /graph       the statechart as JSON ({@link InspectorGraph}): the root machine's,
 *                    with `child`, the chart of the machines it spawns, when given one
 *                    (a supervisor's tunnels all run the client machine)
 *   GET /snapshot    the current state: `{ value, active, status, context, time }`,
 *                    and `children` (each tunnel by name) when the root is a supervisor
 *   GET /events      server-sent events: `hello`, `snapshot`, `log`, `traffic` (each
 *                    tunnel's connections and rates, sampled once a second while a page
 *                    is open: {@link TrafficEvent}), and `end` when the inspector closes
 *                    (at most `maxStreams` at once; beyond that `503` with `retry-after`)
 *   POST /control    the page's "reconnect now" and "stop" (`control.ts`: same origin
 *                    and the page's per-run token only)
 */
import http from 'node:http';
import { once } from 'node:events';
import { nodeCrypto } from '../protocol/on-demand.js';
import type { AnyStateMachine, InspectionEvent } from 'xstate';
import { type Logger, silentLogger } from '../log/logger.js';
import { type InspectorGraph, machineGraph } from './graph.js';
import { InspectorHub } from './hub.js';
import { APP_CSS, APP_JS, PAGE_HTML, TOKEN_PLACEHOLDER } from './page.js';
import { TrafficSampler } from './traffic.js';
import { applyControl, readControl, refusal } from './control.js';
import { formatHostPort } from '../net/address.js';

/** Options of {@link startInspector}. */
export interface InspectorOptions {
  /** Port on 127.0.0.1 (default 0: a random free port). */
  port?: number;
  /** The machine to draw (the tunnel's client machine for `--inspect`). */
  machine: AnyStateMachine;
  /**
   * The machine the root spawns its children from, if any (the client machine under a
   * supervisor): `/graph` then carries its chart as `child`, and the page draws each
   * child of `/snapshot`'s `children` with it.
   */
  child?: AnyStateMachine;
  /**
   * Values the root machine derives from its context rather than stores (the
   * supervisor's `aggregate`): `/snapshot` serves them in its `context`.
   */
  derived?: (context: never) => Record<string, unknown>;
  /**
   * Values read for each child's context when served (the client machine's
   * `clientLiveCounts`: open connections and pool counts, kept outside the machine).
   */
  childDerived?: (context: never) => Record<string, unknown>;
  /** Where to log `inspector at <url>` (default: nowhere). */
  logger?: Logger;
  /** Concurrent `/events` streams served; more get `503` (default {@link INSPECTOR_MAX_STREAMS}). */
  maxStreams?: number;
}

/** Default cap on concurrent `/events` streams (open pages): each costs a socket and its queue. */
export const INSPECTOR_MAX_STREAMS = 16;

/**
 * Bytes an `/events` stream may have queued (written but not yet taken by the kernel).
 * A stream found over it when an update comes is closed at once rather than kept: the
 * page stopped reading. A live page's EventSource reconnects and starts over from
 * `hello` and the latest snapshot, so a slow page costs at most this much memory.
 */
export const INSPECTOR_STREAM_QUEUE_BYTES = 256 * 1024;

/** A running inspector. */
export interface Inspector {
  /** The page's address, `http://127.0.0.1:<port>/`. */
  readonly url: string;
  /** The port it listens on. */
  readonly port: number;
  /** The XState inspection observer: pass it as `inspect` to `startTunnel` or `createActor`. */
  readonly inspect: (event: InspectionEvent) => void;
  /**
   * Closes the server. Open pages first get what the hub still holds (the final
   * snapshot when the tunnel has stopped) and an `end` event, so that they show the
   * last state and that the process ended; their streams then end gracefully (cut
   * after {@link INSPECTOR_CLOSE_GRACE_MS} if a page does not read them).
   */
  close(): Promise<void>;
}

/** How long {@link Inspector.close} waits for open pages to take their last events (ms). */
export const INSPECTOR_CLOSE_GRACE_MS = 1000;

/** The only address the inspector listens on. */
const HOST = '127.0.0.1';
/** How long a page waits before reconnecting its event stream (ms). */
const SSE_RETRY_MS = 1000;
/** Comment lines keep idle streams from being cut by proxies and detect dead pages. */
const SSE_PING_MS = 15_000;
/** How often the tunnels' connections are sampled while a page is open (ms). */
export const INSPECTOR_TRAFFIC_MS = 1000;

/** Whether a request's Host header names this machine's loopback (any port). */
function isLoopbackHost(host: string | undefined): boolean {
  if (!host) return false;
  const name = host.replace(/:\d+$/, '');
  return name === '127.0.0.1' || name === 'localhost' || name === '[::1]';
}

/** Starts the inspector's HTTP server on 127.0.0.1 and logs its address. */
export async function startInspector(options: InspectorOptions): Promise<Inspector> {
  const hub = new InspectorHub(options.derived, options.childDerived);
  const graph: InspectorGraph = machineGraph(options.machine);
  if (options.child) graph.child = machineGraph(options.child);
  const graphJson = JSON.stringify(graph);
  const { randomBytes, randomUUID } = nodeCrypto();
  const bootId = randomUUID();
  // The per-run token of the page's controls: only a page read from this server knows it.
  const token = randomBytes(24).toString('base64url');
  const pageHtml = PAGE_HTML.replace(TOKEN_PLACEHOLDER, token);
  const sampler = new TrafficSampler(() => hub.books());
  let sampling: NodeJS.Timeout | undefined;
  /** The open `/events` streams, each with its function that writes one event. */
  const streams = new Map<http.ServerResponse, (event: string, data: unknown) => void>();
  const maxStreams = options.maxStreams ?? INSPECTOR_MAX_STREAMS;

  const server = http.createServer((req, res) => {
    // Refuse other Host names: a web page cannot read the inspector through DNS rebinding.
    if (!isLoopbackHost(req.headers.host)) return send(res, 403, 'text/plain', 'forbidden: use http://127.0.0.1:<port>/\n');
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/control') return control(req, res);
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n');
    switch (url.pathname) {
      case '/':
      case '/index.html':
        return send(res, 200, 'text/html; charset=utf-8', pageHtml, { 'x-frame-options': 'DENY' });
      case '/app.js':
        return send(res, 200, 'text/javascript; charset=utf-8', APP_JS);
      case '/app.css':
        return send(res, 200, 'text/css; charset=utf-8', APP_CSS);
      case '/graph':
        return send(res, 200, 'application/json', graphJson);
      case '/snapshot': {
        const snap = hub.snapshot();
        return snap
          ? send(res, 200, 'application/json', JSON.stringify(snap))
          : send(res, 503, 'application/json', '{"error":"not started"}');
      }
      case '/events':
        return openStream(req, res);
      case '/favicon.ico':
        res.writeHead(204).end();
        return;
      default:
        return send(res, 404, 'text/plain', 'not found\n');
    }
  });

  function control(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (req.method !== 'POST') return send(res, 405, 'text/plain', 'method not allowed: POST\n', { allow: 'POST' });
    const refused = refusal(req, token);
    if (refused) {
      req.resume();
      return send(res, 403, 'text/plain', `${refused}\n`);
    }
    void readControl(req).then((request) => {
      if (typeof request === 'string') return send(res, 400, 'text/plain', `${request}\n`);
      const { status, text } = applyControl(hub.actor(request.tunnel), request);
      (options.logger ?? silentLogger).info(`inspector: ${text.trim()}`, { action: request.action });
      send(res, status, 'text/plain', text);
    });
  }

  /** Samples the tunnels' connections while pages are open; stops with the last one. */
  function sampleWhileOpen(): void {
    if (streams.size > 0 && !sampling) {
      sampling = setInterval(() => {
        const traffic = sampler.sample();
        for (const write of streams.values()) write('traffic', traffic);
      }, INSPECTOR_TRAFFIC_MS).unref();
    } else if (streams.size === 0 && sampling) {
      clearInterval(sampling);
      sampling = undefined;
    }
  }

  function openStream(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (streams.size >= maxStreams) {
      const body = `too many inspector pages open (at most ${maxStreams}); retry later\n`;
      return send(res, 503, 'text/plain', body, { 'retry-after': String(Math.ceil(SSE_RETRY_MS / 1000)) });
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write(`retry: ${SSE_RETRY_MS}\n\n`);
    // A page that stopped reading is dropped rather than growing our memory.
    const writeBounded = (text: string) => {
      // (Once ended by close(), nothing more: a write after the end would be an error.)
      if (res.writableEnded || res.destroyed) return;
      if (res.writableLength > INSPECTOR_STREAM_QUEUE_BYTES) res.destroy();
      else res.write(text);
    };
    const write = (event: string, data: unknown) => writeBounded(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    write('hello', { bootId, log: hub.log() });
    write('traffic', sampler.whole());
    const snap = hub.snapshot();
    if (snap) write('snapshot', snap);
    const unlisten = hub.listen({ snapshot: (s) => write('snapshot', s), log: (entries) => write('log', entries) });
    const ping = setInterval(() => writeBounded(': ping\n\n'), SSE_PING_MS);
    streams.set(res, write);
    sampleWhileOpen();
    req.socket.setNoDelay(true);
    // eslint-disable-next-line no-restricted-syntax -- the response was opened just above
    res.on('close', () => {
      clearInterval(ping);
      unlisten();
      streams.delete(res);
      sampleWhileOpen();
    });
  }

  server.listen(options.port ?? 0, HOST);
  // `once` rejects with the listener's 'error' (e.g. EADDRINUSE).
  await once(server, 'listening').catch((err: Error) => {
    throw new Error(`inspector could not listen on ${formatHostPort(HOST, options.port ?? 0)}: ${err.message}`);
  });
  const port = (server.address() as { port: number }).port;
  const url = `http://${formatHostPort(HOST, port)}/`;
  (options.logger ?? silentLogger).info(`inspector at ${url}`, { port });

  return {
    url,
    port,
    inspect: hub.inspect,
    async close() {
      clearInterval(sampling);
      hub.flush();
      const open = [...streams];
      const finished = open.map(
        ([res]) =>
          new Promise<void>((resolve) => {
            if (res.writableFinished || res.destroyed) return resolve();
            res.once('finish', resolve);
            // eslint-disable-next-line no-restricted-syntax -- checked just above: the response is still open
            res.once('close', resolve);
          }),
      );
      for (const [res, write] of open) {
        write('end', { reason: 'the tunnel process is stopping' });
        res.end();
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(finished), new Promise((resolve) => (timer = setTimeout(resolve, INSPECTOR_CLOSE_GRACE_MS)))]);
      clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function send(res: http.ServerResponse, status: number, type: string, body: string, headers: http.OutgoingHttpHeaders = {}): void {
  res.writeHead(status, { ...headers, 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
