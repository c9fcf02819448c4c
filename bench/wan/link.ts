/**
 * The emulated link of the benchmarks over latency (`bench/wan.ts`, `bench/tls.ts`): two
 * network namespaces joined by `bench/wan/wanlink.c` (compiled with gcc into a temporary
 * directory at each run), which delays every frame by a fixed time each way, in order,
 * without loss. The server's namespace has 10.77.0.1, the client's 10.77.0.2.
 *
 * Everything started through a {@link WanLink} is killed, and its namespaces deleted, by
 * {@link WanLink.cleanup}, which also runs on SIGINT and SIGTERM; namespaces and
 * directories left by a run that was killed outright are deleted by the next
 * {@link WanLink.open}.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { BoreProcess, CLI } from '../../test/helpers/procs.js';
import type { Job } from '../loadgen.js';

const BENCH = join(dirname(fileURLToPath(import.meta.url)), '..');
const ROOT = join(BENCH, '..');
/** Address of the server's end of the link. */
export const SERVER_IP = '10.77.0.1';
/** Address of the client's end of the link. */
export const CLIENT_IP = '10.77.0.2';
/** Name of the TAP device in each namespace (names are per namespace). */
export const IFNAME = 'wan0';
const STALE_NS = /^bore-wan-[sc]-(\d+)$/;
const STALE_TMP = /^bore-wan-(\d+)-/;
/** A load-generator job that takes longer has hung (the longest, 64 MiB at a few MB/s, would take about 30 s). */
const LOADGEN_TIMEOUT_MS = 120_000;

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Runs a command; whether it succeeded and what it printed. */
export function sh(cmd: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`.trim() };
}

/** Runs a command; throws with its output if it fails. */
export function must(cmd: string, args: string[]): string {
  const r = sh(cmd, args);
  if (!r.ok) throw new Error(`${cmd} ${args.join(' ')}: ${r.out}`);
  return r.out;
}

/** Why this machine cannot run a link, or undefined if it can. */
export function cannotRunLink(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces and TAP devices are Linux-only';
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, TAP devices)';
  if (!existsSync('/dev/net/tun')) return 'no /dev/net/tun';
  if (!sh('ip', ['-V']).ok) return 'no iproute2 (`ip`)';
  if (!sh('gcc', ['--version']).ok) return 'no gcc to build bench/wan/wanlink.c';
  if (!existsSync(CLI)) return `no ${CLI}: run \`npm run build\` first`;
  return undefined;
}

/** Whether process `pid` is still running (a zombie counts as gone). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Deletes the namespaces and build directories left by runs that were killed outright (their pid is gone), with their processes. */
function deleteStale(): void {
  for (const line of sh('ip', ['netns', 'list']).out.split('\n')) {
    const name = line.split(' ')[0]!;
    const m = STALE_NS.exec(name);
    if (!m || alive(Number(m[1]))) continue;
    for (const pid of sh('ip', ['netns', 'pids', name]).out.split(/\s+/).filter(Boolean)) sh('kill', ['-9', pid]);
    sh('ip', ['netns', 'del', name]);
    log(`deleted stale namespace ${name}`);
  }
  for (const name of readdirSync(os.tmpdir())) {
    const m = STALE_TMP.exec(name);
    if (m && !alive(Number(m[1]))) rmSync(join(os.tmpdir(), name), { recursive: true, force: true });
  }
}

/** A link with `delayMs` each way between two namespaces, and the processes started on it. */
export class WanLink {
  /** The server's namespace (10.77.0.1). */
  readonly serverNs = `bore-wan-s-${process.pid}`;
  /** The client's namespace (10.77.0.2). */
  readonly clientNs = `bore-wan-c-${process.pid}`;
  /** The emulator between them. */
  bridge: ChildProcess | undefined;
  /** What the emulator printed when it stopped (its queue statistics). */
  stats: Promise<string> = Promise.resolve('');
  /** Everything started, for the cleanup. */
  readonly #children = new Set<ChildProcess>();
  #tmpDir: string | undefined;
  #namespacesMade = false;
  #bin = '';

  private constructor(
    readonly delayMs: number,
    readonly rate?: { mbit: number; queueMs: number },
  ) {}

