// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** The core's parts, as folder or file names under src/core. */
const CORE = ['oci', 'model', 'credentials', 'config', 'transfer', 'client', 'lineage', 'search'];
/** The faces, as folder names under src/ (and webview/). */
const FACES = ['cli', 'extension', 'server', 'webview'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.vscode-test/**', 'out/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', URL: 'readonly', __dirname: 'readonly' } },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The core is a library for the CLI, CI and the extension: it must run without VS Code.
    files: ['src/core/**/*.ts', 'src/cli/**/*.ts', 'webview/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: 'vscode', message: 'src/core, src/cli and webview/ must not depend on VS Code.' }] }],
      'no-console': 'error',
    },
  },
  { files: ['src/cli/**/*.ts', 'test/**/*.ts', 'bench/**/*', 'scripts/**/*', 'esbuild.mjs'], rules: { 'no-console': 'off' } },
  // The layers of docs/architecture.md, bottom up: each may import only what is below it.
  // (ESLint keeps one setting of a rule per file, the last that matches: so each group below
  // lists everything its files must not import, and the groups do not overlap.)
  ...layers([
    [['src/core/errors.ts', 'src/core/units.ts', 'src/core/home.ts'], ['util', ...CORE], FACES, true],
    [['src/core/util/**/*.ts'], CORE, FACES, true],
    [['src/core/oci/**/*.ts'], ['model', 'credentials', 'config', 'transfer', 'client', 'lineage', 'search', 'home'], FACES, true],
    [['src/core/model/**/*.ts', 'src/core/credentials/**/*.ts', 'src/core/config.ts'], ['transfer', 'client', 'lineage', 'search'], FACES, true],
    [['src/core/transfer/**/*.ts'], ['client', 'lineage', 'search'], FACES, true],
    [['src/core/client.ts'], ['lineage', 'search'], FACES, true],
    [['src/core/lineage/**/*.ts'], ['search'], FACES, true],
    [['src/core/search/**/*.ts'], ['lineage'], FACES, true],
    [['src/core/index.ts'], [], FACES, true],
    [['src/cli/**/*.ts'], [], ['extension', 'webview'], true],
    [['src/server/**/*.ts'], [], ['cli', 'extension', 'webview'], true],
    [['src/extension/**/*.ts'], [], ['cli', 'server'], false],
  ]),
  {
    files: ['webview/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: [{ name: 'vscode', message: 'The webview runs in a browser.' }], patterns: [{ group: ['**/src/*', '!**/src/core', '**/src/core/*', '!**/src/core/model'], message: 'The webview may import only the pure model code of the core.' }] }] },
  },
);


/** One no-restricted-imports setting per group: the core parts above it, the faces it must not use, and vscode. */
function layers(groups) {
  return groups.map(([files, above, faces, noVscode]) => ({
    files,
    rules: {
      'no-restricted-imports': ['error', {
        paths: noVscode ? [{ name: 'vscode', message: 'Only src/extension depends on VS Code (docs/architecture.md).' }] : [],
        patterns: [
          ...(above.length > 0 ? [{ group: above.flatMap((l) => [`**/core/${l}`, `**/core/${l}/*`, `../${l}`, `../${l}/*`, `./${l}`, `./${l}/*`, `../../${l}`, `../../${l}/*`]), message: 'This layer sits below the one imported (docs/architecture.md).' }] : []),
          { group: faces.flatMap((f) => [`**/${f}`, `**/${f}/*`]), message: 'A layer must not import this face (docs/architecture.md).' },
        ],
      }],
    },
  }));
}
