/**
 * No message of the config reader shows a secret: `secret` and `secret_file` of every
 * wrong type (numbers in every TOML spelling, arrays, tables, inline tables, booleans,
 * dates), at the top, in a tunnel, as dotted keys, next to other wrong keys, and a good
 * secret next to mistakes elsewhere. Each message is searched for the value as written
 * and as parsed (`0x...` would print in decimal). Then the real CLI, at start.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../src/cli/config.js';
import { BoreProcess } from './helpers/procs.js';

const DIR = mkdtempSync(join(tmpdir(), 'bore-config-secret-'));
after(() => rmSync(DIR, { recursive: true, force: true }));
const SECRET = '86753091';

/** A wrong value for a secret (TOML text) and what would give it away in a message. */
interface Wrong {
  toml: string;
  needles: string[];
}

const WRONG: Wrong[] = [
  { toml: SECRET, needles: [SECRET] },
  { toml: `-${SECRET}`, needles: [SECRET] },
  { toml: `+${SECRET}`, needles: [SECRET] },
  { toml: `${SECRET.slice(0, 4)}_${SECRET.slice(4)}`, needles: [SECRET, SECRET.slice(0, 4)] },
  { toml: `${SECRET}.25`, needles: [SECRET] },
  { toml: `${SECRET}e3`, needles: [SECRET] },
  { toml: `0x${SECRET}`, needles: [SECRET, String(parseInt(SECRET, 16))] },
  { toml: `0o${SECRET.replace(/[89]/g, '7')}`, needles: [SECRET.replace(/[89]/g, '7'), String(parseInt(SECRET.replace(/[89]/g, '7'), 8))] },
  { toml: `0b${parseInt(SECRET, 10).toString(2)}`, needles: [SECRET, parseInt(SECRET, 10).toString(2)] },
  { toml: `[${SECRET}]`, needles: [SECRET] },
  { toml: `["${SECRET}"]`, needles: [SECRET] },
  { toml: `[["${SECRET}", ${SECRET}]]`, needles: [SECRET] },
  { toml: `{ value = "${SECRET}" }`, needles: [SECRET] },
  { toml: `{ value = ${SECRET}, other = [${SECRET}] }`, needles: [SECRET] },
  { toml: 'true', needles: [] },
  { toml: 'false', needles: [] },
  { toml: '1986-07-09T12:30:00Z', needles: ['1986', '07-09', '12:30'] },
  { toml: '1986-07-09', needles: ['1986', '07-09'] },
  { toml: '12:30:59', needles: ['12:30'] },
  { toml: 'inf', needles: ['Infinity', 'inf'] },
  { toml: 'nan', needles: ['NaN', 'nan'] },
];

/** Config files that put `value` where a secret goes, alone and among other mistakes. */
function files(key: 'secret' | 'secret_file', value: string): string[] {
  const top = `to = "127.0.0.1"`;
  const web = '[tunnels.web]\nlocal_port = 3000';
  return [
    `${top}\n${key} = ${value}\n${web}`,
    `${top}\n${web}\n${key} = ${value}`,
    `${top}\n${web}\n${key} = ${value}\n[tunnels.api]\nlocal_port = 3001\n${key} = ${value}`,
    `${top}\ntunnels.web.local_port = 3000\ntunnels.web.${key} = ${value}`,
    `${top}\ntunnels = { web = { local_port = 3000, ${key} = ${value} } }`,
    // Wrong types of other keys next to it.
    `to = 5\ncontrol_port = "x"\n${key} = ${value}\npool = -1\n${web}\nlocal_host = 7`,
    `${top}\nsecrt = 1\n${key} = ${value}\n[tunnels.web]\nlocal_port = "3000"\nremote_port = 70000`,
    `${top}\nsecret = ${value}\nsecret_file = ${value}\n${web}`,
    `${top}\n${key} = ${value}\nheartbeat_timeout = 0\n[tunnels.web]\nretry_first = "yes"`,
  ];
}

/** Every message of the config reader for `text` (nothing if it is valid). */
function messagesOf(text: string, name: string): string[] {
  const path = join(DIR, `${name}.toml`);
  writeFileSync(path, text);
  try {
    loadConfig(path);
    return [];
  } catch (err) {
    assert.ok(err instanceof ConfigError, `${String(err)} for:\n${text}`);
    return [err.message];
  }
}

test('no message of the config reader shows a wrong secret or secret_file value', () => {
  let checked = 0;
  for (const key of ['secret', 'secret_file'] as const) {
    WRONG.forEach((wrong, i) => {
      files(key, wrong.toml).forEach((text, j) => {
        const messages = messagesOf(text, `${key}-${i}-${j}`);
        assert.ok(messages.length > 0, `accepted:\n${text}`);
        for (const message of messages) {
          checked++;
          for (const needle of wrong.needles) {
            assert.ok(!message.includes(needle), `${JSON.stringify(needle)} in ${JSON.stringify(message)}, from:\n${text}`);
          }
        }
      });
    });
  }
  assert.ok(checked >= WRONG.length * 2 * 9);
});

test('a wrong secret says what type it is, and where', () => {
  const at = (text: string) => messagesOf(text, 'type')[0]!.replace(/^.*?:(\d+): /, '$1: ');
  const web = '[tunnels.web]\nlocal_port = 3000';
  assert.equal(at(`to = "h"\nsecret = ${SECRET}\n${web}`), '2: secret must be a string in quotes, got a number');
  assert.equal(at(`to = "h"\nsecret = [1]\n${web}`), '2: secret must be a string in quotes, got an array');
  assert.equal(at(`to = "h"\nsecret = { a = 1 }\n${web}`), '2: secret must be a string in quotes, got a table');
  assert.equal(at(`to = "h"\nsecret = true\n${web}`), '2: secret must be a string in quotes, got a boolean');
  assert.equal(at(`to = "h"\nsecret = 1986-07-09\n${web}`), '2: secret must be a string in quotes, got a date');
  assert.equal(at(`to = "h"\nsecret = ""\n${web}`), '2: secret must not be empty');
  assert.equal(at(`to = "h"\n${web}\nsecret_file = 5`), '4: tunnels.web.secret_file must be a path in quotes, got a number');
});

test('a good secret is not shown by the mistakes around it', () => {
  const good = `"${SECRET}"`;
  for (const [i, text] of files('secret', good).slice(5, 7).entries()) {
    const [message] = messagesOf(text, `good-${i}`);
    assert.ok(message !== undefined && !message.includes(SECRET), message);
  }
});

test('bore up with an unquoted secret: status 2, the type named, the value nowhere', { timeout: 30_000 }, async () => {
  const path = join(DIR, 'cli.toml');
  writeFileSync(path, `to = "127.0.0.1"\nsecret = ${SECRET}\n[tunnels.web]\nlocal_port = 3000\n`);
  const p = new BoreProcess(['up', '--config', path]);
  assert.equal(await p.exited, 2, p.output);
  assert.match(p.output, /cli\.toml:2: secret must be a string in quotes, got a number/);
  assert.ok(!p.output.includes(SECRET), p.output);
});
