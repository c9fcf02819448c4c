/**
 * Test doubles for the client machine: actors that do nothing on their own, so a test
 * drives every outcome with events, and a `SimulatedClock` drives every timer.
 */
import { type AnyEventObject, SimulatedClock, createActor, fromCallback, fromPromise } from 'xstate';
import { clientMachine, type TunnelSettings } from '../../machines/client.js';
import { ClientRuntime } from '../../src/client/actors.js';
import { TunnelError, type ErrorCode } from '../../src/client/errors.js';
import { silentLogger } from '../../src/log.js';

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
    ...overrides,
  };
}

/** A stand-in control connection that records whether it was closed. */
export class FakeControl {
  closed = false;
  close(): void {
    this.closed = true;
  }
  toJSON(): string {
    return '[FakeControl]';
  }
}

/** Connection ids the inert proxies actor was asked to serve, across all test actors. */
export const proxyRequests: string[] = [];

/** The machine with inert actors: outcomes come only from the events a test sends. */
export const inertMachine = clientMachine.provide({
  actors: {
    connect: fromPromise(() => new Promise<never>(() => {})) as never,
    handshake: fromPromise(() => new Promise<never>(() => {})) as never,
    control: fromCallback(() => () => {}) as never,
    proxies: fromCallback(({ receive }) => {
      receive((e) => proxyRequests.push((e as unknown as { id: string }).id));
    }) as never,
  },
});

/** Input for {@link inertMachine}; `random` 0.5 means no jitter. */
export function testInput(settings: Partial<TunnelSettings> = {}, random = () => 0.5) {
  return { settings: testSettings(settings), runtime: new ClientRuntime(silentLogger, undefined, random) };
}

/** Events that stand for the actors' outcomes. */
export const ev = {
  connected: (control = new FakeControl()) => ({ type: 'xstate.done.actor.connect', output: control }),
  connectFailed: (code: ErrorCode = 'connect-refused') => ({ type: 'xstate.error.actor.connect', error: new TunnelError(code, code) }),
  hello: (port = 20001) => ({ type: 'xstate.done.actor.handshake', output: port }),
  refused: (code: ErrorCode) => ({ type: 'xstate.error.actor.handshake', error: new TunnelError(code, code) }),
  heartbeat: () => ({ type: 'SERVER.HEARTBEAT' }),
  connection: (id = '00000000-0000-4000-8000-000000000000') => ({ type: 'SERVER.CONNECTION', id }),
  lost: (code: ErrorCode = 'server-closed') => ({ type: 'CONTROL.LOST', code, message: code }),
  stop: () => ({ type: 'STOP' }),
} satisfies Record<string, (...args: never[]) => AnyEventObject>;

/** A started actor of {@link inertMachine} on a simulated clock. */
export function startSimulated(settings: Partial<TunnelSettings> = {}, random?: () => number) {
  const clock = new SimulatedClock();
  const actor = createActor(inertMachine, { input: testInput(settings, random), clock });
  actor.start();
  const send = (e: AnyEventObject) => actor.send(e as never);
  const state = () => {
    const v = actor.getSnapshot().value;
    return typeof v === 'string' ? v : Object.keys(v)[0]!;
  };
  const ctx = () => actor.getSnapshot().context;
  /** Connects and completes the handshake: the tunnel is listening. */
  const openTunnel = (port = 20001) => {
    send(ev.connected());
    send(ev.hello(port));
  };
  return { clock, actor, send, state, ctx, openTunnel };
}
