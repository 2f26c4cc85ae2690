import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { OmlmdError } from '../../src/core/errors';
import { sha256 } from '../../src/core/oci/digest';
import { MediaType } from '../../src/core/oci/mediatypes';
import { RegistryClient, type RegistryRepository } from '../../src/core/oci/registry';
import type { Descriptor } from '../../src/core/oci/types';
import { freePort, startRegistry, type RunningRegistry } from '../helpers/registry';
import { source, rejectsWith } from '../helpers/assertions';

// ---- helpers -------------------------------------------------------------------------

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A source that streams `data` in 64 KiB chunks and counts how often it was opened. */


/** Pushes the empty config and one layer, returns a manifest over them (pretty-printed, so byte-exactness matters). */
async function pushArtifact(repo: RegistryRepository, layer: Buffer, title: string): Promise<Buffer> {
  const config = Buffer.from('{}');
  await repo.putBlob(source(config, sha256(config)));
  await repo.putBlob(source(layer, sha256(layer)));
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    artifactType: 'application/vnd.omlmd.test',
    config: { mediaType: MediaType.ociEmpty, digest: sha256(config), size: config.length },
    layers: [{ mediaType: 'application/octet-stream', digest: sha256(layer), size: layer.length, annotations: { 'org.opencontainers.image.title': title } }],
  };
  return Buffer.from(JSON.stringify(manifest, null, 3) + '\n');
}

interface FakeServer {
  host: string;
  close(): Promise<void>;
}

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<FakeServer> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---- against the real registry -------------------------------------------------------

