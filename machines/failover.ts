/**
 * The client machine's choice of server, as plain functions of its context: which server
 * the next attempt goes to after a failure, when a round of the list has failed (the
 * backoff grows only then), and when the tunnel gives up. With one server every failure
 * is a whole round, so the schedule is the single server's of old.
 *
 * A retriable failure moves to the next server after {@link FAILOVER_AFTER} consecutive
 * failures on a server the tunnel has listened on, after one on a server it never has. A
 * fatal answer (an invalid secret, a port not allowed, a certificate not trusted) is
 * fatal for that server only: it is skipped from then on, and the tunnel gives up once
 * every server has refused.
 */
import type { ErrorCode } from '../src/client/errors.js';
import { type ServerAddress, serverName } from '../src/client/servers.js';

/** Consecutive retriable failures on a server the tunnel has listened on before it moves to the next one. */
export const FAILOVER_AFTER = 2;

/** What the tunnel knows of one server of its list. */
export interface ServerState {
  /** `host:port`. */
  readonly name: string;
  /** The public port it gave last, asked for again on a return (undefined: none, or given up). */
  readonly port?: number;
  /** The tunnel has listened on it. */
  readonly listened: boolean;
  /** Its last failure's message. */
  readonly error?: string;
  /** It refused the tunnel for good (a fatal answer): it is not tried again. */
  readonly refused: boolean;
}

/** The last move between servers, as the inspector and the log show it. */
export interface ServerMove {
  readonly from: string;
  readonly to: string;
  readonly reason: string;
}

/** What the failover reads and writes of the machine's context. */
export interface FailoverContext {
  settings: { to: string; controlPort: number; servers?: readonly ServerAddress[] };
  /** Index of the current server. */
  server: number;
  servers: readonly ServerState[];
  /** Consecutive failures on the current server. */
  serverFailures: number;
  /** Servers that failed in the current round. */
  roundFailed: readonly number[];
  moved: ServerMove | undefined;
}

/** The tunnel's servers in order: `servers`, or `to` and `controlPort` alone. */
export function serverList(settings: FailoverContext['settings']): readonly ServerAddress[] {
  return settings.servers && settings.servers.length > 0 ? settings.servers : [{ host: settings.to, port: settings.controlPort }];
}

/** The server the tunnel uses now. */
export function currentServer(context: Pick<FailoverContext, 'settings' | 'server'>): ServerAddress {
  const list = serverList(context.settings);
  return list[context.server] ?? list[0]!;
}

/** The current server as the arguments of an error about it (`connectTimeoutError(...hostPort(context), ms)`). */
export function hostPort(context: Pick<FailoverContext, 'settings' | 'server'>): [string, number] {
  const { host, port } = currentServer(context);
  return [host, port];
}

/** The first server of the list (the one `--prefer-first` returns to). */
export function firstServer(context: Pick<FailoverContext, 'settings'>): ServerAddress {
  return serverList(context.settings)[0]!;
}

/** The initial state of each server. */
export function initialServers(settings: FailoverContext['settings']): ServerState[] {
  return serverList(settings).map((s) => ({ name: serverName(s), listened: false, refused: false }));
}

/** The failover's part of the context after a failure, and whether it ended a round. */
export interface AfterFailure extends Pick<FailoverContext, 'server' | 'servers' | 'serverFailures' | 'roundFailed' | 'moved'> {
  /** Every server still tried has failed since the round began: the backoff grows. */
  roundOver: boolean;
}

/** After a failure on the current server (`fatal`: it refused the tunnel for good): the bookkeeping and where the next attempt goes. */
export function afterFailure(context: FailoverContext, failure: { code: ErrorCode; message: string }, fatal: boolean): AfterFailure {
  const cur = context.server;
  const servers = context.servers.map((s, i) => (i === cur ? { ...s, error: failure.message, refused: s.refused || fatal } : s));
  const live = servers.flatMap((s, i) => (s.refused ? [] : [i]));
  const failed = [...new Set([...context.roundFailed, cur])].filter((i) => live.includes(i));
  const roundOver = live.every((i) => failed.includes(i));
  const serverFailures = context.serverFailures + 1;
  const limit = servers[cur]!.listened ? FAILOVER_AFTER : 1;
  const next = fatal || serverFailures >= limit ? nextLive(servers, cur) : cur;
  const base = { servers, roundFailed: roundOver ? [] : failed, roundOver };
  if (next === cur) return { ...base, server: cur, serverFailures, moved: context.moved };
  const from = servers[cur]!.name;
  const why = fatal ? `refused the tunnel (${failure.message})` : `failed ${times(serverFailures)} (${failure.message})`;
  return { ...base, server: next, serverFailures: 0, moved: { from, to: servers[next]!.name, reason: `${from} ${why}` } };
}

/** The next server after `cur` not refused (cyclically); `cur` itself when there is none. */
function nextLive(servers: readonly ServerState[], cur: number): number {
  for (let step = 1; step < servers.length; step++) {
    const i = (cur + step) % servers.length;
    if (!servers[i]!.refused) return i;
  }
  return cur;
}

function times(n: number): string {
  return n === 1 ? 'once' : n === 2 ? 'twice' : `${n} times`;
}

/** Whether every server but the current one has refused the tunnel (with one server: always). */
export function othersRefused(context: Pick<FailoverContext, 'servers' | 'server'>): boolean {
  return context.servers.every((s, i) => i === context.server || s.refused);
}

/** Whether this failure on the current server ends a round: every server not refused has failed in it. */
export function endsRound(context: Pick<FailoverContext, 'servers' | 'server' | 'roundFailed'>): boolean {
  return context.servers.every((s, i) => s.refused || i === context.server || context.roundFailed.includes(i));
}

/** The failover's part of the context once the current server opened the tunnel on `port`. */
export function listenedOn(context: FailoverContext, port: number): Pick<FailoverContext, 'servers' | 'serverFailures' | 'roundFailed'> {
  const servers = context.servers.map((s, i) => (i === context.server ? { ...s, port, listened: true, error: undefined } : s));
  return { servers, serverFailures: 0, roundFailed: [] };
}

/** Forgets the sticky port of the current server (given up after refusals). */
export function dropPort(servers: readonly ServerState[], cur: number): ServerState[] {
  return servers.map((s, i) => (i === cur ? { ...s, port: undefined } : s));
}

/**
 * The last failure when the tunnel gives up with several servers: its message names each
 * server's own (`every server failed: a:7835: invalid secret; b:7835: invalid secret`).
 * With one server, unchanged.
 */
export function everyServerError<E extends { message: string }>(
  context: Pick<FailoverContext, 'servers' | 'server'> & { lastError: E | undefined },
): { lastError?: E } {
  const error = context.lastError;
  if (!error || context.servers.length < 2) return {};
  const parts = context.servers.map((s, i) => `${s.name}: ${i === context.server ? error.message : (s.error ?? 'not tried')}`);
  return { lastError: { ...error, message: `every server failed: ${parts.join('; ')}` } };
}

/** The move back to the first server (`--prefer-first`) once it has answered for `stableAfterMs`, asking for the port it gave before. */
export function returnToFirst(
  context: FailoverContext & { settings: { stableAfterMs: number } },
): Pick<FailoverContext, 'server' | 'serverFailures' | 'moved'> & { publicPort: number | undefined } {
  const from = context.servers[context.server]!.name;
  const to = context.servers[0]!.name;
  const reason = `${to} answered for ${context.settings.stableAfterMs / 1000} s (--prefer-first)`;
  return { server: 0, serverFailures: 0, publicPort: context.servers[0]!.port, moved: { from, to, reason } };
}
