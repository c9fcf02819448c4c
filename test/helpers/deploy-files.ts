/**
 * Test helpers: the files under `deploy/` read as their tools read them. A Dockerfile's
 * instructions (comments dropped, continuations joined) and a systemd unit's keys and
 * command lines, with what systemd does around them emulated: `LoadCredential=` copies
 * a file into a credentials directory, `${CREDENTIALS_DIRECTORY}` and `$MAINPID` are
 * substituted, `/etc/bore/` is moved to a test directory.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The deploy files' directory. */
export const DEPLOY = path.join(ROOT, 'deploy');

/** Every systemd unit under `deploy/`. */
export const UNITS = ['bore-server.service', 'bore-local@.service', 'bore-up.service'];

/** A Dockerfile instruction: its keyword (upper case) and the rest of its logical line. */
export interface Instruction {
  keyword: string;
  args: string;
}

/** The instructions of a Dockerfile: comments dropped, `\` continuations joined as Docker does (nothing in their place). */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = pending === '' ? raw.trim() : raw;
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.trimStart().startsWith('#')) continue; // a comment inside a continuation
    if (line.trimEnd().endsWith('\\')) {
      pending += line.trimEnd().slice(0, -1);
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    const m = /^(\w+)\s*(.*)$/.exec(full);
    assert.ok(m, `not an instruction: ${full}`);
    out.push({ keyword: m[1]!.toUpperCase(), args: m[2]! });
  }
  assert.equal(pending, '', 'a continuation runs past the end of the file');
  return out;
}

/** The Dockerfile's instructions. */
export function dockerfile(): Instruction[] {
  return parseDockerfile(readFileSync(path.join(DEPLOY, 'Dockerfile'), 'utf8'));
}

/** The instructions of the Dockerfile's final stage (from its last FROM). */
export function finalStage(all: Instruction[] = dockerfile()): Instruction[] {
  return all.slice(all.map((i) => i.keyword).lastIndexOf('FROM'));
}

/** The healthcheck's command line (its exec form). */
export function healthcheckArgv(all: Instruction[] = dockerfile()): string[] {
  const hc = all.find((i) => i.keyword === 'HEALTHCHECK');
  assert.ok(hc, 'no HEALTHCHECK');
  return JSON.parse(hc.args.slice(hc.args.indexOf('CMD') + 3).trim()) as string[];
}

/** A unit file's keys (of every section): each key's values in order. */
export function parseUnit(text: string): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';') || line.startsWith('[')) continue;
    const eq = line.indexOf('=');
    assert.ok(eq > 0, `not a key=value line: ${line}`);
    const key = line.slice(0, eq).trim();
    keys.set(key, [...(keys.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return keys;
}

/** The unit `name` of `deploy/`, its `/etc/bore/` moved to `etc` (a directory ending in `/`) if given. */
export function unitText(name: string, etc?: string): string {
  const text = readFileSync(path.join(DEPLOY, name), 'utf8');
  return etc === undefined ? text : text.replaceAll('/etc/bore/', etc);
}

/** The unit `name`'s keys, its `/etc/bore/` moved to `etc` if given. */
export function unit(name: string, etc?: string): Map<string, string[]> {
  return parseUnit(unitText(name, etc));
}

/**
 * What systemd sets up for `keys` (a unit's) before ExecStart: each `LoadCredential=ID:PATH`
 * copied to `credentials/ID`, `Environment=` pairs, and `CREDENTIALS_DIRECTORY`.
 */
export function serviceEnv(keys: Map<string, string[]>, credentials: string): Record<string, string> {
  mkdirSync(credentials, { recursive: true, mode: 0o700 });
  for (const entry of keys.get('LoadCredential') ?? []) {
    const colon = entry.indexOf(':');
    const dest = path.join(credentials, entry.slice(0, colon));
    copyFileSync(entry.slice(colon + 1), dest);
  }
  const env: Record<string, string> = { CREDENTIALS_DIRECTORY: credentials };
  for (const line of keys.get('Environment') ?? []) {
    for (const pair of line.split(/\s+/)) {
      const eq = pair.indexOf('=');
      env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  }
  return env;
}

/**
 * The command line of the unit's `key` (`ExecStart`, `ExecReload`) as argv, with
 * `${NAME}` and `$NAME` of `vars` substituted as systemd does (words split on spaces).
 */
export function commandLine(keys: Map<string, string[]>, key: string, vars: Record<string, string> = {}): string[] {
  const line = keys.get(key)?.at(-1);
  assert.ok(line, `no ${key}`);
  return line
    .split(/\s+/)
    .map((word) => word.replace(/\$\{(\w+)\}|\$(\w+)/g, (all, braced?: string, bare?: string) => vars[(braced ?? bare)!] ?? all));
}
