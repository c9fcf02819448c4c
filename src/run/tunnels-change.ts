/**
 * What `startTunnels` reports of its supervisor: the set's change (its aggregate state and
 * each tunnel's view), built incrementally from the last one, compared, and the aggregate's
 * log line.
 */
import type { SnapshotFrom } from 'xstate';
import { type AggregateState, supervisorAggregate, type supervisorMachine } from '../../machines/supervisor.js';
import { type TunnelView, sameTunnelView } from '../../machines/client.js';
import type { Logger } from '../log/logger.js';
import type { TunnelChange } from './tunnel.js';

/** The state of a set of tunnels: the supervisor's aggregate, then `stopping` and `stopped`. */
export type TunnelsState = AggregateState | 'stopping' | 'stopped';

/** What a user sees of a set of tunnels; {@link Tunnels.onChange} reports each change. */
export interface TunnelsChange {
  /**
   * `listening` (all), `starting`, `reconnecting` (some), `degraded` (some fatal), `gone`
   * (none left running), `waiting` (none left running after a reload: the set waits for
   * the next one), `stopping`, `stopped`.
   */
  readonly state: TunnelsState;
  /** Each tunnel of the current set by name (fatal ones included). */
  readonly tunnels: Readonly<Record<string, TunnelChange>>;
}

/**
 * What the runner reports of `snapshot`. A tunnel whose view is the same as in `previous`
 * keeps its object from there, so that a change of one tunnel costs one new view and
 * {@link sameChange} compares the others by identity.
 */
export function changeOf(snapshot: SnapshotFrom<typeof supervisorMachine>, previous?: TunnelsChange): TunnelsChange {
  const value = snapshot.value as string;
  const state: TunnelsState = value === 'stopped' || value === 'stopping' ? value : supervisorAggregate(snapshot.context);
  const tunnels: Record<string, TunnelView> = {};
  for (const [name, t] of snapshot.context.tunnels) {
    const before = previous?.tunnels[name];
    tunnels[name] =
      before && sameTunnelView(before, t)
        ? before
        : {
            state: t.state,
            publicPort: t.publicPort,
            attempt: t.attempt,
            lastError: t.lastError,
            retryDelayMs: t.retryDelayMs,
            tls: t.tls,
            ...(t.server === undefined ? {} : { server: t.server, moved: t.moved }),
          };
  }
  return { state, tunnels };
}

export function sameChange(a: TunnelsChange, b: TunnelsChange): boolean {
  if (a.state !== b.state) return false;
  const names = Object.keys(a.tunnels);
  if (names.length !== Object.keys(b.tunnels).length) return false;
  return names.every(
    (name) => a.tunnels[name] === b.tunnels[name] || (b.tunnels[name] !== undefined && sameTunnelView(a.tunnels[name]!, b.tunnels[name])),
  );
}

export function logAggregate(logger: Logger, change: TunnelsChange): void {
  const all = Object.entries(change.tunnels);
  const count = (state: string) => all.filter(([, t]) => t.state === state).length;
  const fields = { tunnels: all.length, listening: count('listening'), fatal: count('fatal') };
  switch (change.state) {
    case 'listening':
      logger.info(`all ${all.length} tunnels listening`, fields);
      break;
    case 'degraded': {
      const names = all.filter(([, t]) => t.state === 'fatal').map(([name]) => name);
      logger.warn(`tunnel${names.length > 1 ? 's' : ''} ${names.join(', ')} gave up; the others keep running`, fields);
      break;
    }
    case 'gone':
      logger.error('every tunnel has given up', fields);
      break;
  }
}
