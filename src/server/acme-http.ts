/**
 * The HTTP-01 responder: a small HTTP listener, open only while a challenge is pending,
 * that answers the CA's `GET /.well-known/acme-challenge/TOKEN` with the key
 * authorization and everything else with 404. Nothing listens on the port between
 * orders (days apart), so it can be shared with, or taken by, nothing else meanwhile.
 */
import http from 'node:http';
import { once } from 'node:events';

/** The path prefix the CA fetches (RFC 8555, section 8.3). */
const CHALLENGE_PATH = '/.well-known/acme-challenge/';

/** Why the responder could not open its port, in the user's words, with the fix. */
function listenFailure(err: NodeJS.ErrnoException, port: number): Error {
  const fix =
    err.code === 'EACCES'
      ? `ports below 1024 need root or CAP_NET_BIND_SERVICE (systemd: AmbientCapabilities=CAP_NET_BIND_SERVICE), or forward port 80 to a higher --acme-http-port`
      : err.code === 'EADDRINUSE'
        ? `another program (a web server?) holds it: stop it, or have it forward /.well-known/acme-challenge/ to a free --acme-http-port`
        : err.message;
  return Object.assign(new Error(`cannot listen on port ${port} for the ACME HTTP-01 challenge (${err.code ?? 'error'}): ${fix}`), {
    code: err.code,
  });
}

/** Serves the key authorizations of pending HTTP-01 challenges on `port` while there are any. */
export class Http01Responder {
  readonly #port: number;
  readonly #host: string | undefined;
  readonly #answers = new Map<string, string>();
  #server: http.Server | undefined;
  #shut = false;

  /** `host` undefined: every address, IPv4 and IPv6. */
  constructor(port: number, host?: string) {
    this.#port = port;
    this.#host = host;
  }

  /** Answers `token` with `keyAuthorization` from now on, opening the listener if it is closed. */
  async add(token: string, keyAuthorization: string): Promise<void> {
    if (this.#shut) throw new Error('the server is shutting down');
    this.#answers.set(token, keyAuthorization);
    if (this.#server) return;
    const server = http.createServer((req, res) => {
      const url = req.url ?? '';
      const answer =
        req.method === 'GET' && url.startsWith(CHALLENGE_PATH) ? this.#answers.get(url.slice(CHALLENGE_PATH.length)) : undefined;
      res.writeHead(answer === undefined ? 404 : 200, { 'content-type': 'text/plain', connection: 'close' });
      res.end(answer ?? 'not found\n');
    });
    this.#server = server;
    server.listen({ port: this.#port, host: this.#host });
    try {
      await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => Promise.reject(err as Error))]);
    } catch (err) {
      this.#server = undefined;
      this.#answers.delete(token);
      throw listenFailure(err as NodeJS.ErrnoException, this.#port);
    }
  }

  /** Stops answering `token`; closes the listener when no challenge is left. */
  async remove(token: string): Promise<void> {
    this.#answers.delete(token);
    if (this.#answers.size === 0) await this.close();
  }

  /** Closes the listener and its connections now. */
  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  /** Closes the listener for good: no challenge opens it again. */
  async shutdown(): Promise<void> {
    this.#shut = true;
    this.#answers.clear();
    await this.close();
  }

  /** Whether the listener is open. */
  get open(): boolean {
    return this.#server !== undefined;
  }
}
