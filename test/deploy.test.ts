/**
 * The deploy files under `deploy/`. No container engine runs here, so the Dockerfile is
 * parsed and its essentials checked (a non-root USER, `bore server` as ENTRYPOINT, a
 * HEALTHCHECK whose command is run for real against a server); the systemd units are
 * checked with `systemd-analyze verify` where it exists, their key fields parsed, and
 * their `ExecStart` run as the CLI with a credential file.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BoreProcess, startEchoServer, startServer } from './helpers/procs.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DEPLOY = path.join(ROOT, 'deploy');
const SECRET = 'deploy-test-secret-d00dfeed';
const dir = mkdtempSync(path.join(tmpdir(), 'bore-deploy-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A Dockerfile instruction: its keyword (upper case) and the rest of its logical line. */
interface Instruction {
  keyword: string;
  args: string;
}

/** The instructions of a Dockerfile: comments dropped, `\` continuations joined. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue; // a comment inside a continuation
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = pending + line;
    pending = '';
    const m = /^(\w+)\s*(.*)$/.exec(full);
    assert.ok(m, `not an instruction: ${full}`);
    out.push({ keyword: m[1]!.toUpperCase(), args: m[2]! });
  }
  assert.equal(pending, '', 'a continuation runs past the end of the file');
  return out;
}

const KNOWN = new Set([
  'FROM',
  'RUN',
  'CMD',
  'LABEL',
  'EXPOSE',
  'ENV',
  'ADD',
  'COPY',
  'ENTRYPOINT',
  'VOLUME',
  'USER',
  'WORKDIR',
  'ARG',
  'ONBUILD',
  'STOPSIGNAL',
  'HEALTHCHECK',
  'SHELL',
]);

test('Dockerfile: node slim base, non-root user, bore server as entrypoint, a healthcheck', () => {
  const all = parseDockerfile(readFileSync(path.join(DEPLOY, 'Dockerfile'), 'utf8'));
  for (const i of all) assert.ok(KNOWN.has(i.keyword), `unknown instruction ${i.keyword}`);
  assert.equal(all[0]!.keyword, 'FROM');
  // The final stage: from the last FROM.
  const lastFrom = all.map((i) => i.keyword).lastIndexOf('FROM');
  const final = all.slice(lastFrom);
  assert.match(final[0]!.args, /^node:24(\.\d+)*-(slim|alpine)\b/);
  const users = final.filter((i) => i.keyword === 'USER');
  assert.ok(users.length > 0, 'no USER in the final stage');
  assert.ok(!/^(root|0)(:|$)/.test(users.at(-1)!.args), `runs as ${users.at(-1)!.args}`);
  const entrypoint = final.filter((i) => i.keyword === 'ENTRYPOINT').at(-1);
  assert.ok(entrypoint, 'no ENTRYPOINT');
  const argv = JSON.parse(entrypoint.args) as string[];
  assert.equal(argv[0], 'node');
  assert.match(argv[1]!, /dist\/bundle\/bore\.mjs$/);
  assert.equal(argv[2], 'server');
  const healthcheck = final.find((i) => i.keyword === 'HEALTHCHECK');
  assert.ok(healthcheck, 'no HEALTHCHECK');
  assert.match(healthcheck.args, /CMD \[/);
  // What the COPY of the build stage needs exists in the repository.
  for (const f of ['package.json', 'package-lock.json']) assert.ok(existsSync(path.join(ROOT, f)), f);
  // The bundle reads ../../package.json: the image must have it beside dist/.
  const copies = final.filter((i) => i.keyword === 'COPY').map((i) => i.args);
  assert.ok(
    copies.some((c) => /\bpackage\.json\s+\.\/$/.test(c)),
    copies.join('\n'),
  );
  assert.ok(
    copies.some((c) => /dist\/bundle\s+\.\/dist\/bundle$/.test(c)),
    copies.join('\n'),
  );
});

/** The healthcheck's command line from the Dockerfile (its exec form). */
function healthcheckArgv(): string[] {
  const hc = parseDockerfile(readFileSync(path.join(DEPLOY, 'Dockerfile'), 'utf8')).find((i) => i.keyword === 'HEALTHCHECK')!;
  return JSON.parse(hc.args.slice(hc.args.indexOf('CMD') + 3).trim()) as string[];
}

