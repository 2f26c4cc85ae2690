// @ts-check
import path from 'node:path';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The layer of a file under src/ or webview/, by path: its rank (lower imports nothing
 * higher) and its name. Faces have no rank among each other: what each may import is
 * listed in FACE_IMPORTS.
 */
const RANKS = [
  [/^src\/core\/(errors|units|home)\.ts$/, 0, 'core primitives'],
  [/^src\/core\/util\//, 1, 'core/util'],
  [/^src\/core\/oci\//, 2, 'core/oci'],
  [/^src\/core\/(model|credentials|crypt)\/|^src\/core\/config\.ts$/, 3, 'core/model, credentials, config'],
  [/^src\/core\/transfer\//, 4, 'core/transfer'],
  [/^src\/core\/client\.ts$/, 5, 'core/client'],
  [/^src\/core\/lineage\//, 6, 'core/lineage'],
  [/^src\/core\/search\//, 6, 'core/search'],
  [/^src\/core\/trust\//, 7, 'core/trust'],
  [/^src\/core\/index\.ts$/, 8, 'core/index'],
];
const FACES = { 'src/cli/': 'cli', 'src/extension/': 'extension', 'src/server/': 'server', 'webview/': 'webview' };
/** What a face may import besides the core (webview: only src/core/model). */
const FACE_IMPORTS = { cli: ['server'], extension: ['webview'], server: [], webview: [] };

function layerOf(rel) {
  for (const [re, rank, name] of RANKS) if (re.test(rel)) return { rank, name };
  for (const [prefix, face] of Object.entries(FACES)) if (rel.startsWith(prefix)) return { face, name: face };
  return undefined;
}

/** The import direction of docs/architecture.md, on resolved relative paths. */
const layersRule = {
  meta: { type: 'problem', schema: [] },
  create(context) {
    const root = context.cwd;
    const file = path.relative(root, context.filename).split(path.sep).join('/');
    const from = layerOf(file);
    if (!from) return {};
    const check = (node, source) => {
      if (typeof source !== 'string' || !source.startsWith('.')) return;
      const target = path.relative(root, path.resolve(path.dirname(context.filename), source)).split(path.sep).join('/');
      const candidates = [target, `${target}.ts`, `${target}/index.ts`];
      const to = candidates.map(layerOf).find(Boolean);
      if (!to) return;
      let why;
      if (from.face !== undefined && to.face === from.face) return;
      if (from.face === undefined && to.face !== undefined) why = `the core never imports a face (${to.name})`;
      else if (from.face === 'webview' && to.face === undefined && !/^src\/core\/model\//.test(target)) why = 'the webview runs in a browser: it may import only src/core/model';
      else if (from.face !== undefined && to.face !== undefined && to.face !== from.face && !FACE_IMPORTS[from.face].includes(to.face)) why = `${from.name} must not import ${to.name}`;
      else if (from.rank !== undefined && to.rank !== undefined && (to.rank > from.rank || (to.rank === from.rank && to.name !== from.name))) why = `${from.name} sits below ${to.name}`;
      if (why) context.report({ node, message: `${source}: ${why} (docs/architecture.md).` });
    };
    return {
      ImportDeclaration: (n) => check(n, n.source.value),
      ExportNamedDeclaration: (n) => n.source && check(n, n.source.value),
      ExportAllDeclaration: (n) => check(n, n.source.value),
      ImportExpression: (n) => n.source.type === 'Literal' && check(n, n.source.value),
    };
  },
};

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
  { files: ['src/**/*.ts', 'webview/**/*.ts'], plugins: { omlmd: { rules: { layers: layersRule } } }, rules: { 'omlmd/layers': 'error' } },
  {
    // #15: what a notification says is translated; a literal there would show in English only.
    files: ['src/extension/**/*.ts'],
    rules: {
      'no-restricted-syntax': ['error', ...['Literal', 'TemplateLiteral'].map((type) => ({
        selector: `CallExpression[callee.property.name=/^show(Information|Warning|Error)Message$/] > ${type}.arguments:first-child`,
        message: "A notification's message goes through vscode.l10n.t('Text with {0}', value) (model/l10n.ts's l10n.t where vscode is not imported), not a string or template literal.",
      }))],
    },
  },
  {
    files: ['src/core/**/*.ts', 'src/cli/**/*.ts', 'src/server/**/*.ts', 'webview/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: [{ name: 'vscode', message: 'Only src/extension depends on VS Code (docs/architecture.md).' }] }] },
  },
);
