import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { OmlmdClient } from '../../src/core/client';
import type { ArtifactDocument } from '../../src/core/search/document';
import { QueryError } from '../../src/core/search/jsonpath';
import { PostgresIndex } from '../../src/core/search/postgres';
import { query } from '../../src/core/search/query';
import { RemoteIndex } from '../../src/core/search/remote';
import type { ModelDeleted, ModelPushed, NotificationAction } from '../../src/server/events';
import { createSearchServer, type SearchServer } from '../../src/server/server';
import { CLI, runCli } from '../helpers/cli';
import { startPostgres, type RunningPostgres } from '../helpers/postgres';
import { freePort, startRegistry, type RunningRegistry } from '../helpers/registry';
import { modelFile, pushRaw } from '../helpers/search-artifacts';

const TOKEN = 'test-token-' + Math.random().toString(36).slice(2);

async function get(url: string, token?: string): Promise<{ status: number; body: unknown }> {
  const res = await request(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  const text = await res.body.text();
  return { status: res.statusCode, body: text ? JSON.parse(text) : undefined };
}

/** The search server fed by the real registry's notifications, on a real PostgreSQL. */
describe('omlmd serve', { timeout: 300_000 }, () => {
  let pg: RunningPostgres;
  let reg: RunningRegistry;
  let index: PostgresIndex;
  let server: SearchServer;
  let work: string;
  let client: OmlmdClient;
  const seen: { pushed: ModelPushed[]; deleted: ModelDeleted[] } = { pushed: [], deleted: [] };
  const action: NotificationAction = {
    name: 'recorder',
    onModelPushed: (e, ctx) => {
      assert.ok(ctx.client && ctx.index && ctx.signal);
      seen.pushed.push(e);
    },
    onModelDeleted: (e) => {
      seen.deleted.push(e);
    },
  };

  before(async () => {
    pg = await startPostgres();
    index = await PostgresIndex.open(await pg.createDatabase('serve'));
    work = mkdtempSync(join(tmpdir(), 'omlmd-serve-'));
    client = new OmlmdClient({ home: join(work, 'home') });
    // The registry needs the server's address and the server the registry's: pick the port first.
    const port = await freePort();
    reg = await startRegistry({ notifications: { url: `http://127.0.0.1:${port}/notifications`, headers: { Authorization: [`Bearer ${TOKEN}`] } } });
    server = createSearchServer({ index, client, registries: [reg.host], token: TOKEN, actions: [action] });
    await server.listen(port);
  });
  after(async () => {
    await server?.close();
    await index?.close();
    await reg?.stop();
    await pg?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  const push = async (ref: string, accuracy: number, content: string): Promise<string> => {
    const res = await client.push(`${reg.host}/${ref}`, { paths: [modelFile(join(work, 'f'), 'model.onnx', content)], metadata: { name: ref, model_format_name: 'onnx', customProperties: { accuracy } } });
    return res.descriptor.digest;
  };

  test('a push of a model is indexed from the registry\'s notification, and actions get the document', async () => {
    const pushed = server.events.once('model-pushed', (e) => e.tag === 'v1' && e.repository === 'models/a');
    const digest = await push('models/a:v1', 0.93, 'a1');
    const e = await pushed;
    assert.equal(e.digest, digest);
    assert.equal(e.document.reference, `${reg.host}/models/a:v1`);
    assert.equal(e.event.action, 'push');
    const page = await get(`${server.url}/api/v1/search?q=${encodeURIComponent("$[?@.name == 'models/a:v1']")}`, TOKEN);
    assert.equal(page.status, 200);
    assert.deepEqual((page.body as { items: ArtifactDocument[] }).items.map((d) => [d.reference, d.digest]), [[`${reg.host}/models/a:v1`, digest]]);
    await server.idle();
    assert.ok(seen.pushed.some((p) => p.digest === digest && p.document.name === 'models/a:v1'));
  });

  test('a push of something that is not a model is not indexed', async () => {
    const event = server.events.once('registry-event', (e) => e.event.action === 'push' && e.event.target.repository === 'images/app' && e.event.target.tag === 'v1');
    await pushRaw(client, `${reg.host}/images/app:v1`, { config: { mediaType: 'application/vnd.oci.image.config.v1+json', bytes: Buffer.from('{}') } });
    await event;
    await server.idle();
    assert.equal(await index.get(`${reg.host}/images/app:v1`), undefined);
  });

  test('a delete removes every tag of the manifest from the index', async () => {
    const pushed = server.events.once('model-pushed', (e) => e.repository === 'models/b' && e.tag === 'v1');
    const digest = await push('models/b:v1', 0.5, 'b1');
    await pushed;
    const tagged = server.events.once('model-pushed', (e) => e.repository === 'models/b' && e.tag === 'stable');
    await client.tag(`${reg.host}/models/b:v1`, 'stable');
    await tagged;
    const deleted = server.events.once('model-deleted', (e) => e.digest === digest);
    await (await client.repository(`${reg.host}/models/b:v1`)).deleteManifest(digest);
    const e = await deleted;
    assert.deepEqual(e.documents.map((d) => d.tag).sort(), ['stable', 'v1']);
    assert.equal(await index.get(`${reg.host}/models/b:v1`), undefined);
    await server.idle();
    assert.ok(seen.deleted.some((d) => d.digest === digest));
  });

  test('search, one document, paging and sorting over HTTP; the same answers as the index itself', async () => {
    for (const [r, a] of [['models/c:v1', 0.7], ['models/c:v2', 0.99], ['models/d:v1', 0.8]] as const) {
      const p = server.events.once('model-pushed', (e) => `${e.repository}:${e.tag}` === r);
      await push(r, a, r);
      await p;
    }
    const remote = new RemoteIndex(server.url, { token: TOKEN });
    for (const [q, sort] of [['$[*]', 'customProperties.accuracy'], ['$[?@.customProperties.accuracy >= 0.8]', 'name'], ["$[?search(@.name, 'models/c')]", undefined]] as const) {
      const opts = { sort, desc: sort !== undefined, limit: 100 };
      const local = await query(index, q, opts);
      const viaHttp = await query(remote, q, opts);
      assert.ok(local.items.length > 0, q);
      assert.deepEqual(viaHttp.items, local.items, q);
    }
    const top = await query(remote, '$[*]', { sort: 'customProperties.accuracy', desc: true, limit: 1 });
    assert.equal(top.items[0]?.reference, `${reg.host}/models/c:v2`);
    assert.equal(top.next, 1);
    const post = await request(`${server.url}/api/v1/search`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ query: "@.repository == 'models/c'", sort: 'tag', order: 'desc', limit: 1, offset: 1 }) });
    const body = (await post.body.json()) as { items: ArtifactDocument[]; offset: number; next?: number };
    assert.deepEqual([body.items.map((d) => d.tag), body.offset, body.next], [['v1'], 1, undefined]);
    const one = await get(`${server.url}/api/v1/artifacts/${reg.host}/models/c:v2`, TOKEN);
    assert.equal(one.status, 200);
    assert.equal((one.body as ArtifactDocument).customProperties?.constructor, Object);
    assert.equal((await get(`${server.url}/api/v1/artifacts/${reg.host}/models/none:v1`, TOKEN)).status, 404);
    assert.equal((await remote.get(`${reg.host}/models/c:v1`))?.tag, 'v1');
  });

  test('an invalid query is a 400 that says where; the remote index raises the same QueryError', async () => {
    const bad = await get(`${server.url}/api/v1/search?q=${encodeURIComponent('$[?@.a == ]')}`, TOKEN);
    assert.equal(bad.status, 400);
    assert.deepEqual((bad.body as { error: { code: string; position: number } }).error.code, 'INVALID_QUERY');
    assert.equal((bad.body as { error: { position: number } }).error.position, 10);
    await assert.rejects(query(new RemoteIndex(server.url, { token: TOKEN }), '$[?@.a == ]'), (e: unknown) => e instanceof QueryError && e.position === 10);
    assert.equal((await get(`${server.url}/api/v1/search?limit=5000`, TOKEN)).status, 400);
  });

  test('the token guards everything but health and the OpenAPI description', async () => {
    assert.equal((await get(`${server.url}/api/v1/search`)).status, 401);
    assert.equal((await get(`${server.url}/api/v1/search`, 'wrong')).status, 401);
    const note = await request(`${server.url}/notifications`, { method: 'POST', headers: { 'content-type': 'application/vnd.docker.distribution.events.v1+json' }, body: '{"events":[]}' });
    assert.equal(note.statusCode, 401);
    await note.body.dump();
    const health = await get(`${server.url}/healthz`);
    assert.equal(health.status, 200);
    assert.equal((health.body as { status: string }).status, 'ok');
    const api = await get(`${server.url}/openapi.json`);
    assert.equal((api.body as { openapi: string }).openapi, '3.1.0');
    assert.deepEqual(Object.keys((api.body as { paths: object }).paths).sort(), ['/api/v1/artifacts/{reference}', '/api/v1/crawl', '/api/v1/search', '/healthz', '/notifications', '/openapi.json']);
    await assert.rejects(query(new RemoteIndex(server.url), '$[*]'), (e: unknown) => (e as { code?: string }).code === 'UNAUTHORIZED');
  });

  test('notifications: a wrong content type is refused; an event naming another host is fetched from the configured registry, never from that host', async () => {
    const wrong = await request(`${server.url}/notifications`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'text/plain' }, body: 'x' });
    assert.equal(wrong.statusCode, 415);
    await wrong.body.dump();
    const other = await request(`${server.url}/notifications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/vnd.docker.distribution.events.v1+json' },
      body: JSON.stringify({ events: [{ action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', repository: 'x/y', tag: 'v1', digest: `sha256:${'a'.repeat(64)}`, url: 'http://evil.example:5000/v2/x/y/manifests/v1' }, request: { host: 'evil.example:5000' } }] }),
    });
    // One registry configured: an event naming another host is still that registry's (as distribution may name itself by its configured http.host).
    assert.equal(other.statusCode, 202);
    await other.body.dump();
    const failed = server.events.once('index-failed', (e) => e.repository === 'x/y');
    assert.match((await failed).error.message, /not found|MANIFEST_UNKNOWN|unknown/i);
  });

  test('a re-crawl repairs drift: a document the notifications missed comes back, a stale one goes', async () => {
    await index.removeTags(reg.host, 'models/c', ['v1']);
    const stale = { ...(await index.get(`${reg.host}/models/d:v1`))!, tag: 'ghost', reference: `${reg.host}/models/d:ghost` };
    await index.upsert([stale]);
    const [report] = await server.recrawl();
    assert.ok(report);
    assert.equal(report.removed, 1);
    assert.ok(await index.get(`${reg.host}/models/c:v1`));
    assert.equal(await index.get(`${reg.host}/models/d:ghost`), undefined);
    const status = await get(`${server.url}/api/v1/crawl`, TOKEN);
    assert.equal((status.body as { reports: unknown[] }).reports.length, 1);
  });

  test('omlmd query --server gives what the server has', async () => {
    const r = await runCli(['query', '--server', server.url, '@.customProperties.accuracy > 0.9', '--sort', 'customProperties.accuracy', '--desc'], { env: { OMLMD_SERVER_TOKEN: TOKEN } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${reg.host}/models/c:v2\n${reg.host}/models/a:v1\n`);
    const denied = await runCli(['query', '--server', server.url, '$[*]'], { env: { OMLMD_SERVER_TOKEN: '' } });
    assert.equal(denied.code, 3);
  });

  test('omlmd serve runs from the CLI, answers, and stops on SIGTERM', async () => {
    const tokenFile = join(work, 'token');
    writeFileSync(tokenFile, 'cli-token\n');
    const child = spawn(process.execPath, [CLI, 'serve', '--registry', reg.host, '--index', join(work, 'serve.sqlite'), '--listen', '127.0.0.1:0', '--token-file', tokenFile, '--no-crawl'], { env: { ...process.env, OMLMD_HOME: join(work, 'h') }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${out}`)));
    });
    const health = await get(`${url}/healthz`);
    assert.equal((health.body as { documents: number }).documents, 0);
    assert.equal((await get(`${url}/api/v1/search`, 'cli-token')).status, 200);
    const code = await new Promise<number | null>((resolve) => {
      child.removeAllListeners('exit');
      child.on('exit', (c) => resolve(c));
      child.kill('SIGTERM');
    });
    assert.equal(code, 0);
  });
});
