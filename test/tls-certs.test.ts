/**
 * The server's certificates, end to end with the real CLI and real TLS: a self-signed
 * certificate made on the first start (files 0600 in a 0700 directory) and kept for the
 * next, its logged fingerprint pinned by a client; the certificate files re-read on
 * SIGHUP while a tunnel stays up, a bad file keeping the old certificate; the expiry
 * warning; and the metrics of the certificate and of TLS and plaintext clients.
 */
import { after, afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BoreProcess, connect, httpGet, roundTrip, startClient, startEchoServer, startServer } from './helpers/procs.js';
import { TestCerts } from './helpers/certs.js';

const certs = new TestCerts();
/** A certificate valid for 30 days, another for 2 (the server warns of it), and a third. */
const LONG = certs.make('long', 30);
const SHORT = certs.make('short', 2);
const work = mkdtempSync(join(tmpdir(), 'bore-tls-certs-'));
after(() => {
  certs.remove();
  rmSync(work, { recursive: true, force: true });
});

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** A visitor's bytes come back through `publicPort`. */
async function echoes(publicPort: number): Promise<void> {
  const payload = randomBytes(8192);
  const visitor = await connect(publicPort);
  assert.deepEqual(await roundTrip(visitor, payload), payload);
  visitor.destroy();
}

/** Runs `bore local` until it exits; resolves with its code and output. */
async function clientFails(controlPort: number, localPort: number, args: string[]) {
  const p = new BoreProcess(['local', String(localPort), '--to', '127.0.0.1', '--control-port', String(controlPort), ...args]);
  const code = await p.exited;
  return { code, output: p.output };
}

/** Starts a server and registers its stop. */
async function server(args: string[], env: Record<string, string> = {}) {
  const s = await startServer(['--bind-addr', '127.0.0.1', '--bind-tunnels', '127.0.0.1', ...args], env);
  cleanups.push(() => s.stop());
  return s;
}

/** Starts a client and registers its stop. */
async function client(localPort: number, controlPort: number, args: string[]) {
  const c = await startClient(localPort, controlPort, args);
  cleanups.push(() => c.stop());
  return c;
}

const FINGERPRINT_LINE = /self-signed TLS certificate (made|kept) in (.+?): clients connect with --tls-fingerprint (sha256:[0-9A-F]{64})/;

test('--tls-self-signed: made on the first start (0600 in 0700), kept for the next; its logged pin works, another is refused', async () => {
  const echo = await startEchoServer();
  cleanups.push(() => echo.close());
  const dir = join(work, 'state', 'bore');
  const first = await server(['--tls-self-signed', dir]);
  const [, made, where, pin] = await first.waitFor(FINGERPRINT_LINE);
  assert.equal(made, 'made');
  assert.equal(where, dir);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  for (const file of ['tls-cert.pem', 'tls-key.pem']) assert.equal(statSync(join(dir, file)).mode & 0o777, 0o600, file);
  assert.equal(pin, TestCerts.fingerprint(join(dir, 'tls-cert.pem')));
  assert.ok(!first.output.includes('PRIVATE KEY'), 'the key is never logged');

  const pinned = await client(echo.port, first.controlPort, ['--tls-fingerprint', pin]);
  await echoes(pinned.publicPort);
  const wrong = await clientFails(first.controlPort, echo.port, ['--tls-fingerprint', TestCerts.fingerprint(LONG.cert)]);
  assert.equal(wrong.code, 3, wrong.output);
  assert.match(wrong.output, /does not match --tls-fingerprint/);
  await pinned.stop();
  await first.stop();

  // The second start reads the same certificate: the clients' pin still holds.
  const key = readFileSync(join(dir, 'tls-key.pem'));
  const second = await server(['--tls-self-signed', dir, '--tls-names', 'bore.example.com']);
  const [, kept, , again] = await second.waitFor(FINGERPRINT_LINE);
  assert.equal(kept, 'kept');
  assert.equal(again, pin);
  assert.deepEqual(readFileSync(join(dir, 'tls-key.pem')), key);
  // A name asked for after the certificate was made: said, with the way to get it.
  await second.waitFor(/does not name bore\.example\.com \(it was made before\): delete .*tls-cert\.pem/);
  const again2 = await client(echo.port, second.controlPort, ['--tls-fingerprint', pin]);
  await echoes(again2.publicPort);
});

