// The webviews' bundles: the metadata editor's and the model page's scripts and CSS, and the codicon font, in one folder
// that the extension host lists as a webview resource root. Shared by esbuild.mjs and the
// webview tests (which build into a temporary folder so they never race other builds).
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const require = createRequire(import.meta.url);
const VALIDATOR_MODULE = 'omlmd:metadata-validator';

/**
 * The webview's CSP forbids `unsafe-eval`, so ajv cannot compile the schema there: this
 * plugin compiles the core's schema at build time into plain code. The options match
 * `validate()` in src/core/model/metadata.ts (allErrors, strict, the `uri` format from
 * ajv-formats); test/webview checks both sides give the same messages.
 */
export const metadataValidator = {
  name: 'omlmd-metadata-validator',
  setup(b) {
    b.onResolve({ filter: /^omlmd:metadata-validator$/ }, (args) => ({ path: args.path, namespace: VALIDATOR_MODULE }));
    b.onLoad({ filter: /.*/, namespace: VALIDATOR_MODULE }, async () => {
      const schemaPath = join(root, 'src/core/model/metadata.schema.json');
      const { default: Ajv } = await import('ajv');
      const { default: addFormats } = await import('ajv-formats');
      const { default: standaloneCode } = await import('ajv/dist/standalone/index.js');
      const { readFile } = await import('node:fs/promises');
      const schema = JSON.parse(await readFile(schemaPath, 'utf8'));
      const ajv = new Ajv({ allErrors: true, strict: true, code: { source: true, esm: true } });
      addFormats(ajv, ['uri']);
      return { contents: standaloneCode(ajv, ajv.compile(schema)), loader: 'js', resolveDir: root, watchFiles: [schemaPath] };
    });
  },
};

/** @param {{ production?: boolean; outdir?: string }} [options] */
export function buildWebview({ production = false, outdir = join(root, 'dist/webview') } = {}) {
  return build({
    absWorkingDir: root,
    bundle: true,
    platform: 'browser',
    target: 'es2022',
    format: 'esm',
    sourcemap: !production,
    minify: production,
    logLevel: 'warning',
    entryPoints: {
      main: join(root, 'webview/main.ts'),
      // The model page (webview/page/): its own script and CSS, with the chart.
      page: join(root, 'webview/page/main.ts'),
      // Its own file: <vscode-icon> clones this stylesheet (found by id) into its shadow root.
      codicon: require.resolve('@vscode/codicons/dist/codicon.css'),
    },
    outdir,
    loader: { '.ttf': 'file', '.woff': 'file', '.woff2': 'file' },
    assetNames: '[name]',
    plugins: [metadataValidator],
  });
}
