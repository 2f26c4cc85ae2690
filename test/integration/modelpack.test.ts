import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { OmlmdClient } from '../../src/core/client';
import { ModelPackMediaType } from '../../src/core/model/modelpack';
import { openWritableIndex, query } from '../../src/core/search';
import { crawlToIndex } from '../../src/core/search/crawler';
import { runCli } from '../helpers/cli';
import { startFaultProxy, type FaultProxy } from '../helpers/faultproxy';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { tempDir } from '../helpers/tmp';

const SCHEMA = join(__dirname, '..', 'fixtures', 'modelpack-spec', 'config-schema.json');
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/**
 * `omlmd push --format modelpack` against the real registry: the manifest and config as the
 * ModelPack spec (v0.0.7) defines them, the config valid against the spec's own JSON Schema
 * (a fixture, with its licence), raw layers typed by role whose digests are the files', and
 * everything read back: pull, inspect, metadata, search.
 */
describe('ModelPack: push --format modelpack, read back (real registry)', () => {
  let reg: RunningRegistry;
  let work: string;
  let env: NodeJS.ProcessEnv;
  const files: Record<string, Buffer> = {
    'model.safetensors': randomBytes(300_000),
    'config.json': Buffer.from('{"architectures":["LlamaForCausalLM"]}'),
    'tokenizer/tokenizer.json': Buffer.from('{"version":"1.0"}'),
    'README.md': Buffer.from('# demo\n'),
    'train.py': Buffer.from('print(1)\n'),
    'eval.csv': Buffer.from('a,b\n1,2\n'),
  };
  const roles: Record<string, string> = {
    'demo/model.safetensors': ModelPackMediaType.weight,
    'demo/config.json': ModelPackMediaType.weightConfig,
    'demo/tokenizer/tokenizer.json': ModelPackMediaType.weightConfig,
    'demo/README.md': ModelPackMediaType.doc,
    'demo/train.py': ModelPackMediaType.code,
    'demo/eval.csv': ModelPackMediaType.dataset,
  };
  let digest: string;

  before(async () => {
    reg = await startRegistry();
    work = tempDir('omlmd-modelpack-');
    env = { OMLMD_HOME: join(work, 'home') };
    mkdirSync(join(work, 'demo', 'tokenizer'), { recursive: true });
    for (const [p, b] of Object.entries(files)) writeFileSync(join(work, 'demo', p), b);
    writeFileSync(join(work, 'md.yaml'), 'name: demo\nauthor: Jane\ndescription: a demo\nmodel_format_name: safetensors\nmodel_format_version: "1"\ncustomProperties:\n  license: Apache-2.0\n  accuracy: 0.91\n  dtype: BF16\n');
    const r = await runCli(['push', `${reg.host}/mp/demo:v1`, join(work, 'demo'), '-m', join(work, 'md.yaml'), '--format', 'modelpack', '--json', '--no-prefill'], { env });
    assert.equal(r.code, 0, r.stderr);
    digest = (JSON.parse(r.stdout) as { digest: string }).digest;
  });
  after(async () => reg?.stop());

  test('the manifest: artifactType, config type, one raw layer per file typed by its role, the file annotations', async () => {
    const res = await fetch(`http://${reg.host}/v2/mp/demo/manifests/${digest}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    const m = (await res.json()) as { artifactType: string; config: { mediaType: string; digest: string }; layers: { mediaType: string; digest: string; size: number; annotations: Record<string, string> }[] };
    assert.equal(m.artifactType, 'application/vnd.cncf.model.manifest.v1+json');
    assert.equal(m.config.mediaType, 'application/vnd.cncf.model.config.v1+json');
    assert.deepEqual(Object.fromEntries(m.layers.map((l) => [l.annotations['org.cncf.model.filepath'], l.mediaType])), roles);
    for (const l of m.layers) {
      const path = l.annotations['org.cncf.model.filepath']!;
      const bytes = files[path.slice('demo/'.length)]!;
      assert.equal(l.digest, sha(bytes), `${path}: a raw layer is the file itself`);
      const fm = JSON.parse(l.annotations['org.cncf.model.file.metadata+json']!) as { name: string; size: number; typeflag: number; mtime: string; mode: number };
      assert.equal(fm.name, path.split('/').pop());
      assert.equal(fm.size, bytes.length);
      assert.equal(fm.typeflag, 48);
      assert.ok(!Number.isNaN(Date.parse(fm.mtime)));
    }

    const cfg = (await (await fetch(`http://${reg.host}/v2/mp/demo/blobs/${m.config.digest}`)).json()) as { descriptor: Record<string, unknown>; config: Record<string, unknown>; modelfs: { type: string; diffIds: string[] } };
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    const validate = ajv.compile(JSON.parse(readFileSync(SCHEMA, 'utf8')) as object);
    assert.ok(validate(cfg), JSON.stringify(validate.errors));
    assert.deepEqual(cfg.modelfs.diffIds, m.layers.map((l) => l.digest), 'raw layers: each diff id is the layer digest');
    assert.deepEqual(cfg.descriptor.authors, ['Jane']);
    assert.deepEqual(cfg.descriptor.licenses, ['Apache-2.0']);
    assert.equal(cfg.descriptor.name, 'demo');
    assert.equal(cfg.config.format, 'safetensors');
    assert.equal(cfg.config.precision, 'BF16');
  });

  test('read back: pull gives the files byte for byte at their paths; inspect and metadata give our metadata whole', async () => {
    const out = join(work, 'out');
    const p = await runCli(['pull', `${reg.host}/mp/demo:v1`, '-o', out], { env });
    assert.equal(p.code, 0, p.stderr);
    for (const [path, bytes] of Object.entries(files)) assert.ok(readFileSync(join(out, 'demo', path)).equals(bytes), path);
    const i = await runCli(['inspect', `${reg.host}/mp/demo:v1`, '--json'], { env });
    const info = JSON.parse(i.stdout) as { flavor: string; metadata: { name: string; customProperties: Record<string, unknown> }; files: { path: string; role: string }[] };
    assert.equal(info.flavor, 'modelpack');
    assert.equal(info.metadata.name, 'demo');
    assert.deepEqual(info.metadata.customProperties, { license: 'Apache-2.0', accuracy: 0.91, dtype: 'BF16' });
    assert.deepEqual(info.files.filter((f) => f.role === 'model').map((f) => f.path), ['demo/model.safetensors']);
    const md = await runCli(['metadata', `${reg.host}/mp/demo:v1`, '--json'], { env });
    assert.equal(md.code, 0, md.stderr);
    assert.equal((JSON.parse(md.stdout) as { author: string }).author, 'Jane');
  });

  test('search: the crawler indexes it as a modelpack document with its descriptor and our metadata searchable', async () => {
    const client = new OmlmdClient({ home: join(work, 'home') });
    const index = await openWritableIndex(join(work, 'index.sqlite'));
    try {
      await crawlToIndex(client, index, [`${reg.host}/mp/demo`]);
      const page = await query(index, "$[?@.kind == 'modelpack' && @.descriptor.name == 'demo']");
      assert.deepEqual(page.items.map((d) => d.tag), ['v1']);
    } finally {
      await index.close();
    }
  });

  test('refused: no files (ModelPack lists at least one), encryption, an unknown format', async () => {
    const none = await runCli(['push', `${reg.host}/mp/none:v1`, '--name', 'x', '--uri', 's3://b/m', '--format', 'modelpack'], { env });
    assert.equal(none.code, 2, none.stderr);
    assert.match(none.stderr, /ModelPack artifact holds model files/);
    const bad = await runCli(['push', `${reg.host}/mp/bad:v1`, join(work, 'demo'), '--name', 'x', '--format', 'kitops'], { env });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--format takes omlmd or modelpack/);
  });
});

