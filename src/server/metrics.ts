/**
 * Prometheus metrics of a {@link BoreServer} on an HTTP listener of their own
 * (`bore server --metrics <addr:port>`): `GET /metrics` in the text exposition format
 * and `GET /healthz`, with its connections capped, slow requests timed out and the
 * `Host` checked (`metrics-guard.ts`). Every value is read from the server at scrape time
 * (`server.stats`, `server.counters`, `server.certificate`), so the server does nothing
 * for them per connection beyond a count and a histogram bucket, and nothing per chunk.
 * Loaded (with prom-client) only when metrics are asked for.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, type Metric, type MetricValueWithName, Registry, collectDefaultMetrics } from 'prom-client';
import type { BoreServer } from './server.js';
import type { HistogramSnapshot } from './histogram.js';
import { METRICS_SERVER_OPTIONS, capConnections, checkHost } from './metrics-guard.js';

/** Where the metrics listener binds. */
export interface MetricsOptions {
  /** Address to listen on. */
  host: string;
  /** Port to listen on (0 for any). */
  port: number;
  /** Host names a request's `Host` may name besides IP addresses and `localhost` (`--metrics-host`). */
  allowedHosts?: readonly string[];
  /** The process's watch of its file descriptors (`fd-watch.ts`), if it runs one. */
  fdWatch?: { readonly limitReached: number };
  /** The version `bore_build_info` reports (default `unknown`; the CLI gives the package's). */
  version?: string;
}

/**
 * prom-client's default metrics that break `promtool check metrics` (gauges named like
 * counters, so it exits 3): they are the sums of `nodejs_active_handles`,
 * `nodejs_active_requests` and `nodejs_active_resources` (by `type`), which stay.
 */
export const DROPPED_DEFAULT_METRICS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** A running metrics listener. */
export interface MetricsServer {
  /** The port actually bound. */
  readonly port: number;
  /** The metrics URL, e.g. `http://127.0.0.1:9100/metrics`. */
  readonly url: string;
  /** The registry the metrics are in. */
  readonly registry: Registry;
  /** Closes the listener. */
  close(): Promise<void>;
}