test("Dockerfile: the healthcheck's command passes against a server and fails without one", async () => {
  const [cmd, ...args] = healthcheckArgv();
  assert.equal(cmd, 'node');
  const server = await startServer(['--bind-addr', '127.0.0.1', '--bind-tunnels', '127.0.0.1', '--secret', SECRET]);
  try {
    const up = spawnSync(process.execPath, args, {
      env: { ...process.env, BORE_CONTROL_PORT: String(server.controlPort) },
      timeout: 10_000,
    });
    assert.equal(up.status, 0, up.stderr.toString());
  } finally {
    assert.equal(await server.stop(), 0);
  }
  // The check closes without a word: a warn line, but not a failed handshake.
  assert.doesNotMatch(server.output, /failed handshake|refusing address/, server.output);
  const down = spawnSync(process.execPath, args, {
    env: { ...process.env, BORE_CONTROL_PORT: String(server.controlPort) },
    timeout: 10_000,
  });
  assert.equal(down.status, 1);
});

/** A unit file's `[Service]` (and other) keys: each key's values in order. */
function parseUnit(text: string): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';') || line.startsWith('[')) continue;
    const eq = line.indexOf('=');
    assert.ok(eq > 0, `not a key=value line: ${line}`);
    const key = line.slice(0, eq).trim();
    keys.set(key, [...(keys.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return keys;
}

const UNITS = ['bore-server.service', 'bore-local@.service'];

test('systemd units: hardening, the secret by LoadCredential and --secret-file, restart by exit status', () => {
  for (const name of UNITS) {
    const u = parseUnit(readFileSync(path.join(DEPLOY, name), 'utf8'));
    const one = (k: string) => u.get(k)?.at(-1);
    assert.equal(one('DynamicUser'), 'yes', name);
    assert.equal(one('NoNewPrivileges'), 'yes', name);
    assert.equal(one('ProtectSystem'), 'strict', name);
    assert.equal(one('Restart'), 'on-failure', name);
    assert.match(one('LoadCredential') ?? '', /^secret:\/etc\/bore\//, name);
    assert.match(one('ExecStart') ?? '', /--secret-file \$\{CREDENTIALS_DIRECTORY\}\/secret/, name);
    assert.ok(!/--secret\s/.test(one('ExecStart') ?? ''), `${name}: a secret on the command line`);
    const prevent = (one('RestartPreventExitStatus') ?? '').split(/\s+/);
    assert.ok(prevent.includes('2'), `${name}: a usage error is restarted`);
    if (name.startsWith('bore-local')) assert.ok(prevent.includes('3'), `${name}: a fatal error (status 3) is restarted`);
    assert.ok(!prevent.includes('4'), `${name}: status 4 (connection lost) must be restarted`);
  }
});

const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

test('systemd units pass systemd-analyze verify', { skip: !hasAnalyze && 'no systemd-analyze' }, () => {
  // verify wants ExecStart's program to exist: point it at a stand-in.
  const bin = path.join(dir, 'bore');
  writeFileSync(bin, '#!/bin/sh\n');
  chmodSync(bin, 0o755);
  const files: string[] = [];
  for (const name of UNITS) {
    const text = readFileSync(path.join(DEPLOY, name), 'utf8').replaceAll('/usr/bin/bore', bin);
    const file = path.join(dir, name.replace('@.', '@web.'));
    writeFileSync(file, text);
    files.push(file);
  }
  const r = spawnSync('systemd-analyze', ['verify', ...files], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr.trim(), '', r.stderr);
});

/** A unit's ExecStart as arguments of the CLI, with the credential directory set. */
function execStart(name: string, credentials: string): string[] {
  const line = parseUnit(readFileSync(path.join(DEPLOY, name), 'utf8'))
    .get('ExecStart')!
    .at(-1)!;
  const [bin, ...args] = line.replaceAll('${CREDENTIALS_DIRECTORY}', credentials).split(/\s+/);
  assert.equal(bin, '/usr/bin/bore');
  return args;
}

test("the units' ExecStart lines run: server and client with the secret from the credential file", async () => {
  const credentials = path.join(dir, 'credentials');
  spawnSync('mkdir', ['-p', credentials]);
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
  const u = parseUnit(readFileSync(path.join(DEPLOY, 'bore-server.service'), 'utf8'));
  assert.equal(u.get('StateDirectory')?.at(-1), 'bore');
  assert.equal(u.get('StateDirectoryMode')?.at(-1), '0700');
  const credentials = path.join(dir, 'credentials-tls');
  spawnSync('mkdir', ['-p', credentials]);
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
