import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { OmlmdError } from '../../src/core/errors';
import { sha256 } from '../../src/core/oci/digest';
import { OciLayout, REPOSITORY_ANNOTATION, type LayoutRepository } from '../../src/core/oci/layout';
import { MediaType } from '../../src/core/oci/mediatypes';
import type { BlobInput } from '../../src/core/oci/store';

const LAYOUT_TS = resolve(__dirname, '../../src/core/oci/layout.ts');
const FIXTURE = resolve(__dirname, '../fixtures/omlmd-0.1.6');
const REF_NAME = 'org.opencontainers.image.ref.name';

let base: string;
before(async () => {
  base = await mkdtemp(join(tmpdir(), 'omlmd-layout-'));
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

let counter = 0;
function freshDir(): string {
  return join(base, `l${++counter}`);
}

async function newLayout(): Promise<OciLayout> {
  return OciLayout.open(freshDir(), { create: true });
}

function input(bytes: Buffer, digest?: string, chunk = 7): BlobInput & { opens: number } {
  const inp = {
    opens: 0,
    size: bytes.length,
    digest,
    open(): Readable {
      inp.opens++;
      const parts: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += chunk) parts.push(bytes.subarray(i, i + chunk));
      return Readable.from(parts);
    },
  };
  return inp;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function indexJson(layout: OciLayout): Promise<{ manifests: { digest: string; mediaType: string; size: number; annotations?: Record<string, string> }[] }> {
  return JSON.parse(await readFile(join(layout.root, 'index.json'), 'utf8')) as { manifests: { digest: string; mediaType: string; size: number; annotations?: Record<string, string> }[] };
}

async function ls(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}

/** Pushes a config and layers, returns the manifest bytes (not yet pushed) that reference them. */
async function makeManifest(repo: LayoutRepository, layers: string[], extra: Record<string, unknown> = {}): Promise<Buffer> {
  const config = Buffer.from('{}');
  await repo.putBlob(input(config, sha256(config)));
  const descs = [];
  for (const l of layers) {
    const b = Buffer.from(l);
    await repo.putBlob(input(b));
    descs.push({ mediaType: 'application/x-mlmodel', digest: sha256(b), size: b.length });
  }
  // Odd spacing on purpose: stored bytes must be exactly these, not a re-serialisation.
  const text = JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, artifactType: 'application/x-test', config: { mediaType: MediaType.ociEmpty, digest: sha256(config), size: 2 }, layers: descs, ...extra }, null, 3);
  return Buffer.from(text + '\n');
}

