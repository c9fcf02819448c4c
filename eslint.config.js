// Lint: typescript-eslint's type-checked rules, import cycles, and the layers of the
// code (README, "Layout"): protocol at the bottom, then the client's side effects and
// the server, then the machines, then the runner, library entry, inspector and CLI.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { importX } from 'eslint-plugin-import-x';

/** An import rule that forbids `groups` (globs of module paths) with `why`. */
function forbid(files, groups, why) {
  return {
    files,
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: groups, message: why }] }],
    },
  };
}

const ABOVE_PROTOCOL = [
  '**/client/*',
  '**/server/*',
  '**/inspector/*',
  '**/machines/*',
  '**/tunnel.js',
  '**/tunnels.js',
  '**/cli.js',
  '**/index.js',
  '**/log.js',
];
const RUNNER_AND_UP = ['**/tunnel.js', '**/tunnels.js', '**/config.js', '**/cli.js', '**/index.js', '**/inspector/*'];

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'test-artifacts/', 'bench/results/', 'src/inspector/page/app.generated.ts'] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    rules: {
      'import-x/no-cycle': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // A socket's 'end' or 'close' listener attached late never runs: src/socket-events.ts.
      'no-restricted-syntax': [
        'error',
        {
          selector:
            'CallExpression[callee.property.name=/^(on|once|addListener|prependListener|prependOnceListener)$/][arguments.0.value=/^(end|close)$/]',
          message:
            "A late 'end'/'close' listener never runs: use onEnd/onClose from src/socket-events.ts (or check the state first and disable this rule on the line, saying why).",
        },
        {
          selector: "CallExpression[callee.name='once'][arguments.1.value=/^(end|close)$/]",
          message: "once(socket, 'end'|'close') never settles when the event is past: use onEnd/onClose from src/socket-events.ts.",
        },
      ],
    },
  },
  {
    // The inspector page is browser code with its own project (DOM types, no Node types).
    files: ['src/inspector/page/**'],
    languageOptions: { parserOptions: { project: './src/inspector/page/tsconfig.json' } },
  },
  forbid(['src/protocol/**'], ABOVE_PROTOCOL, 'src/protocol is the bottom layer: it imports nothing above it.'),
  forbid(
    ['src/client/**', 'src/server/**', 'src/proxy.ts', 'src/socket-*.ts', 'src/address.ts', 'src/log.ts'],
    ['**/machines/*', ...RUNNER_AND_UP],
    'side effects sit below the machines, the runner, the inspector and the CLI.',
  ),
  forbid(['src/server/**'], ['**/client/*'], 'the server does not depend on the client.'),
  forbid(['machines/**'], RUNNER_AND_UP, 'machines import the actors below them, never the runner, inspector or CLI.'),
  forbid(
    ['src/inspector/**'],
    ['**/machines/*', '**/client/*', '**/server/*', '**/tunnel.js', '**/cli.js', '**/index.js'],
    'the inspector draws whatever machine it is given.',
  ),
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
