import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { sha256 } from '../../src/core/oci/digest';
import { OciLayout, type LayoutRepository } from '../../src/core/oci/layout';
import { MediaType } from '../../src/core/oci/mediatypes';
import type { Descriptor } from '../../src/core/oci/types';
import { tempDir } from '../helpers/tmp';

/**
 * Our layouts against the real Debian tools: skopeo 1.9 (containers/image) and umoci 0.4.
 * Neither is optional here: a missing binary fails the test rather than skipping it.
 */

const run = promisify(execFile);
const FIXTURE = resolve(__dirname, '../fixtures/omlmd-0.1.6/layout');

async function tool(cmd: string, args: string[]): Promise<Buffer> {
  try {
    const { stdout } = await run(cmd, args, { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${err.stderr?.toString() || err.message}`, { cause: e });
  }
}

const skopeo = (...args: string[]): Promise<Buffer> => tool('skopeo', args);
const umoci = (...args: string[]): Promise<Buffer> => tool('umoci', args);

let base: string;
before(async () => {
  base = tempDir('omlmd-interop-');
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

async function put(repo: LayoutRepository, bytes: Buffer): Promise<string> {
  return (await repo.putBlob({ size: bytes.length, digest: sha256(bytes), open: () => Readable.from([bytes]) })).digest;
}

/** An omlmd 0.1.x-shaped model artifact, plus an OCI 1.1 artifact (empty config, artifactType). */
async function pushModel(repo: LayoutRepository, tag: string, seed: string): Promise<{ model: Buffer; artifact: Buffer }> {
  const config = Buffer.from(JSON.stringify({ name: seed, description: null }, null, 4));
  const layer = Buffer.from(`model bytes for ${seed}\n`.repeat(1000));
  const empty = Buffer.from('{}');
  for (const b of [config, layer, empty]) await put(repo, b);
  const layerDesc = { mediaType: 'application/x-mlmodel', digest: sha256(layer), size: layer.length, annotations: { 'org.opencontainers.image.title': `${seed}.onnx` } };
  const model = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: 'application/x-config', digest: sha256(config), size: config.length }, layers: [layerDesc], annotations: { name: seed } }, null, 2),
  );
  const artifact = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, artifactType: 'application/x-omlmd-test', config: { mediaType: MediaType.ociEmpty, digest: sha256(empty), size: 2 }, layers: [layerDesc] }),
  );
  await repo.putManifest(model, MediaType.ociManifest, tag);
  await repo.putManifest(artifact, MediaType.ociManifest, `${tag}-artifact`);
  return { model, artifact };
}

async function hashBlob(repo: LayoutRepository, desc: Descriptor): Promise<string> {
  const h = createHash('sha256');
  for await (const c of await repo.openBlob(desc)) h.update(c as Buffer);
  return `sha256:${h.digest('hex')}`;
}

/** Every blob of the manifest is present and hashes to its digest. */
async function assertComplete(repo: LayoutRepository, reference: string): Promise<void> {
  const f = await repo.fetchManifest(reference);
  assert.equal(f.kind, 'manifest');
  if (f.kind !== 'manifest') return;
  for (const d of [f.manifest.config, ...f.manifest.layers]) assert.equal(await hashBlob(repo, d), d.digest, `${reference}: ${d.digest}`);
}

describe('skopeo reads and writes our layouts', () => {
  it('skopeo inspect --raw returns our manifest bytes exactly', async () => {
    const dir = join(base, 'inspect');
    const repo = (await OciLayout.open(dir, { create: true })).repository();
    const { model, artifact } = await pushModel(repo, 'v1', 'inspect');
    assert.deepEqual(await skopeo('inspect', '--raw', `oci:${dir}:v1`), model);
    assert.deepEqual(await skopeo('inspect', '--raw', `oci:${dir}:v1-artifact`), artifact);
  });

  it('skopeo copy oci:A:t oci:B:t keeps the digest, and we read the layout skopeo wrote', async () => {
    const a = join(base, 'copy-a');
    const b = join(base, 'copy-b');
    const repo = (await OciLayout.open(a, { create: true })).repository();
    const { model, artifact } = await pushModel(repo, 't', 'copy');
    await skopeo('copy', '-q', `oci:${a}:t`, `oci:${b}:t`);
    await skopeo('copy', '-q', `oci:${a}:t-artifact`, `oci:${b}:t-artifact`);
    const written = JSON.parse(await readFile(join(b, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
    assert.deepEqual(
      written.manifests.map((d) => d.digest),
      [sha256(model), sha256(artifact)],
    );
    const fromSkopeo = (await OciLayout.open(b)).repository();
    assert.deepEqual(await fromSkopeo.listTags(), ['t', 't-artifact']);
    assert.deepEqual((await fromSkopeo.fetchManifest('t')).bytes, model);
    assert.deepEqual((await fromSkopeo.fetchManifest('t-artifact')).bytes, artifact);
    await assertComplete(fromSkopeo, 't');
    await assertComplete(fromSkopeo, 't-artifact');
  });

  it('skopeo writing into our layout keeps our entries, and our gc keeps what skopeo added', async () => {
    const dir = join(base, 'shared');
    const layout = await OciLayout.open(dir, { create: true });
    const store = layout.repository('models/ours');
    const { model } = await pushModel(store, 'v1', 'ours');
    await store.putManifest(model, MediaType.ociManifest, 'v1'); // no-op: same tag, same manifest
    const untagged = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociEmpty, digest: sha256('{}'), size: 2 }, layers: [] }));
    await layout.repository('models/untagged').putManifest(untagged, MediaType.ociManifest);

    await skopeo('copy', '-q', `oci:${FIXTURE}:single`, `oci:${dir}:single`);

    const whole = layout.repository();
    assert.deepEqual(await whole.listTags(), ['models/ours:v1', 'models/ours:v1-artifact', 'single']);
    assert.deepEqual(await store.listTags(), ['v1', 'v1-artifact']);
    assert.deepEqual((await layout.listRepositories()).repositories, ['models/ours', 'models/untagged']);
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { mediaType?: string };
    assert.equal(index.mediaType, MediaType.ociIndex, 'skopeo kept the index mediaType');

    assert.deepEqual(await layout.gc({ graceMs: 0 }), { blobs: [], tempFiles: 0, bytes: 0 });
    await assertComplete(whole, 'single');
    await assertComplete(store, 'v1');
    assert.equal((await whole.fetchManifest(sha256(untagged))).kind, 'manifest');
  });

  it('skopeo accepts locally-prefixed refs (models/mnist:v1) for reading and writing', async () => {
    const dir = join(base, 'prefixed');
    const layout = await OciLayout.open(dir, { create: true });
    const mnist = layout.repository('models/mnist');
    const { model, artifact } = await pushModel(mnist, 'v1', 'mnist');
    assert.deepEqual(await skopeo('inspect', '--raw', `oci:${dir}:models/mnist:v1`), model);
    assert.deepEqual(await skopeo('inspect', '--raw', `oci:${dir}:models/mnist:v1-artifact`), artifact);
    // skopeo writes a new tag of that repository, which we then list as one of its tags.
    await skopeo('copy', '-q', `oci:${dir}:models/mnist:v1`, `oci:${dir}:models/mnist:v2`);
    assert.deepEqual(await mnist.listTags(), ['v1', 'v1-artifact', 'v2']);
    assert.deepEqual((await mnist.fetchManifest('v2')).bytes, model);
    // And into a store repository from outside: the fixture lands as repository models/fixture.
    await skopeo('copy', '-q', `oci:${FIXTURE}:single`, `oci:${dir}:models/fixture:latest`);
    assert.deepEqual((await layout.listRepositories()).repositories, ['models/fixture', 'models/mnist']);
    await assertComplete(layout.repository('models/fixture'), 'latest');
  });
});

describe('umoci reads our layouts', () => {
  it('umoci ls lists our tags, plain and prefixed', async () => {
    const dir = join(base, 'umoci');
    const layout = await OciLayout.open(dir, { create: true });
    await pushModel(layout.repository(), 'plain', 'plain');
    await pushModel(layout.repository('models/mnist'), 'v1', 'mnist');
    const listed = (await umoci('ls', '--layout', dir)).toString('utf8').split('\n').filter(Boolean).sort();
    assert.deepEqual(listed, ['models/mnist:v1', 'models/mnist:v1-artifact', 'plain', 'plain-artifact']);
  });

  it('umoci gc and umoci tag leave a layout we still read in full', async () => {
    const dir = join(base, 'umoci-gc');
    const layout = await OciLayout.open(dir, { create: true });
    const repo = layout.repository();
    const { model } = await pushModel(repo, 'v1', 'gc');
    await mkdir(join(dir, 'ingest'), { recursive: true });
    await writeFile(join(dir, 'ingest', 'leftover'), 'partial');
    const blobsBefore = (await readdir(join(dir, 'blobs', 'sha256'))).sort();

    await umoci('gc', '--layout', dir);
    assert.deepEqual((await readdir(join(dir, 'blobs', 'sha256'))).sort(), blobsBefore, 'umoci gc found every blob reachable');
    assert.deepEqual(await readdir(join(dir, 'ingest')), ['leftover'], 'umoci leaves our ingest/ alone');
    await umoci('tag', '--image', `${dir}:v1`, 'v1-umoci');
    assert.deepEqual(await repo.listTags(), ['v1', 'v1-artifact', 'v1-umoci']);
    assert.deepEqual((await repo.fetchManifest('v1-umoci')).bytes, model);
    await assertComplete(repo, 'v1-artifact');
  });

  it('a copy of the omlmd 0.1.6 fixture that umoci rewrote is still read by us', async () => {
    const dir = join(base, 'fixture-umoci');
    await cp(FIXTURE, dir, { recursive: true });
    await umoci('tag', '--image', `${dir}:single`, 'again');
    const repo = (await OciLayout.open(dir)).repository();
    assert.deepEqual(await repo.listTags(), ['again', 'dir', 'empty', 'single']);
    await assertComplete(repo, 'again');
  });
});
