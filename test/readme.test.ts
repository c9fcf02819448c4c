/**
 * Every command the README shows is run or checked here, in the README's order, and a
 * command no rule covers fails the test. `bore ...` lines run for real through a shell
 * (a `bore` on PATH that is the built CLI) in a scratch directory, with the example host
 * `bore.example.com` pointing at a local `bore server` and `/etc/bore/` at a scratch
 * copy: each must reach its running state (a client's machine, the server's
 * `server listening`) or exit with a status other than 2, so a typo'd flag or a wrong
 * value fails. (`--help` would not do: it prints the help before any flag is checked.)
 * Commands that need root, a container engine or the network (`docker`, `systemctl`,
 * `ufw`, `npm install -g`) are checked against what they name: the files, units, ports,
 * package name and repository. The README's relative links, and those of the pages it
 * links, must resolve.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { BoreProcess, CLI, connect, roundTrip, startEchoServer, startServer } from './helpers/procs.js';
import { freePort } from './helpers/held-sink.js';
import { TestCerts } from './helpers/tls-certs.js';
import { brokenLinks, shellCommands, type ShownCommand } from './helpers/markdown.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  bin: { bore: string };
  scripts: Record<string, string>;
  repository: { url: string };
};

/** A scratch machine for the README's commands: cwd, HOME, `/etc/bore`, a `bore` on PATH. */
class Sandbox {
  readonly dir = mkdtempSync(join(tmpdir(), 'bore-readme-'));
  readonly cwd = join(this.dir, 'work');
  readonly etc = join(this.dir, 'etc', 'bore');
  readonly bin = join(this.dir, 'bin');
  /** The control port `bore local`/`bore up` reach (`BORE_CONTROL_PORT`): the local server's. */
  controlPort = 0;
  /** Local servers for the clients that give `--secret-file FILE`, by file: each has that file's secret. */
  readonly #secretServers = new Map<string, Promise<Awaited<ReturnType<typeof startServer>>>>();