describe('RegistryRepository against distribution 2.8', () => {
  let reg: RunningRegistry;
  let agent: Agent;
  let client: RegistryClient;

  before(async () => {
    reg = await startRegistry();
    agent = new Agent();
    client = new RegistryClient(reg.host, { dispatcher: agent });
  });
  after(async () => {
    await agent?.close();
    await reg?.stop();
  });

  it('pings the registry', async () => {
    await client.ping();
  });

  it('pushes a blob with a known digest, streamed, reporting progress', async () => {
    const repo = client.repository('blobs/known');
    const data = randomBytes(1024 * 1024 + 17);
    const input = source(data, sha256(data));
    let progressed = 0;
    const ref = await repo.putBlob(input, { onBytes: (n) => (progressed += n) });
    assert.deepEqual(ref, { digest: sha256(data), size: data.length });
    assert.equal(input.opens, 1);
    assert.equal(progressed, data.length);
    assert.equal(await repo.statBlob(ref.digest), data.length);
    assert.deepEqual(await collect(await repo.openBlob({ mediaType: 'application/octet-stream', ...ref })), data);
  });

  it('pushes a blob of unknown digest in one streamed pass and returns its digest', async () => {
    const repo = client.repository('blobs/unknown');
    const data = randomBytes(5 * 1024 * 1024 + 3);
    const input = source(data);
    let progressed = 0;
    const ref = await repo.putBlob(input, { onBytes: (n) => (progressed += n) });
    assert.deepEqual(ref, { digest: sha256(data), size: data.length });
    assert.equal(input.opens, 1, 'the source is read once');
    assert.equal(progressed, data.length);
    assert.deepEqual(await collect(await repo.openBlob({ mediaType: 'application/octet-stream', ...ref })), data);
  });

  it('pushes an empty blob of unknown digest', async () => {
    const repo = client.repository('blobs/unknown');
    const ref = await repo.putBlob(source(Buffer.alloc(0)));
    assert.deepEqual(ref, { digest: sha256(Buffer.alloc(0)), size: 0 });
    assert.equal(await repo.statBlob(ref.digest), 0);
  });

  it('does not open the source of a blob the repository already has', async () => {
    const repo = client.repository('blobs/skip');
    const data = randomBytes(4096);
    await repo.putBlob(source(data, sha256(data)));
    let opened = 0;
    let progressed = 0;
    const ref = await repo.putBlob(
      {
        size: data.length,
        digest: sha256(data),
        open: () => {
          opened++;
          throw new Error('must not be opened');
        },
      },
      { onBytes: (n) => (progressed += n) },
    );
    assert.deepEqual(ref, { digest: sha256(data), size: data.length });
    assert.equal(opened, 0);
    assert.equal(progressed, 0);
  });

  it('rejects a blob whose bytes do not match the declared digest', async () => {
    const repo = client.repository('blobs/bad');
    const data = randomBytes(1000);
    const err = await rejectsWith(repo.putBlob(source(data, sha256(Buffer.from('something else')))), 'DIGEST_INVALID');
    assert.equal(err.status, 400);
    assert.equal(await repo.statBlob(sha256(Buffer.from('something else'))), undefined);
  });

  it('rejects a source that gives fewer bytes than its size', async () => {
    const repo = client.repository('blobs/bad');
    const data = randomBytes(1000);
    await rejectsWith(repo.putBlob({ ...source(data), size: 2000 }), 'SIZE_MISMATCH');
    await rejectsWith(repo.putBlob({ ...source(data, sha256(data)), size: 2000 }), 'SIZE_MISMATCH');
  });

  it('reads a blob from an offset with Range', async () => {
    const repo = client.repository('blobs/range');
    const data = randomBytes(300 * 1024);
    const ref = await repo.putBlob(source(data, sha256(data)));
    const desc: Descriptor = { mediaType: 'application/octet-stream', ...ref };
    assert.deepEqual(await collect(await repo.openBlob(desc, { offset: 123_457 })), data.subarray(123_457));
    assert.deepEqual(await collect(await repo.openBlob(desc, { offset: data.length - 1 })), data.subarray(data.length - 1));
    assert.equal((await collect(await repo.openBlob(desc, { offset: data.length }))).length, 0);
  });

  it('stats present and absent blobs; an absent blob cannot be opened', async () => {
    const repo = client.repository('blobs/stat');
    const data = Buffer.from('present');
    await repo.putBlob(source(data, sha256(data)));
    assert.equal(await repo.statBlob(sha256(data)), data.length);
    const absent = sha256(Buffer.from('absent'));
    assert.equal(await repo.statBlob(absent), undefined);
    const err = await rejectsWith(repo.openBlob({ mediaType: 'x', digest: absent, size: 6 }), 'BLOB_UNKNOWN');
    assert.deepEqual(err.operation, { verb: 'fetch-blob', target: `${reg.host}/blobs/stat`, ref: absent });
    assert.match(err.message, new RegExp(`^cannot fetch blob sha256:[0-9a-f]+ from ${reg.host}/blobs/stat: blob ${absent} not found$`));
  });

  it('puts manifests by tag and by digest and fetches the exact bytes back', async () => {
    const repo = client.repository('models/mnist');
    const bytes = await pushArtifact(repo, randomBytes(2048), 'model.onnx');
    const desc = await repo.putManifest(bytes, MediaType.ociManifest, 'v1');
    assert.deepEqual(desc, { mediaType: MediaType.ociManifest, digest: sha256(bytes), size: bytes.length });

    const byTag = await repo.fetchManifest('v1');
    assert.equal(byTag.kind, 'manifest');
    assert.ok(byTag.bytes.equals(bytes), 'bytes by tag are exactly the bytes pushed');
    assert.equal(byTag.descriptor.digest, desc.digest);
    assert.equal(byTag.descriptor.mediaType, MediaType.ociManifest);
    const byDigest = await repo.fetchManifest(desc.digest);
    assert.ok(byDigest.bytes.equals(bytes));
    assert.deepEqual(await repo.resolve('v1'), desc);
    assert.deepEqual(await repo.resolve(desc.digest), desc);

    const other = await pushArtifact(repo, randomBytes(100), 'other.onnx');
    const untagged = await repo.putManifest(other, MediaType.ociManifest);
    assert.equal(untagged.digest, sha256(other));
    assert.ok((await repo.fetchManifest(untagged.digest)).bytes.equals(other));
    assert.deepEqual(await repo.listTags(), ['v1'], 'a manifest put by digest gets no tag');
  });

  it('lists tags sorted, whatever order the registry keeps them in', async () => {
    const repo = client.repository('models/tags');
    const bytes = await pushArtifact(repo, Buffer.from('layer'), 'a');
    const tags = ['zeta', 'alpha', 'v10', 'v2', 'Beta', '0.1', 'latest', 'm_1', 'b-2', 'omega'];
    for (const t of tags) await repo.putManifest(bytes, MediaType.ociManifest, t);
    // The premise: distribution answers in its own order (else this test would prove nothing).
    const raw = await request(`http://${reg.host}/v2/models/tags/tags/list`, { dispatcher: agent });
    const rawTags = ((await raw.body.json()) as { tags: string[] }).tags;
    assert.notDeepEqual(rawTags, [...tags].sort());
    assert.deepEqual(await repo.listTags(), [...tags].sort());
  });

  it('deletes a manifest by digest', async () => {
    const repo = client.repository('models/delete');
    const bytes = await pushArtifact(repo, Buffer.from('to delete'), 'x');
    const desc = await repo.putManifest(bytes, MediaType.ociManifest, 'gone');
    await repo.deleteManifest(desc.digest);
    await rejectsWith(repo.fetchManifest(desc.digest), 'MANIFEST_UNKNOWN');
    await rejectsWith(repo.fetchManifest('gone'), 'MANIFEST_UNKNOWN');
    await rejectsWith(repo.deleteManifest(desc.digest), 'MANIFEST_UNKNOWN');
  });

  it('explains that distribution cannot delete a tag alone, and keeps the manifest', async () => {
    const repo = client.repository('models/deltag');
    const bytes = await pushArtifact(repo, Buffer.from('keep'), 'x');
    const desc = await repo.putManifest(bytes, MediaType.ociManifest, 'keep');
    const err = await rejectsWith(repo.deleteTag('keep'), 'UNSUPPORTED');
    assert.match(err.message, /cannot delete a tag alone/);
    assert.match(err.message, /removes every tag/);
    assert.deepEqual(err.operation, { verb: 'delete-tag', target: `${reg.host}/models/deltag`, ref: 'keep' });
    assert.deepEqual(err.remedies, [{ kind: 'delete-by-digest', reference: `${reg.host}/models/deltag@${desc.digest}` }]);
    assert.deepEqual(await repo.resolve('keep'), desc);
  });

  it('walks the catalog one repository per page', async () => {
    for (const name of ['catalog/a', 'catalog/b', 'catalog/c']) {
      const data = Buffer.from(name);
      await client.repository(name).putManifest(await pushArtifact(client.repository(name), data, 'x'), MediaType.ociManifest, 'v1');
    }
    const all = (await client.listRepositories({ n: 1000 })).repositories;
    const walked: string[] = [];
    let last: string | undefined;
    for (let pages = 0; ; pages++) {
      assert.ok(pages <= all.length + 1, 'paging ends');
      const page = await client.listRepositories({ n: 1, last });
      assert.ok(page.repositories.length <= 1);
      walked.push(...page.repositories);
      if (page.next === undefined) break;
      last = page.next;
    }
    assert.ok(all.length >= 3);
    assert.deepEqual(walked, all);
    for (const name of ['catalog/a', 'catalog/b', 'catalog/c']) assert.ok(walked.includes(name));
  });

  it('names the missing manifest and repository', async () => {
    const repo = client.repository('models/mnist');
    const err = await rejectsWith(repo.fetchManifest('no-such-tag'), 'MANIFEST_UNKNOWN');
    assert.equal(err.status, 404);
    assert.deepEqual(err.operation, { verb: 'fetch-manifest', target: `${reg.host}/models/mnist`, ref: 'no-such-tag' });
    assert.match(err.message, new RegExp(`^cannot fetch manifest no-such-tag from ${reg.host}/models/mnist: manifest no-such-tag not found$`));
    assert.equal(err.registryErrors[0]?.code, 'MANIFEST_UNKNOWN');
    await rejectsWith(repo.resolve('no-such-tag'), 'MANIFEST_UNKNOWN');
    const missing = await rejectsWith(client.repository('no/such/repo').listTags(), 'NAME_UNKNOWN');
    assert.match(missing.message, new RegExp(`repository ${reg.host}/no/such/repo not found`));
  });

  it('refuses references that are neither tags nor digests before sending anything', async () => {
    const repo = client.repository('models/mnist');
    await rejectsWith(repo.fetchManifest('../../_catalog'), 'INVALID_REFERENCE');
    await rejectsWith(repo.fetchManifest('sha256:ab/../x'), 'DIGEST_INVALID');
    assert.throws(() => client.repository('Models/Upper'), (e: unknown) => OmlmdError.is(e, 'INVALID_REFERENCE'));
  });

  it('ends with CANCELLED when the signal is aborted', async () => {
    const repo = client.repository('models/mnist');
    await rejectsWith(repo.fetchManifest('v1', { signal: AbortSignal.abort() }), 'CANCELLED');
    const data = randomBytes(2 * 1024 * 1024);
    const ref = await repo.putBlob(source(data, sha256(data)));
    const ac = new AbortController();
    const stream = await repo.openBlob({ mediaType: 'x', ...ref }, { signal: ac.signal });
    ac.abort();
    await assert.rejects(collect(stream));
  });
});

