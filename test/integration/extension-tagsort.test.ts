import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OmlmdClient } from '../../src/core/client';
import { ageOf, RegistryBrowser, sortTags, TagDates, type BrowserNode } from '../../src/extension/model/browser';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { tempDir } from '../helpers/tmp';

/** PUTs a plain image manifest with no created annotation (as an image built by most tools is). */
async function putBareManifest(host: string, repo: string, tag: string): Promise<void> {
  const config = Buffer.from('{}');
  const digest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
  const start = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  assert.equal(start.status, 202, await start.text());
  const location = new URL(start.headers.get('location')!, `http://${host}`);
  location.searchParams.set('digest', digest);
  const up = await fetch(location, { method: 'PUT', body: config, headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(up.status, 201, await up.text());
  const manifest = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest, size: config.length }, layers: [] });
  const put = await fetch(`http://${host}/v2/${repo}/manifests/${tag}`, { method: 'PUT', body: manifest, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
  assert.equal(put.status, 201, await put.text());
}

describe('extension: tags sorted by created time, read in the background (real registry)', () => {
  let reg: RunningRegistry;
  let client: OmlmdClient;
  let repoNode: Extract<BrowserNode, { kind: 'repository' }>;

  /** Created out of name order: v10 the oldest, v9 the newest. */
  const TAGS = [
    { tag: 'v10', created: '2025-01-01T00:00:00Z' },
    { tag: 'v2', created: '2025-02-01T00:00:00Z' },
    { tag: 'v9', created: '2025-03-01T00:00:00Z' },
  ];

  before(async () => {
    reg = await startRegistry();
    const dir = tempDir('omlmd-tagsort-');
    client = new OmlmdClient({ home: join(dir, 'home') });
    writeFileSync(join(dir, 'model.bin'), 'weights');
    for (const t of TAGS) await client.push(`${reg.host}/models/sorted:${t.tag}`, { paths: ['model.bin'], cwd: dir, created: t.created, metadata: { name: 'm' } });
    await putBareManifest(reg.host, 'models/sorted', 'zz-untimed');
    repoNode = { kind: 'repository', id: `registry:${reg.host}/models/sorted`, store: { kind: 'registry', host: reg.host }, repository: 'models/sorted' };
  });
  after(async () => reg?.stop());

  const tagsOf = (nodes: BrowserNode[]) => nodes.map((n) => (n.kind === 'tag' ? [n.tag, n.created ?? null] : [n.kind, null]));

  test('the tags show at once by name; the times arrive in the background, then the order is by created, newest first, with each age', async () => {
    const browser = new RegistryBrowser(() => client, () => [{ host: reg.host }]);
    const loaded: string[] = [];
    browser.dates = new TagDates(() => client, (repo) => loaded.push(repo.id));
    browser.tagSort = () => 'created';
    const first = await browser.children(repoNode);
    assert.deepEqual(tagsOf(first), [['zz-untimed', null], ['v10', null], ['v9', null], ['v2', null]], 'name order, nothing waited for');
    await browser.dates.settled();
    assert.deepEqual(loaded, [repoNode.id], 'the tree is told once');
    const second = await browser.children(repoNode);
    assert.deepEqual(tagsOf(second), [['v9', '2025-03-01T00:00:00Z'], ['v2', '2025-02-01T00:00:00Z'], ['v10', '2025-01-01T00:00:00Z'], ['zz-untimed', null]]);
    await browser.dates.settled();
    assert.deepEqual(loaded, [repoNode.id], 'known times are not read again');
    // By name, the times stay (the ages show either way).
    browser.tagSort = () => 'name';
    assert.deepEqual(tagsOf(await browser.children(repoNode)), [['zz-untimed', null], ['v10', '2025-01-01T00:00:00Z'], ['v9', '2025-03-01T00:00:00Z'], ['v2', '2025-02-01T00:00:00Z']]);
    // A refresh forgets them: a tag may have moved.
    browser.dates.clear();
    assert.equal(browser.dates.of(repoNode.id), undefined);
  });

  test('a repository that cannot be read keeps its name order, and a cleared read is not delivered', async () => {
    const loaded: string[] = [];
    const dates = new TagDates(() => client, (repo) => loaded.push(repo.id));
    dates.request(repoNode, ['v9', 'v2']);
    dates.clear();
    await dates.settled();
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(loaded, [], 'a read begun before the refresh is dropped');
    const gone: Extract<BrowserNode, { kind: 'repository' }> = { ...repoNode, id: `${repoNode.id}-gone`, repository: 'models/none' };
    dates.request(gone, ['v1']);
    await dates.settled();
    assert.deepEqual([...(dates.of(gone.id) ?? new Map()).entries()], [['v1', null]]);
  });

  test('sortTags and ageOf', () => {
    const d = new Map<string, string | null>([['a', '2025-01-01T00:00:00Z'], ['b', '2025-01-02T00:00:00Z'], ['c', null]]);
    assert.deepEqual(sortTags(['c', 'a', 'b', 'v2', 'v10'], 'created', d), ['b', 'a', 'v10', 'v2', 'c']);
    assert.deepEqual(sortTags(['v2', 'v10', 'v9'], 'name'), ['v10', 'v9', 'v2']);
    const now = Date.parse('2025-03-10T12:00:00Z');
    assert.equal(ageOf('2025-03-10T11:59:40Z', now), 'just now');
    assert.equal(ageOf('2025-03-10T11:55:00Z', now), '5 minutes ago');
    assert.equal(ageOf('2025-03-10T11:00:00Z', now), '1 hour ago');
    assert.equal(ageOf('2025-03-07T12:00:00Z', now), '3 days ago');
    assert.equal(ageOf('2025-02-24T12:00:00Z', now), '2 weeks ago');
    assert.equal(ageOf('2023-01-01T00:00:00Z', now), '2 years ago');
    assert.equal(ageOf('2025-03-11T00:00:00Z', now), 'just now', 'a clock ahead of ours is not a negative age');
    assert.equal(ageOf('not a date', now), undefined);
  });
});
