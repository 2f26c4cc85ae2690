// Bundles: the CLI, the core library, the VS Code extension (vscode external) and the
// metadata editor webview (browser, its own bundle). `--production` minifies.
import { existsSync, readFileSync } from 'node:fs';
import { build } from 'esbuild';

const production = process.argv.includes('--production');
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
};

const builds = [
  build({ ...node, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' } }),
  build({ ...node, entryPoints: ['src/core/index.ts'], outfile: 'dist/core.js' }),
  build({ ...node, entryPoints: ['src/extension/extension.ts'], outfile: 'dist/extension.js', external: ['vscode'] }),
];
if (existsSync('webview/main.ts')) {
  builds.push(build({
    bundle: true,
    platform: 'browser',
    target: 'es2022',
    format: 'esm',
    sourcemap: !production,
    minify: production,
    logLevel: 'warning',
    entryPoints: ['webview/main.ts'],
    outdir: 'dist/webview',
    loader: { '.ttf': 'file', '.woff': 'file', '.woff2': 'file' },
  }));
}
await Promise.all(builds);
