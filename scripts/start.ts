/**
 * `npm start`: the quick-start demo. Runs a bore server on this machine, bound to
 * 127.0.0.1 (nothing reachable from the LAN), waits until its control port accepts
 * connections, then runs a client exposing local port 8000 through it, so the client's
 * first attempt finds the server. Ctrl-C stops both (the terminal signals the whole
 * group; a SIGTERM to this script is passed on).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const BORE = fileURLToPath(new URL('../dist/bundle/bore.mjs', import.meta.url));
/** The control port: BORE_CONTROL_PORT if set (both processes would read it; the wait below must too), else 7835. */
const CONTROL_PORT = Number(process.env.BORE_CONTROL_PORT || 7835);
if (!Number.isInteger(CONTROL_PORT) || CONTROL_PORT < 1 || CONTROL_PORT > 65535) {
  console.error(`error: invalid value for BORE_CONTROL_PORT: '${process.env.BORE_CONTROL_PORT}' (expected a port number, 1-65535)`);
  process.exit(2);
}
const LOCAL_PORT = 8000;

function bore(args: string[]): ChildProcess {
  return spawn(process.execPath, [BORE, ...args], { stdio: 'inherit' });
}

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`. */
function listening(port: number): Promise<void> {
  return new Promise((resolve) => {
    const attempt = () =>
      net
        .connect(port, '127.0.0.1')
        .once('connect', function (this: net.Socket) {
          this.destroy();
          resolve();
        })
        .once('error', () => setTimeout(attempt, 50));
    attempt();
  });
}

const server = bore(['server', '--bind-addr', '127.0.0.1', '--bind-tunnels', '127.0.0.1', '--control-port', String(CONTROL_PORT)]);
const children = [server];
server.once('exit', (code) => process.exit(code ?? 1));
process.once('SIGTERM', () => children.forEach((c) => c.kill('SIGTERM')));
process.once('SIGINT', () => undefined); // the terminal sends it to the children too
await listening(CONTROL_PORT);
children.push(bore(['local', String(LOCAL_PORT), '--to', '127.0.0.1', '--control-port', String(CONTROL_PORT), '--retry-first']));
