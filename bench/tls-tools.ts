/**
 * What `bench/tls.ts` needs besides bore: certificates (a CA and a server certificate
 * for the loopback and the link's server address, made by the tests' openssl maker),
 * and iperf3 (a server, and a client run parsed from
 * its JSON report).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import net from 'node:net';
import { once } from 'node:events';
import { TestCerts } from '../test/helpers/tls-certs.js';

/** Paths of the benchmark's certificates; `remove()` deletes them. */
export interface Certificates {
  ca: string;
  cert: string;
  key: string;
  remove(): void;
}

/** Makes a P-256 CA and a server certificate it signs, valid for `localhost`, 127.0.0.1 and each of `ips` (the tests' maker). */
export function makeCertificates(ips: string[]): Certificates {
  const certs = new TestCerts().make('server', 'localhost', ['DNS:localhost', 'IP:127.0.0.1', ...ips.map((ip) => `IP:${ip}`)].join(','), 2);
  return { ca: certs.path('ca.pem'), cert: certs.path('server.pem'), key: certs.path('server.key'), remove: () => certs.remove() };
}

/** The path of iperf3, or undefined if it is not installed. */
export function findIperf3(): string | undefined {
  const r = spawnSync('iperf3', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? 'iperf3' : undefined;
}

/** A free TCP port on loopback (free when this returns; nothing holds it). */
export async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** Starts `iperf3 -s` on loopback; resolves once it listens. It serves one test at a time, any number in a row. */
export async function startIperfServer(): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn('iperf3', ['-s', '--forceflush', '-B', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  for (let line = await lines.next(); !line.done; line = await lines.next()) {
    if (/Server listening on/.test(line.value)) {
      child.stdout.resume();
      return { port, child };
    }
  }
  throw new Error('iperf3 -s exited before listening');
}

/** One iperf3 run as the receiver counted it. */
export interface IperfResult {
  streams: number;
  seconds: number;
  bytes: number;
  /** Megabytes (10^6) per second received. */
  mbps: number;
}

/** Runs `iperf3 -c` to `port` on loopback with `streams` parallel streams for `seconds`, client to server. */
export async function runIperf(port: number, streams: number, seconds: number): Promise<IperfResult> {
  const child = spawn('iperf3', ['-c', '127.0.0.1', '-p', String(port), '-P', String(streams), '-t', String(seconds), '-J'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  const report = JSON.parse(out) as { error?: string; end?: { sum_received?: { bytes: number; seconds: number } } };
  const sum = report.end?.sum_received;
  if (code !== 0 || !sum) throw new Error(`iperf3 -c -P ${streams}: ${report.error ?? `exit ${code}`}`);
  return { streams, seconds: sum.seconds, bytes: sum.bytes, mbps: sum.bytes / 1e6 / sum.seconds };
}
