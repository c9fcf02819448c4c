/**
 * Where iperf3's TCP retransmissions through the tunnel over the emulated 20 ms link come
 * from (issue 23's question). Topology "visitor beside the server" (`bench/wan.ts`):
 * iperf3's client (the visitor) in the server's namespace, iperf3's server (the service)
 * in the client's. For a direct connection across the link, a bare two-process relay
 * (server side and client side, a `pipe` each way, the same legs as bore) and bore, it
 * runs iperf3 for `--seconds` (5) and reads, in each namespace, the kernel's TCP counters
 * before and after (`nstat`): segments retransmitted, and the receive-side drops that cause
 * them. iperf3's own count is the visitor's socket's, on the loopback leg to the public port.
 *
 *   node --import tsx bench/wan-retrans.ts [--seconds 5] [--rounds 2]   (root; after npm run build)
 */
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { once } from 'node:events';
import { CLIENT_IP, SERVER_IP, WanLink } from './wan/link.js';

const argv = process.argv.slice(2);
const flag = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const SECONDS = Number(flag('--seconds') ?? 5);
const ROUNDS = Number(flag('--rounds') ?? 2);
const SERVICE_PORT = 5201;
const COUNTERS = [
  'TcpRetransSegs',
  'TcpExtTCPLossProbes',
  'TcpExtTCPTimeouts',
  'TcpExtTCPZeroWindowDrop',
  'TcpExtTCPRcvQDrop',
  'TcpExtTCPBacklogDrop',
  'TcpExtTCPSpuriousRtxHostQueues',
  'TcpExtTCPWinProbe',
  'TcpExtTCPFromZeroWindowAdv',
  'TcpExtTCPToZeroWindowAdv',
];

/** Relay role (run in a namespace): listen on `port`, pipe each connection to `to`. */
if (argv[0] === '--relay') {
  const [, port, host, toPort] = argv;
  net
    .createServer((a) => {
      const b = net.connect(Number(toPort), host);
      a.pipe(b).pipe(a);
      a.on('error', () => b.destroy());
      b.on('error', () => a.destroy());
    })
    .listen(Number(port), () => process.stdout.write('ready\n'));
} else {
  await main();
}

function nstat(ns: string): Record<string, number> {
  const out = execFileSync('ip', ['netns', 'exec', ns, 'nstat', '-az', ...COUNTERS], { encoding: 'utf8' });
  const counts: Record<string, number> = {};
  for (const line of out.split('\n')) {
    const [name, value] = line.trim().split(/\s+/);
    if (name && COUNTERS.includes(name)) counts[name] = Number(value);
  }
  return counts;
}

async function iperf(link: WanLink, port: number): Promise<{ mbps: number; retransmits: number }> {
  const child = link.spawn(link.serverNs, 'iperf3', [
    '-c',
    port === SERVICE_PORT ? CLIENT_IP : '127.0.0.1',
    '-p',
    String(port),
    '-t',
    String(SECONDS),
    '-J',
  ]);
  let text = '';
  child.stdout!.on('data', (c: Buffer) => (text += c.toString()));
  await once(child, 'exit');
  const r = JSON.parse(text) as { end: { sum_sent: { retransmits: number }; sum_received: { bits_per_second: number } } };
  return { mbps: Math.round(r.end.sum_received.bits_per_second / 8e6), retransmits: r.end.sum_sent.retransmits };
}

async function main(): Promise<void> {
  const link = await WanLink.open(10);
  if (typeof link === 'string') {
    console.log(`skipped: ${link}`);
    return;
  }
  try {
    link.spawn(link.clientNs, 'iperf3', ['-s', '-B', '127.0.0.1', '-p', String(SERVICE_PORT)], 'ignore');
    // The direct path needs the service on the link's address too.
    link.spawn(link.clientNs, 'iperf3', ['-s', '-B', CLIENT_IP, '-p', String(SERVICE_PORT)], 'ignore');
    // Bare relay: server side 7000 -> client side 7001 across the link -> service.
    const relayC = link.spawn(link.clientNs, process.execPath, [
      '--import',
      'tsx',
      'bench/wan-retrans.ts',
      '--relay',
      '7001',
      '127.0.0.1',
      String(SERVICE_PORT),
    ]);
    const relayS = link.spawn(link.serverNs, process.execPath, [
      '--import',
      'tsx',
      'bench/wan-retrans.ts',
      '--relay',
      '7000',
      CLIENT_IP,
      '7001',
    ]);
    await Promise.all([once(relayC.stdout!, 'data'), once(relayS.stdout!, 'data')]);
    const server = link.bore(link.serverNs, ['server', '--min-port', '30000', '--max-port', '30999']);
    await server.waitFor(/server listening/);
    const client = link.bore(link.clientNs, ['local', String(SERVICE_PORT), '--local-host', '127.0.0.1', '--to', SERVER_IP]);
    const publicPort = Number((await client.waitFor(/listening at [\d.]+:(\d+)/))[1]);
    const paths: [string, number][] = [
      ['direct', SERVICE_PORT],
      ['bare relay', 7000],
      ['bore', publicPort],
    ];
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [name, port] of paths) {
        const before = [nstat(link.serverNs), nstat(link.clientNs)];
        const r = await iperf(link, port);
        const after = [nstat(link.serverNs), nstat(link.clientNs)];
        const delta = (i: number) =>
          COUNTERS.map((c) => `${c.replace(/^Tcp(Ext)?/, '')} ${(after[i]![c] ?? 0) - (before[i]![c] ?? 0)}`).join(', ');
        console.log(`round ${round} ${name}: ${r.mbps} MB/s, iperf3 retransmits ${r.retransmits}`);
        console.log(`  server ns: ${delta(0)}`);
        console.log(`  client ns: ${delta(1)}`);
      }
    }
  } finally {
    link.cleanup();
  }
}
