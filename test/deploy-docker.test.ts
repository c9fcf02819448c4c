/**
 * `deploy/Dockerfile`. No container engine runs here (`docker info` finds no daemon), so
 * the file is parsed and its essentials checked (Node 24 in both stages, OCI labels, a
 * non-root user, `bore` as the entrypoint and `server` as the command); then the final
 * stage's file system is laid out from its COPY and RUN lines, `bore server` and `bore
 * local` run from it as the entrypoint would (a tunnel through them, the native
 * keepalive module loaded), and the healthcheck's command runs for real against that
 * server, the port given as a flag or in the environment.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import net from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BoreProcess, connect, roundTrip, startEchoServer } from './helpers/procs.js';
import { ROOT, dockerfile, finalStage, healthcheckArgv } from './helpers/deploy-files.js';

const SECRET = 'deploy-test-secret-d00dfeed';
const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  license: string;
  dependencies: Record<string, string>;
};
const dir = mkdtempSync(path.join(tmpdir(), 'bore-docker-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const KNOWN = new Set(['FROM', 'RUN', 'CMD', 'LABEL', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME', 'USER', 'WORKDIR', 'ARG']);
KNOWN.add('ONBUILD').add('STOPSIGNAL').add('HEALTHCHECK').add('SHELL');

/** The `key="value"` pairs of the final stage's LABEL lines, `${VERSION}` given its ARG default. */
function labels(final: ReturnType<typeof finalStage>): Map<string, string> {
  const args = new Map(final.filter((i) => i.keyword === 'ARG').map((i) => i.args.split('=') as [string, string]));
  const out = new Map<string, string>();
  for (const l of final.filter((i) => i.keyword === 'LABEL')) {
    for (const m of l.args.matchAll(/([\w.-]+)="([^"]*)"/g))
      out.set(
        m[1]!,
        m[2]!.replace(/\$\{(\w+)\}/g, (_, a: string) => args.get(a) ?? ''),
      );
  }
  return out;
}

test('Dockerfile: Node 24, OCI labels, a non-root user, bore as entrypoint and server as command', () => {
  const all = dockerfile();
  for (const i of all) assert.ok(KNOWN.has(i.keyword), `unknown instruction ${i.keyword}`);
  const froms = all.filter((i) => i.keyword === 'FROM');
  assert.ok(froms.length >= 2, 'a build stage and a final stage');
  for (const f of froms) assert.match(f.args, /^node:24(\.\d+)*-(slim|alpine)\b/, 'every stage on Node 24');
  const final = finalStage(all);
  const users = final.filter((i) => i.keyword === 'USER');
  assert.ok(users.length > 0, 'no USER in the final stage');
  assert.ok(!/^(root|0)(:|$)/.test(users.at(-1)!.args), `runs as ${users.at(-1)!.args}`);
  assert.deepEqual(JSON.parse(final.filter((i) => i.keyword === 'ENTRYPOINT').at(-1)!.args), ['bore']);
  assert.deepEqual(JSON.parse(final.filter((i) => i.keyword === 'CMD').at(-1)!.args), ['server']);
  const l = labels(final);
  assert.equal(l.get('org.opencontainers.image.version'), manifest.version, 'the version label follows package.json');
  assert.equal(l.get('org.opencontainers.image.licenses'), manifest.license);
  for (const key of ['title', 'description', 'source', 'url', 'documentation']) {
    assert.ok(l.get(`org.opencontainers.image.${key}`), `org.opencontainers.image.${key}`);
  }
  assert.match(final.find((i) => i.keyword === 'HEALTHCHECK')?.args ?? '', /CMD \[/);
});

test('Dockerfile: the final stage copies the bundle, package.json and the native keepalive module only', () => {
  const copies = finalStage()
    .filter((i) => i.keyword === 'COPY')
    .map((i) => i.args);
  const modules = copies.flatMap((c) => /\/node_modules\/(\S+)\s/.exec(c)?.[1] ?? []).sort();
  assert.deepEqual(modules, ['@yuuang', 'ffi-rs', 'net-keepalive'], copies.join('\n'));
  // The bundle leaves out only these: what it loads with require at run time.
  const bundler = readFileSync(path.join(ROOT, 'scripts', 'bundle-cli.ts'), 'utf8');
  assert.match(bundler, /external: \['net-keepalive', 'ffi-rs'\]/);
  // ffi-rs's native binary comes from an optional dependency under @yuuang/, one per platform.
  const ffi = JSON.parse(readFileSync(path.join(ROOT, 'node_modules', 'ffi-rs', 'package.json'), 'utf8')) as {
    optionalDependencies: Record<string, string>;
  };
  assert.ok(Object.keys(ffi.optionalDependencies).every((d) => d.startsWith('@yuuang/ffi-rs-')));
  assert.ok(copies.some((c) => /\bpackage\.json\s+\.\/$/.test(c)) && copies.some((c) => /dist\/bundle\s+\.\/dist\/bundle$/.test(c)));
});

/**
 * The final stage's file system under `root`: each `COPY --from=build /src/X DEST` from
 * the repository (built: the build stage's `npm run build`), DEST relative to WORKDIR,
 * and each `RUN ln -s` done; any other RUN fails the test (it would need a container).
 */
function layOut(root: string): void {
  let workdir = '/';
  for (const i of finalStage()) {
    if (i.keyword === 'WORKDIR') workdir = i.args;
    if (i.keyword === 'COPY') {
      const m = /^--from=build \/src\/(\S+) (\S+)$/.exec(i.args);
      assert.ok(m, `COPY ${i.args}`);
      const dest = path.join(root, path.resolve(workdir, m[2]!), m[2]!.endsWith('/') ? path.basename(m[1]!) : '');
      mkdirSync(path.dirname(dest), { recursive: true });
      cpSync(path.join(ROOT, m[1]!), dest, { recursive: true, dereference: true });
    }
    if (i.keyword === 'RUN') {
      const m = /^ln -s (\/\S+) (\/\S+)$/.exec(i.args);
      assert.ok(m, `RUN ${i.args}: only ln -s is emulated`);
      mkdirSync(path.join(root, path.dirname(m[2]!)), { recursive: true });
      symlinkSync(path.join(root, m[1]!), path.join(root, m[2]!));
    }
  }
}

/** A free loopback port, to give as a flag. */
async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as net.AddressInfo;
  s.close();
  await once(s, 'close');
  return port;
}

