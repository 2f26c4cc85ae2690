import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OmlmdClient } from '../../src/core/client';
import type { WritableIndex } from '../../src/core/search/backend';
import { crawlToIndex, type CrawlReport } from '../../src/core/search/crawler';
import { PostgresIndex } from '../../src/core/search/postgres';
import { query } from '../../src/core/search/query';
import { SqliteIndex } from '../../src/core/search/sqlite';
import { runCli } from '../helpers/cli';
import { startPostgres, type RunningPostgres } from '../helpers/postgres';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { kitopsConfig, modelFile, modelPackConfig, pushRaw } from '../helpers/search-artifacts';
import { tempDir } from '../helpers/tmp';

interface Proxy {
  host: string;
  log: string[];
  rules: { denyCatalog?: boolean; deny?: RegExp; extraTags?: Record<string, string[]>; tagPage?: number };
  close(): Promise<void>;
}

/**
 * A front for fault injection only: it refuses the catalog or a repository as a registry
 * with access control would, and lists a tag that has no manifest; everything else goes
 * to the real registry unchanged. It also logs requests, to show what a re-crawl fetches.
 */
async function startProxy(upstream: string): Promise<Proxy> {
  const [uhost, uport] = upstream.split(':');
  const proxy: Proxy = { host: '', log: [], rules: {}, close: async () => undefined };
  const denied = (res: ServerResponse): void => {
    res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'DENIED', message: 'requested access to the resource is denied' }] }));
  };
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    proxy.log.push(`${req.method} ${path}`);
    if (proxy.rules.denyCatalog && path === '/v2/_catalog') return denied(res);
    if (proxy.rules.deny?.test(path)) return denied(res);
    const tagsOf = /^\/v2\/(.+)\/tags\/list$/.exec(path)?.[1];
    const extra = tagsOf ? proxy.rules.extraTags?.[tagsOf] ?? (proxy.rules.tagPage ? [] : undefined) : undefined;
    const last = new URL(req.url ?? '/', 'http://x').searchParams.get('last');
    const up = httpRequest({ host: uhost, port: Number(uport), method: req.method, path: req.url, headers: { ...req.headers, host: upstream } }, (ur) => {
      if (!extra) {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
        return;
      }
      const chunks: Buffer[] = [];
      ur.on('data', (c: Buffer) => chunks.push(c));
      ur.on('end', () => {
        const doc = JSON.parse(Buffer.concat(chunks).toString()) as { name: string; tags: string[] | null };
        let tags = [...(doc.tags ?? []), ...extra].sort();
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        const n = proxy.rules.tagPage;
        // A registry that pages its tag list (distribution ignores n and last).
        if (n) {
          tags = tags.filter((t) => last === null || t > last);
          if (tags.length > n) headers.link = `</v2/${tagsOf}/tags/list?n=${n}&last=${encodeURIComponent(tags[n - 1]!)}>; rel="next"`;
          tags = tags.slice(0, n);
        }
        const body = JSON.stringify({ ...doc, tags });
        res.writeHead(200, { ...headers, 'content-length': String(Buffer.byteLength(body)) }).end(body);
      });
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  proxy.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () => new Promise<void>((r) => {
    server.closeAllConnections();
    server.close(() => r());
  });
  return proxy;
}

/** Crawling a real registry into SQLite and a real PostgreSQL, through faults, incrementally. */
describe('crawl into an index', { timeout: 300_000 }, () => {
  let reg: RunningRegistry;
  let pg: RunningPostgres;
  let proxy: Proxy;
  let work: string;
  let client: OmlmdClient;
  const indexes: { name: string; index: WritableIndex }[] = [];

  before(async () => {
    [reg, pg] = await Promise.all([startRegistry(), startPostgres()]);
    proxy = await startProxy(reg.host);
    work = tempDir('omlmd-crawl-');
    client = new OmlmdClient({ home: join(work, 'home') });
    const f = (name: string, content: string): string => modelFile(join(work, 'files'), name, content);
    const h = reg.host;
    await client.push(`${h}/models/mnist:v1`, { paths: [f('mnist.onnx', 'one')], metadata: { name: 'mnist', model_format_name: 'onnx', customProperties: { accuracy: 0.91 } } });
    await client.push(`${h}/models/mnist:v2`, { paths: [f('mnist.onnx', 'two')], metadata: { name: 'mnist', model_format_name: 'onnx', customProperties: { accuracy: 0.97 } } });
    await client.tag(`${h}/models/mnist:v2`, 'prod');
    await client.push(`${h}/legacy/iris:v1`, { paths: [f('iris.joblib', 'iris')], metadata: { name: 'iris', model_format_name: 'sklearn', customProperties: { accuracy: 0.8 } }, artifactType: false });
    await pushRaw(client, `${h}/mp/llama:v1`, { artifactType: 'application/vnd.cncf.model.manifest.v1+json', config: { mediaType: 'application/vnd.cncf.model.config.v1+json', bytes: modelPackConfig('llama') }, layers: [{ mediaType: 'application/vnd.cncf.model.weight.v1.raw', bytes: Buffer.from('w'), annotations: { 'org.cncf.model.filepath': 'model.safetensors' } }] });
    await pushRaw(client, `${h}/kit/gguf:v1`, { config: { mediaType: 'application/vnd.kitops.modelkit.config.v1+json', bytes: kitopsConfig('kitmodel') }, layers: [{ mediaType: 'application/vnd.kitops.modelkit.model.v1.tar', bytes: Buffer.from('t') }] });
    await pushRaw(client, `${h}/images/app:v1`, { config: { mediaType: 'application/vnd.oci.image.config.v1+json', bytes: Buffer.from('{"architecture":"amd64","os":"linux"}') } });
    await pushRaw(client, `${h}/broken/cfg:v1`, { config: { mediaType: 'application/x-config', bytes: Buffer.from('this is not JSON') } });
    await client.push(`${h}/secret/model:v1`, { paths: [f('s.onnx', 's')], metadata: { name: 'secret' } });
    await client.push(`${h}/models/ghost:v1`, { paths: [f('g.onnx', 'g')], metadata: { name: 'ghost' } });
    indexes.push({ name: 'sqlite', index: SqliteIndex.open(join(work, 'index.sqlite')) });
    indexes.push({ name: 'postgres', index: await PostgresIndex.open(await pg.createDatabase('crawl')) });
  });
  after(async () => {
    for (const i of indexes) await i.index.close();
    await proxy?.close();
    await Promise.all([reg?.stop(), pg?.stop()]);
    rmSync(work, { recursive: true, force: true });
  });

  const refs = async (index: WritableIndex, q = '$[*]'): Promise<string[]> => (await query(index, q, { limit: 1000 })).items.map((d) => d.reference);

  test('a whole registry: models of every kind indexed; a denied repository, a missing tag and a malformed config reported and skipped', async () => {
    proxy.rules = { deny: /^\/v2\/secret\//, extraTags: { 'models/ghost': ['gone'] } };
    const p = proxy.host;
    for (const { name, index } of indexes) {
      const report = await crawlToIndex(client, index, [p]);
      assert.deepEqual(await refs(index), [
        `${p}/kit/gguf:v1`, `${p}/legacy/iris:v1`, `${p}/models/ghost:v1`, `${p}/models/mnist:prod`, `${p}/models/mnist:v1`, `${p}/models/mnist:v2`, `${p}/mp/llama:v1`,
      ], name);
      assert.equal(report.repositories, 8);
      assert.equal(report.indexed, 7);
      assert.equal(report.notModels, 1);
      const problems = report.problems.map((x) => `${x.target} ${x.code}`).sort();
      assert.deepEqual(problems, [`${p}/broken/cfg:v1 INVALID_METADATA`, `${p}/models/ghost:gone MANIFEST_UNKNOWN`, `${p}/secret/model DENIED`], name);
      const kinds = Object.fromEntries((await query(index, '$[*]', { limit: 100 })).items.map((d) => [d.reference.slice(p.length + 1), d.kind]));
      assert.deepEqual(kinds, { 'kit/gguf:v1': 'kitops', 'legacy/iris:v1': 'omlmd-0.1', 'models/ghost:v1': 'omlmd', 'models/mnist:prod': 'omlmd', 'models/mnist:v1': 'omlmd', 'models/mnist:v2': 'omlmd', 'mp/llama:v1': 'modelpack' });
    }
  });

  test("the overview's demo is one query: the most accurate model's reference", async () => {
    for (const { name, index } of indexes) {
      const top = await query(index, '$[*]', { sort: 'customProperties.accuracy', desc: true, limit: 1 });
      assert.equal(top.items[0]?.reference, `${proxy.host}/models/mnist:prod`, name);
      assert.equal(top.next, 1);
      const onnx = await refs(index, "$[?@.customProperties.accuracy > 0.95 && @.model_format_name == 'onnx']");
      assert.deepEqual(onnx, [`${proxy.host}/models/mnist:prod`, `${proxy.host}/models/mnist:v2`], name);
      assert.deepEqual(await refs(index, "$[?@.config.format == 'safetensors' || @.model.framework == 'gguf']"), [`${proxy.host}/kit/gguf:v1`, `${proxy.host}/mp/llama:v1`], name);
      const doc = await index.get(`${proxy.host}/mp/llama:v1`);
      assert.equal(doc?.name, 'llama');
      assert.deepEqual(doc?.files, [{ path: 'model.safetensors', mediaType: 'application/vnd.cncf.model.weight.v1.raw', size: 1 }]);
    }
  });

  test('a re-crawl fetches no manifest and no config when nothing changed; changes are fetched, removals removed', async () => {
    const [{ index }] = indexes as [{ name: string; index: WritableIndex }];
    proxy.log = [];
    const again = await crawlToIndex(client, index, [proxy.host]);
    assert.equal(again.indexed, 0);
    assert.equal(again.unchanged, 7);
    const fetched = proxy.log.filter((l) => /^GET \/v2\/.+\/(manifests|blobs)\//.test(l) && !l.includes('/broken/') && !l.includes('/images/') && !l.endsWith('/manifests/gone'));
    assert.deepEqual(fetched, [], 'unchanged tags are only resolved (HEAD)');

    const h = reg.host;
    await client.push(`${h}/models/mnist:v3`, { paths: [modelFile(join(work, 'files'), 'mnist.onnx', 'three')], metadata: { name: 'mnist', model_format_name: 'onnx', customProperties: { accuracy: 0.99 } } });
    await client.tag(`${h}/models/mnist:v1`, 'prod');
    const v2 = await client.inspect(`${h}/models/mnist:v2`);
    await (await client.repository(`${h}/models/mnist:v2`)).deleteManifest(v2.descriptor.digest);
    proxy.log = [];
    const changed = await crawlToIndex(client, index, [proxy.host]);
    assert.equal(changed.indexed, 2, 'v3 new, prod moved');
    assert.equal(changed.removed, 1, 'v2 deleted');
    // prod now names v1's manifest, which the index holds: no fetch for it.
    assert.deepEqual(proxy.log.filter((l) => /^GET \/v2\/models\/mnist\/(manifests|blobs)\//.test(l)).length, 2, 'one manifest and one config, for v3');
    // A tag the index did not know is fetched by tag at once, with no HEAD before.
    assert.deepEqual(proxy.log.filter((l) => l.includes('/models/mnist/manifests/v3')), ['GET /v2/models/mnist/manifests/v3']);
    const top = await query(index, "@.repository == 'models/mnist'", { sort: 'customProperties.accuracy', desc: true });
    assert.deepEqual(top.items.map((d) => `${d.tag} ${String((d.customProperties as { accuracy: number }).accuracy)}`), ['v3 0.99', 'prod 0.91', 'v1 0.91']);
  });

  test('a refused catalog is reported; the repositories given are crawled, and nothing is pruned on a partial view', async () => {
    const [, { index }] = indexes as [unknown, { name: string; index: WritableIndex }];
    proxy.rules = { denyCatalog: true };
    const before = (await refs(index)).length;
    const report: CrawlReport = await crawlToIndex(client, index, [proxy.host], { repositories: ['models/mnist'] });
    assert.deepEqual(report.problems.map((x) => `${x.target} ${x.code}`), [`${proxy.host} DENIED`]);
    assert.equal(report.repositories, 1);
    assert.ok((await refs(index)).includes(`${proxy.host}/mp/llama:v1`), 'other repositories stay');
    assert.ok((await refs(index)).includes(`${proxy.host}/models/mnist:v3`));
    assert.equal((await refs(index)).length, before - 1 + 1, 'v2 gone, v3 added');
    proxy.rules = {};
  });

  test('tags are listed page by page when the registry pages them', async () => {
    const [{ index }] = indexes as [{ name: string; index: WritableIndex }];
    proxy.rules = { tagPage: 1 };
    proxy.log = [];
    const report = await crawlToIndex(client, index, [`${proxy.host}/models/mnist`]);
    proxy.rules = {};
    assert.equal(proxy.log.filter((l) => l === 'GET /v2/models/mnist/tags/list').length, 3, 'one request per page');
    assert.equal(report.tags, 3);
    assert.equal(report.unchanged, 3);
    assert.equal(report.removed, 0, 'a tag from an earlier page is not taken for gone');
  });

  test('omlmd crawl --index and omlmd query: the demo as one command, documents as JSON, errors pointed at', async () => {
    const home = join(work, 'cli-home');
    const env = { OMLMD_HOME: home };
    const crawl = await runCli(['crawl', '--index', reg.host, '--repo', 'models/mnist'], { env });
    assert.equal(crawl.code, 1, 'the broken config is a problem: exit 1');
    assert.match(crawl.stdout, /Crawled 8 repositories/);
    assert.match(crawl.stderr, /skipped .*broken\/cfg:v1: .*not valid JSON/);
    const demo = await runCli(['query', '$[*]', '--sort', 'customProperties.accuracy', '--desc', '--limit', '1'], { env });
    assert.equal(demo.code, 0, demo.stderr);
    assert.equal(demo.stdout, `${reg.host}/models/mnist:v3\n`);
    const json = await runCli(['query', "@.model_format_name == 'sklearn'", '--json'], { env });
    assert.equal(json.code, 0, json.stderr);
    const docs = JSON.parse(json.stdout) as { reference: string; digest: string; name: string; kind: string }[];
    assert.deepEqual(docs.map((d) => [d.reference, d.name, d.kind]), [[`${reg.host}/legacy/iris:v1`, 'iris', 'omlmd-0.1']]);
    assert.match(docs[0]!.digest, /^sha256:[0-9a-f]{64}$/);
    const bad = await runCli(['query', '$[?@.customProperties.accuracy >> 1]'], { env });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /invalid query at column 33: unexpected ">"; expected a value/);
    assert.ok(bad.stderr.includes('  $[?@.customProperties.accuracy >> 1]\n                                  ^'), bad.stderr);
    const none = await runCli(['query', '$[?@.name == "nothing"]'], { env });
    assert.equal(none.code, 0);
    assert.equal(none.stdout, '');
    // omlmd 0.1.x crawl output is unchanged: a JSON array of {reference, config}.
    const old = await runCli(['crawl', `${reg.host}/models/mnist:v1`, `${reg.host}/legacy/iris:v1`], { env });
    assert.equal(old.code, 0, old.stderr);
    const arr = JSON.parse(old.stdout) as { reference: string; config: { customProperties: { accuracy: number } } }[];
    assert.deepEqual(arr.map((x) => [x.reference, x.config.customProperties.accuracy]), [[`${reg.host}/models/mnist:v1`, 0.91], [`${reg.host}/legacy/iris:v1`, 0.8]]);
  });

  test('crawl --index into PostgreSQL from the CLI', async () => {
    const url = await pg.createDatabase('cli');
    const crawl = await runCli(['crawl', '--index', url, `${reg.host}/models/mnist`, '--json'], { env: { OMLMD_HOME: join(work, 'h2') } });
    assert.equal(crawl.code, 0, crawl.stderr);
    assert.equal((JSON.parse(crawl.stdout) as { indexed: number }).indexed, 3);
    const q = await runCli(['query', '--index', url, '$[?@.customProperties.accuracy > 0.95]'], { env: {} });
    assert.equal(q.stdout, `${reg.host}/models/mnist:v3\n`);
    writeFileSync(join(work, 'unused'), '');
  });
});
