import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, beforeEach, describe, it } from 'node:test';
import { OmlmdClient } from '../../src/core/client';
import { createCredentialsProvider, verifyCredentials } from '../../src/core/credentials';
import { sha256 } from '../../src/core/oci/digest';
import { MediaType } from '../../src/core/oci/mediatypes';
import { RegistryClient, type Credentials } from '../../src/core/oci/registry';
import { runCli } from '../helpers/cli';
import { makePki, startRegistry, startTokenServer, type Pki, type RunningRegistry, type TokenServer } from '../helpers/registry';
import { rejectsWith } from '../helpers/assertions';
import { tempDir } from '../helpers/tmp';

const PASSWORD = 'tok3n-Pa55';


function manifestOver(config: Buffer): Buffer {
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, artifactType: 'application/x-test', config: { mediaType: MediaType.ociEmpty, digest: sha256(config), size: config.length }, layers: [] }));
}

describe('the real registry with `auth: token`, tokens from a token server the test runs (JWT, RS256, x5c)', () => {
  let pki: Pki;
  let tokens: TokenServer;
  let reg: RunningRegistry;
  const alice = (): Promise<Credentials> => Promise.resolve({ username: 'alice', password: PASSWORD });
  const config = Buffer.from('{}');

  before(async () => {
    pki = await makePki();
    tokens = await startTokenServer({ users: { alice: PASSWORD }, certPath: pki.tokenCert, keyPath: pki.tokenKey, anonymousPull: true });
    reg = await startRegistry({ token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundle: pki.tokenCert } });
  });
  beforeEach(() => {
    tokens.log.length = 0;
    tokens.expiresIn = 300;
    tokens.staleTokens = 0;
  });
  after(async () => {
    await reg?.stop();
    await tokens?.close();
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
  });

  it('the registry itself refuses a request without a token (the premise of every test here)', async () => {
    const res = await fetch(`http://${reg.host}/v2/`);
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm="http:\/\/127\.0\.0\.1:\d+\/token",service="omlmd-test-registry"/);
  });

  it('pushes with one pull,push token for the repository, fetched with Basic credentials', async () => {
    const repo = new RegistryClient(reg.host, { credentials: alice }).repository('team/model');
    await repo.putBlob({ open: () => Readable.from([config]), size: 2, digest: sha256(config) });
    const layer = randomBytes(100_000);
    const ref = await repo.putBlob({ open: () => Readable.from([layer]), size: layer.length });
    assert.equal(ref.digest, sha256(layer));
    await repo.putManifest(manifestOver(config), MediaType.ociManifest, 'v1');
    assert.deepEqual(await repo.listTags(), ['v1']);
    const scopes = tokens.log.map((t) => `${t.user}:${t.scopes.join(' ')}`);
    // The HEAD that checks for the config blob needs pull; everything after reuses the push token.
    assert.deepEqual(scopes, ['alice:repository:team/model:pull', 'alice:repository:team/model:pull,push']);
  });

  it('a pull token is never reused for a push: a second token with push scope is fetched', async () => {
    const repo = new RegistryClient(reg.host, { credentials: alice }).repository('team/model');
    const m = await repo.fetchManifest('v1');
    await repo.putManifest(m.bytes, MediaType.ociManifest, 'v2');
    assert.deepEqual(tokens.log.map((t) => t.scopes.join(' ')), ['repository:team/model:pull', 'repository:team/model:pull,push']);
  });

  it('anonymous: pulls with an anonymous pull token; a push is UNAUTHORIZED with a sign-in remedy', async () => {
    const repo = new RegistryClient(reg.host).repository('team/model');
    const m = await repo.fetchManifest('v1');
    const err = await rejectsWith(repo.putManifest(m.bytes, MediaType.ociManifest, 'v3'), 'UNAUTHORIZED');
    assert.deepEqual(err.remedies, [{ kind: 'sign-in', registry: reg.host, again: false }]);
    assert.ok(tokens.log.every((t) => t.user === undefined));
    const asked = tokens.log.filter((t) => t.scopes.includes('repository:team/model:pull,push'));
    assert.ok(asked.length > 0 && asked.every((t) => t.granted.every((g) => !g.includes('push'))), JSON.stringify(tokens.log));
  });

  it('a token that expires is fetched anew before the next request, not sent stale', async () => {
    tokens.expiresIn = 1;
    const repo = new RegistryClient(reg.host, { credentials: alice }).repository('team/model');
    await repo.resolve('v1');
    assert.equal(tokens.log.length, 1);
    await new Promise((r) => setTimeout(r, 1100));
    await repo.resolve('v1');
    assert.equal(tokens.log.length, 2, 'a second token after expires_in');
  });

  it('a token the registry refuses (expired for it, fresh for the client) is replaced once and the request succeeds', async () => {
    tokens.staleTokens = 1;
    const repo = new RegistryClient(reg.host, { credentials: alice }).repository('team/model');
    const desc = await repo.resolve('v1');
    assert.match(desc.digest, /^sha256:/);
    assert.equal(tokens.log.length, 2, 'the refused token was dropped and a new one fetched');
  });

  it('wrong password: the token service refuses; UNAUTHORIZED with a sign-in-again remedy and no secret', async () => {
    const repo = new RegistryClient(reg.host, { credentials: async () => ({ username: 'alice', password: 'Wr0ng-pw' }) }).repository('team/model');
    const err = await rejectsWith(repo.fetchManifest('v1'), 'UNAUTHORIZED');
    assert.match(err.message, /token service .* refused the credentials/);
    assert.deepEqual(err.remedies, [{ kind: 'sign-in', registry: reg.host, again: true }]);
    assert.ok(!JSON.stringify([err.message, err.remedies, err.url]).includes('Wr0ng-pw'));
  });

  it('verifyCredentials goes through the token service', async () => {
    assert.deepEqual(await verifyCredentials(reg.host, { username: 'alice', password: PASSWORD }), { verified: true });
    assert.equal(tokens.log.at(-1)?.user, 'alice');
    await rejectsWith(verifyCredentials(reg.host, { username: 'alice', password: 'nope' }), 'UNAUTHORIZED');
  });

  it('an identity token (OAuth2 refresh token, Docker\'s identitytoken) is exchanged at the token service', async () => {
    tokens.refreshTokens.set('refresh-abc-123', 'alice');
    const repo = new RegistryClient(reg.host, { credentials: async () => ({ identityToken: 'refresh-abc-123' }) }).repository('team/model');
    const m = await repo.fetchManifest('v1');
    await repo.putManifest(m.bytes, MediaType.ociManifest, 'by-refresh');
    assert.ok(tokens.log.length >= 1);
    assert.ok(tokens.log.every((t) => t.method === 'POST' && t.grant === 'refresh_token' && t.user === 'alice'), JSON.stringify(tokens.log));
    const bad = new RegistryClient(reg.host, { credentials: async () => ({ identityToken: 'revoked' }) }).repository('team/model');
    await rejectsWith(bad.fetchManifest('v1'), 'UNAUTHORIZED');
  });

  it('end to end with the CLI: login through the token service, push, pull, logout', async () => {
    const work = tempDir('omlmd-token-');
    try {
      const home = join(work, 'home');
      mkdirSync(home);
      const env = { HOME: home, DOCKER_CONFIG: join(home, '.docker'), OMLMD_HOME: join(work, 'omlmd'), OMLMD_CONFIG: join(work, 'none.yaml'), XDG_RUNTIME_DIR: join(work, 'run'), REGISTRY_AUTH_FILE: '', OMLMD_AUTH_FILE: '', OMLMD_REGISTRY_USERNAME: '', OMLMD_REGISTRY_PASSWORD: '' };
      writeFileSync(join(work, 'model.bin'), randomBytes(50_000));
      const login = await runCli(['login', reg.host, '-u', 'alice', '--password-stdin'], { env, input: PASSWORD });
      assert.equal(login.code, 0, login.stderr);
      const push = await runCli(['push', `${reg.host}/cli/model:v1`, join(work, 'model.bin'), '--name', 'model'], { env });
      assert.equal(push.code, 0, push.stderr);
      const pull = await runCli(['pull', `${reg.host}/cli/model:v1`, '-o', join(work, 'out'), '--json'], { env });
      assert.equal(pull.code, 0, pull.stderr);
      assert.ok(!(login.stdout + push.stdout + pull.stdout + login.stderr + push.stderr + pull.stderr).includes(PASSWORD));
      const logout = await runCli(['logout', reg.host], { env });
      assert.equal(logout.code, 0, logout.stderr);
      const after = await runCli(['push', `${reg.host}/cli/model:v2`, join(work, 'model.bin'), '--name', 'model'], { env });
      assert.equal(after.code, 3, after.stderr);
      assert.match(after.stderr, /omlmd login/);
      // The library's credential chain sees the same: nothing stored any more.
      const lib = new OmlmdClient({ home: join(work, 'omlmd'), credentials: createCredentialsProvider({ env: { ...process.env, ...env } }) });
      await rejectsWith(lib.push(`${reg.host}/cli/model:v3`, { paths: [join(work, 'model.bin')], metadata: { name: 'x' } }), 'UNAUTHORIZED');
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});

describe('a registry on HTTPS whose token service is on plain HTTP (the real registry, TLS, auth: token)', () => {
  let pki: Pki;
  let tokens: TokenServer;
  let reg: RunningRegistry;
  before(async () => {
    pki = await makePki();
    tokens = await startTokenServer({ users: { alice: PASSWORD }, certPath: pki.tokenCert, keyPath: pki.tokenKey, anonymousPull: true });
    reg = await startRegistry({ tls: { cert: pki.serverCert, key: pki.serverKey }, token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundle: pki.tokenCert } });
  });
  after(async () => {
    await reg?.stop();
    await tokens?.close();
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
  });

  it('is refused before the password leaves: TLS, exit 6, the realm named; the token service hears nothing', async () => {
    const { createDispatcher } = await import('../../src/core/oci/http');
    const repo = new RegistryClient(reg.host, { credentials: () => Promise.resolve({ username: 'alice', password: PASSWORD }), dispatcher: await createDispatcher({ tls: { caFile: pki.caCert } }) }).repository('team/model');
    const e = await rejectsWith(repo.listTags(), 'TLS');
    assert.match(e.message, /reached over HTTPS but names a token service on plain HTTP \(http:\/\/127\.0\.0\.1:\d+\/token\)/);
    assert.deepEqual(tokens.log, [], 'no request reached the token service');
    const work = tempDir('omlmd-downgrade-');
    const r = await runCli(['tags', `${reg.host}/team/model`, '--ca-file', pki.caCert, '--username', 'alice', '--password-stdin'], { env: { OMLMD_HOME: join(work, 'home') }, input: PASSWORD });
    assert.equal(r.code, 6, r.stderr);
    assert.match(r.stderr, /token service on plain HTTP/);
    assert.doesNotMatch(r.stderr, new RegExp(PASSWORD));
    assert.deepEqual(tokens.log, []);
  });
});
