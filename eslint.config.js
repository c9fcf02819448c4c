// Lint: typescript-eslint's type-checked rules, import cycles, and the layers of the
// code, one folder each (README, "Layout"), bottom to top:
//   src/protocol
//   src/net, src/log, src/options, src/system   (shared plumbing)
//   src/client, src/server
//   machines
//   src/run, src/inspector
//   src/cli
// A folder imports only from its own layer or below; `src/index.ts` (the library) takes
// from every layer but the CLI. The TypeScript resolver lets `import-x/no-cycle` see the
// real graph (the sources import the `.js` names of `.ts` files); test/lint-layers.test.ts
// plants a cycle and an upward import and checks that lint fails on each.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { importX } from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

/** The layers, bottom first: the folders of each. */
const LAYERS = [
  ['src/protocol'],
  ['src/net', 'src/log', 'src/options', 'src/system'],
  ['src/client', 'src/server'],
  ['machines'],
  ['src/run', 'src/inspector'],
  ['src/cli'],
];

/** Rules beside the layers': neighbours in one layer that stay apart. */
const APART = {
  'src/server': [['src/client'], 'the server does not depend on the client.'],
  'src/client': [['src/server'], 'the client does not depend on the server.'],
  'src/inspector': [['machines', 'src/client', 'src/server', 'src/run'], 'the inspector draws whatever machine it is given.'],
};

/** Import patterns (matched against the import's text, e.g. `../run/tunnel.js`) of a folder's modules. */
const patternsOf = (folder) => [`**/${folder.split('/').pop()}/*`, `**/${folder.split('/').pop()}/**`];

/** One `no-restricted-imports` rule per folder: every folder above its layer, and those it stays apart from. */
function layerRules() {
  const rules = LAYERS.flatMap((folders, i) => {
    const above = LAYERS.slice(i + 1).flat();
    return folders.map((folder) => {
      const patterns = [];
      if (above.length > 0) {
        patterns.push({
          group: above.flatMap(patternsOf),
          message: `a layer imports only from its own layer or below: ${folder} sits below ${above.join(', ')}.`,
        });
      }
      const apart = APART[folder];
      if (apart) patterns.push({ group: apart[0].flatMap(patternsOf), message: apart[1] });
      return { files: [`${folder}/**`], rules: { 'no-restricted-imports': ['error', { patterns }] } };
    });
  });
  rules.push({
    files: ['src/index.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: patternsOf('src/cli'), message: 'the library does not include the CLI.' }] },
      ],
    },
  });
  return rules.filter((r) => r.rules['no-restricted-imports'][1].patterns.length > 0);
}

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'test-artifacts/', 'bench/results/', 'src/inspector/page/app.generated.ts'] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    settings: {
      // Without these, import-x parses no .ts file and the cycle rule sees no graph.
      'import-x/resolver-next': [createTypeScriptImportResolver()],
      'import-x/extensions': ['.ts', '.js', '.mjs'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
    },
    rules: {
      'import-x/no-cycle': 'error',
      // CONTRIBUTING's standard: one concern per module, no file over 400 lines.
      'max-lines': ['error', { max: 400 }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // A socket's 'end' or 'close' listener attached late never runs: src/net/socket-events.ts.
      'no-restricted-syntax': [
        'error',
        {
          selector:
            'CallExpression[callee.property.name=/^(on|once|addListener|prependListener|prependOnceListener)$/][arguments.0.value=/^(end|close)$/]',
          message:
            "A late 'end'/'close' listener never runs: use onEnd/onClose from src/net/socket-events.ts (or check the state first and disable this rule on the line, saying why).",
        },
        {
          selector: "CallExpression[callee.name='once'][arguments.1.value=/^(end|close)$/]",
          message: "once(socket, 'end'|'close') never settles when the event is past: use onEnd/onClose from src/net/socket-events.ts.",
        },
      ],
    },
  },
  {
    // The inspector page is browser code with its own project (DOM types, no Node types).
    files: ['src/inspector/page/**'],
    languageOptions: { parserOptions: { project: './src/inspector/page/tsconfig.json' } },
  },
  ...layerRules(),
  {
    // Node's crypto and tls are taken when first used (src/protocol/on-demand.ts): a
    // value import loads them at every start, some 15 ms and 4 MB (issue 23). Types are free.
    files: ['src/**/*.ts', 'machines/**/*.ts'],
    ignores: ['src/protocol/on-demand.ts', 'src/inspector/page/**'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: ['node:crypto', 'crypto', 'node:tls', 'tls', 'node:util', 'util'].map((name) => ({
            name,
            allowTypeImports: true,
            message:
              'take it from src/protocol/on-demand.ts (nodeCrypto(), nodeTls(), nodeUtil()): an import loads it (or, for util, its lazy exports) at every start.',
          })),
        },
      ],
    },
  },
  {
    // The `performance` global loads perf_hooks at its first read (0.6 MB of an idle client).
    files: ['src/**/*.ts', 'machines/**/*.ts'],
    ignores: ['src/inspector/page/**'],
    rules: {
      'no-restricted-globals': [
        'error',
        { name: 'performance', message: 'use monotonicMs() from src/protocol/on-demand.ts: the global loads perf_hooks (issue 23).' },
      ],
    },
  },
  {
    files: ['test/**', 'bench/**', 'scripts/**', 'examples/**'],
    rules: {
      'no-restricted-syntax': 'off',
      '@typescript-eslint/no-floating-promises': 'off',
      // Tests pass methods around as values (assert.throws(fn)) and match padded log levels.
      '@typescript-eslint/unbound-method': 'off',
      // Tests read JSON bodies and page values and assert on their shape field by field.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      'no-regex-spaces': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
