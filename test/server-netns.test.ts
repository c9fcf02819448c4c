/**
 * Upstream bore issue #147 with real packet loss: a server and a client in two network
 * namespaces joined by a veth pair; the client's side then drops every packet and the
 * client is killed with SIGKILL, so neither a FIN nor an RST ever reaches the server.
 * The server must notice on its own (TCP_USER_TIMEOUT on unacknowledged heartbeats) and
 * free the public port within the default 15 s client timeout.
 *
 * Needs root and `ip netns`; packets are dropped with iptables if it is installed,
 * else with a blackhole route. Skips with the reason where this is not possible.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { BoreProcess } from './helpers/procs.js';
import { CLI } from './helpers/procs.js';

/** Default `--client-timeout` (seconds); the port must be free within it. */
const TARGET_S = 15;
/** Scheduling slack on a loaded 2-core machine. */
const MARGIN_S = 1.5;

const id = `${process.pid % 100000}`;
const NS_SERVER = `bore_srv_${id}`;
const NS_CLIENT = `bore_cli_${id}`;
const VETH_SERVER = `bs${id}`;
const VETH_CLIENT = `bc${id}`;
const SERVER_IP = '10.201.0.1';
const CLIENT_IP = '10.201.0.2';

function sh(cmd: string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`.trim() };
}

function must(cmd: string[]): void {
  const r = sh(cmd);
  if (!r.ok) throw new Error(`${cmd.join(' ')}: ${r.out}`);
}

let skip: string | false = false;
const procs: BoreProcess[] = [];

before(() => {
  if (process.platform !== 'linux') {
    skip = 'network namespaces are Linux-only';
    return;
  }
  const add = sh(['ip', 'netns', 'add', NS_SERVER]);
  if (!add.ok) {
    skip = `cannot create a network namespace (needs root and iproute2): ${add.out}`;
    return;
  }
  must(['ip', 'netns', 'add', NS_CLIENT]);
  must(['ip', 'link', 'add', VETH_SERVER, 'type', 'veth', 'peer', 'name', VETH_CLIENT]);
  must(['ip', 'link', 'set', VETH_SERVER, 'netns', NS_SERVER]);
  must(['ip', 'link', 'set', VETH_CLIENT, 'netns', NS_CLIENT]);
  must(['ip', '-n', NS_SERVER, 'addr', 'add', `${SERVER_IP}/24`, 'dev', VETH_SERVER]);
  must(['ip', '-n', NS_CLIENT, 'addr', 'add', `${CLIENT_IP}/24`, 'dev', VETH_CLIENT]);
  for (const [ns, dev] of [
    [NS_SERVER, VETH_SERVER],
    [NS_CLIENT, VETH_CLIENT],
  ] as const) {
    must(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    must(['ip', '-n', ns, 'link', 'set', dev, 'up']);
  }
});

after(async () => {
  for (const p of procs) await p.stop('SIGKILL');
  // Deleting the namespaces also deletes the veth pair.
  if (!skip) for (const ns of [NS_SERVER, NS_CLIENT]) sh(['ip', 'netns', 'del', ns]);
});

/** Makes the client's namespace silently drop everything; returns how. */
function dropClientTraffic(): string {
  const iptables = sh(['ip', 'netns', 'exec', NS_CLIENT, 'iptables', '-A', 'OUTPUT', '-j', 'DROP']);
  if (iptables.ok) {
    must(['ip', 'netns', 'exec', NS_CLIENT, 'iptables', '-A', 'INPUT', '-j', 'DROP']);
    return 'iptables DROP';
  }
  // Without iptables: every packet the client's kernel would send to the server
  // (ACKs, FIN, RST) is discarded by a more specific blackhole route.
  must(['ip', '-n', NS_CLIENT, 'route', 'add', 'blackhole', `${SERVER_IP}/32`]);
  return 'blackhole route';
}

/** Whether `port` can be bound on the server's address inside the server's namespace. */
function portIsFreeInServerNs(port: number): boolean {
  const script = `require('net').createServer().once('error',()=>process.exit(1)).listen({port:${port},host:'${SERVER_IP}',exclusive:true},()=>process.exit(0))`;
  return sh(['ip', 'netns', 'exec', NS_SERVER, process.execPath, '-e', script]).ok;
}

test(`a silently dead client's public port is free within ${TARGET_S} s (real packet loss, SIGKILL)`, { timeout: 60_000 }, async (t) => {
  if (skip) {
    t.skip(skip);
    return;
  }
  const launcher = (ns: string) => ['ip', 'netns', 'exec', ns];
  const server = new BoreProcess(
    ['server', '--control-port', '0', '--bind-addr', SERVER_IP, '--bind-tunnels', SERVER_IP, '--min-port', '22000', '--max-port', '22999'],
    {},
    [CLI],
    launcher(NS_SERVER),
  );
  procs.push(server);
  const controlPort = Number((await server.waitFor(/server listening .*port=(\d+)/))[1]);
  // Nothing listens on the local port: the control connection is all this test needs.
  const client = new BoreProcess(['local', '9', '--to', SERVER_IP, '--control-port', String(controlPort)], {}, [CLI], launcher(NS_CLIENT));
  procs.push(client);
  const publicPort = Number((await client.waitFor(new RegExp(`listening at ${SERVER_IP.replace(/\./g, '\\.')}:(\\d+)`)))[1]);
  await server.waitFor(/new client/);
  assert.equal(portIsFreeInServerNs(publicPort), false, 'the public port is bound while the client lives');

  const from = server.output.length;
  const how = dropClientTraffic();
  const start = Date.now();
  client.proc.kill('SIGKILL');
  await client.exited;

  const line = await server.waitFor(new RegExp(`client disconnected port=${publicPort}(.*)`), (TARGET_S + 10) * 1000, from);
  const seconds = (Date.now() - start) / 1000;
  t.diagnostic(`port ${publicPort} freed ${seconds.toFixed(2)} s after the client went silent (${how}); log:${line[1]}`);
  assert.equal(portIsFreeInServerNs(publicPort), true, 'the public port can be bound again');
  assert.ok(seconds <= TARGET_S + MARGIN_S, `port freed after ${seconds.toFixed(2)} s, target ${TARGET_S} s`);
  // Much earlier would mean a FIN or RST got through, i.e. the network was not really dead.
  assert.ok(seconds >= TARGET_S / 2, `noticed after only ${seconds.toFixed(2)} s: packets were not really dropped`);
  assert.match(line[1]!, /ETIMEDOUT/);
});
