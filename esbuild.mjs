// Bundles: the CLI, the core library, the VS Code extension (vscode external), the hashing
// worker the three load from beside them (dist/hashworker.js) and the metadata editor
// webview (browser, its own bundle). `--production` minifies.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const production = process.argv.includes('--production');
// Packaging the .vsix rebuilds only what it ships, so a test run's dist/cli.js is never swapped mid-run.
const extensionOnly = process.argv.includes('--extension-only');
const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
const node = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
  define: { OMLMD_VERSION: JSON.stringify(version) },
  // better-sqlite3 is a native module, loaded from node_modules at run time; pg-native is an optional pg backend we do not use.
  external: ['better-sqlite3', 'pg-native'],
};

// The search server's fastify (1.7 MB) is a bundle of its own, required only when `omlmd serve`
// starts: inside dist/cli.js it would add its parse time to every command's start.
const serverDeps = {
  name: 'server-deps',
  setup(b) {
    b.onResolve({ filter: /^\.\/http-deps$/ }, (args) => (args.importer.endsWith(join('src', 'server', 'server.ts')) ? { path: './server-deps.js', external: true } : undefined));
  },
};

const builds = [
  build({ ...node, entryPoints: ['src/extension/extension.ts'], outfile: 'dist/extension.js', external: ['vscode', ...node.external] }),
  build({ ...node, entryPoints: ['src/core/transfer/hashworker.ts'], outfile: 'dist/hashworker.js' }),
];
if (!extensionOnly) {
  builds.push(
    build({ ...node, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' }, plugins: [serverDeps] }),
    build({ ...node, entryPoints: ['src/server/http-deps.ts'], outfile: 'dist/server-deps.js' }),
    build({ ...node, entryPoints: ['src/core/index.ts'], outfile: 'dist/core.js' }),
  );
}
if (existsSync('webview/main.ts')) {
  const { buildWebview } = await import('./webview/build.mjs');
  builds.push(buildWebview({ production }));
}
await Promise.all(builds);