describe('a registry with deletes disabled', () => {
  let reg: RunningRegistry;
  before(async () => {
    reg = await startRegistry({ deleteEnabled: false });
  });
  after(async () => {
    await reg?.stop();
  });

  it('says how to enable deletes', async () => {
    const repo = new RegistryClient(reg.host).repository('models/nodelete');
    const bytes = await pushArtifact(repo, Buffer.from('x'), 'x');
    const desc = await repo.putManifest(bytes, MediaType.ociManifest, 'v1');
    const err = await rejectsWith(repo.deleteManifest(desc.digest), 'UNSUPPORTED');
    assert.equal(err.status, 405);
    assert.deepEqual(err.remedies, [{ kind: 'enable-deletes', registry: reg.host }]);
    assert.match(err.message, /the registry does not allow deletes/);
  });
});

describe('network failures', () => {
  it('connection refused: NETWORK, with a remedy naming the URL', async () => {
    const port = await freePort();
    const repo = new RegistryClient(`127.0.0.1:${port}`).repository('models/mnist');
    const err = await rejectsWith(repo.fetchManifest('latest'), 'NETWORK');
    assert.match(err.message, new RegExp(`cannot fetch manifest latest from 127\\.0\\.0\\.1:${port}/models/mnist`));
    assert.deepEqual(err.remedies, [{ kind: 'start-registry', origin: `http://127.0.0.1:${port}` }]);
  });

  it('TLS to a plain-HTTP server: TLS, with the use-plain-http remedy', async () => {
    const srv = await serve((_req, res) => res.end('plain'));
    try {
      const err = await rejectsWith(new RegistryClient(srv.host, { plainHttp: false }).ping(), 'TLS');
      assert.deepEqual(err.remedies.map((r) => r.kind), ['use-plain-http', 'trust-ca']);
      assert.deepEqual(err.remedies[0], { kind: 'use-plain-http', host: srv.host });
    } finally {
      await srv.close();
    }
  });
});