test('--tls-self-signed without a directory keeps it in $STATE_DIRECTORY (systemd StateDirectory=), with the names asked for', async () => {
  const dir = join(work, 'systemd-state');
  const s = await server(['--tls-self-signed', '--tls-names', 'bore.example.com,203.0.113.7'], { STATE_DIRECTORY: dir });
  const [, , where] = await s.waitFor(FINGERPRINT_LINE);
  assert.equal(where, dir);
  const text = spawnSync('openssl', ['x509', '-noout', '-ext', 'subjectAltName', '-in', join(dir, 'tls-cert.pem')], {
    encoding: 'utf8',
  }).stdout;
  for (const name of [
    'DNS:bore.example.com',
    'IP Address:203.0.113.7',
    'DNS:localhost',
    'IP Address:127.0.0.1',
    'IP Address:0:0:0:0:0:0:0:1',
  ]) {
    assert.ok(text.includes(name), `${name} in ${text}`);
  }
});

test('--tls-self-signed with --tls-cert/--tls-key, or --tls-names alone, is a usage error naming both flags', async () => {
  const cases: [string[], RegExp][] = [
    [
      ['--tls-self-signed', work, '--tls-cert', LONG.cert, '--tls-key', LONG.key],
      /--tls-self-signed and --tls-cert given together: use either a certificate of your own \(--tls-cert and --tls-key\) or one the server makes \(--tls-self-signed\)/,
    ],
    [['--tls-self-signed', '--tls-key', LONG.key], /--tls-self-signed and --tls-key given together/],
    [['--tls-names', 'a.example'], /--tls-names goes with --tls-self-signed/],
    [['--tls-cert', LONG.cert], /--tls-cert needs --tls-key/],
  ];
  for (const [args, message] of cases) {
    const p = new BoreProcess(['server', '--control-port', '0', ...args]);
    assert.equal(await p.exited, 2, p.output);
    assert.match(p.output, message);
  }
});

test('SIGHUP re-reads --tls-cert/--tls-key: the tunnel that was up keeps working, a new client gets the new certificate; a bad file keeps it', async () => {
  const echo = await startEchoServer();
  cleanups.push(() => echo.close());
  const cert = join(work, 'reload.pem');
  const key = join(work, 'reload.key');
  copyFileSync(LONG.cert, cert);
  copyFileSync(LONG.key, key);
  const s = await server(['--tls-cert', cert, '--tls-key', key]);
  await s.waitFor(new RegExp(`TLS certificate .*fingerprint=${TestCerts.fingerprint(LONG.cert)}`));
  const up = await client(echo.port, s.controlPort, ['--tls-ca', certs.path('ca.pem')]);
  await echoes(up.publicPort);

  // The renewal: another key and certificate (2 days left: warned of).
  copyFileSync(SHORT.cert, cert);
  copyFileSync(SHORT.key, key);
  let mark = s.output.length;
  s.proc.kill('SIGHUP');
  await s.waitFor(new RegExp(`TLS certificate replaced .*fingerprint=${TestCerts.fingerprint(SHORT.cert)}`), 10_000, mark);
  await s.waitFor(/TLS certificate expires in 1 day \(/, 10_000, mark);
  // The same tunnel (same public port, the control connection never dropped) carries a visitor.
  await echoes(up.publicPort);
  assert.doesNotMatch(up.output, /reconnect|connection lost|closed by server/i, up.output);
  assert.equal(up.output.match(/listening at/g)?.length, 1, up.output);
  // A new client sees the new certificate.
  const fresh = await client(echo.port, s.controlPort, ['--tls-fingerprint', TestCerts.fingerprint(SHORT.cert)]);
  await echoes(fresh.publicPort);
  const old = await clientFails(s.controlPort, echo.port, ['--tls-fingerprint', TestCerts.fingerprint(LONG.cert)]);
  assert.equal(old.code, 3, old.output);

  // A certificate file that holds none, then a key that is not the certificate's: each an error naming the file.
  for (const [write, message] of [
    [() => writeFileSync(cert, 'not a certificate\n'), `the TLS certificate file ${cert} holds no PEM certificate`],
    [
      () => {
        copyFileSync(LONG.cert, cert);
        copyFileSync(SHORT.key, key);
      },
      `the TLS key file ${key} is not the key of the certificate in ${cert}`,
    ],
  ] as const) {
    write();
    mark = s.output.length;
    s.proc.kill('SIGHUP');
    const [line] = await s.waitFor(/ERROR.*SIGHUP: .*/, 10_000, mark);
    assert.ok(line.includes(message), line);
    assert.ok(line.includes(`the server keeps its TLS certificate (${TestCerts.fingerprint(SHORT.cert)})`), line);
    const still = await client(echo.port, s.controlPort, ['--tls-fingerprint', TestCerts.fingerprint(SHORT.cert)]);
    await echoes(still.publicPort);
    await still.stop();
  }
  await echoes(up.publicPort);
  assert.ok(!s.output.includes('PRIVATE KEY'), 'no key in the log');
});

/** Parses the text exposition format into `name{labels}` → value. */
function exposition(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) values.set(m[1] ?? '', Number(m[2]));
  }
  return values;
}

