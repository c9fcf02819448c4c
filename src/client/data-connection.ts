/**
 * One public connection on the client: a new connection to the server that claims it
 * with `Accept(id)`, joined to a new connection to the local service.
 */
import type { Socket } from 'node:net';
import type { Authenticator } from '../protocol/auth.js';
import { proxy } from '../proxy.js';
import { connectTcp } from './connect.js';
import { authenticate, frameClientSocket } from './handshake.js';

/** Where a data connection goes. */
export interface DataConnectionTarget {
  to: string;
  controlPort: number;
  localHost: string;
  localPort: number;
  auth: Authenticator | undefined;
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
  const remote = await connectTcp({ host: target.to, port: target.controlPort });
  let local: Socket;
  let head: Buffer;
  // Errors before the proxy owns the socket end up in the catch below via the reads.
  remote.on('error', () => {});
  try {
    remote.setNoDelay(true);
    const framed = frameClientSocket(remote);
    await authenticate(framed, target.auth);
    framed.send({ type: 'Accept', id });
    head = framed.detach();
    local = await connectTcp({ host: target.localHost, port: target.localPort });
  } catch (err) {
    remote.destroy();
    throw err;
  }
  local.setNoDelay(true);
  onSockets?.(remote, local);
  await proxy(remote, local, head);
}
