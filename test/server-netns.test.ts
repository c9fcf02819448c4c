/**
 * Upstream bore issue #147 with real packet loss: a server and a client in two network
 * namespaces joined by a veth pair; the client's side then drops every packet and the
 * client is killed with SIGKILL, so neither a FIN nor an RST ever reaches the server.
 * The server must notice on its own (TCP_USER_TIMEOUT on unacknowledged heartbeats) and
 * free the public port within the default 15 s client timeout.
 *
 * Needs root and `ip netns` (skips with the reason otherwise).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { CLI, BoreProcess } from './helpers/procs.js';
import { type NetnsPair, SERVER_IP, createNetnsPair } from './helpers/netns.js';

/** Default `--client-timeout` (seconds); the port must be free within it. */
const TARGET_S = 15;
/** Scheduling slack on a loaded 2-core machine. */
const MARGIN_S = 1.5;

let pair: NetnsPair | string = 'not set up';
const procs: BoreProcess[] = [];

before(() => {
  pair = createNetnsPair(String(process.pid % 100000));
});

after(async () => {
  for (const p of procs) await p.stop('SIGKILL');
  if (typeof pair !== 'string') pair.destroy();
});

test(`a silently dead client's public port is free within ${TARGET_S} s (real packet loss, SIGKILL)`, { timeout: 60_000 }, async (t) => {
  if (typeof pair === 'string') {
    t.skip(pair);
    return;
  }
  const ns = pair;
  const server = new BoreProcess(
    ['server', '--control-port', '0', '--bind-addr', SERVER_IP, '--bind-tunnels', SERVER_IP, '--min-port', '22000', '--max-port', '22999'],
    {},
    [CLI],
    ns.launcher(ns.server),
  );
  procs.push(server);
  const controlPort = Number((await server.waitFor(/server listening .*port=(\d+)/))[1]);
  // Nothing listens on the local port: the control connection is all this test needs.
  const client = new BoreProcess(
    ['local', '9', '--to', SERVER_IP, '--control-port', String(controlPort)],
    {},
    [CLI],
    ns.launcher(ns.client),
  );
  procs.push(client);
  const publicPort = Number((await client.waitFor(new RegExp(`listening at ${SERVER_IP.replace(/\./g, '\\.')}:(\\d+)`)))[1]);
  await server.waitFor(/new client/);
  assert.equal(ns.serverPortIsFree(publicPort), false, 'the public port is bound while the client lives');

  const from = server.output.length;
  const how = ns.dropClientTraffic();
  const start = Date.now();
  client.proc.kill('SIGKILL');
  await client.exited;

  const line = await server.waitFor(new RegExp(`client disconnected port=${publicPort}(.*)`), (TARGET_S + 10) * 1000, from);
  const seconds = (Date.now() - start) / 1000;
  t.diagnostic(`port ${publicPort} freed ${seconds.toFixed(2)} s after the client went silent (${how}); log:${line[1]}`);
  assert.equal(ns.serverPortIsFree(publicPort), true, 'the public port can be bound again');
  assert.ok(seconds <= TARGET_S + MARGIN_S, `port freed after ${seconds.toFixed(2)} s, target ${TARGET_S} s`);
  // Much earlier would mean a FIN or RST got through, i.e. the network was not really dead.
  assert.ok(seconds >= TARGET_S / 2, `noticed after only ${seconds.toFixed(2)} s: packets were not really dropped`);
  assert.match(line[1]!, /ETIMEDOUT/);
});