  /** Builds the emulator, creates the namespaces and starts the link (with `rate`, a link of that rate each way); or says why it cannot. */
  static async open(delayMs: number, rate?: { mbit: number; queueMs: number }): Promise<WanLink | string> {
    const why = cannotRunLink();
    if (why) return why;
    deleteStale();
    const link = new WanLink(delayMs, rate);
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.on(signal, () => {
        log(`${signal}: cleaning up`);
        link.cleanup();
        process.exit(signal === 'SIGINT' ? 130 : 143);
      });
    }
    const failed = await link.#start();
    if (failed) {
      link.cleanup();
      return failed;
    }
    return link;
  }

  async #start(): Promise<string | undefined> {
    this.#tmpDir = mkdtempSync(join(os.tmpdir(), `bore-wan-${process.pid}-`));
    this.#bin = join(this.#tmpDir, 'wanlink');
    const cc = sh('gcc', ['-O2', '-Wall', '-o', this.#bin, join(BENCH, 'wan', 'wanlink.c')]);
    if (!cc.ok) return `gcc failed on bench/wan/wanlink.c: ${cc.out}`;
    const add = sh('ip', ['netns', 'add', this.serverNs]);
    if (!add.ok) return `cannot create a network namespace: ${add.out}`;
    this.#namespacesMade = true;
    must('ip', ['netns', 'add', this.clientNs]);

    const rate = this.rate ? [String(this.rate.mbit), String(this.rate.queueMs)] : [];
    const bridge = spawn(this.#bin, ['bridge', this.serverNs, this.clientNs, IFNAME, String(this.delayMs), ...rate], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#children.add(bridge);
    let stderr = '';
    bridge.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<void>((resolve) => bridge.once('exit', () => resolve()));
    const ready = createInterface({ input: bridge.stdout })[Symbol.asyncIterator]();
    const first = await ready.next();
    if (first.done || first.value !== 'ready') {
      await exited;
      return `the link emulator did not start: ${stderr.trim()}`;
    }
    for (const [ns, ip] of [
      [this.serverNs, SERVER_IP],
      [this.clientNs, CLIENT_IP],
    ] as const) {
      // IPv4 only: no IPv6 router solicitations or multicast reports on the link.
      must('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `net.ipv6.conf.${IFNAME}.disable_ipv6=1`]);
      must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      must('ip', ['-n', ns, 'link', 'set', IFNAME, 'txqueuelen', '10000', 'mtu', '1500', 'up']);
      must('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', IFNAME]);
    }
    this.bridge = bridge;
    this.stats = exited.then(() => stderr.trim());
    return undefined;
  }

  /** `count` ICMP round trips from the server's namespace to the client's, ms, 100 ms apart; the first (ARP) is left out. */
  ping(count: number): number[] {
    const out = must('ip', ['netns', 'exec', this.serverNs, this.#bin, 'ping', CLIENT_IP, String(count + 1), '100']);
    const lines = out.split('\n');
    const lost = lines.find((l) => l.startsWith('lost '));
    if (lost !== 'lost 0') throw new Error(`ping across the link: ${lost ?? out}`);
    return lines
      .filter((l) => /^[\d.]+$/.test(l))
      .map(Number)
      .slice(1);
  }

  /** Starts `cmd` in namespace `ns`; killed by the cleanup. */
  spawn(ns: string, cmd: string, args: string[], stdio: 'pipe' | 'ignore' = 'pipe'): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { cwd: ROOT, stdio: [stdio, stdio, 'inherit'] });
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    return child;
  }

  /** A node script of bench/ run in namespace `ns`, with a line reader of its stdout. */
  startNode(ns: string, script: string, args: string[]): { child: ChildProcess; lines: AsyncIterableIterator<string> } {
    const child = this.spawn(ns, process.execPath, ['--import', 'tsx', join(BENCH, script), ...args]);
    return { child, lines: createInterface({ input: child.stdout! })[Symbol.asyncIterator]() };
  }

  /** Runs one load-generator job in the server's namespace (beside the server) and returns its result; fails after 2 minutes. */
  async loadgen<T>(job: Job): Promise<T> {
    const { child, lines } = this.startNode(this.serverNs, 'loadgen.ts', [JSON.stringify(job)]);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`loadgen ${job.kind} took over ${LOADGEN_TIMEOUT_MS / 1000} s`)), LOADGEN_TIMEOUT_MS);
    });
    try {
      return await Promise.race([nextJson<T>(lines, `loadgen ${job.kind}`), timeout]);
    } finally {
      clearTimeout(timer);
      child.kill();
    }
  }

  /** A bore process in namespace `ns`: our CLI, or `bin` (run through `sh`, since BoreProcess always names node). */
  bore(ns: string, args: string[], bin?: string): BoreProcess {
    const launcher = ['ip', 'netns', 'exec', ns, ...(bin ? ['sh', '-c', 'exec "$BORE_BIN" "$@"'] : [])];
    // With `sh -c`, node's path becomes $0 and is dropped; the arguments follow.
    const proc = new BoreProcess(args, bin ? { BORE_BIN: bin } : {}, bin ? [] : [CLI], launcher);
    this.#children.add(proc.proc);
    proc.proc.once('exit', () => this.#children.delete(proc.proc));
    return proc;
  }

  /** Stops the emulator; resolves with its statistics. */
  stop(): Promise<string> {
    this.bridge?.kill('SIGTERM');
    return this.stats;
  }

  /** Kills what is left of the processes, deletes the namespaces and the build directory. Synchronous: safe in a signal handler. */
  cleanup(): void {
    for (const child of this.#children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (this.#namespacesMade) for (const ns of [this.serverNs, this.clientNs]) sh('ip', ['netns', 'del', ns]);
    this.#namespacesMade = false;
    if (this.#tmpDir) rmSync(this.#tmpDir, { recursive: true, force: true });
    this.#tmpDir = undefined;
  }
}

/** The next line of `lines`, parsed as JSON. */
export async function nextJson<T>(lines: AsyncIterableIterator<string>, what: string): Promise<T> {
  const r = await lines.next();
  if (r.done) throw new Error(`${what} exited without a result`);
  return JSON.parse(r.value) as T;
}
