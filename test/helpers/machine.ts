/**
 * Test doubles for the client machine: actors that do nothing on their own, so a test
 * drives every outcome with the events they would send, and a `SimulatedClock` drives
 * every timer. Each started machine records into a probe of its own.
 */
import { type EventObject, SimulatedClock, createActor, fromCallback } from 'xstate';
import { type ClientEvent, type ClientMachineInput, clientMachine, type TunnelSettings } from '../../machines/client.js';
import { ClientRuntime, type ProxiesInput, type ProxyRequest, type SessionInput } from '../../src/client/actors.js';
import type { ErrorCode } from '../../src/client/errors.js';
import type { TunnelTls } from '../../src/client/tls.js';
import type { ProbeInput } from '../../src/client/probe.js';
import { silentLogger } from '../../src/log/logger.js';

/** Settings with the CLI's defaults, against a server that is never contacted. */
export function testSettings(overrides: Partial<TunnelSettings> = {}): TunnelSettings {
  return {
    to: 'bore.test',
    controlPort: 7835,
    localHost: 'localhost',
    localPort: 3000,
    port: 0,
    heartbeatTimeoutMs: 8000,
    maxReconnectDelayMs: 64_000,
    reconnect: true,
    retryFirst: false,
    stableAfterMs: 10_000,
    pool: 0,
    ...overrides,
  };
}

/** What the stand-in actors of one machine saw. */
export interface Probe {
  /** Input of every session started, in order. */
  sessions: SessionInput[];
  /** Sessions stopped (each would have closed its control connection). */
  closedSessions: number;
  /** Connection ids the proxies actor was asked to serve. */
  proxyRequests: string[];
  /** Servers the `--prefer-first` probe was started on, and probes stopped. */
  probes: string[];
  closedProbes: number;
}

/** A probe with nothing recorded yet. */
export function newProbe(): Probe {
  return { sessions: [], closedSessions: 0, proxyRequests: [], probes: [], closedProbes: 0 };
}

/** The machine with inert actors (outcomes come only from the events a test sends), recording into `probe`. */
export function inertMachine(probe: Probe = newProbe()) {
  return clientMachine.provide({
    actors: {
      session: fromCallback<EventObject, SessionInput>(({ input }) => {
        probe.sessions.push(input);
        return () => {
          probe.closedSessions += 1;
        };
      }),
      proxies: fromCallback<ProxyRequest, ProxiesInput>(({ receive }) => {
        receive((e) => probe.proxyRequests.push(e.type));
      }),
      probe: fromCallback<EventObject, ProbeInput>(({ input }) => {
        if (!input.active) return;
        probe.probes.push(`${input.server.host}:${input.server.port}`);
        return () => {
          probe.closedProbes += 1;
        };
      }),
    },
  });
}

/**
 * Input for {@link inertMachine}; `random` 0.5 means no jitter, `now` is the time recorded
 * in `nextRetryAt`; `tls`: the tunnel's connections are TLS (the session secures them).
 */
export function testInput(settings: Partial<TunnelSettings> = {}, random = () => 0.5, now = () => 0, tls = false): ClientMachineInput {
  const runtime = new ClientRuntime(silentLogger, undefined, random, now);
  if (tls) runtime.tls = {};
  return { settings: testSettings(settings), runtime };
}

/** What a secured control connection reports of its TLS (the handshake of a test server). */
export const TEST_TLS: TunnelTls = {
  protocol: 'TLSv1.3',
  cipher: 'TLS_AES_256_GCM_SHA384',
  subject: 'CN=bore.test',
  fingerprint: `sha256:${'AB'.repeat(32)}`,
  validTo: '2030-01-01T00:00:00.000Z',
  resumed: false,
};

/** The events the session actor would send. */
export const ev = {
  connected: () => ({ type: 'CONNECTED' }),
  secured: (tls: TunnelTls = TEST_TLS) => ({ type: 'SECURED', tls }),
  connectFailed: (code: ErrorCode = 'connect-refused') => ({ type: 'FAILED', code, message: code }),
  answered: () => ({ type: 'CHALLENGE.ANSWERED' }),
  hello: (port = 20001) => ({ type: 'OPENED', port }),
  refused: (code: ErrorCode) => ({ type: 'FAILED', code, message: code }),
  heartbeat: () => ({ type: 'SERVER.HEARTBEAT' }),
  serverError: (message = 'something went wrong') => ({ type: 'SERVER.ERROR', message }),
  lost: (code: ErrorCode = 'server-closed') => ({ type: 'CONTROL.LOST', code, message: code }),
  poolOffer: (size = 4, token = '00000000-0000-4000-8000-0000000000aa') => ({ type: 'SERVER.POOL', token, size }),
  stop: () => ({ type: 'STOP' }),
} satisfies Record<string, (...args: never[]) => ClientEvent>;

/** The top-level state of a state value: `connecting`, or `listening` for `{ listening: 'alive' }`. */
export function topState(value: string | object): string {
  return typeof value === 'string' ? value : Object.keys(value)[0]!;
}

/** A started actor of {@link inertMachine} on a simulated clock, with its own probe; `tls` as in {@link testInput}. */
export function startSimulated(settings: Partial<TunnelSettings> = {}, random?: () => number, tls = false) {
  const clock = new SimulatedClock();
  const probe = newProbe();
  const machine = inertMachine(probe);
  const actor = createActor(machine, { input: testInput(settings, random, () => clock.now(), tls), clock });
  actor.start();
  const send = (e: ClientEvent) => actor.send(e);
  const state = () => topState(actor.getSnapshot().value);
  const ctx = () => actor.getSnapshot().context;
  /** Connects (and secures, with TLS) and completes the handshake: the tunnel is listening. */
  const openTunnel = (port = 20001) => {
    send(ev.connected());
    if (tls) send(ev.secured());
    send(ev.hello(port));
  };
  return { clock, probe, machine, actor, send, state, ctx, openTunnel };
}
