/**
 * `--prefer-first`'s probe: while a tunnel listens on another server than the first of
 * its list, it opens a TCP connection to the first one's control port every
 * {@link PROBE_INTERVAL_MS} (and closes it at once, having sent nothing) and tells the
 * machine whether it answered. The machine decides when it has answered long enough.
 */
import { fromCallback, type EventObject } from 'xstate';
import type { ClientRuntime } from './actors.js';
import { connectTcp } from './connect.js';
import type { ServerAddress } from './servers.js';

/** How often the first server is probed (ms). */
export const PROBE_INTERVAL_MS = 1000;

/**
 * What the probe tells the machine: the first server accepted a connection, or did not;
 * and `PROBE.STEADY`, which the machine raises itself once the answers lasted long enough.
 */
export type ProbeEvent = { type: 'PROBE.ANSWERED' } | { type: 'PROBE.SILENT' } | { type: 'PROBE.STEADY' };

/** Input of {@link probeActor}: the server to probe. */
export interface ProbeInput {
  server: ServerAddress;
  runtime: ClientRuntime;
  /** Probe at all (`--prefer-first`, away from the first server); else the actor does nothing. */
  active: boolean;
}

/** Probes `server` until stopped; reports each change of its answer (the first probe's too). */
export const probeActor = fromCallback<EventObject, ProbeInput>(({ sendBack, input }) => {
  const abort = new AbortController();
  if (!input.active) return () => {};
  let last: ProbeEvent['type'] | undefined;
  let timer: NodeJS.Timeout | undefined;
  const probe = () => {
    connectTcp({ host: input.server.host, port: input.server.port, signal: abort.signal }).then(
      (socket) => {
        socket.destroy();
        tell('PROBE.ANSWERED');
      },
      () => tell('PROBE.SILENT'),
    );
  };
  const tell = (type: ProbeEvent['type']) => {
    if (abort.signal.aborted) return;
    if (type !== last) {
      last = type;
      input.runtime.logger.debug(type === 'PROBE.ANSWERED' ? 'the first server answers' : 'the first server does not answer', {
        server: `${input.server.host}:${input.server.port}`,
      });
      sendBack({ type });
    }
    timer = setTimeout(probe, PROBE_INTERVAL_MS);
  };
  probe();
  return () => {
    abort.abort();
    clearTimeout(timer);
  };
});