const hasPromtool = spawnSync('promtool', ['--version']).status === 0;

test('a certificate within 14 days is warned of at start; /metrics has its expiry and the TLS and plaintext clients apart', async (t) => {
  const echo = await startEchoServer();
  cleanups.push(() => echo.close());
  const s = await server(['--tls-cert', SHORT.cert, '--tls-key', SHORT.key, '--metrics', '127.0.0.1:0', '--max-pool', '0']);
  const [warning] = await s.waitFor(/WARN.*TLS certificate expires in 1 day \(([^)]+)\): renew .* and reload them \(bore server: SIGHUP\)/);
  assert.ok(warning.includes(TestCerts.expiry(SHORT.cert).toISOString()), warning);
  const metricsPort = Number((await s.waitFor(/metrics at http:\/\/127\.0\.0\.1:(\d+)\/metrics/))[1]);
  await client(echo.port, s.controlPort, ['--tls-ca', certs.path('ca.pem')]);
  await client(echo.port, s.controlPort, []);
  const res = await httpGet(metricsPort, '/metrics');
  const values = exposition(res.body);
  assert.equal(values.get('bore_tls_certificate_expiry_timestamp_seconds'), TestCerts.expiry(SHORT.cert).getTime() / 1000);
  // Without a pool each client has one connection to the control port: its control connection.
  assert.equal(values.get('bore_control_connections_total{transport="tls"}'), 1, res.body);
  assert.equal(values.get('bore_control_connections_total{transport="plain"}'), 1, res.body);
  assert.equal(values.get('bore_tunnels_open_by_transport{transport="tls"}'), 1);
  assert.equal(values.get('bore_tunnels_open_by_transport{transport="plain"}'), 1);
  if (hasPromtool) {
    // promtool's lint of the whole exposition (the TLS series too): exit 0, not a word.
    const check = spawnSync('promtool', ['check', 'metrics'], { input: res.body, encoding: 'utf8' });
    assert.deepEqual({ status: check.status, said: `${check.stdout}${check.stderr}`.trim() }, { status: 0, said: '' });
  } else {
    t.diagnostic('promtool not installed (Debian/Ubuntu: apt-get install prometheus): the exposition was not linted');
  }
});

test('without TLS, /metrics has no certificate expiry sample', async () => {
  const s = await server(['--metrics', '127.0.0.1:0']);
  const metricsPort = Number((await s.waitFor(/metrics at http:\/\/127\.0\.0\.1:(\d+)\/metrics/))[1]);
  const values = exposition((await httpGet(metricsPort, '/metrics')).body);
  assert.equal(values.get('bore_tls_certificate_expiry_timestamp_seconds'), undefined);
  assert.equal(values.get('bore_tunnels_open_by_transport{transport="tls"}'), 0);
});
