import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { request } from 'undici';
import { OmlmdClient } from '../../src/core/client';
import { OmlmdError } from '../../src/core/errors';
import type { ArtifactDocument } from '../../src/core/search/document';
import { QueryError } from '../../src/core/search/jsonpath';
import { PostgresIndex } from '../../src/core/search/postgres';
import { query } from '../../src/core/search/query';
import { MemoryIndex } from '../../src/core/search/memory';
import { RemoteIndex } from '../../src/core/search/remote';
import type { ModelDeleted, ModelPushed, NotificationAction } from '../../src/server/events';
import { createSearchServer, openApiDocument, type SearchServer } from '../../src/server/server';
import { corpus } from '../helpers/search-corpus';
import { CLI, runCli } from '../helpers/cli';
import { startFaultProxy } from '../helpers/faultproxy';
import { startPostgres, type RunningPostgres } from '../helpers/postgres';
import { freePort, startRegistry, type RunningRegistry } from '../helpers/registry';
import { modelFile, pushRaw } from '../helpers/search-artifacts';
import { tempDir } from '../helpers/tmp';

const TOKEN = 'test-token-' + Math.random().toString(36).slice(2);
/** The registry's own token for /notifications: never the search clients'. */
const NOTIFY_TOKEN = 'notify-token-' + Math.random().toString(36).slice(2);
const EVENTS_TYPE = 'application/vnd.docker.distribution.events.v1+json';

