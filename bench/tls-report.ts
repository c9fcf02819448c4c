/**
 * `bench/tls.ts`'s tunnels as command lines, and its results as markdown with the
 * targets of issue 20.
 */
import type { Certificates } from './tls-tools.js';
import { median } from './proc-stats.js';

/** Our tunnel in plaintext, ours with TLS, or the Rust bore (plaintext). */
export type Flavor = 'plain' | 'tls' | 'rust';

/** A tunnel to start: its flavor, the client's pool, a secret on both ends, a certificate on a plaintext tunnel's server. */
export interface TunnelSpec {
  flavor: Flavor;
  pool?: number;
  /** The client multiplexes every visitor (`--mux-first`). */
  mux?: boolean;
  secret?: string;
  serverCert?: boolean;
}

/** The `bore server` and `bore local` arguments of `spec`, the server at `host`. */
export function boreArgs(spec: TunnelSpec, certs: Certificates, host: string, servicePort = 0, controlPort?: number) {
  const secret = spec.secret ? ['--secret', spec.secret] : [];
  if (spec.flavor === 'rust') {
    return {
      server: ['server', '--min-port', '24000', '--max-port', '24999', ...secret],
      client: ['local', String(servicePort), '--to', host, '--local-host', '127.0.0.1', ...secret],
    };
  }
  const loopback = host === '127.0.0.1' ? ['--bind-addr', '127.0.0.1', '--bind-tunnels', '127.0.0.1'] : [];
  const cert = spec.flavor === 'tls' || spec.serverCert ? ['--tls-cert', certs.cert, '--tls-key', certs.key] : [];
  return {
    server: ['server', '--control-port', '0', ...loopback, '--min-port', '23000', '--max-port', '23999', ...cert, ...secret],
    client: [
      'local',
      String(servicePort),
      '--to',
      host,
      '--control-port',
      String(controlPort ?? 7835),
      '--local-host',
      '127.0.0.1',
      '--pool',
      String(spec.pool ?? 4),
      ...(spec.mux ? ['--mux-first'] : []),
      ...(spec.flavor === 'tls' ? ['--tls', '--tls-ca', certs.ca] : []),
      ...secret,
    ],
  };
}

type BulkRow = { round: number; path: string; streams: number; mbps: number; serverCpuSPerGB?: number; clientCpuSPerGB?: number };

/** What `bench/tls.ts` writes to its JSON. */
export interface TlsReport {
  bulk: { skipped: string } | { seconds: number; rows: BulkRow[] };
  setup?: {
    warmup: number;
    count: number;
    rows: { round: number; flavor: Flavor; mux?: boolean; tunnelP50Ms: number; directP50Ms: number }[];
  };
  grace?: { rows: { name: string; listenMs: number; setupP50Ms: number; count: number }[] };
  wan:
    | { skipped: string }
    | {
        rttMs: number;
        listenMs: Record<'plain' | 'tls', number[]>;
        ttfb: { flavor: Flavor; pool: number; p50Ms: number; p90Ms: number; p50Rtts: number }[];
      };
}

const LABELS: Record<string, string> = {
  direct: 'Direct (iperf3 to iperf3)',
  plain: 'Our tunnel, plaintext',
  tls: 'Our tunnel, TLS',
  rust: 'Rust bore (plaintext)',
};
const met = (ok: boolean) => (ok ? 'met' : '**missed**');
const spread = (xs: number[], digits = 0) =>
  xs.length > 1 ? ` (${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)})` : '';

function bulkTable(bulk: TlsReport['bulk']): string[] {
  if ('skipped' in bulk) return [`Bulk (iperf3): skipped: ${bulk.skipped}`];
  const out = [
    `| Path | 1 stream, MB/s: median (range) | 8 streams, MB/s | CPU s/GB, server / client (1; 8 streams) |`,
    '|---|---|---|---|',
  ];
  const of = (path: string, streams: number) => bulk.rows.filter((r) => r.path === path && r.streams === streams);
  const mbps = (path: string, streams: number) => median(of(path, streams).map((r) => r.mbps));
  for (const path of ['direct', 'plain', 'tls', 'rust']) {
    if (of(path, 1).length === 0) continue;
    const cpu = (streams: number) => {
      const rows = of(path, streams);
      if (rows[0]?.serverCpuSPerGB === undefined) return '';
      return `${median(rows.map((r) => r.serverCpuSPerGB!)).toFixed(2)} / ${median(rows.map((r) => r.clientCpuSPerGB!)).toFixed(2)}`;
    };
    const cell = (s: number) => `${mbps(path, s).toFixed(0)}${spread(of(path, s).map((r) => r.mbps))}`;
    out.push(`| ${LABELS[path]} | ${cell(1)} | ${cell(8)} | ${cpu(1)}; ${cpu(8)} |`);
  }
  for (const s of [1, 8]) {
    const tls = mbps('tls', s);
    const plain = mbps('plain', s);
    const rust = of('rust', s).length > 0 ? mbps('rust', s) : undefined;
    out.push(
      '',
      `${s} stream${s > 1 ? 's' : ''}: TLS / our plaintext = ${((tls / plain) * 100).toFixed(0)}% (target >= 70%: ${met(tls >= 0.7 * plain)}); ` +
        (rust === undefined
          ? 'no Rust bore (BORE_RUST unset)'
          : `TLS / Rust bore = ${((tls / rust) * 100).toFixed(0)}% (target >= 100%: ${met(tls >= rust)})`),
    );
  }
  return out;
}

