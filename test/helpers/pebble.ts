/**
 * Pebble, Let's Encrypt's ACME test server (Debian package `pebble`), run by the tests:
 * its HTTPS listener gets a certificate from a CA made here with openssl (trusted by the
 * bore server through NODE_EXTRA_CA_CERTS), its HTTP-01 validations go to the port the
 * test gives `--acme-http-port`, without its random sleeps. Its own root, which signs
 * the certificates it issues, comes from its management endpoint `/roots/0`.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';

/** The path of the `pebble` binary, or undefined with the reason it cannot be used. */
export function findPebble(): { path?: string; reason?: string } {
  try {
    const path = execFileSync('sh', ['-c', 'command -v pebble'], { encoding: 'utf8' }).trim();
    if (path === '') return { reason: 'pebble is not installed (apt-get install pebble)' };
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return { path };
  } catch {
    return { reason: 'pebble (apt-get install pebble) or openssl is not installed' };
  }
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Makes, in `dir`, a CA (`listener-ca.pem`) and a certificate for localhost and 127.0.0.1 that Pebble serves its API with. */
export function makeListenerCertificate(dir: string): void {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'listener-ca.key',
    '-out',
    'listener-ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=pebble listener test CA',
  );
  openssl('req', ...ec, '-keyout', 'listener.key', '-out', 'listener.csr', '-subj', '/CN=localhost');
  writeFileSync(join(dir, 'listener.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  openssl(
    'x509',
    '-req',
    '-in',
    'listener.csr',
    '-CA',
    'listener-ca.pem',
    '-CAkey',
    'listener-ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    'listener.ext',
    '-out',
    'listener.pem',
  );
}

/** A running Pebble. */
export interface Pebble {
  /** Its ACME directory URL. */
  directory: string;
  /** Path of the CA file to trust for its API (NODE_EXTRA_CA_CERTS). */
  listenerCa: string;
  /** Path of its root (PEM), which the certificates it issues chain to. */
  root: string;
  /** Certificates issued so far (counted in its log). */
  issued(): number;
  /** Its log so far. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts Pebble with its files in `dir` (where {@link makeListenerCertificate} made the
 * listener's certificate): HTTP-01 on `httpPort`, certificates valid `validitySeconds`
 * (its default, 5 years, if undefined), API on `port` (default: a free one).
 */
export async function startPebble(
  binary: string,
  dir: string,
  options: { httpPort: number; validitySeconds?: number; port?: number },
): Promise<Pebble> {
  const port = options.port ?? (await freePort());
  const management = await freePort();
  const config = join(dir, `pebble-${port}.json`);
  writeFileSync(
    config,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${port}`,
        managementListenAddress: `127.0.0.1:${management}`,
        certificate: join(dir, 'listener.pem'),
        privateKey: join(dir, 'listener.key'),
        httpPort: options.httpPort,
        tlsPort: await freePort(),
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
        ...(options.validitySeconds === undefined ? {} : { certificateValidityPeriod: options.validitySeconds }),
      },
    }),
  );
  // No random validation sleeps, no nonces rejected on purpose, every order validated anew.
  const env = { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' };
  const proc: ChildProcess = spawn(binary, ['-config', config], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (/ACME directory available at/.test(output)) resolve();
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`pebble exited (${code}) before it was ready:\n${output}`)));
  });
  const exited = once(proc, 'exit');
  const listenerCa = join(dir, 'listener-ca.pem');
  const root = join(dir, `pebble-root-${port}.pem`);
  try {
    await ready;
    // Pebble logs its addresses just before it binds them: the management port may refuse for a moment.
    writeFileSync(root, await retryRefused(() => httpsGet(`https://127.0.0.1:${management}/roots/0`, listenerCa)));
    await retryRefused(() => httpsGet(`https://127.0.0.1:${port}/dir`, listenerCa));
  } catch (err) {
    proc.kill('SIGKILL');
    throw err;
  }
  return {
    directory: `https://127.0.0.1:${port}/dir`,
    listenerCa,
    root,
    issued: () => output.match(/Issued certificate serial/g)?.length ?? 0,
    output: () => output,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}

/** `fetch()` again while it fails with ECONNREFUSED (a listener about to open), up to 100 times 20 ms apart. */
async function retryRefused<T>(fetch: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await fetch();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ECONNREFUSED' || attempt >= 100) throw err;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** The body of `url`, trusting the CA file `ca`. */
function httpsGet(url: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca: readFileSync(ca) }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: HTTP ${res.statusCode}`))));
      })
      .on('error', reject);
  });
}