/** A counter whose value is the total `read()` returns at scrape time. */
function totalCounter(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

/** A gauge whose value is what `read()` returns at scrape time. */
function readGauge(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

/**
 * `read`, called at most once per turn of the event loop: a scrape collects every metric
 * in one turn, so its metrics share one reading.
 */
function readOncePerTurn<T>(read: () => T): () => T {
  let value: T | undefined;
  return () => {
    if (value === undefined) {
      value = read();
      setImmediate(() => (value = undefined));
    }
    return value;
  };
}

/**
 * A histogram whose buckets, sum and count are what `read()` returns at scrape time (the
 * server keeps them itself: prom-client is not loaded without `--metrics`).
 */
function readHistogram(registry: Registry, name: string, help: string, read: () => HistogramSnapshot): void {
  const get = () => {
    const { bounds, cumulative, sum } = read();
    const count = cumulative[cumulative.length - 1] ?? 0;
    const values: MetricValueWithName<'le'>[] = [
      ...bounds.map((le, i) => ({ metricName: `${name}_bucket`, labels: { le }, value: cumulative[i] ?? 0 })),
      { metricName: `${name}_bucket`, labels: { le: '+Inf' }, value: count },
      { metricName: `${name}_sum`, labels: {}, value: sum },
      { metricName: `${name}_count`, labels: {}, value: count },
    ];
    return Promise.resolve({ name, help, type: 'histogram' as const, aggregator: 'sum' as const, values });
  };
  // The registry asks a metric only for its name, get() and reset() (prom-client's own
  // Histogram would need every observation replayed into it).
  registry.registerMetric({ name, help, get, reset() {} } as unknown as Metric);
}

/**
 * Builds a registry holding `server`'s metrics and the process metrics (on Linux,
 * prom-client's `process_open_fds` and `process_max_fds` among them, less
 * {@link DROPPED_DEFAULT_METRICS}), `bore_build_info` with `version`, plus the count of
 * `fdWatch`'s checks that found the descriptors exhausted, if given.
 */
export function serverRegistry(server: BoreServer, fdWatch?: MetricsOptions['fdWatch'], version = 'unknown'): Registry {
  const registry = new Registry();
  // Read once per scrape: each read sums the bytes of every open connection.
  const counters = readOncePerTurn(() => server.counters);
  collectDefaultMetrics({ register: registry });
  for (const name of DROPPED_DEFAULT_METRICS) registry.removeSingleMetric(name);
  new Gauge({
    name: 'bore_build_info',
    help: 'Always 1; its label is the version of bore that runs',
    labelNames: ['version'],
    registers: [registry],
  }).set({ version }, 1);
  if (fdWatch) {
    // While descriptors are exhausted /metrics cannot be reached (nor process_open_fds read): this tells afterwards.
    totalCounter(
      registry,
      'bore_fd_limit_reached_total',
      'Periodic checks that found the process at its open-file limit (new connections failing)',
      () => fdWatch.limitReached,
    );
  }
  readGauge(registry, 'bore_tunnels_open', 'Tunnels (clients with a public port) open', () => server.stats.tunnels);
  readGauge(registry, 'bore_ports_in_use', 'Public ports held by tunnels', () => server.stats.tunnels);
  readGauge(registry, 'bore_port_range_size', 'Public ports clients may get', () => {
    const { minPort, maxPort } = server.portRange;
    return maxPort - minPort + 1;
  });
  readGauge(
    registry,
    'bore_control_connections_handshaking',
    'Control-port connections still in their handshake',
    () => server.stats.handshaking,
  );
  readGauge(registry, 'bore_public_connections_pending', 'Public connections waiting for their client', () => server.stats.pending);
  readGauge(registry, 'bore_public_connections_active', 'Claimed public connections open', () => counters().publicActive);
  totalCounter(registry, 'bore_public_connections_accepted_total', 'Public connections accepted', () => counters().publicAccepted);
  totalCounter(
    registry,
    'bore_public_connections_pooled_total',
    'Public connections handed at once to an idle pooled data connection',
    () => counters().publicPooled,
  );
  totalCounter(
    registry,
    'bore_public_connections_multiplexed_total',
    "Public connections carried on their tunnel's multiplexed connection (--mux)",
    () => counters().publicMultiplexed,
  );
  readGauge(registry, 'bore_pooled_connections_idle', 'Idle pooled data connections, over all tunnels', () => server.stats.pooled);
  totalCounter(
    registry,
    'bore_public_connections_failed_total',
    'Public connections that ended unclaimed (dropped, expired, visitor left, tunnel closed)',
    () => counters().publicFailed,
  );
  totalCounter(
    registry,
    'bore_received_bytes_total',
    'Bytes read from visitors (those of open connections included, read off their sockets at scrape time)',
    () => counters().bytesIn,
  );
  totalCounter(
    registry,
    'bore_sent_bytes_total',
    'Bytes written to visitors (those of open connections included, read off their sockets at scrape time)',
    () => counters().bytesOut,
  );
  new Counter({
    name: 'bore_handshake_failures_total',
    help: 'Failed handshakes on the control port by reason',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, count] of counters().handshakeFailures) this.inc({ reason }, count);
    },
  });
  totalCounter(registry, 'bore_tunnels_opened_total', 'Tunnels opened (a client got its public port)', () => counters().tunnelsOpened);
  new Counter({
    name: 'bore_tunnels_closed_total',
    help: 'Tunnels closed by reason: client, timeout (a silently dead client), reset, not-reading, shutdown, error',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, count] of counters().tunnelsClosed) this.inc({ reason }, count);
    },
  });
  readHistogram(
    registry,
    'bore_connection_duration_seconds',
    'Seconds from the accept of a proxied public connection to its close',
    () => counters().connectionSeconds,
  );
  readHistogram(
    registry,
    'bore_connection_setup_seconds',
    "Seconds from the accept of a public connection until its client's data connection claimed it",
    () => counters().setupSeconds,
  );
  new Counter({
    name: 'bore_control_connections_total',
    help: 'Connections to the control port (control, data and pooled) by transport: tls (counted once its handshake is done) or plain',
    labelNames: ['transport'],
    registers: [registry],
    collect() {
      const { tls, plain } = counters().controlConnections;
      this.reset();
      this.inc({ transport: 'tls' }, tls);
      this.inc({ transport: 'plain' }, plain);
    },
  });
  new Gauge({
    name: 'bore_tunnels_open_by_transport',
    help: 'Tunnels open by the transport of their control connection: tls or plain',
    labelNames: ['transport'],
    registers: [registry],
    collect() {
      const { tunnels, tlsTunnels } = server.stats;
      this.set({ transport: 'tls' }, tlsTunnels);
      this.set({ transport: 'plain' }, tunnels - tlsTunnels);
    },
  });
  // As blackbox_exporter's probe_ssl_earliest_cert_expiry: a timestamp, so an alert reads
  // `bore_tls_certificate_expiry_timestamp_seconds - time() < 14 * 86400`. No sample without TLS.
  new Gauge({
    name: 'bore_tls_certificate_expiry_timestamp_seconds',
    help: "When the control port's TLS certificate expires, in seconds since the Unix epoch (absent without TLS)",
    registers: [registry],
    collect() {
      const info = server.certificate;
      if (info) this.set(info.validTo.getTime() / 1000);
      else this.remove();
    },
  });
  readGauge(registry, 'bore_up', '1 while the control listener is up and the server is not shutting down', () =>
    server.listening ? 1 : 0,
  );
  return registry;
}

/** Serves `server`'s metrics on `options.host`:`options.port`; resolves once listening. */
export async function startMetrics(server: BoreServer, options: MetricsOptions): Promise<MetricsServer> {
  const registry = serverRegistry(server, options.fdWatch, options.version);
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
      );
    } else if (path === '/healthz') {
      const up = server.listening;
      res.writeHead(up ? 200 : 503, { 'content-type': 'text/plain' }).end(up ? 'ok\n' : 'unavailable\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /healthz\n');
    }
  };
  const listener = http.createServer(METRICS_SERVER_OPTIONS, checkHost(options.allowedHosts ?? [], handle));
  capConnections(listener);
  listener.listen({ host: options.host, port: options.port });
  await Promise.race([
    once(listener, 'listening'),
    once(listener, 'error').then(([err]) => {
      throw err as Error;
    }),
  ]);
  const port = (listener.address() as AddressInfo).port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    port,
    url: `http://${host}:${port}/metrics`,
    registry,
    close: () =>
      new Promise<void>((resolve) => {
        listener.close(() => resolve());
        listener.closeAllConnections();
      }),
  };
}
