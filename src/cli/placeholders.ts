/**
 * The placeholder of each flag's value, as `--help` and the usage errors show it
 * (`--to <HOST>`, `--heartbeat-timeout <SECONDS>`): from the option tables' ranges, the
 * few names a range cannot tell, and the CLI's own flags.
 */
import type { OptionSpec } from '../options/table.js';
import { TUNNEL_OPTIONS } from '../client/tunnel-options.js';
import { SERVER_OPTIONS } from '../server/options.js';

/** Flags whose value a range does not name: the CLI's own, and the tables' strings by meaning. */
const NAMED: Readonly<Record<string, string>> = {
  to: 'HOST',
  'local-host': 'HOST',
  'bind-addr': 'ADDR',
  'bind-tunnels': 'ADDR',
  'tls-fingerprint': 'sha256:HEX',
  'tls-acme': 'HOST',
  'acme-directory': 'URL',
  config: 'PATH',
  'secret-file': 'PATH',
  'drain-timeout': 'SECONDS',
  metrics: 'ADDR:PORT',
  'metrics-host': 'NAMES',
  inspect: 'PORT',
  'log-level': 'LEVEL',
  'log-format': 'FORMAT',
};

/** The table option whose flag (or alias) is `flag`, if any. */
function specOf(flag: string): OptionSpec | undefined {
  const tables: Readonly<Record<string, OptionSpec>>[] = [TUNNEL_OPTIONS, SERVER_OPTIONS];
  for (const table of tables) {
    for (const spec of Object.values(table)) if (spec.flag === flag || spec.alias === flag) return spec;
  }
  return undefined;
}

/** `<PLACEHOLDER>` of `flag` (without dashes); `''` for a flag that takes no value (or that no table or list knows). */
export function placeholderOf(flag: string): string {
  const spec = specOf(flag);
  const name = NAMED[spec?.flag ?? flag];
  if (name !== undefined) return `<${name}>`;
  // Its value may be left out: `--tls-self-signed` or `--tls-self-signed=DIR`.
  if (flag === 'tls-self-signed') return '[=DIR]';
  if (spec === undefined) return '';
  const range = spec?.rule.range;
  switch (range?.kind) {
    case 'boolean':
      return '';
    case 'integer':
      return range.port ? '<PORT>' : '<N>';
    case 'duration':
      return '<SECONDS>';
    case 'string':
      if (range.secret) return '<SECRET>';
      if (range.nonEmpty === 'a path') return '<PATH>';
      break;
    default:
  }
  // Otherwise the flag's last word: --acme-email <EMAIL>.
  return `<${(spec.flag ?? flag).split('-').at(-1)!.toUpperCase()}>`;
}
