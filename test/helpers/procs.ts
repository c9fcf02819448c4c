/**
 * Test helpers: the real `bore` CLI as child processes, waited on by their log lines
 * (never by sleeps), plus small loopback services.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import net from 'node:net';
import http from 'node:http';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';

/**
 * Path of the built CLI: the package's `bin.bore` (the bundle users run; `npm test`
 * builds it first). `BORE_CLI` overrides it, e.g. `dist/src/cli/cli.js` for readable traces.
 */
export const CLI =
  process.env.BORE_CLI ??
  fileURLToPath(
    new URL(
      `../../${(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { bin: { bore: string } }).bin.bore}`,
      import.meta.url,
    ),
  );

/** A running `bore` process with its combined stderr/stdout captured. */
export class BoreProcess {
  readonly proc: ChildProcess;
  output = '';
  readonly exited: Promise<number | null>;
  #watchers: { re: RegExp; from: number; resolve: (m: RegExpMatchArray) => void }[] = [];

  /**
   * `script` (default: the CLI) lets other Node programs, e.g. the examples, be run the same way.
   * `launcher`, if given, is a command that runs node for us, e.g. `['ip', 'netns', 'exec', 'ns1']`.
   * `exe`, if given, is run with `args` in place of all that (no Node, no script), with
   * exactly `env` (nothing inherited): the single-file executable.
   */
  constructor(args: string[], env: Record<string, string> = {}, script: string[] = [CLI], launcher: string[] = [], exe?: string) {
    const [cmd, ...pre] = [...launcher, process.execPath];
    this.proc =
      exe === undefined
        ? spawn(cmd, [...pre, ...script, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
        : spawn(exe, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const onData = (chunk: Buffer) => {
      this.output += chunk.toString();
      this.#check();
    };
    this.proc.stdout!.on('data', onData);
    this.proc.stderr!.on('data', onData);
    this.exited = new Promise((resolve) => this.proc.once('exit', (code) => resolve(code)));
  }

  #check(): void {
    this.#watchers = this.#watchers.filter((w) => {
      const m = this.output.slice(w.from).match(w.re);
      if (m) w.resolve(m);
      return !m;
    });
  }

  /**
   * Resolves with the first match of `re` in the output written after character
   * `from` (default: anywhere). Rejects after `timeoutMs` or if the process exits first.
   */
  waitFor(re: RegExp, timeoutMs = 10_000, from = 0): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re} in:\n${this.output}`)), timeoutMs);
      const done = (m: RegExpMatchArray) => {
        clearTimeout(timer);
        resolve(m);
      };
      this.#watchers.push({ re, from, resolve: done });
      this.#check();
      void this.exited.then((code) => {
        setImmediate(() => {
          if (this.#watchers.some((w) => w.resolve === done)) {
            clearTimeout(timer);
            reject(new Error(`process exited (${code}) before ${re} appeared:\n${this.output}`));
          }
        });
      });
    });
  }

  /** Sends a signal and waits for the exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
    return this.exited;
  }
}

/** Starts `bore server` on a free control port; resolves once it is listening. */
export async function startServer(args: string[] = [], env: Record<string, string> = {}) {
  const proc = new BoreProcess(['server', '--control-port', '0', ...args], env);
  const m = await proc.waitFor(/server listening .*port=(\d+)/);
  return Object.assign(proc, { controlPort: Number(m[1]) });
}

/**
 * Resolves once `bore server` (at `--log-level debug`) holds `idle` pooled connections by
 * its last line that counts them (a join, or a visitor handed to one): a client's pool
 * counts a connection idle once its quiet join is sent, so a test that needs the server
 * to have it waits for this.
 */
export async function serverPoolIdle(server: BoreProcess, idle: number): Promise<void> {
  const counted = /(?:pooled connection joined|new connection, through the pool) .*idle=(\d+)/g;
  const last = () => [...server.output.matchAll(counted)].at(-1)?.[1];
  while (last() !== String(idle)) await server.waitFor(new RegExp(counted.source), 10_000, server.output.length);
}

/** Starts `bore local`; resolves once it logs `listening at <to>:<port>`. */
export async function startClient(localPort: number, controlPort: number, args: string[] = [], env: Record<string, string> = {}) {
  const proc = new BoreProcess(['local', String(localPort), '--to', '127.0.0.1', '--control-port', String(controlPort), ...args], env);
  const m = await proc.waitFor(/listening at 127\.0\.0\.1:(\d+)/);
  return Object.assign(proc, { publicPort: Number(m[1]) });
}

/** An echo service on a loopback port: a free one, or `port` if given. */
export async function startEchoServer(port = 0): Promise<{ port: number; server: net.Server; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.pipe(s);
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    server,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/** Connects to a loopback port. */
export async function connect(port: number, host = '127.0.0.1'): Promise<net.Socket> {
  const socket = net.connect({ port, host, allowHalfOpen: true });
  await once(socket, 'connect');
  return socket;
}

/**
 * Sends `data` through `socket`, half-closes, and resolves with everything read back
 * until the peer closes.
 */
export async function roundTrip(socket: net.Socket, data: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  const ended = once(socket, 'end');
  socket.end(data);
  await ended;
  return Buffer.concat(chunks);
}

/** SHA-256 of a buffer, hex. */
export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** GET on 127.0.0.1; resolves with the status, content type and body. */
export function httpGet(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
      })
      .on('error', reject);
  });
}
