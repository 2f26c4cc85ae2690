// Bundles: the CLI, the core library, the VS Code extension (vscode external), the hashing
// worker the three load from beside them (dist/hashworker.js) and the metadata editor
// webview (browser, its own bundle). `--production` minifies.
import { existsSync, readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const production = process.argv.includes('--production');

// The metadata schema compiled at build time (ajv's standalone code, as the webview has it)
// in place of src/core/model/schemaValidator.ts's run-time compile: a command then neither
// loads ajv's compiler nor compiles the schema (8-12 ms of a re-push, in a CPU profile).
const { metadataValidator } = await import('./webview/build.mjs');
const SCHEMA_VALIDATOR = 'omlmd-schema-validator';
const prebuiltValidator = {
  name: 'omlmd-prebuilt-metadata-validator',
  setup(b) {
    b.onResolve({ filter: /^\.\/schemaValidator$/ }, (args) => (args.importer.endsWith(join('src', 'core', 'model', 'metadata.ts')) ? { path: 'schemaValidator', namespace: SCHEMA_VALIDATOR } : undefined));
    b.onLoad({ filter: /.*/, namespace: SCHEMA_VALIDATOR }, () => ({
      contents: "import validate from 'omlmd:metadata-validator';\nexport function compileMetadataValidator() { return validate; }\n",
      loader: 'js',
      resolveDir: dirname(fileURLToPath(import.meta.url)),
    }));
    metadataValidator.setup(b);
  },
};
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
  plugins: [prebuiltValidator],
};

// The CLI is ESM split at its dynamic imports (one per command group, see
// src/cli/commands/index.ts; the server's fastify is another): a command compiles and runs
// only its own code, so `omlmd --version` starts about as fast as Node and a push never parses
// the search index, PostgreSQL, the server, lineage or Sigstore. dist/cli.js (the `bin`) is a
// few lines of CommonJS that import dist/cli/main.mjs; dist/cli/meta.json records which
// sources went into which chunk (test/unit/cli-lazy.test.ts reads it).
const cli = {
  ...node,
  format: 'esm',
  splitting: true,
  entryPoints: { main: 'src/cli/bin.ts' },
  outdir: 'dist/cli',
  outExtension: { '.js': '.mjs' },
  chunkNames: '[name]-[hash]',
  metafile: true,
  // Bundled CommonJS packages and the core's own require() of native modules, __dirname and __filename, in each ESM chunk.
  banner: { js: "import { createRequire as __cr } from 'node:module'; import { fileURLToPath as __fu } from 'node:url'; import { dirname as __dn } from 'node:path'; const require = __cr(import.meta.url); const __filename = __fu(import.meta.url); const __dirname = __dn(__filename);" },
};
// `omlmd --version` alone is answered here: Node's ESM loader and commander would double its time.
const cliShim = `#!/usr/bin/env node
// The omlmd CLI: its code is the ESM bundle beside this file (dist/cli/), loaded a command at a time.
'use strict';
const a = process.argv.slice(2);
if (a.length === 1 && (a[0] === '--version' || a[0] === '-V')) process.stdout.write(${JSON.stringify(`${version}
`)});
else import('./cli/main.mjs').catch((e) => { process.stderr.write(\`omlmd: \${e && e.stack ? e.stack : e}\\n\`); process.exitCode = 1; });
`;

const builds = [
  // The extension: a thin activator (dist/extension.js, only `vscode`) and the extension proper,
  // loaded on first use (dist/extension-main.js; see src/extension/extension.ts).
  build({ ...node, entryPoints: ['src/extension/extension.ts'], outfile: 'dist/extension.js', external: ['vscode', './extension-main.js'] }),
  build({ ...node, entryPoints: ['src/extension/main.ts'], outfile: 'dist/extension-main.js', external: ['vscode', ...node.external] }),
  build({ ...node, entryPoints: ['src/core/transfer/hashworker.ts'], outfile: 'dist/hashworker.js' }),
  // The gRPC key-provider client (@grpc/grpc-js, protobufjs: a fifth of the extension's bundle),
  // a bundle of its own that keyprovider.ts requires only when a gRPC provider is called.
  build({ ...node, entryPoints: ['src/core/crypt/grpc.ts'], outfile: 'dist/grpc.js' }),
];
if (!extensionOnly) {
  builds.push(
    rm('dist/cli', { recursive: true, force: true }).then(() => build(cli)).then(async (r) => {
      await writeFile('dist/cli/meta.json', JSON.stringify(r.metafile));
      await writeFile('dist/cli.js', cliShim, { mode: 0o755 });
    }),
    build({ ...node, entryPoints: ['src/core/index.ts'], outfile: 'dist/core.js' }),
  );
}
if (existsSync('webview/main.ts')) {
  const { buildWebview } = await import('./webview/build.mjs');
  builds.push(buildWebview({ production }));
}
await Promise.all(builds);
