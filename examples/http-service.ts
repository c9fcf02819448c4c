/**
 * Embedding a bore tunnel in a small HTTP service: the service starts, exposes itself
 * through a bore server, reports the tunnel's state on `/status`, and on SIGINT/SIGTERM
 * stops the tunnel cleanly before exiting.
 *
 *   npm run build
 *   BORE_SERVER=bore.example.com node --import tsx examples/http-service.ts
 *
 * Environment: BORE_SERVER (default localhost), BORE_CONTROL_PORT (default 7835),
 * BORE_SECRET (optional), BORE_INSPECT=1 to also serve the live inspector page.
 */
import http from 'node:http';
import { once } from 'node:events';
import { type Inspector, type Tunnel, type TunnelChange, createLogger, startInspector, startTunnel } from 'bore-ts';

const to = process.env.BORE_SERVER ?? 'localhost';
const controlPort = Number(process.env.BORE_CONTROL_PORT ?? 7835);
const logger = createLogger({ level: 'info' });

// Assigned once the service listens; its handler reads it from then on.
// eslint-disable-next-line prefer-const
let tunnel: Tunnel | undefined;
// The tunnel as a user sees it, kept by `onChange` below.
let latest: TunnelChange | undefined;

// The service itself: it knows its own public address through the tunnel.
const service = http.createServer((req, res) => {
  if (req.url === '/status') {
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        state: latest?.state,
        publicPort: tunnel?.publicPort ?? null,
        attempt: latest?.attempt,
        lastError: latest?.lastError ?? null,
        // Counts that change per connection are read when asked: here, the warm pool's idle connections.
        pooledIdle: tunnel?.counts().pool.idle ?? 0,
      }),
    );
    return;
  }
  res.end('hello from a service that tunnels itself\n');
});
service.listen(0, '127.0.0.1');
await once(service, 'listening');
const localPort = (service.address() as { port: number }).port;

const inspector: Inspector | undefined = process.env.BORE_INSPECT ? await startInspector({ logger }) : undefined;

tunnel = startTunnel({
  localPort,
  localHost: '127.0.0.1',
  to,
  controlPort,
  secret: process.env.BORE_SECRET,
  logger,
  inspect: inspector?.inspect,
});

// Print every change of state, port, attempt or error (once each: heartbeats are not
// changes), starting with the current one, `connecting`.
tunnel.onChange((change) => {
  latest = change;
  const { state, publicPort, attempt, lastError } = change;
  const port = publicPort === undefined ? '' : ` port ${publicPort}`;
  console.log(`tunnel state: ${state} (attempt ${attempt}${port}${lastError ? `, last error: ${lastError.message}` : ''})`);
});

try {
  const publicPort = await tunnel.ready;
  console.log(`service public at ${to}:${publicPort}`);
} catch (err) {
  console.error(`tunnel failed: ${(err as Error).message}`);
  service.close();
  await inspector?.close();
  process.exit((await tunnel.done).exitCode);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void tunnel.stop().then(async (result) => {
      await inspector?.close();
      service.close();
      console.log(`stopped (${result.state})`);
      process.exitCode = result.exitCode;
    });
  });
}