// ---- fault injection: servers that misbehave on purpose ----------------------------------

describe('a registry that sends wrong manifest bytes', () => {
  const good = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociEmpty, digest: sha256('{}'), size: 2 },
      layers: [],
    }),
  );
  const bad = Buffer.from(good.toString().replace('"layers":[]', '"layers":[] '));
  let srv: FakeServer;
  before(async () => {
    srv = await serve((req, res) => {
      const ref = req.url?.split('/manifests/')[1] ?? '';
      const headers = { 'content-type': MediaType.ociManifest };
      if (ref === sha256(good)) res.writeHead(200, headers).end(bad);
      else if (ref === 'lying') res.writeHead(200, { ...headers, 'docker-content-digest': sha256('not it') }).end(good);
      else if (ref === 'nohead') res.writeHead(200, headers).end(req.method === 'HEAD' ? undefined : good);
      else if (ref === 'huge') res.writeHead(200, headers).end(Buffer.alloc(5 * 1024 * 1024, 0x20));
      else res.writeHead(404).end();
    });
  });
  after(async () => {
    await srv?.close();
  });

  it('detects bytes that do not hash to the digest asked for', async () => {
    const repo = new RegistryClient(srv.host).repository('r');
    const err = await rejectsWith(repo.fetchManifest(sha256(good)), 'DIGEST_MISMATCH');
    assert.match(err.message, new RegExp(sha256(bad)));
  });

  it('detects a Docker-Content-Digest that disagrees with the bytes', async () => {
    await rejectsWith(new RegistryClient(srv.host).repository('r').fetchManifest('lying'), 'DIGEST_MISMATCH');
  });

  it('resolves with GET when HEAD gives no digest', async () => {
    const desc = await new RegistryClient(srv.host).repository('r').resolve('nohead');
    assert.deepEqual(desc, { mediaType: MediaType.ociManifest, digest: sha256(good), size: good.length });
  });

  it('refuses a manifest over the size limit', async () => {
    await rejectsWith(new RegistryClient(srv.host).repository('r').fetchManifest('huge'), 'INVALID_MANIFEST');
  });
});

