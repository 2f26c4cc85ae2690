/**
 * docs/examples/library.mjs, the example docs/library.md shows, run as it is against the real
 * registry: `import ... from 'omlmd'` resolves to the built dist/core.js through package.json
 * `exports` (scripts/test.sh builds it first, as it builds dist/cli.js for the CLI tests).
 * What the example pushed is then read back through dist/core.js too.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type * as Core from '../../src/core/index';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { tempDir } from '../helpers/tmp';

const ROOT = join(__dirname, '..', '..');
const EXAMPLE = join(ROOT, 'docs', 'examples', 'library.mjs');
const DIST_CORE = join(ROOT, 'dist', 'core.js');

/** dist/core.js as `require('omlmd')` gives it (its module.exports). */
async function builtCore(): Promise<typeof Core> {
  // Node's loader gives module.exports as `default`; tsx may load it as require() would.
  const m = (await import(pathToFileURL(DIST_CORE).href)) as typeof Core & { default?: typeof Core };
  return m.default ?? m;
}

function runExample(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [EXAMPLE, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the library example (docs/examples/library.mjs) against a real registry', () => {
  let reg: RunningRegistry;
  let tmp: string;
  let home: string;

  before(async () => {
    assert.ok(existsSync(DIST_CORE), 'dist/core.js is missing: run `node esbuild.mjs` first (scripts/test.sh does)');
    reg = await startRegistry();
    // The example's own temp folder goes here, so the test sees that it cleans up after itself.
    tmp = tempDir('omlmd-library-test-');
    home = tempDir('omlmd-library-home-');
  });

  after(async () => {
    await reg?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    if (home) rmSync(home, { recursive: true, force: true });
  });

  test('dist/core.js is the surface src/core/index.ts declares (the build is not stale)', async () => {
    const built = (await builtCore()) as unknown as Record<string, unknown>;
    const source = (await import('../../src/core/index')) as Record<string, unknown>;
    assert.deepEqual(Object.keys(built).sort(), Object.keys(source).filter((k) => k !== 'default' && k !== '__esModule').sort());
  });

  test('it cancels a push, pushes with progress, pulls, finds the model with a query, and leaves nothing behind', async () => {
    // No credentials from the machine running the tests: the registry is anonymous.
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, TMPDIR: tmp, OMLMD_AUTH_FILE: join(tmp, 'no-auth.json'), DOCKER_CONFIG: join(tmp, 'no-docker'), HOME: home };
    const res = await runExample([reg.host], env);
    assert.equal(res.stderr, '');
    assert.equal(res.code, 0);
    const lines = res.stdout.trim().split('\n');
    assert.equal(lines.length, 4, res.stdout);
    const [cancel, push, pull, found] = lines as [string, string, string, string];

    assert.equal(cancel, 'cancel: CANCELLED');

    const m = /^push: (\S+\/examples\/mnist:v1@(sha256:[0-9a-f]{64})) \(1 file, (\d+) bytes: (\d+) sent, (\d+) resumed, (\d+) already there\)$/.exec(push);
    assert.ok(m, push);
    const [, reference, digest, total, sent, resumed, there] = m as unknown as [string, string, string, string, string, string, string];
    assert.equal(reference, `${reg.host}/examples/mnist:v1@${digest}`);
    assert.equal(Number(total), 4 * 1024 * 1024);
    // Every byte of the model is accounted for by the progress events, once.
    assert.equal(Number(sent) + Number(resumed) + Number(there), Number(total));

    assert.equal(pull, 'pull: mnist.onnx, model_metadata.omlmd.json, model_metadata.omlmd.yaml (mnist.onnx identical)');
    assert.equal(found, `query: 1 indexed, 1 found: ${reg.host}/examples/mnist:v1 mnist`);

    assert.deepEqual(readdirSync(tmp), [], 'the example removes its temp folder');

    // What the example pushed is in the registry, read through the built library as a user would.
    const { OmlmdClient } = await builtCore();
    const client = new OmlmdClient({ home });
    const info = await client.inspect(`${reg.host}/examples/mnist:v1`);
    assert.equal(info.descriptor.digest, digest);
    assert.equal(info.metadata?.name, 'mnist');
    assert.deepEqual(info.metadata?.customProperties, { accuracy: 0.97 });
    assert.deepEqual(info.view.files.filter((f) => f.role === 'model').map((f) => [f.path, f.descriptor.size]), [['mnist.onnx', 4 * 1024 * 1024]]);
  });
});