function setupLines(setup: NonNullable<TlsReport['setup']>): string[] {
  const p50s = (flavor: Flavor, mux = false) => setup.rows.filter((x) => x.flavor === flavor && !!x.mux === mux).map((x) => x.tunnelP50Ms);
  const direct = setup.rows.map((x) => x.directP50Ms);
  /** Each round's p50 of `flavor` (multiplexed or not) over that round's plaintext with the pool. */
  const ratios = (flavor: Flavor, mux: boolean) =>
    setup.rows
      .filter((x) => x.flavor === flavor && !!x.mux === mux)
      .map((x) => x.tunnelP50Ms / setup.rows.find((y) => y.round === x.round && y.flavor === 'plain' && !y.mux)!.tunnelP50Ms);
  const tls = ratios('tls', false);
  const lines = [
    '### Loopback setup with the pool',
    '',
    `p50 over ${setup.count} after ${setup.warmup} (median of rounds, range): plaintext ${median(p50s('plain')).toFixed(3)} ms${spread(p50s('plain'), 3)}, ` +
      `TLS ${median(p50s('tls')).toFixed(3)} ms${spread(p50s('tls'), 3)}, direct ${median(direct).toFixed(3)} ms. ` +
      `TLS / plaintext ${median(tls).toFixed(2)}x${spread(tls, 2)} (target <= 1.3x: ${met(median(tls) <= 1.3)})`,
    '',
  ];
  if (setup.rows.some((x) => x.mux)) {
    const muxTls = ratios('tls', true);
    const muxPlain = ratios('plain', true);
    lines.push(
      `Multiplexed (\`--mux-first\`): plaintext ${median(p50s('plain', true)).toFixed(3)} ms${spread(p50s('plain', true), 3)} ` +
        `(${median(muxPlain).toFixed(2)}x plaintext with the pool), TLS ${median(p50s('tls', true)).toFixed(3)} ms${spread(p50s('tls', true), 3)} ` +
        `(${median(muxTls).toFixed(2)}x${spread(muxTls, 2)} plaintext with the pool: ${met(median(muxTls) <= 1.3)})`,
      '',
    );
  }
  return lines;
}

function graceLines(grace: NonNullable<TlsReport['grace']>): string[] {
  return [
    '### First-byte grace (loopback, secret on both ends, `--pool 0`)',
    '',
    '| Client and server | Time to listening | Setup p50 |',
    '|---|---|---|',
    ...grace.rows.map((g) => `| ${g.name} | ${g.listenMs.toFixed(0)} ms | ${g.setupP50Ms.toFixed(2)} ms (${g.count}) |`),
    '',
  ];
}

/** The report as markdown tables, each target with `met` or `missed`. */
export function formatReport(r: TlsReport): string {
  const lines = ['', '### Bulk (loopback, iperf3)', '', ...bulkTable(r.bulk), ''];
  if (r.setup) lines.push(...setupLines(r.setup));
  if (r.grace) lines.push(...graceLines(r.grace));
  lines.push('### Over the 20 ms link', '');
  if ('skipped' in r.wan) return [...lines, `skipped: ${r.wan.skipped}`].join('\n');
  const { rttMs, listenMs, ttfb } = r.wan;
  lines.push(`RTT (ping p50) ${rttMs.toFixed(2)} ms.`, '', '| Tunnel | TTFB p50 / p90 | In RTTs (p50) |', '|---|---|---|');
  for (const t of ttfb)
    lines.push(`| ${LABELS[t.flavor]}, pool ${t.pool} | ${t.p50Ms.toFixed(1)} / ${t.p90Ms.toFixed(1)} ms | ${t.p50Rtts.toFixed(2)} |`);
  const tlsPool = ttfb.find((t) => t.flavor === 'tls' && t.pool > 0);
  const [plainL, tlsL] = [median(listenMs.plain), median(listenMs.tls)];
  lines.push(
    '',
    `TLS with the pool: ${tlsPool?.p50Rtts.toFixed(2)} RTT (target <= 1.3: ${met((tlsPool?.p50Rtts ?? Infinity) <= 1.3)}).`,
    `Time to listening, median of ${listenMs.tls.length}: plaintext ${plainL.toFixed(1)} ms${spread(listenMs.plain, 1)}, ` +
      `TLS ${tlsL.toFixed(1)} ms${spread(listenMs.tls, 1)}: +${(tlsL - plainL).toFixed(1)} ms = ${((tlsL - plainL) / rttMs).toFixed(2)} RTT ` +
      `(target <= +1 RTT: ${met(tlsL <= plainL + rttMs)}).`,
  );
  return lines.join('\n');
}