  /** `servers`: start a local server for each secret file the clients give (off: their control port is `controlPort`). */
  constructor(
    readonly certs: TestCerts,
    readonly servers = true,
  ) {
    for (const d of [this.cwd, this.etc, this.bin, join(this.dir, 'home')]) mkdirSync(d, { recursive: true });
    writeFileSync(join(this.bin, 'bore'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`, { mode: 0o755 });
    copyFileSync(certs.path('server.pem'), join(this.etc, 'fullchain.pem'));
    copyFileSync(certs.path('server.key'), join(this.etc, 'key.pem'));
    copyFileSync(certs.path('ca.pem'), join(this.cwd, 'ca.pem'));
    // The secret the server's unit and the container read (made by the README's own steps on a real machine).
    writeFileSync(join(this.etc, 'server.secret'), `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  }

  /** The command as run here: the example host is this machine, `/etc/bore/` the scratch one, a fixed metrics port any. */
  rewrite(command: string): string {
    return command
      .replace(/\bbore\.example\.com\b/g, 'localhost')
      .replace(/\/etc\/bore\//g, `${this.etc}/`)
      .replace(/127\.0\.0\.1:9100\b/g, '127.0.0.1:0');
  }

  /** The environment of a command: nothing of ours, debug logs, the control port (a fresh one for a server). */
  async env(command: string, extra: Record<string, string> = {}): Promise<NodeJS.ProcessEnv> {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BORE_') && k !== 'STATE_DIRECTORY'));
    const secretFile = /^bore local\b.* --secret-file (\S+)/.exec(command)?.[1];
    const port = /^bore server\b/.test(command)
      ? await freePort()
      : secretFile && this.servers
        ? (await this.#secretServer(secretFile)).controlPort
        : this.controlPort;
    return {
      ...clean,
      PATH: `${this.bin}:${process.env.PATH}`,
      HOME: join(this.dir, 'home'),
      NO_COLOR: '1',
      BORE_LOG_LEVEL: 'debug',
      BORE_CONTROL_PORT: String(port),
      ...extra,
    };
  }

  /** A local `bore server` whose secret is in `file` (relative to the scratch cwd), started at the first need. */
  #secretServer(file: string) {
    let server = this.#secretServers.get(file);
    if (!server) {
      server = startServer(['--secret-file', join(this.cwd, file)]);
      this.#secretServers.set(file, server);
    }
    return server;
  }

  /** Stops the local servers it started and removes the scratch directory. */
  async close(): Promise<void> {
    for (const server of this.#secretServers.values()) await (await server).stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** How a command ran: its exit status (undefined: stopped by us once running) and its output. */
interface Ran {
  status: number | undefined;
  output: string;
}

/**
 * When a command counts as running for real: `bore local` once its tunnel listens (at the
 * local server), `bore server` once it listens, `bore up` once its file is read and its
 * tunnels start (they go to the file's own host).
 */
function runningMark(command: string): RegExp {
  if (/^bore local\b/.test(command)) return /listening at localhost:\d+/;
  if (/^bore server\b/.test(command)) return /server listening/;
  return /\bstate=connecting\b/;
}

/**
 * Runs `command` through `/bin/sh` in the sandbox; resolves once it has exited, or once it
 * is running (then it is stopped with SIGTERM, its process group by id).
 */
async function runShown(box: Sandbox, command: string, extraEnv: Record<string, string> = {}): Promise<Ran> {
  const child = spawn('/bin/sh', ['-c', box.rewrite(command)], {
    cwd: box.cwd,
    env: await box.env(command, extraEnv),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const mark = runningMark(command);
  const exited = new Promise<number>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  const running = new Promise<void>((resolve) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (mark.test(output)) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
  });
  const timeout = new Promise<'timeout'>((resolve) => setTimeout(resolve, 20_000, 'timeout').unref());
  const first = await Promise.race([exited, running.then(() => 'running' as const), timeout]);
  if (typeof first === 'number') return { status: first, output };
  process.kill(-child.pid!, 'SIGTERM');
  await exited;
  if (first === 'timeout') throw new Error(`\`${command}\` neither ran nor exited within 20 s:\n${output}`);
  return { status: undefined, output };
}

/** `bore ...` ran without a usage error: running, or exited 0 or 3 (a fatal error: the certificate of the local server is not trusted by `--tls`, nor pinned). */
function assertRan(command: string, ran: Ran): void {
  const ok = ran.status === undefined || ran.status === 0 || ran.status === 3;
  assert.ok(ok, `\`${command}\` exited ${ran.status}${ran.status === 2 ? ' (a usage error)' : ''}:\n${ran.output}`);
}

/** The README's `bore server` commands, for what other commands must match (ports). */
const serverRanges = shellCommands(README)
  .map((c) => /^bore server\b.*--min-port (\d+) --max-port (\d+)/.exec(c.text))
  .filter((m): m is RegExpExecArray => m !== null)
  .map((m) => `${m[1]}:${m[2]}`);

/** The unit file `name` of deploy/, and what its LoadCredential= reads. */
function unit(name: string): { text: string; credential: string | undefined } {
  const text = readFileSync(join(ROOT, 'deploy', `${name}.service`), 'utf8');
  return { text, credential: /^LoadCredential=[^:]+:(.+)$/m.exec(text)?.[1] };
}

/** A rule: the commands it covers, and how it runs or checks one. */
interface Rule {
  covers: RegExp;
  /** Throws if the command is wrong; may say how it ran. */
  check(m: RegExpExecArray, box: Sandbox, built: Set<string>): Promise<string | void> | string | void;
}

const RULES: Rule[] = [
  {
    covers: /^bore( .*)?$/,
    check: async (m, box) => {
      const ran = await runShown(box, m[0]);
      assertRan(m[0], ran);
      return ran.status === undefined ? 'running' : `exit ${ran.status}`;
    },
  },
  // Run for real: it makes the secret file the following commands use.
  {
    covers: /^openssl rand -hex 32 > ([\w.-]+)$/,
    check: async (m, box) => {
      assert.equal((await runShown(box, m[0])).status, 0);
      assert.match(readFileSync(join(box.cwd, m[1]!), 'utf8'), /^[0-9a-f]{64}\n$/);
    },
  },
  {
    covers: /^git clone (\S+)$/,
    check: (m) => assert.equal(m[1], manifest.repository.url.replace(/^git\+/, '').replace(/\.git$/, '')),
  },
  {
    covers: /^cd ([\w.-]+)$/,
    check: (m) =>
      assert.equal(
        m[1],
        manifest.repository.url
          .replace(/\.git$/, '')
          .split('/')
          .pop(),
      ),
  },
  // npm ci installs and builds (prepare); npm install -g . links the package's bin.
  { covers: /^npm ci$/, check: () => assert.match(manifest.scripts.prepare ?? '', /npm run build/) },
  { covers: /^npm install -g \.$/, check: () => assert.ok(existsSync(join(ROOT, manifest.bin.bore)), 'the bin is built') },
  {
    covers: /^npm pack$/,
    check: async (_m, _box, built) => {
      const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT });
      built.add((JSON.parse(stdout) as { filename: string }[])[0]!.filename);
    },
  },
  {
    covers: /^npm install -g \.\/(\S+\.tgz)$/,
    check: (m, _box, built) => assert.ok(built.has(m[1]!), `npm pack writes ${[...built].join(', ')}`),
  },
  // npm start is run by test/start.test.ts, npm test is this suite.
  { covers: /^npm (start|test)$/, check: (m) => assert.ok(manifest.scripts[m[1]!], `npm ${m[1]} exists`) },
  { covers: /^npm run ([\w:-]+)$/, check: (m) => assert.ok(manifest.scripts[m[1]!], `npm run ${m[1]} exists`) },
  {
    covers: /^docker build -f (\S+) -t (\S+) \.$/,
    check: (m, _box, built) => {
      const dockerfile = readFileSync(join(ROOT, m[1]!), 'utf8');
      assert.match(dockerfile, /^ENTRYPOINT \["bore"\]$/m, 'the image runs bore');
      assert.match(dockerfile, /^CMD \["server"\]$/m, 'bore server by default');
      built.add(`image:${m[2]}`);
    },
  },
  // The image's entrypoint is `bore` (its command `server` by default): run the arguments as one, the volumes and -e as they would be.
  {
    covers: /^docker run (?:-d )?--network host((?: -[ve] \S+)*) (\S+)( .*)?$/,
    check: async (m, box, built) => {
      assert.ok(built.has(`image:${m[2]}`), `image ${m[2]} is built above`);
      const volumes = new Map([...m[1]!.matchAll(/-v (\S+?):(\S+?)(?::ro)?(?= |$)/g)].map((v) => [v[2]!, box.rewrite(v[1]!)]));
      const env = Object.fromEntries([...m[1]!.matchAll(/-e (\w+)=(\S+)/g)].map((e) => [e[1]!, volumes.get(e[2]!) ?? e[2]!]));
      for (const file of volumes.values()) assert.ok(existsSync(file), `${file} exists for the volume`);
      const command = m[3] ? `bore${m[3]}` : 'bore server';
      assertRan(m[0], await runShown(box, command, env));
    },
  },
  {
    covers: /^sudo ufw allow (\S+)\/tcp$/,
    check: (m) => assert.ok(m[1] === '7835' || serverRanges.includes(m[1]!), `${m[1]}: the control port or a README server's range`),
  },
  {
    covers: /^sudo install -D -m 600 ([\w.-]+) (\S+)$/,
    check: (m, box) => {
      assert.ok(existsSync(join(box.cwd, m[1]!)), `${m[1]} was made above`);
      assert.equal(m[2], unit('bore-server').credential, 'where bore-server.service reads its secret');
    },
  },
  { covers: /^sudo cp deploy\/([\w@.-]+) \/etc\/systemd\/system\/$/, check: (m) => assert.ok(existsSync(join(ROOT, 'deploy', m[1]!))) },
  { covers: /^sudo systemctl daemon-reload$/, check: () => {} },
  { covers: /^sudo systemctl enable --now ([\w@-]+)$/, check: (m) => assert.match(unit(m[1]!).text, /^\[Install\]$/m) },
  { covers: /^journalctl -u ([\w@-]+) -f$/, check: (m) => assert.ok(unit(m[1]!).text) },
  { covers: /^sudo systemctl reload ([\w@-]+)$/, check: (m) => assert.match(unit(m[1]!).text, /^ExecReload=/m) },
];

/** The rule covering `command`, with its match. */
function ruleFor(command: string): { rule: Rule; match: RegExpExecArray } | undefined {
  for (const rule of RULES) {
    const match = rule.covers.exec(command);
    if (match) return { rule, match };
  }
  return undefined;
}

const shown = shellCommands(README);

test('the README is under 300 lines and shows commands', () => {
  assert.ok(README.split('\n').length < 300, `README.md has ${README.split('\n').length} lines`);
  assert.ok(shown.length >= 20, `found ${shown.length} commands`);
  assert.ok(shown.some((c) => c.text === 'bore local 3000 --to bore.example.com'));
});

test('every command the README shows is covered by a rule', () => {
  const uncovered = shown.filter((c) => !ruleFor(c.text)).map((c) => `README.md:${c.line}: ${c.text}`);
  assert.deepEqual(uncovered, [], 'add a rule that runs or checks each of these');
});

test('every command the README shows runs (bore: without a usage error) or names what exists', async (t) => {
  const certs = new TestCerts().make('server', 'localhost', 'DNS:localhost,IP:127.0.0.1', 2);
  const box = new Sandbox(certs);
  const server = await startServer(['--tls-cert', certs.path('server.pem'), '--tls-key', certs.path('server.key')]);
  box.controlPort = server.controlPort;
  const built = new Set<string>();
  try {
    for (const c of shown) {
      const found = ruleFor(c.text);
      if (!found) continue; // reported by the test above
      const started = performance.now();
      try {
        const how = await found.rule.check(found.match, box, built);
        t.diagnostic(`${Math.round(performance.now() - started)} ms${how ? `, ${how}` : ''}: ${c.text}`);
      } catch (err) {
        throw new Error(`README.md:${c.line}: ${c.text}\n${(err as Error).message}`, { cause: err });
      }
    }
  } finally {
    await server.stop();
    await box.close();
    certs.remove();
  }
});

test('a README command with a typo in a flag fails its check', async (t) => {
  const certs = new TestCerts().make('server', 'localhost', 'DNS:localhost', 2);
  const box = new Sandbox(certs, false);
  box.controlPort = await freePort();
  try {
    const typos: ShownCommand[] = shown
      .filter((c) => /^bore (local|server|up) .*--[a-z]/.test(c.text))
      .map((c) => ({ ...c, text: c.text.replace(/--([a-z])([a-z]+)/, '--$2$1') }));
    assert.ok(typos.length >= 5);
    for (const c of typos) {
      t.diagnostic(c.text);
      const ran = await runShown(box, c.text);
      assert.equal(ran.status, 2, `${c.text}: a usage error\n${ran.output}`);
      assert.match(ran.output, /unknown option/);
    }
  } finally {
    await box.close();
    certs.remove();
  }
});

test("the README's two commands expose a port: bytes go through", async (t) => {
  const [server, client] = ['bore server', 'bore local 3000 --to bore.example.com'].map((text) => shown.find((c) => c.text === text));
  assert.ok(server && client, 'the README shows `bore server` and `bore local 3000 --to bore.example.com`');
  const certs = new TestCerts().make('server', 'localhost', 'DNS:localhost', 2);
  const box = new Sandbox(certs);
  const echo = await startEchoServer(3000).catch(() => undefined);
  if (!echo) t.diagnostic('port 3000 is taken here: the tunnel is checked up to its public port');
  const env = await box.env('bore server');
  const args = (c: ShownCommand) => box.rewrite(c.text).split(' ').slice(1);
  const srv = new BoreProcess(args(server), env as Record<string, string>);
  try {
    await srv.waitFor(/server listening/);
    const cli = new BoreProcess(args(client), env as Record<string, string>);
    try {
      const port = Number((await cli.waitFor(/listening at localhost:(\d+)/))[1]);
      if (echo) {
        const socket = await connect(port);
        assert.equal((await roundTrip(socket, Buffer.from('through the tunnel'))).toString(), 'through the tunnel');
        socket.destroy();
      }
    } finally {
      await cli.stop();
    }
  } finally {
    await srv.stop();
    await echo?.close();
    await box.close();
    certs.remove();
  }
});

test('the relative links of the README, CONTRIBUTING.md, docs/ and bench/README.md resolve', () => {
  const files = [
    'README.md',
    'CONTRIBUTING.md',
    'bench/README.md',
    ...readdirSync(join(ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
  ];
  assert.ok(files.includes('docs/library.md'));
  assert.deepEqual(
    files.flatMap((f) => brokenLinks(join(ROOT, f), ROOT)),
    [],
  );
});
