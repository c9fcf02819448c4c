/**
 * The control connection's messages as the client machine's events: what the session
 * actor (`actors.ts`) reports ({@link SessionEvent}), and how an open connection's
 * messages become those events, the server's heartbeats coalesced
 * ({@link HEARTBEAT_COALESCE_MS}) and its pace asked of a bore-ts server
 * ({@link heartbeatIntervalFor}).
 */
import { HEARTBEAT_INTERVAL_MS } from '../protocol/constants.js';
import { monotonicMs } from '../protocol/on-demand.js';
import type { Logger } from '../log/logger.js';
import { onClose, onEnd } from '../net/socket-events.js';
import { type ErrorCode, TunnelError, classify } from './errors.js';
import type { ClientFramed } from './handshake.js';
import type { TunnelTls } from './tls.js';

/**
 * Events the session actor sends to the machine, in this order: `CONNECTED`, then
 * `SECURED` (with TLS: what the handshake gave), then `CHALLENGE.ANSWERED` (with a
 * secret), then `OPENED` or `FAILED`; once open, the server's messages as `SERVER.*`
 * until `CONTROL.LOST`. `SERVER.POOL` is the server's pool offer (only a bore-ts server,
 * only when asked); its token is a secret.
 */
export type SessionEvent =
  | { type: 'CONNECTED' }
  | { type: 'SECURED'; tls: TunnelTls }
  | { type: 'CHALLENGE.ANSWERED' }
  | { type: 'OPENED'; port: number }
  | { type: 'FAILED'; code: ErrorCode; message: string }
  | { type: 'SERVER.HEARTBEAT' }
  | { type: 'SERVER.ERROR'; message: string }
  | { type: 'SERVER.POOL'; token: string; size: number }
  | { type: 'CONTROL.LOST'; code: ErrorCode; message: string };

/**
 * The session passes on at most one plain `Heartbeat` per this many ms (the server sends
 * one every 500 ms); any other message goes on at once. A heartbeat costs the machine a
 * transition (about 50 µs measured, with its parent's): 1,000 tunnels idle spent 10% of a
 * core on them at two a second. The machine's heartbeat deadline is the timeout plus this,
 * so a connection still counts as lost only after the whole timeout without a message.
 */
export const HEARTBEAT_COALESCE_MS = 1000;

/**
 * The heartbeat pace a tunnel with `heartbeatTimeoutMs` asks a bore-ts server for: a
 * quarter of the timeout, so three heartbeats may be lost before the tunnel counts as
 * lost (the Rust server's 500 ms is four times that pace at the default 8 s). Reading the
 * server's heartbeats was most of an idle client's CPU: 1,000 tunnels read 2,000 a second.
 */
export function heartbeatIntervalFor(heartbeatTimeoutMs: number): number {
  return Math.floor(heartbeatTimeoutMs / 4);
}

/**
 * Reports every message of an open control connection (heartbeats coalesced), then its
 * loss (once); a `Connection` goes to `serve` and counts for the machine as a heartbeat
 * (the server sends one after it anyway). A pool offer shows a bore-ts server: it is
 * asked for `intervalMs` between heartbeats (when above {@link HEARTBEAT_INTERVAL_MS}).
 */
export function listenControl(
  framed: ClientFramed,
  logger: Logger,
  intervalMs: number,
  serve: (id: string) => void,
  report: (event: SessionEvent) => void,
): void {
  const socket = framed.socket;
  let lost = false;
  // When a message last went to the machine (it restarts the heartbeat deadline).
  let told = -Infinity;
  const alive = (event: SessionEvent) => {
    told = monotonicMs();
    report(event);
  };
  const lose = (err: TunnelError) => {
    if (lost) return;
    lost = true;
    report({ type: 'CONTROL.LOST', code: err.code, message: err.message });
  };
  socket.on('error', (err) => lose(classify(err)));
  onEnd(socket, () => lose(new TunnelError('server-closed', 'server closed the connection')));
  onClose(socket, () => lose(new TunnelError('server-closed', 'server closed the connection')));
  framed.listen((msg) => {
    switch (msg.type) {
      case 'Connection':
        serve(msg.id);
        if (monotonicMs() - told >= HEARTBEAT_COALESCE_MS) alive({ type: 'SERVER.HEARTBEAT' });
        break;
      case 'Error':
        // As the Rust client: logged at error level, the connection stays open.
        logger.error(`server error: ${msg.message}`);
        alive({ type: 'SERVER.ERROR', message: msg.message });
        break;
      case 'Hello':
      case 'Challenge':
        // The Rust client warns and goes on; any message still proves the server alive.
        logger.warn(`unexpected ${msg.type.toLowerCase()}`);
        alive({ type: 'SERVER.HEARTBEAT' });
        break;
      case 'Heartbeat':
        if (monotonicMs() - told >= HEARTBEAT_COALESCE_MS) alive({ type: 'SERVER.HEARTBEAT' });
        break;
      case 'PoolOffer':
        if (intervalMs > HEARTBEAT_INTERVAL_MS) framed.send({ type: 'HeartbeatInterval', ms: intervalMs });
        alive({ type: 'SERVER.POOL', token: msg.token, size: msg.size });
        break;
    }
  });
}
