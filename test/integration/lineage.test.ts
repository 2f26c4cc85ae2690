/**
 * Referrers against the real registry (distribution 2.8.2: no referrers API, so the tag
 * schema runs for real), the same through a thin front that adds the API, and in OCI
 * layouts and the local store: attach, discover (filter, tree), concurrent attaches from two
 * processes, delete, copy --recursive.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OmlmdClient } from '../../src/core/client';
import { attach, copyRecursive, detach, discover, resolveSubject } from '../../src/core/lineage/api';
import { attachFiles } from '../../src/core/lineage/attach';
import { readReferrersIndex } from '../../src/core/lineage/referrers';
import { referrersTag } from '../../src/core/oci/referrers-tag';
import { runCli } from '../helpers/cli';
import { startReferrersFront, type ReferrersFront } from '../helpers/referrersfront';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { tempDir } from '../helpers/tmp';

describe('referrers: attach, discover, delete, copy --recursive', () => {
  let reg: RunningRegistry;
  let other: RunningRegistry;
  let work: string;
  let client: OmlmdClient;
  let env: NodeJS.ProcessEnv;
  const fronts: ReferrersFront[] = [];

  before(async () => {
    [reg, other] = await Promise.all([startRegistry(), startRegistry()]);
    work = tempDir('omlmd-lineage-');
    client = new OmlmdClient({ home: join(work, 'home') });
    env = { OMLMD_HOME: join(work, 'home') };
    writeFileSync(join(work, 'model.onnx'), randomBytes(50_000));
    writeFileSync(join(work, 'card.md'), '# Model card\n');
    writeFileSync(join(work, 'eval.json'), '{"accuracy":0.97}');
    writeFileSync(join(work, 'sbom.spdx.json'), '{"spdxVersion":"SPDX-2.3"}');
    writeFileSync(join(work, 'sig.txt'), 'signature');
  });
  after(async () => {
    for (const f of fronts) await f.close();
    await Promise.all([reg?.stop(), other?.stop()]);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const pushModel = async (ref: string) => {
    const r = await runCli(['push', ref, join(work, 'model.onnx'), '--name', 'm'], { env });
    assert.equal(r.code, 0, r.stderr);
    return /@(sha256:[a-f0-9]{64})/.exec(r.stdout)![1]!;
  };

  test('attach pushes an artifact whose subject is the model; the tag schema index lists it with artifactType and annotations', async () => {
    const digest = await pushModel(`${reg.host}/lin/a:v1`);
    const r = await runCli(['attach', `${reg.host}/lin/a:v1`, join(work, 'card.md'), '--artifact-type', 'application/vnd.test.card', '-a', 'team=ml', '--json'], { env });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { digest: string; subject: { digest: string }; source: string; files: { title: string; mediaType: string }[] };
    assert.equal(out.subject.digest, digest);
    assert.equal(out.source, 'tag-schema', 'distribution has no referrers API');
    assert.deepEqual(out.files.map((f) => [f.title, f.mediaType]), [['card.md', 'text/markdown']]);

    const repo = await client.repository(`${reg.host}/lin/a`);
    const manifest = await repo.fetchManifest(out.digest);
    assert.equal(manifest.kind, 'manifest');
    if (manifest.kind !== 'manifest') return;
    assert.equal(manifest.manifest.subject?.digest, digest);
    assert.equal(manifest.manifest.artifactType, 'application/vnd.test.card');
    assert.equal(manifest.manifest.config.mediaType, 'application/vnd.oci.empty.v1+json');

    const index = await readReferrersIndex(repo, digest);
    assert.ok(index, `tag ${referrersTag(digest)} holds an index`);
    assert.equal(index.index.manifests.length, 1);
    const entry = index.index.manifests[0]!;
    assert.equal(entry.digest, out.digest);
    assert.equal(entry.artifactType, 'application/vnd.test.card');
    assert.equal(entry.annotations?.team, 'ml');
    assert.ok(entry.annotations?.['org.opencontainers.image.created']);
    assert.ok((await repo.listTags()).includes(referrersTag(digest)));
  });

  test('discover lists, filters by artifact type, and walks the tree; --json and the tree drawing say the same', async () => {
    const digest = await pushModel(`${reg.host}/lin/b:v1`);
    const card = await attach(client, `${reg.host}/lin/b:v1`, [join(work, 'card.md')], { artifactType: 'application/vnd.test.card' });
    const sbom = await attach(client, `${reg.host}/lin/b:v1`, [join(work, 'sbom.spdx.json')], { artifactType: 'application/spdx+json' });
    const sig = await attach(client, `${reg.host}/lin/b@${sbom.descriptor.digest}`, [join(work, 'sig.txt')], { artifactType: 'application/vnd.test.signature' });

    const flat = await discover(client, `${reg.host}/lin/b:v1`);
    assert.equal(flat.subject.digest, digest);
    assert.deepEqual(flat.referrers.map((n) => n.digest).sort(), [card.descriptor.digest, sbom.descriptor.digest].sort());
    assert.ok(flat.referrers.every((n) => n.referrers.length === 0), 'one level unless asked');

    const only = await runCli(['discover', `${reg.host}/lin/b:v1`, '--artifact-type', 'application/spdx+json', '--json'], { env });
    assert.equal(only.code, 0, only.stderr);
    assert.deepEqual((JSON.parse(only.stdout) as { referrers: { digest: string }[] }).referrers.map((n) => n.digest), [sbom.descriptor.digest]);

    const tree = await runCli(['discover', `${reg.host}/lin/b:v1`, '--tree', '--json'], { env });
    const doc = JSON.parse(tree.stdout) as { referrers: { digest: string; referrers: { digest: string; artifactType: string }[] }[] };
    const sbomNode = doc.referrers.find((n) => n.digest === sbom.descriptor.digest)!;
    assert.deepEqual(sbomNode.referrers.map((n) => [n.digest, n.artifactType]), [[sig.descriptor.digest, 'application/vnd.test.signature']]);

    const drawn = await runCli(['discover', `${reg.host}/lin/b:v1`, '--tree'], { env });
    assert.equal(drawn.code, 0, drawn.stderr);
    assert.match(drawn.stdout, new RegExp(`│   └── application/vnd\\.test\\.signature  ${sig.descriptor.digest}|    └── application/vnd\\.test\\.signature  ${sig.descriptor.digest}`));
  });

  test('the same attachment twice is listed once; a changed one replaces nothing else', async () => {
    const digest = await pushModel(`${reg.host}/lin/c:v1`);
    const repo = await client.repository(`${reg.host}/lin/c`);
    const { subject } = await resolveSubject(client, `${reg.host}/lin/c:v1`);
    const one = await attachFiles(repo, subject, [join(work, 'eval.json')], { created: null });
    const two = await attachFiles(repo, subject, [join(work, 'eval.json')], { created: null });
    assert.equal(one.descriptor.digest, two.descriptor.digest, 'same files, same manifest');
    await attachFiles(repo, subject, [join(work, 'card.md')], { created: null });
    const index = await readReferrersIndex(repo, digest);
    assert.equal(index!.index.manifests.length, 2);
    assert.equal(new Set(index!.index.manifests.map((d) => d.digest)).size, 2);
  });

  test('two processes attaching at once both end up listed (their index writes collide at the registry)', async () => {
    const digest = await pushModel(`${reg.host}/lin/race:v1`);
    // The front holds the first two index writes until both have arrived: each process read
    // the index before the other wrote, so one write is sure to drop the other's entry.
    const front = await startReferrersFront(reg.host, { holdTagPuts: 2 });
    fronts.push(front);
    const [a, b] = await Promise.all([
      runCli(['attach', `${front.host}/lin/race:v1`, join(work, 'card.md'), '--artifact-type', 'application/vnd.test.a', '--json'], { env }),
      runCli(['attach', `${front.host}/lin/race:v1`, join(work, 'eval.json'), '--artifact-type', 'application/vnd.test.b', '--json'], { env }),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const listed = await discover(client, `${reg.host}/lin/race@${digest}`);
    assert.deepEqual(listed.referrers.map((n) => n.artifactType).sort(), ['application/vnd.test.a', 'application/vnd.test.b']);
    const writes = front.seen.filter((s) => s.startsWith(`PUT /v2/lin/race/manifests/${referrersTag(digest)}`));
    assert.ok(writes.length >= 3, `the lost write was noticed and redone (index writes: ${writes.length})`);
  });

  test('many attaches in one process at once: all listed', async () => {
    const digest = await pushModel(`${reg.host}/lin/many:v1`);
    const files = Array.from({ length: 5 }, (_, i) => {
      const p = join(work, `note-${i}.txt`);
      writeFileSync(p, `note ${i}`);
      return p;
    });
    await Promise.all(files.map((f) => attach(client, `${reg.host}/lin/many:v1`, [f])));
    assert.equal((await discover(client, `${reg.host}/lin/many@${digest}`)).referrers.length, 5);
  });

  test('detach deletes the referrer and its entry; the others stay', async () => {
    const digest = await pushModel(`${reg.host}/lin/d:v1`);
    const card = await attach(client, `${reg.host}/lin/d:v1`, [join(work, 'card.md')]);
    const evalRes = await attach(client, `${reg.host}/lin/d:v1`, [join(work, 'eval.json')]);
    const r = await runCli(['detach', `${reg.host}/lin/d@${card.descriptor.digest}`], { env });
    assert.equal(r.code, 0, r.stderr);
    const left = await discover(client, `${reg.host}/lin/d@${digest}`);
    assert.deepEqual(left.referrers.map((n) => n.digest), [evalRes.descriptor.digest]);
    const repo = await client.repository(`${reg.host}/lin/d`);
    await assert.rejects(repo.fetchManifest(card.descriptor.digest), /not found/);
  });

  test('a registry with the referrers API: it is used, no sha256- tag is written, filters go to the registry, deletes need no index', async () => {
    const front = await startReferrersFront(reg.host, { referrersApi: true });
    fronts.push(front);
    const digest = await pushModel(`${front.host}/lin/api:v1`);
    const card = await attach(client, `${front.host}/lin/api:v1`, [join(work, 'card.md')], { artifactType: 'application/vnd.test.card' });
    await attach(client, `${front.host}/lin/api:v1`, [join(work, 'eval.json')], { artifactType: 'application/vnd.test.eval' });
    assert.equal(card.source, 'api');
    const repo = await client.repository(`${front.host}/lin/api`);
    assert.ok(!(await repo.listTags()).includes(referrersTag(digest)), 'no tag-schema index where the API exists');

    const all = await discover(client, `${front.host}/lin/api:v1`);
    assert.equal(all.source, 'api');
    assert.equal(all.referrers.length, 2);
    const filtered = await discover(client, `${front.host}/lin/api:v1`, { artifactType: 'application/vnd.test.card' });
    assert.deepEqual(filtered.referrers.map((n) => n.digest), [card.descriptor.digest]);
    assert.ok(front.seen.includes(`GET /v2/lin/api/referrers/${digest}?artifactType=application%2Fvnd.test.card`), 'the filter is the registry\'s');

    await detach(client, `${front.host}/lin/api@${card.descriptor.digest}`);
    assert.equal((await discover(client, `${front.host}/lin/api:v1`)).referrers.length, 1);
    assert.ok(!(await repo.listTags()).includes(referrersTag(digest)));
  });

  test('OCI layouts and the local store keep referrers in the same tag schema', async () => {
    const layout = join(work, 'layout');
    for (const target of [`oci:${layout}:v1`, 'lin/local:v1']) {
      await pushModel(target);
      const a = await attach(client, target, [join(work, 'card.md')], { artifactType: 'application/vnd.test.card' });
      const found = await discover(client, target);
      assert.equal(found.source, 'tag-schema');
      assert.deepEqual(found.referrers.map((n) => n.digest), [a.descriptor.digest], target);
    }
    // The local store's list shows models, not the referrers index tag.
    assert.deepEqual((await client.list()).filter((e) => e.repository === 'lin/local').map((e) => e.tag), ['v1']);
  });

  test('copy --recursive moves the artifact with its referrers, every level, keeping digests and the graph', async () => {
    const digest = await pushModel(`${reg.host}/lin/src:v1`);
    const card = await attach(client, `${reg.host}/lin/src:v1`, [join(work, 'card.md')], { artifactType: 'application/vnd.test.card' });
    const sig = await attach(client, `${reg.host}/lin/src@${card.descriptor.digest}`, [join(work, 'sig.txt')], { artifactType: 'application/vnd.test.signature' });

    const toRegistry = await runCli(['copy', '--recursive', `${reg.host}/lin/src:v1`, `${other.host}/copied/model:v1`, '--json'], { env });
    assert.equal(toRegistry.code, 0, toRegistry.stderr);
    const layout = join(work, 'copied-layout');
    const toLayout = await copyRecursive(client, `${reg.host}/lin/src:v1`, `oci:${layout}:v1`);
    assert.equal(toLayout.referrers.length, 2);

    for (const target of [`${other.host}/copied/model:v1`, `oci:${layout}:v1`]) {
      const tree = await discover(client, target, { depth: 4 });
      assert.equal(tree.subject.digest, digest, `${target}: same model digest`);
      assert.deepEqual(tree.referrers.map((n) => n.digest), [card.descriptor.digest], target);
      assert.deepEqual(tree.referrers[0]!.referrers.map((n) => n.digest), [sig.descriptor.digest], target);
    }
    // Without --recursive only the model moves.
    const plain = await runCli(['copy', `${reg.host}/lin/src:v1`, `${other.host}/plain/model:v1`], { env });
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal((await discover(client, `${other.host}/plain/model:v1`)).referrers.length, 0);
  });
});