async function rejectsCode(p: Promise<unknown>, code: string, message?: RegExp): Promise<OmlmdError> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof OmlmdError, `expected OmlmdError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (message) assert.match(caught.message, message);
  return caught;
}

describe('OciLayout open/create', () => {
  it('creates oci-layout, an empty index.json and blobs/sha256', async () => {
    const dir = freshDir();
    const layout = await OciLayout.open(dir, { create: true });
    assert.equal(layout.root, resolve(dir));
    assert.deepEqual(JSON.parse(await readFile(join(dir, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
    assert.deepEqual(JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')), { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] });
    assert.ok((await stat(join(dir, 'blobs', 'sha256'))).isDirectory());
    // Opening again without create works, and create on an existing layout changes nothing.
    const again = await OciLayout.open(dir);
    assert.deepEqual(await again.repository().listTags(), []);
    await OciLayout.open(dir, { create: true });
    assert.deepEqual(JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')).manifests, []);
  });

  it('refuses a missing or invalid layout without create, naming the path and the fix', async () => {
    const missing = freshDir();
    const e = await rejectsCode(OciLayout.open(missing), 'NOT_FOUND');
    assert.ok(e.message.includes(missing), e.message);
    assert.deepEqual(e.remedies, [{ kind: 'check-file', path: missing, setting: 'layout' }]);
    await assert.rejects(stat(missing), 'open without create must not create the directory');

    const empty = freshDir();
    await mkdir(empty);
    await rejectsCode(OciLayout.open(empty), 'NOT_FOUND', /oci-layout/);

    const noIndex = freshDir();
    await mkdir(noIndex);
    await writeFile(join(noIndex, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await rejectsCode(OciLayout.open(noIndex), 'NOT_FOUND', /index\.json/);

    const garbage = freshDir();
    await mkdir(garbage);
    await writeFile(join(garbage, 'oci-layout'), 'not json');
    await rejectsCode(OciLayout.open(garbage), 'NOT_FOUND');

    const future = freshDir();
    await mkdir(future);
    await writeFile(join(future, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
    await writeFile(join(future, 'index.json'), '{"schemaVersion":2,"manifests":[]}');
    await rejectsCode(OciLayout.open(future), 'UNSUPPORTED', /2\.0\.0/);

    const file = join(base, 'a-file');
    await writeFile(file, 'x');
    await rejectsCode(OciLayout.open(join(file, 'sub'), { create: true }), 'NOT_FOUND');
  });
});

describe('blobs', () => {
  it('round-trips a blob with a known digest', async () => {
    const repo = (await newLayout()).repository();
    const bytes = Buffer.from('hello layout, a blob of some length');
    const digest = sha256(bytes);
    let counted = 0;
    const ref = await repo.putBlob(input(bytes, digest), { onBytes: (n) => (counted += n) });
    assert.deepEqual(ref, { digest, size: bytes.length });
    assert.equal(counted, bytes.length);
    assert.deepEqual(await readFile(join(repo.layout.root, 'blobs', 'sha256', digest.slice(7))), bytes);
    assert.equal(await repo.statBlob(digest), bytes.length);
    assert.deepEqual(await readAll(await repo.openBlob({ mediaType: 'x', digest, size: bytes.length })), bytes);
    assert.deepEqual(await ls(join(repo.layout.root, 'ingest')), []);
  });

  it('hashes a blob whose digest is not known in advance', async () => {
    const repo = (await newLayout()).repository();
    const bytes = Buffer.from('no digest given');
    const ref = await repo.putBlob(input(bytes));
    assert.equal(ref.digest, sha256(bytes));
    assert.equal(await repo.statBlob(ref.digest), bytes.length);
    assert.equal(await repo.statBlob(sha256('absent')), undefined);
  });

  it('skips a blob already present without opening the input', async () => {
    const repo = (await newLayout()).repository();
    const bytes = Buffer.from('present already');
    await repo.putBlob(input(bytes));
    const again = input(bytes, sha256(bytes));
    again.open = () => {
      throw new Error('must not be opened');
    };
    assert.deepEqual(await repo.putBlob(again), { digest: sha256(bytes), size: bytes.length });
  });

  it('replaces a present blob of the wrong size (left by a crashed tool)', async () => {
    const repo = (await newLayout()).repository();
    const bytes = Buffer.from('the real content');
    const file = join(repo.layout.root, 'blobs', 'sha256', sha256(bytes).slice(7));
    await writeFile(file, 'trunc');
    const inp = input(bytes, sha256(bytes));
    await repo.putBlob(inp);
    assert.equal(inp.opens, 1);
    assert.deepEqual(await readFile(file), bytes);
  });

  it('a digest mismatch leaves nothing in blobs/ or ingest/', async () => {
    const layout = await newLayout();
    const repo = layout.repository();
    const bytes = Buffer.from('these bytes are not what the digest says');
    const claimed = sha256('something else');
    const e = await rejectsCode(repo.putBlob(input(bytes, claimed)), 'DIGEST_MISMATCH');
    assert.ok(e.message.includes(claimed) && e.message.includes(sha256(bytes)), e.message);
    assert.deepEqual(await ls(join(layout.root, 'blobs', 'sha256')), []);
    assert.deepEqual(await ls(join(layout.root, 'ingest')), []);
  });

  it('a size mismatch (short or long source) leaves nothing behind', async () => {
    const layout = await newLayout();
    const repo = layout.repository();
    const bytes = Buffer.from('0123456789');
    await rejectsCode(repo.putBlob({ ...input(bytes), size: 11 }), 'SIZE_MISMATCH');
    await rejectsCode(repo.putBlob({ ...input(bytes), size: 4 }), 'SIZE_MISMATCH');
    await rejectsCode(repo.putBlob({ ...input(bytes, sha256(bytes)), size: 9 }), 'SIZE_MISMATCH');
    assert.deepEqual(await ls(join(layout.root, 'blobs', 'sha256')), []);
    assert.deepEqual(await ls(join(layout.root, 'ingest')), []);
  });

  it('an abort mid-stream throws CANCELLED and leaves nothing behind', async () => {
    const layout = await newLayout();
    const repo = layout.repository();
    const ac = new AbortController();
    let sent = 0;
    const endless = new Readable({
      read() {
        // Trickle so the abort lands while the pipeline is running.
        setTimeout(() => this.push(Buffer.alloc(1024, 1)), 2);
      },
    });
    const p = repo.putBlob({ size: 1 << 30, open: () => endless }, {
      signal: ac.signal,
      onBytes: (n) => {
        sent += n;
        if (sent >= 8 * 1024) ac.abort();
      },
    });
    await rejectsCode(p, 'CANCELLED');
    assert.ok(sent >= 8 * 1024);
    assert.deepEqual(await ls(join(layout.root, 'blobs', 'sha256')), []);
    assert.deepEqual(await ls(join(layout.root, 'ingest')), []);
    assert.ok(endless.destroyed, 'the source is closed');
  });

  it('reads from an offset, in chunks of at most 1 MiB', async () => {
    const repo = (await newLayout()).repository();
    const bytes = Buffer.alloc(3 * 1024 * 1024 + 5);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31) & 0xff;
    const { digest } = await repo.putBlob(input(bytes, undefined, 65536));
    const desc = { mediaType: 'x', digest, size: bytes.length };
    const stream = await repo.openBlob(desc, { offset: 1234567 });
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    assert.ok(chunks.every((c) => c.length <= 1024 * 1024));
    assert.ok(chunks.some((c) => c.length === 1024 * 1024), 'reads use 1 MiB chunks');
    assert.deepEqual(Buffer.concat(chunks), bytes.subarray(1234567));
    assert.equal((await readAll(await repo.openBlob(desc, { offset: bytes.length }))).length, 0);
    await rejectsCode(repo.openBlob(desc, { offset: bytes.length + 1 }), 'SIZE_INVALID');
    await rejectsCode(repo.openBlob({ ...desc, digest: sha256('nope') }), 'BLOB_UNKNOWN');
  });

  it('never turns an untrusted digest into a path outside the layout', async () => {
    const layout = await newLayout();
    const repo = layout.repository();
    await rejectsCode(repo.openBlob({ mediaType: 'x', digest: 'sha256:../../../etc/passwd', size: 1 }), 'DIGEST_INVALID');
    await rejectsCode(repo.statBlob('../index.json'), 'DIGEST_INVALID');
    await rejectsCode(repo.putBlob(input(Buffer.from('x'), 'sha256:../../x')), 'DIGEST_INVALID');
    await rejectsCode(repo.fetchManifest('sha256:../../oci-layout'), 'DIGEST_INVALID');
    await writeFile(join(layout.root, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MediaType.ociManifest, digest: 'sha256:../../../etc/passwd', size: 10, annotations: { [REF_NAME]: 'evil' } }] }));
    await rejectsCode(repo.fetchManifest('evil'), 'DIGEST_INVALID');
  });
});

describe('manifests and tags', () => {
  it('stores manifest bytes exactly and fetches them by tag and by digest', async () => {
    const layout = await newLayout();
    const repo = layout.repository();
    const bytes = await makeManifest(repo, ['model bytes']);
    const desc = await repo.putManifest(bytes, MediaType.ociManifest, 'v1');
    assert.deepEqual(desc, { mediaType: MediaType.ociManifest, digest: sha256(bytes), size: bytes.length });
    for (const ref of ['v1', sha256(bytes)]) {
      const f = await repo.fetchManifest(ref);
      assert.equal(f.kind, 'manifest');
      assert.deepEqual(f.bytes, bytes);
      assert.deepEqual(f.descriptor, desc);
      assert.deepEqual(await repo.resolve(ref), desc);
    }
    const index = await indexJson(layout);
    assert.deepEqual(index.manifests, [{ ...desc, annotations: { [REF_NAME]: 'v1' } }]);
    assert.deepEqual(await repo.listTags(), ['v1']);
  });

  it('names the tag and the layout when a tag is unknown', async () => {
    const layout = await newLayout();
    const repo = layout.repository();
    await repo.putManifest(await makeManifest(repo, ['a']), MediaType.ociManifest, 'there');
    const e = await rejectsCode(repo.fetchManifest('nope'), 'MANIFEST_UNKNOWN');
    assert.equal(e.message, `tag nope not found in oci:${layout.path}`);
    assert.deepEqual(e.remedies, [{ kind: 'say', text: 'its tags: there' }]);
    await rejectsCode(repo.resolve('nope'), 'MANIFEST_UNKNOWN');
    await rejectsCode(repo.fetchManifest(sha256('no such manifest')), 'MANIFEST_UNKNOWN');
  });

  it('moves a tag to a new manifest', async () => {
    const layout = await newLayout();
    const repo = layout.repository();
    const m1 = await makeManifest(repo, ['one']);
    const m2 = await makeManifest(repo, ['two']);
    await repo.putManifest(m1, MediaType.ociManifest, 'v1');
    await repo.putManifest(m1, MediaType.ociManifest, 'stable');
    await repo.putManifest(m2, MediaType.ociManifest, 'v1');
    assert.deepEqual((await repo.fetchManifest('v1')).bytes, m2);
    assert.deepEqual((await repo.fetchManifest('stable')).bytes, m1);
    const entries = (await indexJson(layout)).manifests;
    assert.equal(entries.length, 2);
    assert.deepEqual(entries.map((e) => e.annotations?.[REF_NAME]).sort(), ['stable', 'v1']);
  });

  it('adds an untagged manifest once, and drops that entry once it is tagged', async () => {
    const layout = await newLayout();
    const repo = layout.repository();
    const m = await makeManifest(repo, ['untagged']);
    await repo.putManifest(m, MediaType.ociManifest);
    await repo.putManifest(m, MediaType.ociManifest);
    let entries = (await indexJson(layout)).manifests;
    assert.deepEqual(entries, [{ mediaType: MediaType.ociManifest, digest: sha256(m), size: m.length }]);
    assert.deepEqual(await repo.listTags(), []);
    await repo.putManifest(m, MediaType.ociManifest, 't');
    entries = (await indexJson(layout)).manifests;
    assert.equal(entries.length, 1);
    assert.equal(entries[0]?.annotations?.[REF_NAME], 't');
    // Pushing it untagged again: already reachable, no new entry.
    await repo.putManifest(m, MediaType.ociManifest);
    assert.equal((await indexJson(layout)).manifests.length, 1);
  });

  it('refuses a manifest whose blobs are missing, and bad tags', async () => {
    const layout = await newLayout();
    const repo = layout.repository();
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociEmpty, digest: sha256('{}'), size: 2 }, layers: [] }));
    await rejectsCode(repo.putManifest(bytes, MediaType.ociManifest, 'v1'), 'MANIFEST_BLOB_UNKNOWN', /sha256:44136fa/);
    assert.deepEqual((await indexJson(layout)).manifests, []);
    const ok = await makeManifest(repo, ['x']);
    await rejectsCode(repo.putManifest(ok, MediaType.ociManifest, 'has space'), 'INVALID_REFERENCE');
    await rejectsCode(repo.putManifest(ok, MediaType.ociIndex, 'v1'), 'INVALID_MANIFEST');
    await rejectsCode(repo.putManifest(Buffer.from('not json'), MediaType.ociManifest, 'v1'), 'INVALID_MANIFEST');
    assert.deepEqual((await indexJson(layout)).manifests, []);
  });

  it('fetches a child manifest that index.json does not list, and an index by tag', async () => {
    const layout = await newLayout();
    const repo = layout.repository();
    const child = await makeManifest(repo, ['child layer']);
    await repo.putBlob(input(child, sha256(child)));
    const idx = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [{ mediaType: MediaType.ociManifest, digest: sha256(child), size: child.length }] }));
    await repo.putManifest(idx, MediaType.ociIndex, 'multi');
    const fi = await repo.fetchManifest('multi');
    assert.equal(fi.kind, 'index');
    const fc = await repo.fetchManifest(sha256(child));
    assert.equal(fc.kind, 'manifest');
    assert.equal(fc.descriptor.mediaType, MediaType.ociManifest);
    assert.deepEqual(fc.bytes, child);
  });

  it('reports a corrupt manifest blob as a digest mismatch naming the file', async () => {
    const layout = await newLayout();
    const repo = layout.repository();
    const m = await makeManifest(repo, ['c']);
    await repo.putManifest(m, MediaType.ociManifest, 'v1');
    const file = join(layout.root, 'blobs', 'sha256', sha256(m).slice(7));
    const tampered = Buffer.from(m);
    tampered[tampered.length - 1] = 0x20;
    await writeFile(file, tampered);
    const e = await rejectsCode(repo.fetchManifest('v1'), 'DIGEST_MISMATCH');
    assert.ok(e.message.includes(file), e.message);
    await rejectsCode(repo.fetchManifest(sha256(m)), 'DIGEST_MISMATCH');
  });
});

describe('prefixed repositories (the local store)', () => {
  it('isolates tags per repository and stores fully qualified ref names', async () => {
    const layout = await newLayout();
    const mnist = layout.repository('models/mnist');
    const other = layout.repository('models/other');
    const parent = layout.repository('models');
    assert.equal(mnist.description, 'models/mnist (local store)');
    const m1 = await makeManifest(mnist, ['mnist']);
    const m2 = await makeManifest(other, ['other']);
    await mnist.putManifest(m1, MediaType.ociManifest, 'v1');
    await mnist.putManifest(m1, MediaType.ociManifest, 'latest');
    await other.putManifest(m2, MediaType.ociManifest, 'v1');
    await parent.putManifest(m2, MediaType.ociManifest, 'v9');
    assert.deepEqual(await mnist.listTags(), ['latest', 'v1']);
    assert.deepEqual(await other.listTags(), ['v1']);
    assert.deepEqual(await parent.listTags(), ['v9']);
    assert.deepEqual((await mnist.fetchManifest('v1')).bytes, m1);
    assert.deepEqual((await other.fetchManifest('v1')).bytes, m2);
    await rejectsCode(other.fetchManifest('latest'), 'MANIFEST_UNKNOWN', /models\/other/);
    const refs = (await indexJson(layout)).manifests.map((e) => e.annotations?.[REF_NAME]).sort();
    assert.deepEqual(refs, ['models/mnist:latest', 'models/mnist:v1', 'models/other:v1', 'models:v9']);
    // The whole layout, unprefixed, sees the qualified names as they are.
    assert.deepEqual(await layout.repository().listTags(), refs);
    assert.deepEqual((await layout.repository().fetchManifest('models/mnist:v1')).bytes, m1);
    // Blobs are shared: the config blob exists once.
    assert.equal((await ls(join(layout.root, 'blobs', 'sha256'))).filter((n) => n === sha256('{}').slice(7)).length, 1);
    await rejectsCode(mnist.putManifest(m1, MediaType.ociManifest, 'bad:tag'), 'INVALID_REFERENCE');
    assert.throws(() => layout.repository('Bad/Name'), (e: unknown) => OmlmdError.is(e, 'NAME_INVALID'));
  });

  it('keeps untagged manifests attributable and lists repositories with paging', async () => {
    const layout = await newLayout();
    const a = layout.repository('a/x');
    const m = await makeManifest(a, ['untagged in a/x']);
    await a.putManifest(m, MediaType.ociManifest);
    await a.putManifest(m, MediaType.ociManifest);
    const entries = (await indexJson(layout)).manifests;
    assert.deepEqual(entries, [{ mediaType: MediaType.ociManifest, digest: sha256(m), size: m.length, annotations: { [REPOSITORY_ANNOTATION]: 'a/x' } }]);
    // The same manifest untagged in another repository is that repository's own entry.
    await layout.repository('b').putManifest(m, MediaType.ociManifest);
    assert.equal((await indexJson(layout)).manifests.length, 2);
    for (const name of ['c', 'd/e', 'f']) {
      const r = layout.repository(name);
      await r.putManifest(await makeManifest(r, [name]), MediaType.ociManifest, 'v1');
    }
    // A plain tag someone else wrote into the store is no repository.
    await layout.repository().putManifest(m, MediaType.ociManifest, 'plain');

    assert.deepEqual(await layout.listRepositories(), { repositories: ['a/x', 'b', 'c', 'd/e', 'f'] });
    const p1 = await layout.listRepositories({ n: 2 });
    assert.deepEqual(p1, { repositories: ['a/x', 'b'], next: 'b' });
    const p2 = await layout.listRepositories({ n: 2, last: p1.next });
    assert.deepEqual(p2, { repositories: ['c', 'd/e'], next: 'd/e' });
    const p3 = await layout.listRepositories({ n: 2, last: p2.next });
    assert.deepEqual(p3, { repositories: ['f'] });
    assert.deepEqual(await layout.listRepositories({ last: 'f' }), { repositories: [] });
    assert.deepEqual(await layout.listRepositories({ n: 5 }), { repositories: ['a/x', 'b', 'c', 'd/e', 'f'] });
  });
});

describe('deleting and gc', () => {
  it('deleteTag removes only that tag, NOT_FOUND when absent', async () => {
    const layout = await newLayout();
    const repo = layout.repository('r');
    const m = await makeManifest(repo, ['d']);
    await repo.putManifest(m, MediaType.ociManifest, 'v1');
    await repo.putManifest(m, MediaType.ociManifest, 'v2');
    await layout.repository('s').putManifest(m, MediaType.ociManifest, 'v1');
    await repo.deleteTag('v1');
    assert.deepEqual(await repo.listTags(), ['v2']);
    assert.deepEqual(await layout.repository('s').listTags(), ['v1']);
    await rejectsCode(repo.deleteTag('v1'), 'NOT_FOUND', /v1/);
  });

  it('deleteManifest removes every entry of this repository for the digest', async () => {
    const layout = await newLayout();
    const repo = layout.repository('r');
    const other = layout.repository('s');
    const m = await makeManifest(repo, ['d']);
    await repo.putManifest(m, MediaType.ociManifest, 'v1');
    await repo.putManifest(m, MediaType.ociManifest, 'v2');
    await other.putManifest(m, MediaType.ociManifest, 'keep');
    await repo.deleteManifest(sha256(m));
    assert.deepEqual(await repo.listTags(), []);
    assert.deepEqual(await other.listTags(), ['keep']);
    await rejectsCode(repo.deleteManifest(sha256(m)), 'MANIFEST_UNKNOWN');
    // The whole layout's view removes everything for that digest.
    await layout.repository().deleteManifest(sha256(m));
    assert.deepEqual((await indexJson(layout)).manifests, []);
    // Blobs stay until gc.
    assert.equal(await repo.statBlob(sha256(m)), m.length);
  });

  it('gc frees what nothing reaches, keeps shared blobs and index children', async () => {
    const layout = await newLayout();
    const repo = layout.repository();
    const keep = await makeManifest(repo, ['shared layer', 'kept layer']);
    const drop = await makeManifest(repo, ['shared layer', 'dropped layer']);
    const child = await makeManifest(repo, ['child only layer']);
    await repo.putBlob(input(child, sha256(child)));
    const idx = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [{ mediaType: MediaType.ociManifest, digest: sha256(child), size: child.length }] }));
    await repo.putManifest(keep, MediaType.ociManifest, 'keep');
    await repo.putManifest(drop, MediaType.ociManifest, 'drop');
    await repo.putManifest(idx, MediaType.ociIndex, 'idx');
    await repo.putBlob(input(Buffer.from('orphan')));
    await mkdir(join(layout.root, 'ingest'), { recursive: true });
    await writeFile(join(layout.root, 'ingest', 'left-by-a-crash'), 'partial');

    // Within the grace period nothing goes: a push may be between its blobs and its manifest.
    assert.deepEqual(await layout.gc(), { blobs: [], tempFiles: 0, bytes: 0 });

    await repo.deleteTag('drop');
    const freed = await layout.gc({ graceMs: 0 });
    const expected = [sha256(drop), sha256('dropped layer'), sha256('orphan')].sort();
    assert.deepEqual(freed.blobs, expected);
    assert.equal(freed.tempFiles, 1);
    assert.equal(freed.bytes, drop.length + 'dropped layer'.length + 'orphan'.length + 'partial'.length);
    for (const d of expected) assert.equal(await repo.statBlob(d), undefined);
    for (const d of [sha256(keep), sha256('shared layer'), sha256('kept layer'), sha256('{}'), sha256(idx), sha256(child), sha256('child only layer')]) {
      assert.notEqual(await repo.statBlob(d), undefined, d);
    }
    assert.deepEqual((await repo.fetchManifest('keep')).bytes, keep);
    assert.deepEqual(await layout.gc({ graceMs: 0 }), { blobs: [], tempFiles: 0, bytes: 0 });
  });

  it('gc removes nothing when a reachable manifest cannot be parsed', async () => {
    const layout = await newLayout();
    const repo = layout.repository();
    await repo.putBlob(input(Buffer.from('orphan')));
    const junk = Buffer.from('{"not":"a manifest"}');
    await repo.putBlob(input(junk));
    const index = { schemaVersion: 2, manifests: [{ mediaType: MediaType.ociManifest, digest: sha256(junk), size: junk.length }] };
    await writeFile(join(layout.root, 'index.json'), JSON.stringify(index));
    await rejectsCode(layout.gc({ graceMs: 0 }), 'INVALID_MANIFEST', /nothing was removed/);
    assert.equal(await repo.statBlob(sha256('orphan')), 6);
  });
});

describe('concurrent writers', () => {
  it('20 parallel putManifest from separate instances all land in index.json', async () => {
    const dir = freshDir();
    const setup = (await OciLayout.open(dir, { create: true })).repository();
    const m = await makeManifest(setup, ['concurrency']);
    const tags = Array.from({ length: 20 }, (_, i) => `t${i}`);
    await Promise.all(
      tags.map(async (tag) => {
        const layout = await OciLayout.open(dir);
        await layout.repository().putManifest(m, MediaType.ociManifest, tag);
      }),
    );
    assert.deepEqual(await setup.listTags(), [...tags].sort());
    assert.deepEqual(await ls(join(dir, 'ingest')), []);
    await assert.rejects(stat(join(dir, 'index.json.lock')));
  });

  it('two child processes and this one pushing at once lose no tag', async () => {
    const dir = freshDir();
    const setup = (await OciLayout.open(dir, { create: true })).repository();
    const m = await makeManifest(setup, ['multi-process']);
    await writeFile(join(dir, '..', 'manifest.bin'), m);
    const worker = join(base, 'worker.ts');
    await writeFile(
      worker,
      `import { readFileSync } from 'node:fs';
