/**
 * The certificate's expiry warnings on their clock: none while more than 14 days are
 * left, a warning once a day from then on (the daily timer, on mocked time), an error
 * once it has expired, nothing after `stop()` (as at the server's close).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CertificateWatch, EXPIRY_CHECK_INTERVAL_MS } from '../src/server/certificate-watch.js';
import type { CertificateInfo } from '../src/server/certificate.js';

const DAY = 86_400_000;

/** A logger that keeps each line as `level message`. */
function recorder() {
  const lines: string[] = [];
  const keep = (level: string) => (message: string) => void lines.push(`${level} ${message}`);
  return { lines, logger: { error: keep('error'), warn: keep('warn'), info: keep('info'), debug: keep('debug') } };
}

test('the daily check warns from 14 days before expiry, errs once expired, and stops with the server', (t) => {
  t.mock.timers.enable({ apis: ['setInterval', 'Date'], now: 0 });
  const info: CertificateInfo = {
    subject: 'CN=x',
    issuer: 'CN=x',
    names: '',
    fingerprint: 'sha256:AB',
    validTo: new Date(20 * DAY - 1000),
  };
  const { lines, logger } = recorder();
  const watch = new CertificateWatch(logger, () => info, 'renew it');
  watch.start();
  assert.deepEqual(lines, []);
  t.mock.timers.tick(5 * EXPIRY_CHECK_INTERVAL_MS);
  assert.deepEqual(lines, [], 'more than 14 days left');
  t.mock.timers.tick(EXPIRY_CHECK_INTERVAL_MS);
  assert.deepEqual(lines, ['warn TLS certificate expires in 13 days (1970-01-20T23:59:59.000Z): renew it']);
  t.mock.timers.tick(13 * EXPIRY_CHECK_INTERVAL_MS);
  assert.equal(lines.at(-1), 'warn TLS certificate expires within a day (1970-01-20T23:59:59.000Z): renew it');
  assert.equal(lines.length, 14);
  t.mock.timers.tick(EXPIRY_CHECK_INTERVAL_MS);
  assert.match(
    lines.at(-1) ?? '',
    /^error TLS certificate expired at 1970-01-20T23:59:59\.000Z: clients that verify it refuse to connect; renew it$/,
  );
  watch.stop();
  const count = lines.length;
  t.mock.timers.tick(10 * EXPIRY_CHECK_INTERVAL_MS);
  assert.equal(lines.length, count, 'no check after stop');
});

test('without a certificate there is nothing to say', () => {
  const { lines, logger } = recorder();
  const watch = new CertificateWatch(logger, () => undefined, 'renew it');
  watch.check();
  assert.deepEqual(lines, []);
});
