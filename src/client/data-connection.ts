/**
 * One public connection on the client: a new connection to the server that claims it
 * with `Accept(id)`, joined to a new connection to the local service.
 */
import type { Socket } from 'node:net';
import type { Authenticator } from '../protocol/auth.js';
import { proxy } from '../net/proxy.js';
import { connectTcp } from './connect.js';
import type { ClientTls } from './tls.js';
import { authenticate, frameClientSocket } from './handshake.js';

/** Where a data connection goes. */
export interface DataConnectionTarget {
  to: string;
  controlPort: number;
  localHost: string;
  localPort: number;
  auth: Authenticator | undefined;
  /** TLS settings when the tunnel's connections to the server are TLS. */
  tls?: ClientTls;
}

/**
 * Claims public connection `id` and proxies it to the local service until both sides
 * close. Calls `onSockets` once both sockets are open (so a caller can track them for
 * a drain). Rejects if the server or the local service cannot be reached; then the
 * public connection is closed and nothing else is affected.
 */
export async function runDataConnection(
  id: string,
  target: DataConnectionTarget,
  onSockets?: (remote: Socket, local: Socket) => void,
): Promise<void> {
  // Both connections are opened at once: on the critical path of a new public
  // connection, the local connect no longer waits for the server's.
  const remoteOpening = connectTcp({ host: target.to, port: target.controlPort, tls: target.tls });
  const localOpening = connectTcp({ host: target.localHost, port: target.localPort, peer: 'the local service' });
  const [remoteResult, localResult] = await Promise.allSettled([
    remoteOpening.then(async (remote) => {
      // Errors before the proxy owns the socket end up in the catch below via the reads.
      remote.on('error', () => {});
      try {
        remote.setNoDelay(true);
        const framed = frameClientSocket(remote);
        await authenticate(framed, target.auth);
        framed.send({ type: 'Accept', id });
        return { remote, head: framed.detach() };
      } catch (err) {
        remote.destroy();
        throw err;
      }
    }),
    localOpening,
  ]);
  if (remoteResult.status === 'rejected' || localResult.status === 'rejected') {
    if (remoteResult.status === 'fulfilled') remoteResult.value.remote.destroy();
    if (localResult.status === 'fulfilled') localResult.value.destroy();
    throw remoteResult.status === 'rejected' ? remoteResult.reason : (localResult as PromiseRejectedResult).reason;
  }
  const { remote, head } = remoteResult.value;
  const local = localResult.value;
  local.setNoDelay(true);
  const done = proxy(remote, local, head);
  onSockets?.(remote, local);
  await done;
}

/**
 * Joins `remote`, a data connection that already carries a public connection (`head`:
 * its bytes read past the last frame), to a new connection to the local service, and
 * proxies until both sides close. Rejects (and closes `remote`) if the local service
 * cannot be reached. `onReply` is called once the local service's first bytes are on
 * their way back to the server.
 */
export async function proxyToLocal(
  remote: Socket,
  head: Buffer,
  target: Pick<DataConnectionTarget, 'localHost' | 'localPort'>,
  onSockets?: (remote: Socket, local: Socket) => void,
  onReply?: () => void,
): Promise<void> {
  let local: Socket;
  try {
    local = await connectTcp({ host: target.localHost, port: target.localPort, peer: 'the local service' });
  } catch (err) {
    remote.destroy();
    throw err;
  }
  local.setNoDelay(true);
  const done = proxy(remote, local, head, { onReply });
  onSockets?.(remote, local);
  await done;
}
