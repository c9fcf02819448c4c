/**
 * The systemd units against the package as installed: `npm pack`, then `npm install -g`
 * of the tarball with its prefix at `<root>/usr/local` (where a global install on most
 * systems puts `bore`), and `systemd-analyze verify --root=<root>` of each unit, which
 * looks ExecStart's bare `bore` up in the root's /usr/local/bin and /usr/bin as systemd
 * would. Before the install the same verify fails: the installed `bore` is what it finds.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT, UNITS, unitText } from './helpers/deploy-files.js';

const run = promisify(execFile);
const dir = mkdtempSync(path.join(tmpdir(), 'bore-install-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;
/** Where this system keeps systemd's own units (the targets the units name). */
const SYSTEM_UNITS = ['/usr/lib/systemd/system', '/lib/systemd/system'].find((d) => existsSync(path.join(d, 'multi-user.target')));

/**
 * A root for `systemd-analyze verify --root`: systemd's targets (the units' ordering and
 * `WantedBy=`), a stand-in for /bin/kill (bore-up's ExecReload), and the units under
 * etc/systemd/system (an instance for the template). Returns the units' paths.
 */
function makeRoot(root: string): string[] {
  const units = path.join(root, 'usr', 'lib', 'systemd', 'system');
  mkdirSync(units, { recursive: true });
  for (const f of readdirSync(SYSTEM_UNITS!).filter((f) => f.endsWith('.target'))) cpSync(path.join(SYSTEM_UNITS!, f), path.join(units, f));
  mkdirSync(path.join(root, 'bin'));
  writeFileSync(path.join(root, 'bin', 'kill'), '#!/bin/sh\n');
  chmodSync(path.join(root, 'bin', 'kill'), 0o755);
  const etc = path.join(root, 'etc', 'systemd', 'system');
  mkdirSync(etc, { recursive: true });
  return UNITS.map((name) => {
    const file = path.join(etc, name.replace('@.', '@web.'));
    writeFileSync(file, unitText(name));
    return file;
  });
}

function verify(root: string, files: string[]) {
  return spawnSync('systemd-analyze', ['verify', `--root=${root}`, ...files], { encoding: 'utf8', timeout: 60_000 });
}

test(
  'the units pass systemd-analyze verify with bore where npm install -g puts it',
  { skip: (!hasAnalyze && 'no systemd-analyze') || (!SYSTEM_UNITS && 'no systemd units directory (multi-user.target)') },
  async (t) => {
    const root = path.join(dir, 'root');
    const files = makeRoot(root);
    const before = verify(root, files);
    assert.notEqual(before.status, 0, 'verify passes without bore installed: the test proves nothing');
    assert.match(before.stderr, /Command bore is not executable/);

    // --ignore-scripts: pack what is built, without rebuilding dist/ under the other tests' feet.
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT });
    const tarball = path.join(dir, (JSON.parse(stdout) as { filename: string }[])[0]!.filename);
    const prefix = path.join(root, 'usr', 'local');
    const npmArgs = ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball];
    const install = spawnSync('npm', npmArgs, { encoding: 'utf8', timeout: 180_000 });
    if (install.status !== 0) {
      t.skip(`npm install -g of the tarball failed (no registry or cache for its dependencies?): ${install.stderr.trim().split('\n')[0]}`);
      return;
    }
    const bore = path.join(prefix, 'bin', 'bore');
    assert.ok(existsSync(bore), `${bore} after npm install -g --prefix ${prefix}`);
    const version = spawnSync(bore, ['--version'], { encoding: 'utf8' });
    const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(version.stdout.trim(), manifest.version, version.stderr);

    const installed = verify(root, files);
    assert.equal(installed.status, 0, installed.stderr);
    assert.equal(installed.stderr.trim(), '', installed.stderr);
  },
);
