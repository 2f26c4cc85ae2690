/**
 * ModelCar and data-only images built from peers' artifacts, checked with umoci: a KitOps
 * ModelKit (tar layers, gzip and zstd, written as KitOps writes them: see kitops-read.test.ts
 * for the sources), a ModelPack artifact whose weights are a tar layer, and a Docker Model
 * Runner artifact (whole-file layers). Archive layers are unpacked first into a private folder
 * (pull's path safety, every digest checked) that is gone afterwards; the files sit under
 * /models at the paths the archives hold, as `kit unpack` writes them. Against the real registry.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { sha256 } from '../../src/core/oci/digest';
import { RegistryClient } from '../../src/core/oci/registry';
import { runCli, runCommand } from '../helpers/cli';
import { rawTar } from '../helpers/hostile';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { tempDir } from '../helpers/tmp';

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('ModelCar images from KitOps, ModelPack and Docker artifacts (umoci, real registry)', () => {
  let reg: RunningRegistry;
  let work: string;
  let env: NodeJS.ProcessEnv;
  const weights = randomBytes(2 * 1024 * 1024 + 3);
  const tokenizer = Buffer.from('{"vocab": 3}');
  const readme = Buffer.from('# sentiment\n');
  const code = Buffer.from('print("serve")\n');
  const gguf = Buffer.concat([Buffer.from('GGUF'), randomBytes(60_000)]);
  const license = Buffer.from('MIT License\n');

  async function put(repo: string, config: { mediaType: string; bytes: Buffer }, layers: { mediaType: string; bytes: Buffer; annotations?: Record<string, string> }[], artifactType?: string): Promise<void> {
    const r = new RegistryClient(reg.host).repository(repo);
    for (const b of [config, ...layers]) await r.putBlob({ open: () => Readable.from([b.bytes]), size: b.bytes.length, digest: sha256(b.bytes) });
    const manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      ...(artifactType ? { artifactType } : {}),
      config: { mediaType: config.mediaType, digest: sha256(config.bytes), size: config.bytes.length },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: sha256(l.bytes), size: l.bytes.length, ...(l.annotations ? { annotations: l.annotations } : {}) })),
    };
    await r.putManifest(Buffer.from(JSON.stringify(manifest)), 'application/vnd.oci.image.manifest.v1+json', 'v1');
  }

  /** Builds `ref` into a layout, unpacks it with umoci: the files under /models (path → sha256). */
  async function buildAndUnpack(ref: string, name: string, extra: string[] = []): Promise<Map<string, string>> {
    const layout = join(work, `layout-${name}`);
    const r = await runCli(['modelcar', 'build', ref, `oci:${layout}:mc`, ...extra], { env });
    assert.equal(r.code, 0, r.stderr);
    const bundle = join(work, `bundle-${name}`);
    const u = await runCommand('umoci', ['unpack', '--image', `${layout}:mc`, bundle]);
    assert.equal(u.code, 0, u.stderr);
    const models = join(bundle, 'rootfs', 'models');
    const out = new Map<string, string>();
    for (const e of readdirSync(models, { recursive: true, withFileTypes: true })) {
      if (e.isFile()) out.set(join(e.parentPath, e.name).slice(models.length + 1), sha(readFileSync(join(e.parentPath, e.name))));
    }
    return out;
  }

  before(async () => {
    reg = await startRegistry();
    work = tempDir('omlmd-modelcar-peers-');
    // The private staging folder is made in TMPDIR: the test's own, to see it removed.
    env = { OMLMD_HOME: join(work, 'home'), TMPDIR: join(work, 'tmp') };
    execFileSync('mkdir', ['-p', env.TMPDIR!]);
    const kitfile = Buffer.from(JSON.stringify({ manifestVersion: '1.0.0', package: { name: 'sentiment', version: '1.2.0' }, model: { name: 'sentiment-model', path: 'models/', framework: 'pytorch' }, docs: [{ path: 'README.md' }], code: [{ path: 'serve.py' }] }));
    const zstd = (input: Buffer): Buffer => execFileSync('zstd', ['-q', '-c'], { input });
    await put('kit/sentiment', { mediaType: 'application/vnd.kitops.modelkit.config.v1+json', bytes: kitfile }, [
      { mediaType: 'application/vnd.kitops.modelkit.model.v1.tar+gzip', bytes: gzipSync(rawTar([{ name: 'models/', type: 'dir' }, { name: 'models/model.safetensors', body: weights }, { name: 'models/tokenizer.json', body: tokenizer }])) },
      { mediaType: 'application/vnd.kitops.modelkit.docs.v1.tar+zstd', bytes: zstd(rawTar([{ name: 'README.md', body: readme }])) },
      { mediaType: 'application/vnd.kitops.modelkit.code.v1.tar', bytes: rawTar([{ name: 'serve.py', body: code }]) },
    ]);
    await put('kit/escape', { mediaType: 'application/vnd.kitops.modelkit.config.v1+json', bytes: kitfile }, [
      { mediaType: 'application/vnd.kitops.modelkit.model.v1.tar', bytes: rawTar([{ name: '../../etc/evil', body: Buffer.from('x') }]) },
    ]);
    // ModelPack (model-spec v0.0.7): a tar weight layer and a raw config file, titled by org.cncf.model.filepath.
    const mpConfig = Buffer.from(JSON.stringify({ descriptor: { name: 'mp' }, config: { format: 'safetensors' }, modelfs: { type: 'layers', diffIds: [] } }));
    await put('mp/tarred', { mediaType: 'application/vnd.cncf.model.config.v1+json', bytes: mpConfig }, [
      { mediaType: 'application/vnd.cncf.model.weight.v1.tar', bytes: rawTar([{ name: 'weights/', type: 'dir' }, { name: 'weights/model.safetensors', body: weights }]), annotations: { 'org.cncf.model.filepath': 'weights' } },
      { mediaType: 'application/vnd.cncf.model.weight.config.v1.raw', bytes: tokenizer, annotations: { 'org.cncf.model.filepath': 'tokenizer.json', 'org.opencontainers.image.title': 'tokenizer.json' } },
    ], 'application/vnd.cncf.model.manifest.v1+json');
    const dmrConfig = Buffer.from(JSON.stringify({ config: { format: 'gguf' }, descriptor: { created: '2025-05-01T00:00:00Z' }, rootfs: { type: 'rootfs', diff_ids: [sha256(gguf), sha256(license)] } }));
    await put('ai/llama', { mediaType: 'application/vnd.docker.ai.model.config.v0.2+json', bytes: dmrConfig }, [
      { mediaType: 'application/vnd.docker.ai.gguf.v3', bytes: gguf, annotations: { 'org.cncf.model.filepath': 'llama-q4.gguf' } },
      { mediaType: 'application/vnd.docker.ai.license', bytes: license, annotations: { 'org.cncf.model.filepath': 'LICENSE' } },
    ]);
  });
  after(async () => reg?.stop());

  test('a KitOps ModelKit: every layer (gzip, zstd, plain tar) unpacked under /models at the Kitfile\'s paths, byte for byte; the staging folder is gone', async () => {
    const files = await buildAndUnpack(`${reg.host}/kit/sentiment:v1`, 'kit');
    assert.deepEqual(Object.fromEntries([...files].sort()), {
      'README.md': sha(readme),
      'models/model.safetensors': sha(weights),
      'models/tokenizer.json': sha(tokenizer),
      'serve.py': sha(code),
    });
    assert.deepEqual(readdirSync(env.TMPDIR!), [], 'the unpacked model is removed');
    // The data-only image for image volumes, from the same ModelKit.
    const data = await buildAndUnpack(`${reg.host}/kit/sentiment:v1`, 'kit-data', ['--data-only']);
    assert.deepEqual([...data.keys()].sort(), ['README.md', 'models/model.safetensors', 'models/tokenizer.json', 'serve.py']);
  });

  test('a ModelPack artifact with a tar weight layer: unpacked, beside its raw files', async () => {
    const files = await buildAndUnpack(`${reg.host}/mp/tarred:v1`, 'mp');
    assert.deepEqual(Object.fromEntries([...files].sort()), { 'tokenizer.json': sha(tokenizer), 'weights/model.safetensors': sha(weights) });
  });

  test('a Docker Model Runner artifact: the GGUF and its licence under /models at their file paths', async () => {
    const files = await buildAndUnpack(`${reg.host}/ai/llama:v1`, 'dmr');
    assert.deepEqual(Object.fromEntries([...files].sort()), { LICENSE: sha(license), 'llama-q4.gguf': sha(gguf) });
  });

  test('a ModelKit whose tar escapes its folder is refused (exit 5 or 2, the entry named) and leaves no image and no staging folder', async () => {
    const layout = join(work, 'layout-escape');
    const r = await runCli(['modelcar', 'build', `${reg.host}/kit/escape:v1`, `oci:${layout}:mc`], { env });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /evil|escape|outside|unsafe|refusing/i);
    const index = (() => {
      try {
        return JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: unknown[] };
      } catch {
        return { manifests: [] };
      }
    })();
    assert.equal(index.manifests.length, 0, 'no image tagged');
    assert.deepEqual(readdirSync(env.TMPDIR!), []);
  });
});