describe('copy --format: omlmd ↔ ModelPack within one registry sends no file byte (real registry, bytes counted by the fault proxy)', () => {
  let reg: RunningRegistry;
  let proxy: FaultProxy;
  let work: string;
  let env: NodeJS.ProcessEnv;
  const weights = randomBytes(3 * 1024 * 1024);
  const tok = Buffer.from('{"v":1}');
  before(async () => {
    reg = await startRegistry();
    proxy = await startFaultProxy(reg.host);
    work = tempDir('omlmd-convert-');
    env = { OMLMD_HOME: join(work, 'home') };
    writeFileSync(join(work, 'model.safetensors'), weights);
    writeFileSync(join(work, 'tokenizer.json'), tok);
    const r = await runCli(['push', `${proxy.host}/conv/src:v1`, join(work, 'model.safetensors'), join(work, 'tokenizer.json'), '--name', 'conv', '--author', 'Jane', '--no-prefill'], { env });
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await proxy?.close();
    await reg?.stop();
  });
  const sent = () => proxy.seen.filter((s) => s.method === 'PATCH' || s.method === 'PUT').filter((s) => s.path.includes('/blobs/')).reduce((n, s) => n + s.bodyBytes, 0);

  test('omlmd → ModelPack → omlmd: the files keep their blobs (mounted), the configs are new and valid, everything reads back', async () => {
    proxy.clear();
    const r = await runCli(['copy', `${proxy.host}/conv/src:v1`, `${proxy.host}/conv/mp:v1`, '--format', 'modelpack', '--json'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(sent() < 4096, `only the config went: ${sent()} blob bytes sent`);
    const res = JSON.parse(r.stdout) as { mounted: number; copied: number };
    assert.equal(res.mounted, 2, 'both files mounted from the source repository');
    const i = JSON.parse((await runCli(['inspect', `${reg.host}/conv/mp:v1`, '--json'], { env })).stdout) as { flavor: string; metadata: { name: string; author: string }; manifest: { config: { digest: string }; layers: { mediaType: string; digest: string }[] } };
    assert.equal(i.flavor, 'modelpack');
    assert.equal(i.metadata.author, 'Jane');
    assert.deepEqual(i.manifest.layers.map((l) => l.mediaType), [ModelPackMediaType.weight, ModelPackMediaType.weightConfig]);
    assert.equal(i.manifest.layers[0]!.digest, sha(weights));
    const cfg = await (await fetch(`http://${reg.host}/v2/conv/mp/blobs/${i.manifest.config.digest}`)).json();
    const ajv = new Ajv2020({ strict: false });
    addFormats(ajv);
    assert.ok(ajv.compile(JSON.parse(readFileSync(SCHEMA, 'utf8')) as object)(cfg));

    proxy.clear();
    const back = await runCli(['copy', `${proxy.host}/conv/mp:v1`, `${proxy.host}/conv/back:v1`, '--format', 'omlmd'], { env });
    assert.equal(back.code, 0, back.stderr);
    assert.ok(sent() < 4096, `${sent()} blob bytes sent`);
    const out = join(work, 'back');
    assert.equal((await runCli(['pull', `${reg.host}/conv/back:v1`, '-o', out], { env })).code, 0);
    assert.ok(readFileSync(join(out, 'model.safetensors')).equals(weights));
    assert.ok(readFileSync(join(out, 'tokenizer.json')).equals(tok));
    const md = JSON.parse((await runCli(['metadata', `${reg.host}/conv/back:v1`, '--json'], { env })).stdout) as { name: string; author: string };
    assert.deepEqual([md.name, md.author], ['conv', 'Jane']);
    // The same conversion twice gives the same manifest: times come from the source.
    const again = await runCli(['copy', `${proxy.host}/conv/src:v1`, `${proxy.host}/conv/mp:v2`, '--format', 'modelpack', '--json'], { env });
    assert.equal((JSON.parse(again.stdout) as { descriptor: { digest: string } }).descriptor.digest, (JSON.parse(r.stdout) as { descriptor: { digest: string } }).descriptor.digest);
  });

  test('refused: --format with --recursive, an unknown layout, a KitOps kit or a non-model', async () => {
    const rec = await runCli(['copy', `${reg.host}/conv/src:v1`, `${reg.host}/conv/x:v1`, '--format', 'modelpack', '-r'], { env });
    assert.equal(rec.code, 2);
    assert.match(rec.stderr, /--format rewrites the artifact/);
    const bad = await runCli(['copy', `${reg.host}/conv/src:v1`, `${reg.host}/conv/x:v1`, '--format', 'kit'], { env });
    assert.equal(bad.code, 2);
  });
});
