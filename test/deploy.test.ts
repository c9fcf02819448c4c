/**
 * The systemd units under `deploy/`: their key fields parsed, the comments' defaults
 * checked against the code's, and their `ExecStart` run as the CLI with a credential
 * file. `systemd-analyze verify` against the installed package is in
 * `deploy-install.test.ts`, `bore-up.service`'s reload in `deploy-up.test.ts`, the
 * Dockerfile in `deploy-docker.test.ts`.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BoreProcess, startEchoServer } from './helpers/procs.js';
import { UNITS, commandLine, unit, unitText } from './helpers/deploy-files.js';
import { DRAIN_TIMEOUT_MS } from '../src/server/defaults.js';
import { TUNNEL_OPTIONS } from '../src/client/tunnel-options.js';

const SECRET = 'deploy-test-secret-d00dfeed';
const dir = mkdtempSync(path.join(tmpdir(), 'bore-deploy-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('systemd units: hardening, the secret by LoadCredential and --secret-file, restart by exit status', () => {
  for (const name of UNITS) {
    const u = unit(name);
    const one = (k: string) => u.get(k)?.at(-1);
    assert.equal(one('DynamicUser'), 'yes', name);
    assert.equal(one('NoNewPrivileges'), 'yes', name);
    assert.equal(one('ProtectSystem'), 'strict', name);
    assert.equal(one('Restart'), 'on-failure', name);
    assert.match(one('LoadCredential') ?? '', /^secret:\/etc\/bore\//, name);
    assert.match(one('ExecStart') ?? '', /--secret-file \$\{CREDENTIALS_DIRECTORY\}\/secret/, name);
    assert.ok(!/--secret\s/.test(one('ExecStart') ?? ''), `${name}: a secret on the command line`);
    // A bare name: systemd finds it in /usr/local/bin (npm install -g) or /usr/bin.
    assert.match(one('ExecStart') ?? '', /^bore (server|local|up) /, name);
    assert.match(unitText(name).split('\n')[0]!, /^# Edit: .*\/usr\/local\/bin/, `${name}: the first line says where bore is found`);
    const prevent = (one('RestartPreventExitStatus') ?? '').split(/\s+/);
    assert.ok(prevent.includes('2'), `${name}: a usage error is restarted`);
    if (name !== 'bore-server.service') assert.ok(prevent.includes('3'), `${name}: a fatal error (status 3) is restarted`);
    assert.ok(!prevent.includes('4'), `${name}: status 4 (connection lost) must be restarted`);
  }
  assert.equal(unit('bore-up.service').get('ExecReload')?.at(-1), '/bin/kill -HUP $MAINPID');
});

test("the units' comments give the drain defaults of the code", () => {
  const server = /--drain-timeout, (\d+) s by default/.exec(unitText('bore-server.service'));
  assert.equal(Number(server?.[1]), DRAIN_TIMEOUT_MS / 1000);
  const up = /drain_timeout \((\d+) s by default\)/.exec(unitText('bore-up.service'));
  assert.equal(Number(up?.[1]), TUNNEL_OPTIONS.drainTimeoutMs.default / 1000);
});

/** A unit's ExecStart as arguments of the CLI, with the credential directory set. */
function execStart(name: string, credentials: string): string[] {
  const [bin, ...args] = commandLine(unit(name), 'ExecStart', { CREDENTIALS_DIRECTORY: credentials });
  assert.equal(bin, 'bore');
  return args;
}

test("the units' ExecStart lines run: server and client with the secret from the credential file", async () => {
  const credentials = path.join(dir, 'credentials');
  mkdirSync(credentials, { recursive: true });
  writeFileSync(path.join(credentials, 'secret'), `${SECRET}\n`, { mode: 0o600 });
  const serverArgs = execStart('bore-server.service', credentials);
  const server = new BoreProcess([...serverArgs, '--control-port', '0', '--bind-addr', '127.0.0.1', '--bind-tunnels', '127.0.0.1']);
  const echo = await startEchoServer();
  try {
    const m = await server.waitFor(/server listening .*port=(\d+).*auth=true/);
    // The client's settings come from its EnvironmentFile.
    const client = new BoreProcess(execStart('bore-local@.service', credentials), {
      BORE_LOCAL_PORT: String(echo.port),
      BORE_SERVER: '127.0.0.1',
      BORE_CONTROL_PORT: m[1]!,
    });
    await client.waitFor(/listening at 127\.0\.0\.1:\d+/);
    assert.equal(await client.stop(), 0);
    assert.ok(!client.output.includes(SECRET));
  } finally {
    assert.equal(await server.stop(), 0);
    await echo.close();
  }
  assert.ok(!server.output.includes(SECRET));
});

test("the server unit's StateDirectory keeps --tls-self-signed's certificate across restarts", async () => {
  const u = unit('bore-server.service');
  assert.equal(u.get('StateDirectory')?.at(-1), 'bore');
  assert.equal(u.get('StateDirectoryMode')?.at(-1), '0700');
  const credentials = path.join(dir, 'credentials-tls');
  mkdirSync(credentials, { recursive: true });
  writeFileSync(path.join(credentials, 'secret'), `${SECRET}\n`, { mode: 0o600 });
  // systemd makes /var/lib/<StateDirectory> and sets $STATE_DIRECTORY to it.
  const state = path.join(dir, 'var-lib', 'bore');
  const args = [...execStart('bore-server.service', credentials), '--tls-self-signed', '--control-port', '0', '--bind-addr', '127.0.0.1'];
  const pins: string[] = [];
  for (let start = 0; start < 2; start++) {
    const server = new BoreProcess(args, { STATE_DIRECTORY: state });
    try {
      const m = await server.waitFor(
        /self-signed TLS certificate (?:made|kept) in (.+?): clients connect with --tls-fingerprint (sha256:[0-9A-F]{64})/,
      );
      assert.equal(m[1], state);
      pins.push(m[2]!);
    } finally {
      assert.equal(await server.stop(), 0);
    }
  }
  assert.equal(pins[0], pins[1]);
  assert.ok(existsSync(path.join(state, 'tls-key.pem')));
});
