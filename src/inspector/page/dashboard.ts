/**
 * The dashboard's texts, as pure functions (no DOM): a tunnel's addresses and the
 * sentence that says its state, the friendly names of the machine's events and which
 * of them are routine (hidden from the log by default), and sizes, rates and ages.
 */
import { NONE } from './format.js';
import type { ChildSnapshotView, ContextView, LogEntryView } from './wire.js';

/** The colour of a state: `ok` listening, `wait` on its way, `bad` gave up, `off` stopped. */
export type SentenceTone = 'ok' | 'wait' | 'bad' | 'off';

/** The public address `host:port`, or undefined before the server gave a port. */
export function publicAddress(context: ContextView): string | undefined {
  const to = context.settings?.to;
  return to && context.publicPort != null ? `${to}:${context.publicPort}` : undefined;
}

/** The local service, `host:port`. */
export function localAddress(context: ContextView): string {
  const st = context.settings;
  return st?.localPort == null ? NONE : `${st.localHost ?? 'localhost'}:${st.localPort}`;
}

/**
 * A tunnel's state in a sentence: `listening`, `connecting to host:7835`,
 * `reconnecting to host:7835 in 7 s, attempt 4: connection refused`,
 * `stopped: invalid secret`; `now` (epoch ms) counts down to the next attempt.
 */
export function stateSentence(view: ChildSnapshotView, now: number): { text: string; tone: SentenceTone } {
  const c = view.context;
  const st = c.settings ?? {};
  const server = `${st.to ?? '?'}:${st.controlPort ?? '?'}`;
  const top = view.active[0] ?? String(view.value);
  // (The server is named already: `could not connect to the server at host:port: ` is left off its error.)
  const why = c.lastError ? `: ${c.lastError.message.replace(`could not connect to the server at ${server}: `, '')}` : '';
  const attempt = c.attempt ?? 0;
  switch (top) {
    case 'listening':
      return { text: 'listening', tone: 'ok' };
    case 'connecting':
    case 'securing':
    case 'authenticating': {
      const verb = top === 'connecting' ? 'connecting to' : top === 'securing' ? 'securing the connection to' : 'authenticating with';
      return { text: `${verb} ${server}${attempt > 1 ? `, attempt ${attempt}${why}` : ''}`, tone: 'wait' };
    }
    case 'backoff': {
      const left = c.nextRetryAt == null ? undefined : Math.max(0, Math.ceil((c.nextRetryAt - now) / 1000));
      return { text: `reconnecting to ${server}${left === undefined ? '' : ` in ${left} s`}, attempt ${attempt + 1}${why}`, tone: 'wait' };
    }
    case 'fatal':
      return { text: `stopped${why || ': gave up'}`, tone: 'bad' };
    case 'stopped':
      return { text: 'stopped', tone: 'off' };
    default:
      return { text: top, tone: 'wait' };
  }
}

/** Friendly names of the events of the client and supervisor machines. */
const EVENT_NAMES: Record<string, string> = {
  'xstate.init': 'started',
  CONNECTED: 'connected to the server',
  SECURED: 'TLS handshake done',
  'CHALLENGE.ANSWERED': 'secret challenge answered',
  OPENED: 'tunnel opened',
  FAILED: 'attempt failed',
  'CONTROL.LOST': 'control connection lost',
  'SERVER.HEARTBEAT': 'server heartbeat',
  'SERVER.ERROR': 'server error',
  'SERVER.POOL': 'server offered a pool',
  STOP: 'stop',
  RETRY_NOW: 'reconnect now',
  RELOAD: 'configuration reloaded',
};

/** Friendly names of the machines' delays (`xstate.after.<delay>.<state>`). */
const DELAY_NAMES: Record<string, string> = {
  retryDelay: 'retry delay over',
  connectTimeout: 'connect timed out',
  tlsHandshakeTimeout: 'TLS handshake timed out',
  handshakeTimeout: 'handshake timed out',
  heartbeatTimeout: 'no heartbeat in time',
  poolOfferTimeout: 'no pool offered',
  stableAfter: 'stable: backoff reset',
};

/** An event's name as a person reads it (`xstate.after.retryDelay.bore.backoff` → `retry delay over`). */
export function friendlyEvent(type: string): string {
  const named = EVENT_NAMES[type];
  if (named) return named;
  const after = /^xstate\.after\.([^.]+)\./.exec(type);
  if (after) return DELAY_NAMES[after[1]!] ?? `after ${after[1]}`;
  const done = /^xstate\.done\.actor\.(.+)$/.exec(type);
  if (done) return `${done[1]} ended`;
  return type;
}

/** Events that come with traffic or keep-alives, not with a change a person looks for. */
const ROUTINE = new Set(['SERVER.HEARTBEAT', 'SERVER.POOL']);

/** Whether a log line is routine: hidden unless "show heartbeats, connections and pool" is on. */
export function isRoutine(entry: LogEntryView): boolean {
  if (entry.kind === 'event') return ROUTINE.has(entry.event) || entry.event.startsWith('xstate.after.stableAfter');
  // A change inside `listening` (the pool's region) leaves the tunnel's state as it was.
  return topOf(entry.from ?? '') === topOf(entry.to ?? '') && (entry.from ?? '') !== '';
}

/** A log line's text: `listening → backoff (control connection lost)` or `server heartbeat ×9`; under a supervisor, `[name] ` first. */
export function friendlyLogText(entry: LogEntryView): string {
  const text =
    entry.kind === 'transition'
      ? `${entry.from ? topOf(entry.from) : '(start)'} \u2192 ${topOf(entry.to ?? '')}   (${friendlyEvent(entry.event)})`
      : friendlyEvent(entry.event) + (entry.count > 1 ? `  \u00d7${entry.count}` : '');
  return entry.actor === undefined ? text : `[${entry.actor}] ${text}`;
}

/** The top-level state of a dotted path (`listening.pool.open` → `listening`). */
function topOf(path: string): string {
  return path.split('.')[0] ?? path;
}

/** `0 B`, `512 B`, `1.5 KB`, `12 MB` (powers of 1000). */
export function formatBytes(n: number): string {
  if (n < 1000) return `${Math.round(n)} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** `1.5 KB/s`. */
export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** A duration: `850 ms`, `12 s`, `3 min 4 s`, `2 h 5 min`. */
export function formatAge(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