describe('Basic auth, and a blob redirected to another origin that ignores Range', () => {
  const blob = randomBytes(100_000);
  const digest = sha256(blob);
  const basic = 'Basic ' + Buffer.from('bob:hunter2').toString('base64');
  const registryAuth: (string | undefined)[] = [];
  const storageSeen: { authorization?: string; range?: string; url?: string }[] = [];
  let front: FakeServer;
  let storage: FakeServer;

  before(async () => {
    storage = await serve((req, res) => {
      storageSeen.push({ authorization: req.headers.authorization, range: req.headers.range, url: req.url });
      res.writeHead(200, { 'content-length': String(blob.length) }).end(blob);
    });
    front = await serve((req, res) => {
      registryAuth.push(req.headers.authorization);
      if (req.headers.authorization !== basic) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="fake"' }).end();
        return;
      }
      if (req.url === `/v2/r/blobs/${digest}`) {
        res.writeHead(307, { location: `http://${storage.host}/bucket/blob?X-Amz-Signature=s3cr3t` }).end();
        return;
      }
      res.writeHead(404).end();
    });
  });
  after(async () => {
    await front?.close();
    await storage?.close();
  });

  it('sends credentials to the registry only, and skips what the caller already has', async () => {
    const repo = new RegistryClient(front.host, { credentials: async () => ({ username: 'bob', password: 'hunter2' }) }).repository('r');
    const got = await collect(await repo.openBlob({ mediaType: 'x', digest, size: blob.length }, { offset: 4321 }));
    assert.deepEqual(got, blob.subarray(4321));
    assert.deepEqual(registryAuth, [undefined, basic], 'anonymous first, then Basic after the challenge');
    assert.equal(storageSeen.length, 1);
    assert.equal(storageSeen[0]?.authorization, undefined, 'no Authorization to another origin');
    assert.equal(storageSeen[0]?.range, 'bytes=4321-');
  });

  it('without credentials: UNAUTHORIZED with a sign-in remedy', async () => {
    const err = await rejectsWith(new RegistryClient(front.host).repository('r').statBlob(digest), 'UNAUTHORIZED');
    assert.deepEqual(err.remedies, [{ kind: 'sign-in', registry: front.host, again: false }]);
  });
});

// ---- Bearer tokens: a token-checking front that proxies to the real registry ----------

interface TokenFront extends FakeServer {
  tokenRequests: { scopes: string[]; user?: string; service: string | null }[];
  /** Requests the front refused, as `METHOD path`. */
  refused: string[];
}

async function startTokenFront(upstream: string, users: Record<string, string>): Promise<TokenFront> {
  const tokens = new Map<string, Map<string, Set<string>>>();
  const tokenRequests: TokenFront['tokenRequests'] = [];
  const refused: string[] = [];
  let self = '';
  const srv = await serve((req, res) => {
    const url = new URL(req.url ?? '/', 'http://front');
    const auth = req.headers.authorization;
    if (url.pathname === '/token') {
      let user: string | undefined;
      if (auth !== undefined) {
        const [u = '', p] = Buffer.from(auth.replace(/^Basic /, ''), 'base64').toString().split(':');
        if (!auth.startsWith('Basic ') || users[u] !== p) {
          res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"incorrect username or password"}');
          return;
        }
        user = u;
      }
      const scopes = url.searchParams.getAll('scope');
      tokenRequests.push({ scopes, user, service: url.searchParams.get('service') });
      const grants = new Map<string, Set<string>>();
      for (const scope of scopes) {
        const parts = scope.split(':');
        const actions = (parts.pop() ?? '').split(',');
        const name = parts.slice(1).join(':');
        const set = grants.get(name) ?? new Set<string>();
        // Anonymous users may only pull, as on a public registry.
        for (const a of actions) if (user !== undefined || a === 'pull') set.add(a);
        grants.set(name, set);
      }
      const token = randomBytes(16).toString('hex');
      tokens.set(token, grants);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: token, expires_in: 300 }));
      return;
    }
    const name = /^\/v2\/(.+?)\/(?:manifests|blobs|tags)\//.exec(url.pathname)?.[1];
    const action = req.method === 'GET' || req.method === 'HEAD' ? 'pull' : req.method === 'DELETE' ? 'delete' : 'push';
    const grants = auth?.startsWith('Bearer ') ? tokens.get(auth.slice(7)) : undefined;
    const allowed = grants !== undefined && (name === undefined || grants.get(name)?.has(action) === true);
    if (!allowed) {
      refused.push(`${req.method} ${url.pathname}`);
      const scope = name ? `,scope="repository:${name}:${action}"` : '';
      const error = grants ? ',error="insufficient_scope"' : '';
      res
        .writeHead(401, { 'content-type': 'application/json', 'www-authenticate': `Bearer realm="http://${self}/token",service="fake-registry"${scope}${error}` })
        .end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
      req.resume();
      return;
    }
    const [host, port] = upstream.split(':');
    // Host is kept: the registry builds upload Locations from it, so they point back here.
    const proxied = httpRequest({ host, port: Number(port), method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    proxied.on('error', (e) => res.writeHead(502).end(String(e)));
    req.pipe(proxied);
  });
  self = srv.host;
  return { ...srv, tokenRequests, refused };
}

