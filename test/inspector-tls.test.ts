/**
 * `--inspect` on a TLS tunnel, with the real CLI and an openssl-made certificate:
 * `/snapshot` serves the control connection's TLS (protocol, cipher, the server
 * certificate's subject, fingerprint and expiry, resumed or not), and the page in a
 * real headless Chromium shows them in its context table, readable in a narrow window.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { httpGet, startClient, startEchoServer } from './helpers/procs.js';
import { launchBrowser } from './helpers/inspect.js';
import { TestCerts } from './helpers/tls-certs.js';

let certs: TestCerts;
before(() => {
  certs = new TestCerts().make('server', 'localhost', 'DNS:localhost,IP:127.0.0.1', 2);
});
after(() => certs.remove());

test('a TLS tunnel: /snapshot and the page show its protocol, cipher, certificate and expiry', async (t) => {
  const echo = await startEchoServer();
  t.after(() => echo.close());
  const server = await certs.server('server', ['--min-port', '25500', '--max-port', '25599']);
  t.after(() => server.stop('SIGKILL'));
  const client = await startClient(echo.port, server.controlPort, ['--tls-ca', certs.path('ca.pem'), '--inspect']);
  t.after(() => client.stop());
  const port = Number((await client.waitFor(/inspector at http:\/\/127\.0\.0\.1:(\d+)\//))[1]);

  const cert = certs.x509('server');
  const fingerprint = `sha256:${cert.fingerprint256.replace(/:/g, '')}`;
  const validTo = new Date(cert.validTo).toISOString();
  const { context } = JSON.parse((await httpGet(port, '/snapshot')).body) as { context: { tls: Record<string, unknown> } };
  assert.deepEqual(context.tls, {
    protocol: 'TLSv1.3',
    cipher: context.tls.cipher,
    subject: 'CN=localhost',
    fingerprint,
    validTo,
    resumed: false,
  });
  assert.match(String(context.tls.cipher), /^TLS_/);

  const browser = await launchBrowser(t);
  if (!browser) return;
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForSelector('[data-state="listening"][data-active="true"]', { timeout: 10_000 });
  assert.equal(await page.locator('[data-state="securing"]').count(), 1, 'the securing step is drawn');
  const rows = await page.$$eval('#context tr', (trs) =>
    trs.map((tr) => [tr.querySelector('th')!.textContent, tr.querySelector('td')!.textContent]),
  );
  const row = (label: string) => rows.find(([l]) => l === label)?.[1];
  assert.equal(row('TLS'), `TLSv1.3, ${String(context.tls.cipher)}, full handshake`);
  assert.equal(row('server certificate'), 'CN=localhost');
  assert.equal(row('fingerprint'), fingerprint);
  assert.equal(row('certificate expires'), validTo);
  const artifacts = fileURLToPath(new URL('../test-artifacts/', import.meta.url));
  mkdirSync(artifacts, { recursive: true });
  await page.click('[data-zoom="fit"]');
  await page.screenshot({ path: `${artifacts}inspector-tls.png`, fullPage: true });
  // The fingerprint (71 characters) wraps rather than widening a narrow page.
  await page.setViewportSize({ width: 400, height: 800 });
  const widths = await page.evaluate<{ scrollWidth: number; innerWidth: number }>(
    '({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth })',
  );
  assert.ok(widths.scrollWidth <= widths.innerWidth, `400 px: the page is ${widths.scrollWidth} px wide`);
  assert.deepEqual(errors, []);
});
