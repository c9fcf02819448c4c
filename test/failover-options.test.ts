/**
 * Several servers as options: `to` lists in the library, `servers` in `bore up`'s file
 * (with a server's own control port and TLS), `--prefer-first`, and their mistakes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../src/cli/config.js';
import { tunnelSettings } from '../src/run/tunnel.js';
import { serversOf } from '../src/client/servers.js';
import { serverTlsOf } from '../src/client/tls.js';

test('the library: a comma-separated to or a list; entries may carry a control port; one server is the settings of old', () => {
  const one = tunnelSettings({ localPort: 3000, to: 'bore.test' });
  assert.equal(one.servers, undefined);
  assert.equal(one.preferFirst, undefined);
  assert.deepEqual([one.to, one.controlPort], ['bore.test', 7835]);
  const two = tunnelSettings({ localPort: 3000, to: 'a.test,b.test:7836', controlPort: 7000, preferFirst: true });
  assert.deepEqual(two.servers, [
    { host: 'a.test', port: 7000 },
    { host: 'b.test', port: 7836 },
  ]);
  assert.equal(two.preferFirst, true);
  assert.deepEqual(serversOf(['[::1]:7001', { host: 'c.test', controlPort: 7002 }, '::2'], 7835), [
    { host: '::1', port: 7001 },
    { host: 'c.test', port: 7002 },
    { host: '::2', port: 7835 },
  ]);
});

test('the library: a bad entry is an option error naming it', () => {
  assert.throws(() => serversOf('a.test,', 7835), { name: 'RangeError', message: "to must be a host name or address, got ''" });
  assert.throws(() => serversOf('a.test:99999', 7835), /to has an invalid control port in 'a\.test:99999'/);
  assert.throws(() => serversOf('a.test,a.test:7835', 7835), /to names the server a\.test:7835 twice/);
  assert.throws(() => serversOf([], 7835), /at least one server/);
});

test('bore up: servers = [...] per tunnel or shared, a table with its own port and TLS pin', () => {
  const fingerprint = `sha256:${'AB'.repeat(32)}`;
  const options = parseConfig(
    [
      `servers = ["a.test", { host = "b.test", control_port = 7836, tls_fingerprint = "${fingerprint}" }]`,
      'prefer_first = true',
      '[tunnels.web]',
      'local_port = 3000',
      '[tunnels.api]',
      'local_port = 3001',
      'to = "c.test"',
    ].join('\n'),
    'bore.toml',
  );
  assert.deepEqual(options.to, ['a.test', { host: 'b.test', controlPort: 7836, tlsFingerprint: fingerprint }]);
  assert.equal(options.preferFirst, true);
  assert.equal(options.tunnels.api!.to, 'c.test');
  const tls = serverTlsOf(options.to ?? []);
  assert.equal(tls[0], undefined, 'a.test uses the tunnel TLS settings');
  assert.equal(tls[1]?.fingerprint, 'AB'.repeat(32));
});

test('bore up: servers and to together, or a bad entry, are mistakes with line and key', () => {
  assert.throws(
    () => parseConfig('to = "a.test"\nservers = ["b.test"]\n[tunnels.web]\nlocal_port = 3000\n', 'bore.toml'),
    /bore\.toml:2: servers and to given together: use one of them/,
  );
  assert.throws(
    () => parseConfig('servers = ["a.test", 7]\n[tunnels.web]\nlocal_port = 3000\n', 'bore.toml'),
    /bore\.toml:1: servers\.1 must be a server: "host", "host:port" or \{ host = .*got 7/,
  );
  assert.throws(
    () => parseConfig('servers = []\n[tunnels.web]\nlocal_port = 3000\n', 'bore.toml'),
    /servers must name at least one server/,
  );
});