import { OciLayout } from ${JSON.stringify(LAYOUT_TS)};
const [dir, manifestFile, prefix] = process.argv.slice(2) as [string, string, string];
const bytes = readFileSync(manifestFile);
void Promise.all(Array.from({ length: 10 }, async (_, i) => {
  const layout = await OciLayout.open(dir);
  await layout.repository('models/' + prefix).putManifest(bytes, 'application/vnd.oci.image.manifest.v1+json', 'v' + i);
})).catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
`,
    );
    const run = (prefix: string): Promise<void> =>
      new Promise((res, rej) => {
        const child = spawn(process.execPath, ['--import', 'tsx', worker, dir, join(dir, '..', 'manifest.bin'), prefix], { cwd: resolve(__dirname, '../..'), stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.on('error', rej);
        child.on('exit', (code) => (code === 0 ? res() : rej(new Error(`worker ${prefix} exited ${code}: ${err}`))));
      });
    const local = Promise.all(Array.from({ length: 10 }, async (_, i) => (await OciLayout.open(dir)).repository('models/c').putManifest(m, MediaType.ociManifest, `v${i}`)));
    await Promise.all([run('a'), run('b'), local]);
    const tags = Array.from({ length: 10 }, (_, i) => `v${i}`).sort();
    const layout = await OciLayout.open(dir);
    for (const p of ['a', 'b', 'c']) assert.deepEqual(await layout.repository(`models/${p}`).listTags(), tags, p);
    assert.equal((await indexJson(layout)).manifests.length, 30);
    assert.deepEqual((await layout.listRepositories()).repositories, ['models/a', 'models/b', 'models/c']);
  });

  it('breaks a stale lock, waits for a live one, and gives up with CONFLICT', async () => {
    const dir = freshDir();
    const layout = await OciLayout.open(dir, { create: true });
    const repo = layout.repository();
    const m = await makeManifest(repo, ['locks']);
    const lock = join(dir, 'index.json.lock');

    await writeFile(lock, 'a dead process');
    const old = new Date(Date.now() - 120_000);
    await utimes(lock, old, old);
    await repo.putManifest(m, MediaType.ociManifest, 'after-stale');
    await assert.rejects(stat(lock));

    await writeFile(lock, 'a live process');
    const released = new Promise<void>((res) => setTimeout(() => void rm(lock).then(res), 150));
    const t0 = Date.now();
    await repo.putManifest(m, MediaType.ociManifest, 'after-wait');
    await released;
    assert.ok(Date.now() - t0 >= 140, 'it waited for the lock');

    const impatient = await OciLayout.open(dir, { lockTimeoutMs: 200 });
    await writeFile(lock, 'a live process');
    const e = await rejectsCode(impatient.repository().putManifest(m, MediaType.ociManifest, 'never'), 'CONFLICT');
    assert.ok(e.message.includes(lock), e.message);
    assert.deepEqual(e.remedies, [{ kind: 'remove-stale-lock', path: lock }]);
    assert.equal(await readFile(lock, 'utf8'), 'a live process', 'a live lock is not touched');
    await rm(lock);
    assert.deepEqual(await repo.listTags(), ['after-stale', 'after-wait']);
  });

  it('a lock left by a process that is gone is broken at once, however young; a cancelled wait is CANCELLED', async () => {
    const dir = freshDir();
    const layout = await OciLayout.open(dir, { create: true });
    const repo = layout.repository();
    const m = await makeManifest(repo, ['dead-lock']);
    const lock = join(dir, 'index.json.lock');
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    await writeFile(lock, `${child.stdout.toString()} ${hostname()} 0123abcd`);
    await repo.putManifest(m, MediaType.ociManifest, 'after-dead');
    await assert.rejects(stat(lock), 'released, and not left behind');
    assert.deepEqual(await repo.listTags(), ['after-dead']);

    await writeFile(lock, 'a live process');
    const c = new AbortController();
    const waiting = repo.putManifest(m, MediaType.ociManifest, 'never', { signal: c.signal });
    setTimeout(() => c.abort(), 50);
    await rejectsCode(waiting, 'CANCELLED');
    assert.equal(await readFile(lock, 'utf8'), 'a live process');
    await rm(lock);
    assert.deepEqual(await ls(join(dir, 'ingest')), [], 'the index was written through ingest/ and nothing is left there');
  });
});

describe('a layout written by skopeo (omlmd 0.1.6 fixture)', () => {
  let dir: string;
  before(async () => {
    dir = join(base, 'fixture');
    await cp(join(FIXTURE, 'layout'), dir, { recursive: true });
  });

  it('lists the tags and reads single: manifest, config and layers verified', async () => {
    const layout = await OciLayout.open(dir);
    const repo = layout.repository();
    assert.deepEqual(await repo.listTags(), ['dir', 'empty', 'single']);
    const f = await repo.fetchManifest('single');
    assert.equal(f.kind, 'manifest');
    if (f.kind !== 'manifest') return;
    assert.equal(f.descriptor.digest, 'sha256:7ea9d6e76017b2ab11a1ed1ba969b376f397b0e711d915a7e1bc92a26edf0f3f');
    const config = JSON.parse((await readAll(await repo.openBlob(f.manifest.config))).toString('utf8')) as Record<string, unknown>;
    assert.equal(config.name, 'MNIST classifier');
    assert.equal(config.author, 'John Doe');
    for (const layer of f.manifest.layers) {
      const h = createHash('sha256');
      let n = 0;
      for await (const c of await repo.openBlob(layer)) {
        h.update(c as Buffer);
        n += (c as Buffer).length;
      }
      assert.equal(`sha256:${h.digest('hex')}`, layer.digest);
      assert.equal(n, layer.size);
    }
    const model = f.manifest.layers.find((l) => l.annotations?.['org.opencontainers.image.title'] === 'mnist.onnx');
    assert.ok(model);
    assert.deepEqual(await readAll(await repo.openBlob(model)), await readFile(join(FIXTURE, 'mnist.onnx.original')));
    for (const tag of ['dir', 'empty']) assert.equal((await repo.fetchManifest(tag)).kind, 'manifest');
  });

  it('adds a tag to it without disturbing the others', async () => {
    const layout = await OciLayout.open(dir);
    const repo = layout.repository();
    const single = await repo.fetchManifest('single');
    await repo.putManifest(single.bytes, MediaType.ociManifest, 'copy');
    assert.deepEqual(await repo.listTags(), ['copy', 'dir', 'empty', 'single']);
    assert.equal((await repo.resolve('copy')).digest, single.descriptor.digest);
    assert.deepEqual(await layout.gc({ graceMs: 0 }), { blobs: [], tempFiles: 0, bytes: 0 });
  });

  it('reading writes nothing into the layout', async () => {
    const fresh = join(base, 'fixture-read');
    await cp(join(FIXTURE, 'layout'), fresh, { recursive: true });
    const snapshot = async (): Promise<string[]> => {
      const out: string[] = [];
      for (const name of (await readdir(fresh, { recursive: true })).sort()) {
        const st = await stat(join(fresh, name));
        out.push(`${name} ${st.size} ${st.mtimeMs}`);
      }
      return out;
    };
    const before = await snapshot();
    const layout = await OciLayout.open(fresh);
    const repo = layout.repository();
    const f = await repo.fetchManifest('single');
    await repo.resolve('dir');
    await repo.listTags();
    await layout.listRepositories();
    await readAll(await repo.openBlob(f.descriptor));
    assert.deepEqual(await snapshot(), before);
  });
});
