import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sha256 } from '../../src/core/oci/digest';
import { runCli, runCommand, type CliResult } from '../helpers/cli';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { tempDir } from '../helpers/tmp';

const FIXTURES = join(__dirname, '..', 'fixtures', 'omlmd-0.1.6');

/** Interop with the real skopeo and with artifacts written by the released omlmd 0.1.6. */
describe('interop: skopeo and omlmd 0.1.6', () => {
  let reg: RunningRegistry;
  let work: string;
  let fixture: string;
  const ok = async (args: string[]): Promise<CliResult> => {
    const r = await runCli(args, { env: { OMLMD_HOME: join(work, 'home') }, cwd: work });
    assert.equal(r.code, 0, `omlmd ${args.join(' ')} failed (${r.code}):\n${r.stderr}`);
    return r;
  };
  const skopeo = async (...args: string[]): Promise<string> => {
    const r = await runCommand('skopeo', args);
    assert.equal(r.code, 0, `skopeo ${args.join(' ')} failed:\n${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    reg = await startRegistry();
    work = tempDir('omlmd-interop-');
    fixture = join(work, 'fixture');
    cpSync(join(FIXTURES, 'layout'), fixture, { recursive: true });
    // What Python users have in their registries today: omlmd 0.1.6 artifacts, copied there by skopeo.
    for (const tag of ['single', 'dir', 'empty']) {
      await skopeo('copy', '--dest-tls-verify=false', `oci:${fixture}:${tag}`, `docker://${reg.host}/py/model:${tag}`);
    }
  });
  after(async () => reg?.stop());

  test('we pull what omlmd 0.1.6 pushed: the model byte for byte, metadata files too', async () => {
    const out = join(work, 'single');
    await ok(['pull', `${reg.host}/py/model:single`, '-o', out]);
    assert.deepEqual(readFileSync(join(out, 'mnist.onnx')), readFileSync(join(FIXTURES, 'mnist.onnx.original')));
    assert.deepEqual(readdirSync(out).sort(), ['mnist.onnx', 'model_metadata.omlmd.json', 'model_metadata.omlmd.yaml']);
    const cfg = JSON.parse((await ok(['get', 'config', `${reg.host}/py/model:single`])).stdout) as { config: { customProperties: unknown } };
    assert.deepEqual(cfg.config.customProperties, { accuracy: 0.9777, license: 'Apache-2.0' });
    const info = JSON.parse((await ok(['inspect', `${reg.host}/py/model:single`, '--json'])).stdout) as { flavor: string; warnings: string[] };
    assert.equal(info.flavor, 'omlmd-0.1');
    assert.deepEqual(info.warnings, []);
    const empty = JSON.parse((await ok(['metadata', `${reg.host}/py/model:empty`, '--json'])).stdout) as Record<string, unknown>;
    assert.deepEqual(empty.customProperties, {});
  });

  test('omlmd 0.1.6 directory push (one gzip tar titled with the folder) unpacks into the folder', async () => {
    const out = join(work, 'dir');
    await ok(['pull', `${reg.host}/py/model:dir`, '-o', out]);
    assert.equal(readFileSync(join(out, 'tokmodel', 'config.json'), 'utf8').length, 8);
    assert.ok(existsSync(join(out, 'tokmodel', 'tokenizer', 'config.json')));
    assert.deepEqual(readdirSync(out).filter((f) => f.startsWith('.')), []);
    const raw = join(work, 'dir-raw');
    await ok(['pull', `${reg.host}/py/model:dir`, '-o', raw, '--no-unpack']);
    assert.equal(sha256(readFileSync(join(raw, 'tokmodel'))), 'sha256:ddc1b852e4c2087dcccfff3b6264a18479f8d91af408af11acda446644cd5357');
  });

  test('we read the fixture layout skopeo wrote, directly', async () => {
    const out = join(work, 'from-layout');
    await ok(['pull', `oci:${fixture}:single`, '-o', out, '--include', '*.onnx']);
    assert.deepEqual(readFileSync(join(out, 'mnist.onnx')), readFileSync(join(FIXTURES, 'mnist.onnx.original')));
    assert.deepEqual(JSON.parse((await ok(['tags', `oci:${fixture}`, '--json'])).stdout), ['dir', 'empty', 'single']);
  });

  test('our artifact copied by skopeo docker:// → oci: keeps its digest, and we read that layout', async () => {
    const target = `${reg.host}/ours/mnist:v1`;
    const pushed = JSON.parse((await ok(['push', target, join(FIXTURES, 'mnist.onnx.original'), '--name', 'ours', '--model-format-name', 'onnx', '--json'])).stdout) as { digest: string };
    const layout = join(work, 'skopeo-layout');
    await skopeo('copy', '--src-tls-verify=false', `docker://${target}`, `oci:${layout}:v1`);
    const raw = await skopeo('inspect', '--raw', `oci:${layout}:v1`);
    assert.equal(sha256(Buffer.from(raw)), pushed.digest);
    const out = join(work, 'from-skopeo-layout');
    await ok(['pull', `oci:${layout}:v1`, '-o', out]);
    assert.deepEqual(readFileSync(join(out, 'mnist.onnx.original')), readFileSync(join(FIXTURES, 'mnist.onnx.original')));
  });

  test('skopeo reads the OCI layout and the registry artifacts we write', async () => {
    const layout = join(work, 'our-layout');
    const pushed = JSON.parse((await ok(['push', `oci:${layout}:v1`, join(FIXTURES, 'mnist.onnx.original'), '--name', 'x', '--json'])).stdout) as { digest: string };
    assert.equal(sha256(Buffer.from(await skopeo('inspect', '--raw', `oci:${layout}:v1`))), pushed.digest);
    await skopeo('copy', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${reg.host}/via/skopeo:v1`);
    const info = JSON.parse((await ok(['inspect', `${reg.host}/via/skopeo:v1`, '--json'])).stdout) as { digest: string; metadata: { name: string } };
    assert.equal(info.digest, pushed.digest);
    assert.equal(info.metadata.name, 'x');
    const viaRegistry = await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/via/skopeo:v1`);
    assert.equal(sha256(Buffer.from(viaRegistry)), pushed.digest);
  });
});
