/**
 * A TCP relay that can fail like a real network: `blackhole()` silently drops every
 * byte both ways without closing anything (a dead Wi-Fi, a pulled cable), `restore()`
 * brings the network back (connections that lived through the outage are reset, as
 * the peer's kernel would do), and `cut(i)` closes one relayed connection. Each relayed
 * connection keeps its first bytes each way (a TLS handshake's records, for a test to read).
 */
import net from 'node:net';
import { once } from 'node:events';

/** Bytes kept of the start of each relayed connection, each way. */
const FIRST_BYTES = 4096;

interface Relay {
  client: net.Socket;
  server: net.Socket;
  bytes: number;
  blackholed: boolean;
  /** The first {@link FIRST_BYTES} bytes the client sent, and the server. */
  first: { client: Buffer; server: Buffer };
}

/** A relay from a loopback port to `targetPort`. */
export class FlakyProxy {
  readonly relays: Relay[] = [];
  #dropping = false;
  #server = net.createServer({ allowHalfOpen: true }, (client) => this.#relay(client));
  #targetPort: number;

  constructor(targetPort: number) {
    this.#targetPort = targetPort;
  }

  /** Starts listening; resolves with the port. */
  async listen(port = 0): Promise<number> {
    this.#server.listen(port, '127.0.0.1');
    await once(this.#server, 'listening');
    return this.port;
  }

  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  #relay(client: net.Socket): void {
    const server = net.connect({ port: this.#targetPort, host: '127.0.0.1', allowHalfOpen: true });
    const relay: Relay = {
      client,
      server,
      bytes: 0,
      blackholed: this.#dropping,
      first: { client: Buffer.alloc(0), server: Buffer.alloc(0) },
    };
    this.relays.push(relay);
    const forward = (from: net.Socket, to: net.Socket) => {
      const side = from === client ? 'client' : 'server';
      from.on('data', (chunk: Buffer) => {
        if (this.#dropping || relay.blackholed) return;
        relay.bytes += chunk.length;
        if (relay.first[side].length < FIRST_BYTES) relay.first[side] = Buffer.concat([relay.first[side], chunk]).subarray(0, FIRST_BYTES);
        if (!to.write(chunk)) {
          from.pause();
          to.once('drain', () => from.resume());
        }
      });
      from.on('end', () => {
        if (!relay.blackholed) to.end();
      });
    };
    forward(client, server);
    forward(server, client);
    for (const s of [client, server]) {
      s.on('error', () => {
        client.destroy();
        server.destroy();
      });
      s.on('close', () => {
        if (!relay.blackholed) {
          client.destroy();
          server.destroy();
        }
      });
    }
  }

  /** The network goes silent: nothing passes, nothing is closed. */
  blackhole(): void {
    this.#dropping = true;
    for (const r of this.relays) if (!r.client.destroyed) r.blackholed = true;
  }

  /** The network is back: connections that lived through the outage are reset. */
  restore(): void {
    this.#dropping = false;
    for (const r of this.relays) {
      if (r.blackholed) {
        r.client.resetAndDestroy();
        r.server.resetAndDestroy();
      }
    }
  }

  /** Refuses new connections (the listener closes); those relayed so far go on. */
  stopAccepting(): void {
    this.#server.close();
  }

  /** Closes relayed connection number `i` (in order of arrival) on both sides. */
  cut(i: number): void {
    const r = this.relays[i]!;
    r.client.destroy();
    r.server.destroy();
  }

  async close(): Promise<void> {
    for (const r of this.relays) {
      r.client.destroy();
      r.server.destroy();
    }
    await new Promise((r) => this.#server.close(() => r(null)));
  }
}
