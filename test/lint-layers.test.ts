/**
 * The lint rules that keep the tree's layers honest, proved on planted code: the
 * repository's own eslint.config.js, copied into a scratch project laid out like this
 * one, must fail a two-file import cycle and an import from a folder into a layer above
 * it, and pass the same files once the offence is gone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** A scratch project with the repository's lint config and `files` (path to text); returns the messages by file. */
function lint(files: Record<string, string>): Record<string, string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bore-lint-'));
  copyFileSync(join(ROOT, 'eslint.config.js'), join(dir, 'eslint.config.js'));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  const tsconfig = {
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, types: [] },
    include: ['src', 'machines'],
  };
  for (const name of ['tsconfig.json', 'tsconfig.test.json']) writeFileSync(join(dir, name), JSON.stringify(tsconfig));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  // ESLint's CLI in a process of its own: under this runner's TypeScript loader the
  // config file's .ts matching goes astray.
  const run = spawnSync(process.execPath, [join(ROOT, 'node_modules/eslint/bin/eslint.js'), '--format', 'json', ...Object.keys(files)], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 60_000,
  });
  rmSync(dir, { recursive: true, force: true });
  const results = JSON.parse(run.stdout) as { filePath: string; messages: { ruleId: string | null; message: string }[] }[];
  return Object.fromEntries(results.map((r) => [r.filePath.slice(dir.length + 1), r.messages.map((m) => `${m.ruleId}: ${m.message}`)]));
}

test('a planted two-file import cycle fails lint; the same files without it pass', { timeout: 60_000 }, () => {
  const cycle = lint({
    'src/log/a.ts': "import { b } from './b.js';\nexport const a = (): number => b() + 1;\n",
    'src/log/b.ts': "import { a } from './a.js';\nexport const b = (): number => 1;\nexport const c = (): number => a();\n",
  });
  assert.deepEqual(cycle['src/log/a.ts'], ['import-x/no-cycle: Dependency cycle detected']);
  assert.deepEqual(cycle['src/log/b.ts'], ['import-x/no-cycle: Dependency cycle detected']);
  const fine = lint({
    'src/log/a.ts': "import { b } from './b.js';\nexport const a = (): number => b() + 1;\n",
    'src/log/b.ts': 'export const b = (): number => 1;\n',
  });
  assert.deepEqual(fine, { 'src/log/a.ts': [], 'src/log/b.ts': [] });
});

test('an import from a folder into a layer above it fails lint; downward and within a layer pass', { timeout: 60_000 }, () => {
  const result = lint({
    'src/run/runner.ts':
      "import { socket } from '../net/socket.js';\nimport { page } from '../inspector/page.js';\nexport const runner = socket + page;\n",
    'src/inspector/page.ts': 'export const page = 1;\n',
    'src/net/socket.ts':
      "import { runner } from '../run/runner.js';\nexport const socket = 1;\nexport const late = (): number => runner;\n",
    'machines/chart.ts': "import { cli } from '../src/cli/cli.js';\nexport const chart = cli;\n",
    'src/cli/cli.ts': "import { runner } from '../run/runner.js';\nexport const cli = runner;\n",
  });
  assert.deepEqual(
    result['src/run/runner.ts'],
    ['import-x/no-cycle: Dependency cycle detected'],
    'the only fault of runner is its cycle with net',
  );
  assert.ok(
    result['src/net/socket.ts']!.some((m) => /no-restricted-imports: .*src\/net sits below/.test(m)),
    result['src/net/socket.ts']!.join('\n'),
  );
  assert.ok(result['machines/chart.ts']!.some((m) => /no-restricted-imports: .*machines sits below .*src\/cli/.test(m)));
  assert.deepEqual(result['src/cli/cli.ts'], [], 'the CLI imports the runner: downward');
  assert.deepEqual(result['src/inspector/page.ts'], []);
});

test(
  "a value import of Node's crypto, tls or util fails lint; a type import and src/protocol/on-demand.ts pass",
  { timeout: 60_000 },
  () => {
    const result = lint({
      'src/server/ids.ts': "import { randomUUID } from 'node:crypto';\nexport const id = (): string => randomUUID();\n",
      'src/client/secure.ts': "import tls from 'node:tls';\nexport const connect = tls.connect;\n",
      'src/options/show.ts': "import { inspect } from 'node:util';\nexport const show = (value: unknown): string => inspect(value);\n",
      'src/client/types.ts': "import type { TLSSocket } from 'node:tls';\nexport type Secure = TLSSocket;\n",
      'src/protocol/on-demand.ts': "import { randomUUID } from 'node:crypto';\nexport const randomId = (): string => randomUUID();\n",
    });
    for (const file of ['src/server/ids.ts', 'src/client/secure.ts', 'src/options/show.ts']) {
      assert.ok(
        result[file]!.some((m) => /no-restricted-imports: .*on-demand\.ts/.test(m)),
        `${file}: ${result[file]!.join('\n')}`,
      );
    }
    // The scratch project has no Node types, so only this rule's messages count here.
    const restricted = (file: string) => result[file]!.filter((m) => m.includes('no-restricted-imports'));
    assert.deepEqual(restricted('src/client/types.ts'), []);
    assert.deepEqual(restricted('src/protocol/on-demand.ts'), []);
  },
);

test('the performance global fails lint in the sources (it loads perf_hooks), not in the browser page', { timeout: 60_000 }, () => {
  const result = lint({
    'src/server/clock.ts': 'export const now = (): number => performance.now();\n',
    'src/inspector/page/clock.ts': 'export const now = (): number => performance.now();\n',
  });
  assert.ok(
    result['src/server/clock.ts']!.some((m) => /no-restricted-globals: .*monotonicMs/.test(m)),
    result['src/server/clock.ts']!.join('\n'),
  );
  assert.deepEqual(
    result['src/inspector/page/clock.ts']!.filter((m) => m.includes('no-restricted-globals')),
    [],
  );
});