async function notify(url: string, events: unknown[], headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
  const res = await request(`${url}/notifications`, { method: 'POST', headers: { 'content-type': EVENTS_TYPE, ...headers }, body: JSON.stringify({ events }) });
  const text = await res.body.text();
  return { status: res.statusCode, body: text ? JSON.parse(text) : undefined };
}

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
    work = tempDir('omlmd-serve-');
    client = new OmlmdClient({ home: join(work, 'home') });
    // The registry needs the server's address and the server the registry's: pick the port first.
    const port = await freePort();
    reg = await startRegistry({ notifications: { url: `http://127.0.0.1:${port}/notifications`, headers: { Authorization: [`Bearer ${NOTIFY_TOKEN}`] } } });
    server = createSearchServer({ index, client, registries: [reg.host], token: TOKEN, notifyToken: NOTIFY_TOKEN, actions: [action], ...(process.env.DEBUG_SERVE ? { log: { info: (m: string) => process.stderr.write(`SERVE info ${m}\n`), warn: (m: string) => process.stderr.write(`SERVE warn ${m}\n`), error: (m: string) => process.stderr.write(`SERVE error ${m}\n`) } } : {}) });
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
    // 100,000 nested parentheses (a 200 KB body) answered 500 (the parser's stack); now a 400 that says why.
    const deep = await request(`${server.url}/api/v1/search`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: JSON.stringify({ q: `$[?${'('.repeat(100_000)}@.a == 1${')'.repeat(100_000)}]` }) });
    assert.equal(deep.statusCode, 400);
    const err = ((await deep.body.json()) as { error: { code: string; message: string } }).error;
    assert.equal(err.code, 'INVALID_QUERY');
    assert.match(err.message, /nest more than 64 deep/);
    const redos = await get(`${server.url}/api/v1/search?q=${encodeURIComponent("match(@.name, '(?=a)')")}`, TOKEN);
    assert.equal(redos.status, 400);
    assert.match((redos.body as { error: { message: string } }).error.message, /not an I-Regexp/);
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
    await assert.rejects(query(new RemoteIndex(server.url), '$[*]'), (e: unknown) => {
      assert.ok(OmlmdError.is(e, 'UNAUTHORIZED'));
      assert.deepEqual(e.remedies, [{ kind: 'server-token', server: new URL(server.url).origin }]);
      return true;
    });
  });

  /** The first thing the server does about an event on `repository`: refuse it, index it, remove it, or fail. */
  const outcome = (repository: string): Promise<string> => new Promise((resolve) => {
    const offs = [
      server.events.on('event-ignored', (e) => void (e.event.target.repository === repository && done(`ignored: ${e.reason}`))),
      server.events.on('model-pushed', (e) => void (e.repository === repository && done(`pushed ${e.tag}@${e.digest}`))),
      server.events.on('model-deleted', (e) => void (e.repository === repository && done(`deleted ${e.digest}`))),
      server.events.on('index-failed', (e) => void (e.repository === repository && done(`failed: ${e.error.message}`))),
    ];
    const done = (what: string): void => {
      for (const off of offs) off();
      resolve(what);
    };
  });

  test('forged notifications: no token is 401, the search token 403 (and the notification token cannot search); the model stays searchable', async () => {
    const doc = (await index.get(`${reg.host}/models/a:v1`))!;
    assert.ok(doc);
    const forged = [{ action: 'delete', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: doc.digest, repository: 'models/a' }, request: { host: reg.host } }];
    const none = await notify(server.url, forged);
    assert.equal(none.status, 401);
    const client = await notify(server.url, forged, { authorization: `Bearer ${TOKEN}` });
    assert.deepEqual([client.status, (client.body as { error: { code: string } }).error.code], [403, 'DENIED']);
    assert.equal((await notify(server.url, forged, { authorization: 'Bearer wrong' })).status, 401);
    assert.equal((await get(`${server.url}/api/v1/search`, NOTIFY_TOKEN)).status, 403);
    await server.idle();
    const page = await get(`${server.url}/api/v1/search?q=${encodeURIComponent("$[?@.repository == 'models/a']")}`, TOKEN);
    assert.deepEqual((page.body as { items: ArtifactDocument[] }).items.map((d) => d.reference), [`${reg.host}/models/a:v1`]);
  });

  test('a delete the registry does not bear out removes nothing, even with the notification token', async () => {
    const doc = (await index.get(`${reg.host}/models/a:v1`))!;
    const deletedBefore = seen.deleted.length;
    const what = outcome('models/a');
    const r = await notify(server.url, [{ action: 'delete', target: { digest: doc.digest, repository: 'models/a' }, request: { host: reg.host } }], { authorization: `Bearer ${NOTIFY_TOKEN}` });
    assert.equal(r.status, 202);
    assert.equal(await what, `ignored: the registry still has ${reg.host}/models/a@${doc.digest}`);
    await server.idle();
    assert.equal((await index.get(`${reg.host}/models/a:v1`))?.digest, doc.digest);
    assert.equal(seen.deleted.length, deletedBefore);
  });

  test('a push of a tag the registry does not have indexes nothing and runs no action, even with the notification token and a real digest', async () => {
    const doc = (await index.get(`${reg.host}/models/a:v1`))!;
    const pushedBefore = seen.pushed.length;
    const what = outcome('models/a');
    const r = await notify(server.url, [{ action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: doc.digest, repository: 'models/a', tag: 'forged' }, request: { host: reg.host } }], { authorization: `Bearer ${NOTIFY_TOKEN}` });
    assert.equal(r.status, 202);
    assert.equal(await what, `ignored: the registry has no ${reg.host}/models/a:forged`);
    await server.idle();
    assert.equal(await index.get(`${reg.host}/models/a:forged`), undefined);
    assert.equal(seen.pushed.length, pushedBefore, 'no action ran');
  });

  test('a push naming another digest than the tag has: the index keeps what the registry says, no action runs', async () => {
    const p1 = server.events.once('model-pushed', (e) => e.repository === 'models/e' && e.tag === 'v1');
    const d1 = await push('models/e:v1', 0.11, 'e1');
    await p1;
    const p2 = server.events.once('model-pushed', (e) => e.repository === 'models/e' && e.tag === 'v2');
    const d2 = await push('models/e:v2', 0.12, 'e2');
    await p2;
    await server.idle();
    const pushedBefore = seen.pushed.length;
    const what = outcome('models/e');
    const r = await notify(server.url, [{ action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d2, repository: 'models/e', tag: 'v1' }, request: { host: reg.host } }], { authorization: `Bearer ${NOTIFY_TOKEN}` });
    assert.equal(r.status, 202);
    assert.equal(await what, `ignored: ${reg.host}/models/e:v1 names ${d1} in the registry, not ${d2}; indexed ${d1}`);
    await server.idle();
    assert.equal((await index.get(`${reg.host}/models/e:v1`))?.digest, d1);
    assert.equal(((await index.get(`${reg.host}/models/e:v1`))?.customProperties as { accuracy?: number } | undefined)?.accuracy, 0.11);
    assert.equal(seen.pushed.length, pushedBefore, 'no action ran');
  });

  test('DNS rebinding: a Host that names no name of this server is 421, even with the token; loopback names are answered', async () => {
    const { port } = new URL(server.url);
    const at = (host: string, path: string, token?: string): Promise<number> => new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: Number(port), path, headers: { host, ...(token ? { authorization: `Bearer ${token}` } : {}) } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(await at('attacker.example', '/healthz'), 421);
    assert.equal(await at(`attacker.example:${port}`, '/api/v1/search', TOKEN), 421);
    assert.equal(await at('127.0.0.1.nip.io', '/api/v1/search', TOKEN), 421);
    assert.equal(await at(`localhost:${port}`, '/api/v1/search', TOKEN), 200);
    assert.equal(await at(`127.0.0.1:${port}`, '/healthz'), 200);
    assert.equal(await at(`[::1]:${port}`, '/healthz'), 200);
  });

  test('notifications: a wrong content type is refused; an event naming another host is fetched from the configured registry, never from that host', async () => {
    const wrong = await request(`${server.url}/notifications`, { method: 'POST', headers: { authorization: `Bearer ${NOTIFY_TOKEN}`, 'content-type': 'text/plain' }, body: 'x' });
    assert.equal(wrong.statusCode, 415);
    await wrong.body.dump();
    const ignored = server.events.once('event-ignored', (e) => e.event.target.repository === 'x/y');
    const other = await request(`${server.url}/notifications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${NOTIFY_TOKEN}`, 'content-type': 'application/vnd.docker.distribution.events.v1+json' },
      body: JSON.stringify({ events: [{ action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', repository: 'x/y', tag: 'v1', digest: `sha256:${'a'.repeat(64)}`, url: 'http://evil.example:5000/v2/x/y/manifests/v1' }, request: { host: 'evil.example:5000' } }] }),
    });
    // One registry configured: an event naming another host is still that registry's (as distribution may name itself by its configured http.host).
    assert.equal(other.statusCode, 202);
    await other.body.dump();
    const e = await ignored;
    assert.equal(e.registry, reg.host);
    assert.equal(e.reason, `the registry has no ${reg.host}/x/y:v1`);
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

  /** Starts `omlmd serve` with these arguments; resolves with its URL and what it wrote, once it listens. */
  const startServe = async (args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ url: string; stderr: () => string; stop: () => Promise<number | null> }> => {
    const child = spawn(process.execPath, [CLI, 'serve', '--registry', reg.host, '--listen', '127.0.0.1:0', '--no-crawl', ...args], { env: { ...process.env, OMLMD_HOME: join(work, 'h'), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${out}${err}`)));
    });
    return {
      url,
      stderr: () => err,
      stop: () => new Promise<number | null>((resolve) => {
        child.removeAllListeners('exit');
        child.on('exit', (c) => resolve(c));
        child.kill('SIGTERM');
      }),
    };
  };

  test('omlmd serve runs from the CLI, answers, and stops on SIGTERM; the search token cannot notify, the notification token (OMLMD_NOTIFY_TOKEN) can', async () => {
    const tokenFile = join(work, 'token');
    writeFileSync(tokenFile, 'cli-token\n');
    const serve = await startServe(['--index', join(work, 'serve.sqlite'), '--token-file', tokenFile], { OMLMD_NOTIFY_TOKEN: 'cli-notify-token' });
    const health = await get(`${serve.url}/healthz`);
    assert.equal((health.body as { documents: number }).documents, 0);
    assert.equal((await get(`${serve.url}/api/v1/search`, 'cli-token')).status, 200);
    assert.equal((await notify(serve.url, [], { authorization: 'Bearer cli-token' })).status, 403);
    assert.equal((await notify(serve.url, [], { authorization: 'Bearer cli-notify-token' })).status, 202);
    assert.equal(await serve.stop(), 0);
    assert.doesNotMatch(serve.stderr(), /allow-anonymous|no notification token/, 'both tokens: no warning at start');
    assert.match(serve.stderr(), /warn refused a notification from 127\.0\.0\.1: the search token cannot send notifications\n/);
  });

  test('omlmd serve refuses to start open (exit 2, one line saying how), and the old OMLMD_SERVE_TOKEN name is refused, not silently ignored', async () => {
    const indexFile = join(work, 'refused.sqlite');
    const bare = { OMLMD_HOME: join(work, 'h'), OMLMD_SERVER_TOKEN: '', OMLMD_SERVE_TOKEN: '', OMLMD_NOTIFY_TOKEN: '' };
    const args = ['serve', '--registry', reg.host, '--index', indexFile, '--listen', '127.0.0.1:0', '--no-crawl'];
    const open = await runCli(args, { env: bare });
    assert.equal(open.code, 2, open.stderr);
    assert.equal(open.stderr, 'omlmd: error: refusing to serve searches to anyone: give the search API a token with --token-file FILE (or OMLMD_SERVER_TOKEN), or pass --allow-anonymous\n');
    const notifyOnly = await runCli(args, { env: { ...bare, OMLMD_NOTIFY_TOKEN: 'n' } });
    assert.equal(notifyOnly.code, 2, notifyOnly.stderr);
    const oldName = await runCli(args, { env: { ...bare, OMLMD_SERVE_TOKEN: 'old' } });
    assert.equal(oldName.code, 2, oldName.stderr);
    assert.match(oldName.stderr, /^omlmd: error: OMLMD_SERVE_TOKEN is not read: name the search token OMLMD_SERVER_TOKEN/);
    const same = await runCli(args, { env: { ...bare, OMLMD_SERVER_TOKEN: 'same', OMLMD_NOTIFY_TOKEN: 'same' } });
    assert.equal(same.code, 2, same.stderr);
    assert.match(same.stderr, /the notification token must differ from the search token/);
    assert.equal(existsSync(indexFile), false, 'nothing created');
  });

  test('omlmd serve --allow-anonymous starts and says so; OMLMD_SERVER_TOKEN (the name query --server reads) protects searches', async () => {
    const anon = await startServe(['--index', join(work, 'anon.sqlite'), '--allow-anonymous'], { OMLMD_SERVER_TOKEN: '', OMLMD_NOTIFY_TOKEN: '' });
    try {
      assert.equal((await get(`${anon.url}/api/v1/search`)).status, 200);
      assert.equal((await notify(anon.url, [])).status, 202);
      assert.match(anon.stderr(), new RegExp(`warn --allow-anonymous: anyone who reaches ${anon.url} can search and send notifications \\(each checked against the registry\\)\\n`));
    } finally {
      assert.equal(await anon.stop(), 0);
    }
    const env = await startServe(['--index', join(work, 'env.sqlite')], { OMLMD_SERVER_TOKEN: 'env-token', OMLMD_NOTIFY_TOKEN: '' });
    try {
      assert.equal((await get(`${env.url}/api/v1/search`)).status, 401);
      assert.equal((await get(`${env.url}/api/v1/search`, 'env-token')).status, 200);
      assert.equal((await notify(env.url, [], { authorization: 'Bearer env-token' })).status, 403, 'no notification token: every event refused');
      assert.match(env.stderr(), /warn no notification token \(--notify-token-file or OMLMD_NOTIFY_TOKEN\): \/notifications refuses every event/);
    } finally {
      assert.equal(await env.stop(), 0);
    }
  });
});

type OpenApi = { paths: Record<string, Record<string, { summary?: string; parameters?: { name: string; in: string; schema: object }[]; requestBody?: { content: Record<string, { schema: object }> }; responses: Record<string, { description: string; content?: Record<string, { schema: object }> }> }>>; components: { schemas: Record<string, object> } };

/** The description is generated from the routes' schemas: every route is in it, with them, and the answers fit them. */
describe('omlmd serve: the OpenAPI description, limits and timeouts (in-memory index, no registry)', { timeout: 60_000 }, () => {
  let server: SearchServer;
  let work: string;
  const docs = corpus();
  before(async () => {
    work = tempDir('omlmd-serve-api-');
    const index = new MemoryIndex();
    await index.upsert(docs);
    server = createSearchServer({ index, client: new OmlmdClient({ home: join(work, 'home') }), registries: ['reg.example:5000'], token: TOKEN, notifyToken: NOTIFY_TOKEN, headersTimeoutMs: 500, version: '9.9.9' });
    await server.listen();
  });
  after(async () => {
    await server?.close();
    rmSync(work, { recursive: true, force: true });
  });

  test('the generated OpenAPI document lists every route with its parameters, bodies and responses; /openapi.json serves it', async () => {
    const doc = (await openApiDocument('9.9.9')) as unknown as OpenApi;
    const served = await get(`${server.url}/openapi.json`);
    assert.deepEqual(served.body, doc);
    const routes = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)).sort();
    assert.deepEqual(routes, ['GET /api/v1/artifacts/{reference}', 'GET /api/v1/crawl', 'GET /api/v1/search', 'GET /healthz', 'GET /openapi.json', 'POST /api/v1/crawl', 'POST /api/v1/search', 'POST /notifications']);
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        assert.ok(op.summary, `${method} ${path}: summary`);
        const ok = Object.entries(op.responses).filter(([status]) => status.startsWith('2'));
        assert.equal(ok.length, 1, `${method} ${path}: one success response`);
        assert.ok(ok[0]![1].content?.['application/json']?.schema, `${method} ${path}: success schema`);
        for (const [status, r] of Object.entries(op.responses)) {
          if (!status.startsWith('2')) assert.deepEqual(r.content?.['application/json']?.schema, { $ref: '#/components/schemas/Error' }, `${method} ${path} ${status}`);
        }
        if (path !== '/healthz' && path !== '/openapi.json') assert.ok(op.responses['401'], `${method} ${path}: 401`);
      }
    }
    assert.deepEqual(doc.paths['/api/v1/search']!.get!.parameters!.map((p) => `${p.in}:${p.name}`), ['query:q', 'query:query', 'query:sort', 'query:order', 'query:limit', 'query:offset']);
    assert.deepEqual(doc.paths['/api/v1/artifacts/{reference}']!.get!.parameters!.map((p) => `${p.in}:${p.name}`), ['path:reference']);
    assert.ok(doc.paths['/api/v1/search']!.post!.requestBody!.content['application/json']!.schema);
    assert.deepEqual(Object.keys(doc.paths['/notifications']!.post!.requestBody!.content), ['application/vnd.docker.distribution.events.v1+json', 'application/json']);
    for (const name of ['Document', 'SearchPage', 'Error', 'CrawlStatus']) assert.ok(doc.components.schemas[name], name);
  });

  test('answers fit the schemas the description gives them', async () => {
    const doc = (await get(`${server.url}/openapi.json`)).body as OpenApi;
    const ajv = new Ajv2020({ strict: false });
    addFormats(ajv);
    ajv.addSchema({ ...doc, $id: 'api' });
    const check = async (method: 'GET' | 'POST', path: string, route: string, opts: { body?: string; type?: string; token?: string | null } = {}): Promise<void> => {
      const token = opts.token === null ? undefined : (opts.token ?? TOKEN);
      const res = await request(`${server.url}${path}`, { method, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(opts.type ? { 'content-type': opts.type } : {}) }, body: opts.body });
      const body = (await res.body.json()) as unknown;
      assert.equal(res.headers['cache-control'], 'no-store', path);
      const schema = doc.paths[route]![method.toLowerCase()]!.responses[String(res.statusCode)]?.content?.['application/json']?.schema;
      assert.ok(schema, `${method} ${path}: ${res.statusCode} is described`);
      const validate = ajv.compile({ $ref: `api#/paths/${route.replaceAll('~', '~0').replaceAll('/', '~1')}/${method.toLowerCase()}/responses/${res.statusCode}/content/application~1json/schema` });
      assert.ok(validate(body), `${method} ${path} ${res.statusCode}: ${ajv.errorsText(validate.errors)}`);
    };
    await check('GET', '/healthz', '/healthz', { token: null });
    await check('GET', `/api/v1/search?q=${encodeURIComponent('$[?@.customProperties]')}&sort=name&limit=50`, '/api/v1/search');
    await check('GET', '/api/v1/search?limit=5000', '/api/v1/search');
    await check('GET', `/api/v1/search?q=${encodeURIComponent('$[?@.a == ]')}`, '/api/v1/search');
    await check('GET', '/api/v1/search', '/api/v1/search', { token: 'wrong' });
    await check('POST', '/api/v1/search', '/api/v1/search', { type: 'application/json', body: '{"query":"@.size > 1200","limit":3}' });
    await check('GET', `/api/v1/artifacts/${docs[3]!.reference}`, '/api/v1/artifacts/{reference}');
    await check('GET', '/api/v1/artifacts/reg.example:5000/none:v1', '/api/v1/artifacts/{reference}');
    await check('GET', '/api/v1/crawl', '/api/v1/crawl');
    await check('GET', '/api/v1/search', '/api/v1/search', { token: NOTIFY_TOKEN });
    await check('POST', '/notifications', '/notifications', { type: 'application/vnd.docker.distribution.events.v1+json', body: '{"events":[]}', token: NOTIFY_TOKEN });
    await check('POST', '/notifications', '/notifications', { type: 'application/vnd.docker.distribution.events.v1+json', body: '{"events":[]}' });
    await check('POST', '/notifications', '/notifications', { type: 'text/plain', body: '{"events":[]}', token: NOTIFY_TOKEN });
    await check('POST', '/notifications', '/notifications', { type: 'application/json', body: '{"no":"events"}', token: NOTIFY_TOKEN });
  });

  test('the library refuses a server open by mistake: no search token without allowAnonymous, the same token for both faces; allowedHosts are answered', async () => {
    const base = { index: new MemoryIndex(), client: new OmlmdClient({ home: join(work, 'home') }), registries: ['reg.example:5000'] };
    assert.throws(() => createSearchServer(base), (e: unknown) => OmlmdError.is(e, 'USAGE') && /allowAnonymous/.test(e.message));
    assert.throws(() => createSearchServer({ ...base, token: 't', notifyToken: 't' }), (e: unknown) => OmlmdError.is(e, 'USAGE') && /differ/.test(e.message));
    const named = createSearchServer({ ...base, allowAnonymous: true, allowedHosts: ['Search.Example:8080'] });
    await named.listen();
    try {
      const { port } = new URL(named.url);
      const status = (host: string): Promise<number> => new Promise((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: Number(port), path: '/api/v1/search', headers: { host } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
      assert.deepEqual([await status('search.example'), await status('search.example.:80'), await status('other.example')], [200, 200, 421]);
      // Anonymous: no notification token, so /notifications is open too (each event still checked against the registry).
      assert.equal((await notify(named.url, [])).status, 202);
    } finally {
      await named.close();
    }
  });

  test('a body over 1 MiB is refused with 413, as is a search body that is not a JSON object with 400', async () => {
    const big = await request(`${server.url}/api/v1/search`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: `{"q":"${'x'.repeat(1024 * 1024)}"}` });
    assert.equal(big.statusCode, 413);
    assert.deepEqual(((await big.body.json()) as { error: { code: string } }).error.code, 'TOO_LARGE');
    const notObject = await request(`${server.url}/api/v1/search`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: '[1]' });
    assert.equal(notObject.statusCode, 400);
    assert.deepEqual(await notObject.body.json(), { error: { code: 'USAGE', message: 'the body must be a JSON object' } });
    const empty = await request(`${server.url}/api/v1/search`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(empty.statusCode, 200, 'an empty body is {}');
    await empty.body.dump();
  });

  test('the remote index goes through the registry client\'s transport: a real HTTP proxy tunnels its calls, a CA file is read', async () => {
    const proxy = await startFaultProxy(new URL(server.url).host);
    const remote = new RemoteIndex(server.url, { token: TOKEN, transport: { httpProxy: `http://${proxy.host}`, noProxy: 'example.invalid' } });
    try {
      const page = await query(remote, "@.repository == 'team/special'", { sort: 'tag' });
      assert.deepEqual(page.items.map((d) => d.tag), docs.filter((d) => d.repository === 'team/special').map((d) => d.tag).sort());
      assert.ok(proxy.tunnels.includes(new URL(server.url).host), `tunnels: ${proxy.tunnels.join(', ')}`);
    } finally {
      await remote.close();
      await proxy.close();
    }
    const missing = join(work, 'no-such-ca.pem');
    await assert.rejects(query(new RemoteIndex(server.url, { token: TOKEN, transport: { tls: { caFile: missing } } }), '$[*]'), (e: unknown) => OmlmdError.is(e, 'USAGE') && e.message.includes(missing));
  });

  test('slowloris: a client that never finishes its headers is cut off (408) after the headers timeout', async () => {
    const { port } = new URL(server.url);
    const socket = connect(Number(port), '127.0.0.1');
    let answer = '';
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('data', (b: Buffer) => (answer += b.toString()));
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    const timer = setInterval(() => socket.write('a'), 100);
    try {
      await closed;
    } finally {
      clearInterval(timer);
    }
    // Cut off by the server (node's default checking interval, 30 s, would outlast this suite's timeout).
    assert.match(answer, /^HTTP\/1\.1 408/);
  });
});