describe('Bearer token auth in front of the real registry', () => {
  let reg: RunningRegistry;
  let front: TokenFront;
  const alice = async () => ({ username: 'alice', password: 's3cret-pw' });

  before(async () => {
    reg = await startRegistry();
    front = await startTokenFront(reg.host, { alice: 's3cret-pw' });
  });
  after(async () => {
    await front?.close();
    await reg?.stop();
  });

  it('pushes and pulls with one push token, fetched with Basic credentials', async () => {
    const repo = new RegistryClient(front.host, { credentials: alice }).repository('auth/model');
    const layer = randomBytes(200_000);
    const unknown = await repo.putBlob(source(layer));
    assert.equal(unknown.digest, sha256(layer));
    const bytes = await pushArtifact(repo, layer, 'model.bin');
    const desc = await repo.putManifest(bytes, MediaType.ociManifest, 'v1');
    assert.ok((await repo.fetchManifest('v1')).bytes.equals(bytes));
    assert.deepEqual(await collect(await repo.openBlob({ mediaType: 'x', ...unknown })), layer);
    assert.deepEqual(await repo.listTags(), ['v1']);
    assert.equal(desc.digest, sha256(bytes));

    assert.equal(front.tokenRequests.length, 1, JSON.stringify(front.tokenRequests));
    const [tr] = front.tokenRequests;
    assert.equal(tr?.user, 'alice');
    assert.equal(tr?.service, 'fake-registry');
    assert.ok(tr?.scopes.includes('repository:auth/model:pull,push'), JSON.stringify(tr?.scopes));
    assert.deepEqual(front.refused, ['POST /v2/auth/model/blobs/uploads/'], 'only the first request went without a token');
  });

  it('does not reuse a pull token for a push', async () => {
    front.tokenRequests.length = 0;
    front.refused.length = 0;
    const repo = new RegistryClient(front.host, { credentials: alice }).repository('auth/model');
    const { bytes } = await repo.fetchManifest('v1');
    await repo.putManifest(bytes, MediaType.ociManifest, 'v2');
    assert.deepEqual(
      front.tokenRequests.map((t) => t.scopes[0]),
      ['repository:auth/model:pull', 'repository:auth/model:pull,push'],
    );
    // Once the scheme is known, a new scope's token is fetched before the request, not after a 401.
    assert.deepEqual(front.refused, ['GET /v2/auth/model/manifests/v1']);
  });

  it('pulls anonymously; an anonymous push is UNAUTHORIZED with a sign-in remedy', async () => {
    const repo = new RegistryClient(front.host).repository('auth/model');
    const { bytes } = await repo.fetchManifest('v1');
    const err = await rejectsWith(repo.putManifest(bytes, MediaType.ociManifest, 'v3'), 'UNAUTHORIZED');
    assert.equal(err.status, 401);
    assert.deepEqual(err.remedies, [{ kind: 'sign-in', registry: front.host, again: false }]);
  });

  it('wrong credentials: UNAUTHORIZED, and the password appears nowhere in the error', async () => {
    const repo = new RegistryClient(front.host, { credentials: async () => ({ username: 'alice', password: 'wrong-pw-123' }) }).repository('auth/model');
    const err = await rejectsWith(repo.fetchManifest('v1'), 'UNAUTHORIZED');
    assert.deepEqual(err.remedies, [{ kind: 'sign-in', registry: front.host, again: true }]);
    const everything = [err.message, JSON.stringify(err.remedies), err.url, JSON.stringify(err.registryErrors), String(err.cause)].join('\n');
    assert.ok(!everything.includes('wrong-pw-123'));
    assert.ok(!everything.includes(Buffer.from('alice:wrong-pw-123').toString('base64')));
  });
});
