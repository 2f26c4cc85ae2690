/**
 * The served root (#14 part 2, "where the serving runtime looks"): a pushed folder's files are
 * at /models's root in the ModelCar and data-only images and at DEST's root from the storage
 * initializer, as KServe's runtimes expect; the folder is named in the push's manifest and the
 * image's labels; an artifact pushed the old way (no name recorded) is served the same; `pull`
 * keeps the folder. Against the real registry; the images are read back layer by layer (their
 * tar entries), not from what the builder says it wrote.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as tar from 'tar';
import { OmlmdClient } from '../../src/core/client';
import { modelCar, storageInitializer } from '../../src/core/lineage';
import { SERVED_ROOT_ANNOTATION } from '../../src/core/model/served';
import { OMLMD_METADATA_ANNOTATION } from '../../src/core/model/modelpack';
import type { ImageManifest } from '../../src/core/oci/types';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { tempDir } from '../helpers/tmp';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1)).sort();
}

describe('the served root: a pushed folder\'s files at /models and at DEST, old and new pushes alike', () => {
  let reg: RunningRegistry;
  let work: string;
  let client: OmlmdClient;
  const files = new Map<string, Buffer>([
    ['config.json', Buffer.from('{"architectures": ["Tiny"]}')],
    ['model.safetensors', randomBytes(1024 * 1024 + 5)],
    ['tokenizer/tokenizer.json', Buffer.from('{"v": 1}')],
  ]);

  before(async () => {
    reg = await startRegistry();
    work = tempDir('omlmd-served-');
    client = new OmlmdClient({ home: join(work, 'home') });
    const dir = join(work, 'my-model');
    for (const [rel, bytes] of files) {
      mkdirSync(join(dir, rel, '..'), { recursive: true });
      writeFileSync(join(dir, rel), bytes);
    }
  });
  after(async () => {
    await reg?.stop();
  });

  const manifestOf = async (ref: string): Promise<ImageManifest> => {
    const [repo, tag] = ref.split(/:(?=[^:/]+$)/) as [string, string];
    const m = await (await client.repository(repo)).fetchManifest(tag);
    assert.equal(m.kind, 'manifest');
    return (m as { manifest: ImageManifest }).manifest;
  };

  /** Every file entry of an image's tar layers: path → sha256 of its bytes. */
  const imageTree = async (ref: string): Promise<Map<string, string>> => {
    const m = await manifestOf(ref);
    const repo = await client.repository(ref.replace(/:[^:/]+$/, ''));
    const out = new Map<string, string>();
    for (const l of m.layers) {
      assert.equal(l.mediaType, 'application/vnd.oci.image.layer.v1.tar');
      const parser = new tar.Parser({ strict: true });
      parser.on('entry', (e: tar.ReadEntry) => {
        if (e.type !== 'File') return void e.resume();
        const h = createHash('sha256');
        e.on('data', (c: Buffer) => h.update(c));
        e.on('end', () => out.set(e.path, h.digest('hex')));
      });
      const done = new Promise<void>((resolve, reject) => (parser.on('end', () => resolve()), parser.on('error', reject)));
      for await (const c of await repo.openBlob(l)) parser.write(c as Buffer);
      parser.end();
      await done;
    }
    return out;
  };
  const modelsUnder = (tree: Map<string, string>): Map<string, string> => new Map([...tree].filter(([p]) => p.startsWith('models/')).map(([p, h]) => [p.slice('models/'.length), h]));
  const expected = new Map([...files].map(([p, b]) => [p, sha(b)]));

  test('a folder push names its folder; the data-only image and the ModelCar hold its files at /models\'s root; pull keeps the folder', async () => {
    const pushed = await client.push(`${reg.host}/sr/model:v1`, { paths: [join(work, 'my-model')], metadata: { name: 'tiny' } });
    assert.equal(pushed.manifest.annotations?.[SERVED_ROOT_ANNOTATION], 'my-model');
    assert.ok(pushed.manifest.layers.some((l) => l.annotations?.['org.opencontainers.image.title'] === 'my-model/config.json'), 'titles keep the folder, as omlmd 0.1.x pulls them');

    const data = await modelCar(client, `${reg.host}/sr/model:v1`, `${reg.host}/sr/model:data`, { dataOnly: true });
    assert.equal(data.root, 'my-model');
    const tree = await imageTree(`${reg.host}/sr/model:data`);
    assert.deepEqual([...tree.keys()].filter((p) => !p.startsWith('models/')), [], 'a data-only image holds the model alone');
    assert.deepEqual(modelsUnder(tree), expected);

    const car = await modelCar(client, `${reg.host}/sr/model:v1`, `${reg.host}/sr/model:car`);
    assert.deepEqual(modelsUnder(await imageTree(`${reg.host}/sr/model:car`)), expected);
    assert.equal((await manifestOf(`${reg.host}/sr/model:car`)).annotations?.['dev.omlmd.model.root'], 'my-model');
    assert.ok(car.layers.every((l) => l.files.every((f) => !f.startsWith('my-model'))));

    const out = join(work, 'pulled');
    await client.pull(`${reg.host}/sr/model:v1`, out);
    assert.deepEqual(listFiles(out), [...files.keys()].map((p) => join('my-model', p)).concat(['model_metadata.omlmd.json', 'model_metadata.omlmd.yaml']).sort());
  });

  test('an artifact pushed the old way (no folder named) is served the same: the same layers, byte for byte', async () => {
    const ref = `${reg.host}/sr/old`;
    const pushed = await client.push(`${ref}:new`, { paths: [join(work, 'my-model')], metadata: { name: 'tiny' } });
    const old = structuredClone(pushed.manifest);
    delete old.annotations![SERVED_ROOT_ANNOTATION];
    const repo = await client.repository(ref);
    await repo.putManifest(Buffer.from(JSON.stringify(old)), old.mediaType!, 'v0');
    await modelCar(client, `${ref}:new`, `${ref}:new-data`, { dataOnly: true });
    const res = await modelCar(client, `${ref}:v0`, `${ref}:v0-data`, { dataOnly: true });
    assert.equal(res.root, 'my-model', 'the single top folder is the root');
    assert.deepEqual(modelsUnder(await imageTree(`${ref}:v0-data`)), expected);
    assert.deepEqual((await manifestOf(`${ref}:v0-data`)).layers, (await manifestOf(`${ref}:new-data`)).layers);
  });

  test('the storage initializer writes the files at DEST\'s root, the metadata files beside them; the old way too', async () => {
    for (const tag of ['v1', 'old-v0']) {
      const r = tag === 'v1' ? `${reg.host}/sr/model:v1` : `${reg.host}/sr/old:v0`;
      const dest = join(work, `mnt-${tag}`);
      const res = await storageInitializer(client, `oci-artifact://${r}`, dest);
      assert.equal(res.root, 'my-model');
      assert.deepEqual(listFiles(dest), [...files.keys()].sort(), tag);
      for (const [p, b] of files) assert.equal(sha(readFileSync(join(dest, p))), sha(b), p);
    }
    const dest = join(work, 'mnt-meta');
    await storageInitializer(client, `oci://${reg.host}/sr/model:v1`, dest, { withMetadata: true });
    assert.deepEqual(listFiles(dest), [...files.keys(), 'model_metadata.omlmd.json', 'model_metadata.omlmd.yaml'].sort());
  });

  test('files pushed on their own have no folder to strip; a peer\'s ModelPack keeps its paths; ours in ModelPack is served at the root', async () => {
    const single = await client.push(`${reg.host}/sr/file:v1`, { paths: [join(work, 'my-model', 'model.safetensors'), join(work, 'my-model', 'config.json')], metadata: { name: 'files' } });
    assert.equal(single.manifest.annotations?.[SERVED_ROOT_ANNOTATION], undefined);
    const flat = await modelCar(client, `${reg.host}/sr/file:v1`, `${reg.host}/sr/file:data`, { dataOnly: true });
    assert.equal(flat.root, undefined);
    assert.deepEqual([...modelsUnder(await imageTree(`${reg.host}/sr/file:data`)).keys()].sort(), ['config.json', 'model.safetensors']);

    const ours = await client.push(`${reg.host}/sr/mp:ours`, { paths: [join(work, 'my-model')], metadata: { name: 'mp' }, format: 'modelpack' });
    assert.equal(ours.manifest.annotations?.[SERVED_ROOT_ANNOTATION], 'my-model');
    await modelCar(client, `${reg.host}/sr/mp:ours`, `${reg.host}/sr/mp:ours-data`, { dataOnly: true });
    assert.deepEqual(modelsUnder(await imageTree(`${reg.host}/sr/mp:ours-data`)), expected);
    const mpDest = join(work, 'mnt-mp');
    await storageInitializer(client, `oci://${reg.host}/sr/mp:ours`, mpDest);
    assert.deepEqual(listFiles(mpDest), [...files.keys()].sort(), 'a ModelPack artifact is served whole, at the root');

    // The same artifact as modctl would write it (no omlmd annotations): its paths are already relative to its root.
    const peer = structuredClone(ours.manifest);
    delete peer.annotations![SERVED_ROOT_ANNOTATION];
    delete peer.annotations![OMLMD_METADATA_ANNOTATION];
    await (await client.repository(`${reg.host}/sr/mp`)).putManifest(Buffer.from(JSON.stringify(peer)), peer.mediaType!, 'peer');
    const kept = await modelCar(client, `${reg.host}/sr/mp:peer`, `${reg.host}/sr/mp:peer-data`, { dataOnly: true });
    assert.equal(kept.root, undefined);
    assert.deepEqual([...modelsUnder(await imageTree(`${reg.host}/sr/mp:peer-data`)).keys()].sort(), [...files.keys()].map((p) => `my-model/${p}`).sort());
  });
});
