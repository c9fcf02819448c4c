/**
 * Two network namespaces joined by a veth pair (server 10.201.0.1, client 10.201.0.2),
 * for tests and benchmarks of real packet loss. Needs root and iproute2; packets are
 * dropped with iptables when installed, else with a blackhole route.
 */
import { spawnSync } from 'node:child_process';

/** Address of the server side. */
export const SERVER_IP = '10.201.0.1';
/** Address of the client side. */
export const CLIENT_IP = '10.201.0.2';

function sh(cmd: string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`.trim() };
}

function must(cmd: string[]): void {
  const r = sh(cmd);
  if (!r.ok) throw new Error(`${cmd.join(' ')}: ${r.out}`);
}

/** A server namespace and a client namespace, linked. */
export interface NetnsPair {
  server: string;
  client: string;
  /** Command prefix that runs a program in namespace `ns`. */
  launcher(ns: string): string[];
  /** Makes the client's namespace silently drop everything; returns how it did it. */
  dropClientTraffic(): string;
  /** Whether `port` can be bound on {@link SERVER_IP} inside the server namespace. */
  serverPortIsFree(port: number): boolean;
  /** Deletes both namespaces (and so the veth pair). */
  destroy(): void;
}

/**
 * Creates the pair with names derived from `tag` (keep it short, e.g. the pid). Returns
 * a string saying why instead, where namespaces cannot be created.
 */
export function createNetnsPair(tag: string): NetnsPair | string {
  if (process.platform !== 'linux') return 'network namespaces are Linux-only';
  const server = `bore_srv_${tag}`;
  const client = `bore_cli_${tag}`;
  const vs = `bs${tag}`.slice(0, 15);
  const vc = `bc${tag}`.slice(0, 15);
  const add = sh(['ip', 'netns', 'add', server]);
  if (!add.ok) return `cannot create a network namespace (needs root and iproute2): ${add.out}`;
  const destroy = () => {
    for (const ns of [server, client]) sh(['ip', 'netns', 'del', ns]);
  };
  try {
    must(['ip', 'netns', 'add', client]);
    must(['ip', 'link', 'add', vs, 'type', 'veth', 'peer', 'name', vc]);
    must(['ip', 'link', 'set', vs, 'netns', server]);
    must(['ip', 'link', 'set', vc, 'netns', client]);
    must(['ip', '-n', server, 'addr', 'add', `${SERVER_IP}/24`, 'dev', vs]);
    must(['ip', '-n', client, 'addr', 'add', `${CLIENT_IP}/24`, 'dev', vc]);
    for (const [ns, dev] of [
      [server, vs],
      [client, vc],
    ] as const) {
      must(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
      must(['ip', '-n', ns, 'link', 'set', dev, 'up']);
    }
  } catch (err) {
    destroy();
    sh(['ip', 'link', 'del', vs]);
    return (err as Error).message;
  }
  return {
    server,
    client,
    launcher: (ns) => ['ip', 'netns', 'exec', ns],
    dropClientTraffic() {
      if (sh(['ip', 'netns', 'exec', client, 'iptables', '-A', 'OUTPUT', '-j', 'DROP']).ok) {
        must(['ip', 'netns', 'exec', client, 'iptables', '-A', 'INPUT', '-j', 'DROP']);
        return 'iptables DROP';
      }
      // Every packet the client's kernel would send to the server (ACKs, FIN, RST) is
      // discarded by a more specific blackhole route.
      must(['ip', '-n', client, 'route', 'add', 'blackhole', `${SERVER_IP}/32`]);
      return 'blackhole route';
    },
    serverPortIsFree(port) {
      const script = `require('net').createServer().once('error',()=>process.exit(1)).listen({port:${port},host:'${SERVER_IP}',exclusive:true},()=>process.exit(0))`;
      return sh(['ip', 'netns', 'exec', server, process.execPath, '-e', script]).ok;
    },
    destroy,
  };
}
