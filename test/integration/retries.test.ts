import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, afterEach, before, describe, it } from 'node:test';
import { OmlmdClient } from '../../src/core/client';
import { sha256 } from '../../src/core/oci/digest';
import { MediaType } from '../../src/core/oci/mediatypes';
import { RegistryClient, type RegistryOptions, type RetryEvent } from '../../src/core/oci/registry';
import { runCli } from '../helpers/cli';
import { startFaultProxy, type FaultProxy } from '../helpers/faultproxy';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { source, rejectsWith } from '../helpers/assertions';
import { tempDir } from '../helpers/tmp';

const MiB = 1024 * 1024;


async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}


describe('retries, resumes and registry quirks, through a fault-injecting proxy in front of the real registry', () => {
  let reg: RunningRegistry;
  let proxy: FaultProxy;
  let retries: RetryEvent[];
  let direct: RegistryClient;
  const via = (o: RegistryOptions = {}): RegistryClient =>
    new RegistryClient(proxy.host, { retry: { baseDelayMs: 5, maxDelayMs: 20 }, onRetry: (e) => retries.push(e), ...o });
  const uploads = (): string[] => proxy.seen.filter((s) => s.path.includes('/blobs/uploads/')).map((s) => `${s.method}${s.fault ? `(${s.fault})` : ''}`);

  before(async () => {
    reg = await startRegistry();
    proxy = await startFaultProxy(reg.host);
    direct = new RegistryClient(reg.host);
  });
  afterEach(() => {
    proxy.clear();
    proxy.setCookie = undefined;
    retries = [];
  });
  after(async () => {
    await proxy?.close();
    await reg?.stop();
  });
  retries = [];

  async function pushManifest(repo: string, tag: string): Promise<Buffer> {
    const r = direct.repository(repo);
    const cfg = Buffer.from('{}');
    await r.putBlob(source(cfg, sha256(cfg)));
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, artifactType: 'application/x-test', config: { mediaType: MediaType.ociEmpty, digest: sha256(cfg), size: 2 }, layers: [] }));
    await r.putManifest(bytes, MediaType.ociManifest, tag);
    return bytes;
  }

  it('503 twice on a manifest GET: retried with backoff, then the manifest', async () => {
    const bytes = await pushManifest('retry/manifest', 'v1');
    proxy.add({ method: 'GET', path: /\/manifests\/v1$/, times: 2, fault: { kind: 'status', status: 503 } });
    const got = await via().repository('retry/manifest').fetchManifest('v1');
    assert.ok(got.bytes.equals(bytes));
    assert.deepEqual(retries.map((r) => [r.attempt, r.reason]), [[1, 'HTTP 503'], [2, 'HTTP 503']]);
    assert.equal(proxy.seen.filter((s) => s.method === 'GET').length, 3);
  });

  it('429 with Retry-After: waits exactly what the registry asks', async () => {
    await pushManifest('retry/ratelimit', 'v1');
    proxy.add({ method: 'HEAD', path: /\/manifests\/v1$/, fault: { kind: 'status', status: 429, headers: { 'retry-after': '1' } } });
    await via().repository('retry/ratelimit').resolve('v1');
    assert.equal(retries.length, 1);
    assert.equal(retries[0]?.delayMs, 1000);
    assert.equal(retries[0]?.reason, 'HTTP 429');
  });

  it('a Retry-After longer than the policy allows fails at once, saying how long to wait', async () => {
    await pushManifest('retry/ratelimit', 'v2');
    proxy.add({ method: 'GET', path: /\/manifests\/v2$/, fault: { kind: 'status', status: 429, headers: { 'retry-after': '3600' }, body: '{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}' } });
    const err = await rejectsWith(via().repository('retry/ratelimit').fetchManifest('v2'), 'TOOMANYREQUESTS');
    assert.deepEqual(err.remedies, [{ kind: 'wait', seconds: 3600 }]);
    assert.equal(retries.length, 0);
  });

  it('a registry that keeps failing: gives up after the configured retries, naming the status', async () => {
    await pushManifest('retry/down', 'v1');
    proxy.add({ path: /\/manifests\//, times: Infinity, fault: { kind: 'status', status: 500 } });
    const err = await rejectsWith(via({ retry: { retries: 2, baseDelayMs: 5 } }).repository('retry/down').fetchManifest('v1'), 'HTTP');
    assert.equal(err.status, 500);
    assert.deepEqual(err.remedies, [{ kind: 'try-later', registry: proxy.host, status: 500 }]);
    assert.equal(proxy.seen.length, 3, 'one try and two retries');
  });

  it('a non-idempotent request is not retried: a DELETE answered 503 fails at once', async () => {
    const bytes = await pushManifest('retry/delete', 'v1');
    proxy.add({ method: 'DELETE', fault: { kind: 'status', status: 503 } });
    await rejectsWith(via().repository('retry/delete').deleteManifest(sha256(bytes)), 'HTTP');
    assert.equal(proxy.seen.filter((s) => s.method === 'DELETE').length, 1);
    assert.equal(retries.length, 0);
  });

  it('a connection dropped in the middle of a blob download resumes with Range; the bytes are intact', async () => {
    const data = randomBytes(3 * MiB + 123);
    const ref = await direct.repository('retry/pull').putBlob(source(data, sha256(data)));
    proxy.add({ method: 'GET', path: /\/blobs\/sha256:/, fault: { kind: 'drop-response', after: MiB } });
    const got = await collect(await via().repository('retry/pull').openBlob({ mediaType: 'x', ...ref }));
    assert.equal(sha256(got), ref.digest);
    const ranged = proxy.seen.filter((s) => s.method === 'GET' && s.headers.range);
    assert.equal(ranged.length, 1, 'one resumed request');
    const from = Number(/^bytes=(\d+)-$/.exec(String(ranged[0]?.headers.range))?.[1]);
    assert.ok(from > 0 && from <= MiB, `resumed from byte ${from}, not from the start`);
  });

  it('a PATCH lost before it reached the registry: the upload goes on from the offset the registry reports', async () => {
    const data = randomBytes(3 * MiB + 777);
    proxy.add({ method: 'PATCH', passFirst: 1, fault: { kind: 'drop' } });
    const input = source(data);
    let progressed = 0;
    const ref = await via({ chunkSize: MiB }).repository('retry/resume').putBlob(input, { onBytes: (n) => (progressed += n) });
    assert.equal(ref.digest, sha256(data));
    assert.deepEqual(uploads(), ['POST', 'PATCH', 'PATCH(drop)', 'GET', 'PATCH', 'PATCH', 'PATCH', 'PUT']);
    assert.equal(progressed, data.length, 'progress never counts a byte twice');
    assert.ok((await collect(await direct.repository('retry/resume').openBlob({ mediaType: 'x', ...ref }))).equals(data));
  });

  it('a PATCH broken halfway: distribution forgets the session, so the upload starts over and succeeds', async () => {
    const data = randomBytes(3 * MiB);
    proxy.add({ method: 'PATCH', passFirst: 1, fault: { kind: 'drop-request', after: 300 * 1024 } });
    const ref = await via({ chunkSize: MiB }).repository('retry/restart').putBlob(source(data));
    assert.equal(ref.digest, sha256(data));
    const seq = uploads();
    assert.equal(seq.filter((s) => s === 'POST').length, 2, seq.join(' '));
    assert.ok(seq.includes('GET'), 'the registry was asked first whether it could resume');
    assert.ok((await collect(await direct.repository('retry/restart').openBlob({ mediaType: 'x', ...ref }))).equals(data));
  });

  it('a monolithic PUT whose connection breaks is sent again in a new session', async () => {
    const data = randomBytes(512 * 1024);
    proxy.add({ method: 'PUT', path: /\/blobs\/uploads\//, fault: { kind: 'drop-request', after: 100 * 1024 } });
    const ref = await via().repository('retry/mono').putBlob(source(data, sha256(data)));
    assert.equal(ref.digest, sha256(data));
    assert.deepEqual(uploads().filter((s) => s !== 'DELETE'), ['POST', 'PUT(drop-request)', 'POST', 'PUT']);
    assert.equal(await direct.repository('retry/mono').statBlob(ref.digest), data.length);
  });

  it('a registry that refuses PATCH gets one monolithic PUT, and no PATCH for the next blobs', async () => {
    proxy.add({ method: 'PATCH', times: Infinity, fault: { kind: 'status', status: 405, body: '{"errors":[{"code":"UNSUPPORTED","message":"chunked uploads are not supported"}]}' } });
    const client = via({ chunkSize: MiB });
    const a = randomBytes(2 * MiB + 5);
    const input = source(a);
    assert.equal((await client.repository('retry/nochunks').putBlob(input)).digest, sha256(a));
    assert.equal(input.opens, 3, 'opened for the refused PATCH, then read once to hash and once to send');
    const b = randomBytes(3 * MiB);
    assert.equal((await client.repository('retry/nochunks').putBlob(source(b))).digest, sha256(b));
    const seq = uploads().filter((s) => s !== 'DELETE');
    assert.deepEqual(seq, ['POST', 'PATCH(status)', 'POST', 'PUT', 'POST', 'PUT']);
    assert.ok((await collect(await direct.repository('retry/nochunks').openBlob({ mediaType: 'x', digest: sha256(b), size: b.length }))).equals(b));
  });

  it('a registry that answers PATCH with 201 (ECR) still gets the closing PUT', async () => {
    proxy.add({ method: 'PATCH', times: Infinity, fault: { kind: 'rewrite-status', status: 201 } });
    const data = randomBytes(2 * MiB + 1);
    const ref = await via({ chunkSize: MiB }).repository('retry/ecr').putBlob(source(data));
    assert.equal(ref.digest, sha256(data));
    assert.deepEqual(uploads(), ['POST', 'PATCH(rewrite-status)', 'PATCH(rewrite-status)', 'PATCH(rewrite-status)', 'PUT']);
    assert.equal(await direct.repository('retry/ecr').statBlob(ref.digest), data.length);
  });

  it('no single request carries more than the chunk size (Quay caps one PUT), even for a blob of known digest', async () => {
    const data = randomBytes(3 * MiB + 10);
    const ref = await via({ chunkSize: MiB }).repository('retry/cap').putBlob(source(data, sha256(data)));
    assert.equal(ref.digest, sha256(data));
    const bodies = proxy.seen.map((s) => s.bodyBytes);
    assert.ok(Math.max(...bodies) <= MiB, `largest request body ${Math.max(...bodies)}`);
    assert.equal(proxy.seen.filter((s) => s.method === 'PATCH').length, 4);
  });

  it('a byte corrupted on the way up: the registry refuses the digest, the push fails as an integrity error, no tag moves', async () => {
    const work = tempDir('omlmd-retries-');
    writeFileSync(join(work, 'model.bin'), randomBytes(MiB));
    const home = join(work, 'home');
    proxy.add({ method: 'PATCH', fault: { kind: 'corrupt-request', at: 1000 } });
    const r = await runCli(['push', `${proxy.host}/retry/corrupt:v1`, join(work, 'model.bin'), '--name', 'm'], { env: { OMLMD_HOME: home } });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /DIGEST_INVALID|digest/i);
    await rejectsWith(direct.repository('retry/corrupt').resolve('v1'), 'MANIFEST_UNKNOWN');
  });

  it('a registry that never answers: a network error after the read timeout, with what to do', async () => {
    await pushManifest('retry/hang', 'v1');
    proxy.add({ method: 'GET', path: /\/manifests\/v1$/, times: Infinity, fault: { kind: 'hang' } });
    const err = await rejectsWith(via({ readTimeoutMs: 300, retry: { retries: 0 } }).repository('retry/hang').fetchManifest('v1'), 'NETWORK');
    assert.match(err.message, /stopped answering/);
    assert.deepEqual(err.remedies, [{ kind: 'raise-timeout', timeout: 'read', host: proxy.host }]);
  });

  describe('one retry budget per operation, whichever step fails (fault injection)', () => {
    const RETRIES = 3;
    const budgeted = (): RegistryClient => via({ chunkSize: MiB, retry: { retries: RETRIES, baseDelayMs: 1, maxDelayMs: 2 } });
    const count = (method: string, path: RegExp): number => proxy.seen.filter((s) => s.method === method && path.test(s.path)).length;

    it('a registry that fails every PATCH gets 1 + retries PATCHes for one blob, not a product of nested loops', async () => {
      proxy.add({ method: 'PATCH', times: Infinity, fault: { kind: 'status', status: 503 } });
      const err = await rejectsWith(budgeted().repository('budget/patch').putBlob(source(randomBytes(2 * MiB + 9))), 'HTTP');
      assert.equal(err.status, 503);
      assert.equal(count('PATCH', /\/blobs\/uploads\//), 1 + RETRIES);
      assert.equal(retries.length, RETRIES);
      assert.deepEqual(retries.map((r) => r.attempt), [1, 2, 3]);
      assert.ok(retries.every((r) => r.operation.verb === 'push-blob' && r.operation.target === `${proxy.host}/budget/patch`));
    });

    it('a PATCH that fails after the first chunk went through: resumed and retried 1 + retries times in all, not per restart', async () => {
      proxy.add({ method: 'PATCH', passFirst: 1, times: Infinity, fault: { kind: 'status', status: 503 } });
      const err = await rejectsWith(budgeted().repository('budget/resume').putBlob(source(randomBytes(3 * MiB))), 'HTTP');
      assert.equal(err.status, 503);
      const patches = proxy.seen.filter((s) => s.method === 'PATCH');
      assert.equal(patches.filter((s) => s.fault).length, 1 + RETRIES);
      assert.equal(patches.length, 2 + RETRIES, 'the first chunk once, the second 1 + retries times');
      assert.equal(count('POST', /\/blobs\/uploads\/$/), 1, 'resumed in the same session, never started over');
      assert.equal(retries.length, RETRIES);
    });

    it('a registry that fails every commit PUT gets 1 + retries PUTs', async () => {
      proxy.add({ method: 'PUT', path: /\/blobs\/uploads\//, times: Infinity, fault: { kind: 'status', status: 500 } });
      const data = randomBytes(2 * MiB + 1);
      const err = await rejectsWith(budgeted().repository('budget/commit').putBlob(source(data)), 'HTTP');
      assert.equal(err.status, 500);
      assert.equal(count('PUT', /\/blobs\/uploads\//), 1 + RETRIES);
      assert.equal(count('PATCH', /\/blobs\/uploads\//), 3, 'the chunks went once: the budget was spent on the commit');
      assert.equal(retries.length, RETRIES);
      assert.equal(await direct.repository('budget/commit').statBlob(sha256(data)), undefined);
    });

    it('a registry that fails every manifest GET gets 1 + retries GETs', async () => {
      await pushManifest('budget/manifest', 'v1');
      proxy.add({ method: 'GET', path: /\/manifests\/v1$/, times: Infinity, fault: { kind: 'status', status: 502 } });
      const err = await rejectsWith(budgeted().repository('budget/manifest').fetchManifest('v1'), 'HTTP');
      assert.equal(err.status, 502);
      assert.equal(count('GET', /\/manifests\/v1$/), 1 + RETRIES);
      assert.equal(retries.length, RETRIES);
    });
  });

  it('ignores cookies (Harbor sets a CSRF cookie): none is ever sent back', async () => {
    proxy.setCookie = '__csrf=abc123; Path=/';
    await pushManifest('retry/cookie', 'v1');
    const repo = via().repository('retry/cookie');
    await repo.fetchManifest('v1');
    await repo.putBlob(source(randomBytes(1000)));
    await repo.listTags();
    assert.ok(proxy.seen.length >= 5);
    assert.ok(proxy.seen.every((s) => s.headers.cookie === undefined));
  });

  it('the CLI pull survives a 503 and a dropped connection, and says it retried', async () => {
    const work = tempDir('omlmd-retries-');
    const model = randomBytes(2 * MiB + 3);
    writeFileSync(join(work, 'model.bin'), model);
    await new OmlmdClient({ home: join(work, 'home') }).push(`${reg.host}/retry/cli:v1`, { paths: [join(work, 'model.bin')], metadata: { name: 'm' } });
    proxy.add({ method: 'GET', path: /\/manifests\/v1$/, fault: { kind: 'status', status: 503 } });
    proxy.add({ method: 'GET', path: new RegExp(`/blobs/${sha256(model)}$`), fault: { kind: 'drop-response', after: 700 * 1024 } });
    const out = join(work, 'out');
    const r = await runCli(['pull', `${proxy.host}/retry/cli:v1`, '-o', out], { env: { OMLMD_HOME: join(work, 'home') } });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(readFileSync(join(out, 'model.bin')).equals(model));
    assert.match(r.stderr, /HTTP 503 while trying to .*retry 1 of 4/);
    assert.deepEqual(readdirSync(out).filter((f) => !f.startsWith('model')), [], 'no partial file is left behind');
  });
});

describe('proxies from the environment', () => {
  let reg: RunningRegistry;
  let forward: FaultProxy;
  before(async () => {
    reg = await startRegistry();
    forward = await startFaultProxy(reg.host);
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociEmpty, digest: sha256('{}'), size: 2 }, layers: [] }));
    const repo = new RegistryClient(reg.host).repository('proxied/repo');
    await repo.putBlob(source(Buffer.from('{}'), sha256('{}')));
    await repo.putManifest(bytes, MediaType.ociManifest, 'v1');
  });
  after(async () => {
    await forward?.close();
    await reg?.stop();
  });

  it('HTTP_PROXY carries the CLI to the registry; NO_PROXY bypasses it', async () => {
    forward.clear();
    const clean = { HTTPS_PROXY: '', https_proxy: '', http_proxy: '', no_proxy: '' };
    const through = await runCli(['tags', `${reg.host}/proxied/repo`], { env: { ...clean, HTTP_PROXY: `http://${forward.host}`, NO_PROXY: '' } });
    assert.equal(through.code, 0, through.stderr);
    assert.equal(through.stdout.trim(), 'v1');
    assert.deepEqual(forward.tunnels, [reg.host]);
    const around = await runCli(['tags', `${reg.host}/proxied/repo`], { env: { ...clean, HTTP_PROXY: `http://${forward.host}`, NO_PROXY: '127.0.0.1' } });
    assert.equal(around.code, 0, around.stderr);
    assert.deepEqual(forward.tunnels, [reg.host], 'no new tunnel');
  });

  it('a proxy given as an option (the extension passes VS Code\'s http.proxy) is used over the environment', async () => {
    forward.clear();
    const client = new OmlmdClient({ proxy: { httpProxy: `http://${forward.host}`, noProxy: 'example.invalid' } });
    assert.deepEqual(await client.tags(`${reg.host}/proxied/repo`), ['v1']);
    assert.deepEqual(forward.tunnels, [reg.host]);
  });
});