/** Runs the healthcheck's command with `/proc/1/` (the container's PID 1) being `pid`'s. */
function healthcheck(pid: number, env: Record<string, string> = {}): number | null {
  const [cmd, ...args] = healthcheckArgv();
  assert.equal(cmd, 'node');
  assert.ok(args[1]!.includes("'/proc/1/cmdline'"));
  const code = args.map((a) => a.replace("'/proc/1/cmdline'", `'/proc/${pid}/cmdline'`));
  const { BORE_CONTROL_PORT: _, ...rest } = process.env;
  const r = spawnSync(process.execPath, code, { env: { ...rest, ...env }, timeout: 10_000, encoding: 'utf8' });
  assert.equal(r.stderr, '', r.stderr);
  return r.status;
}

test("the image's file system runs bore server and bore local as the entrypoint; the healthcheck follows the server's flags", async () => {
  const root = path.join(dir, 'image');
  layOut(root);
  const entrypoint = path.join(root, 'usr', 'local', 'bin', 'bore');
  assert.ok(existsSync(entrypoint), 'bore on the PATH of the image');
  // The image's environment: node on the PATH, nothing of ours inherited.
  const env = { PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin`, NODE_ENV: 'production', BORE_LOG_LEVEL: 'debug' };
  const port = await freePort();
  const serverArgs = ['server', '--control-port', String(port), '--bind-addr', '127.0.0.1', '--bind-tunnels', '127.0.0.1'];
  const server = new BoreProcess([...serverArgs, '--secret', SECRET], env, [], [], entrypoint);
  const echo = await startEchoServer();
  try {
    await server.waitFor(/server listening .*auth=true/);
    // The flag wins over a wrong port in the environment.
    assert.equal(healthcheck(server.proc.pid!, { BORE_CONTROL_PORT: String(port === 1 ? 2 : port - 1) }), 0);
    const localArgs = ['local', String(echo.port), '--to', '127.0.0.1', '--control-port', String(port), '--secret', SECRET];
    const client = new BoreProcess(localArgs, env, [], [], entrypoint);
    const m = await client.waitFor(/listening at 127\.0\.0\.1:(\d+)/);
    const data = Buffer.from('through the image');
    assert.deepEqual(await roundTrip(await connect(Number(m[1])), data), data);
    // `bore local` is not checked: healthy while it runs.
    assert.equal(healthcheck(client.proc.pid!), 0);
    assert.equal(await client.stop(), 0);
  } finally {
    assert.equal(await server.stop(), 0);
    await echo.close();
  }
  // net-keepalive and ffi-rs loaded from the copied node_modules: no fallback warning.
  assert.doesNotMatch(server.output, /keepalive probes unavailable/, server.output);
  // The check closes without a word: not a failed handshake.
  assert.doesNotMatch(server.output, /failed handshake|refusing address/, server.output);
  // A process with the server's command line but nothing listening on the port: unhealthy.
  const standIn = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', entrypoint, ...serverArgs]);
  try {
    assert.equal(healthcheck(standIn.pid!), 1, 'nothing listens on the port: unhealthy');
  } finally {
    standIn.kill();
  }
});

test('the healthcheck follows BORE_CONTROL_PORT when no flag gives the port, and --control-port=N', async () => {
  const port = await freePort();
  for (const [args, env] of [
    [['server', '--bind-addr', '127.0.0.1'], { BORE_CONTROL_PORT: String(port) }],
    [['server', `--control-port=${port}`, '--bind-addr=127.0.0.1'], {}],
  ] as const) {
    const server = new BoreProcess([...args, '--bind-tunnels', '127.0.0.1'], env);
    try {
      await server.waitFor(new RegExp(`server listening .*port=${port}`));
      assert.equal(healthcheck(server.proc.pid!, env), 0, args.join(' '));
    } finally {
      assert.equal(await server.stop(), 0);
    }
  }
});
