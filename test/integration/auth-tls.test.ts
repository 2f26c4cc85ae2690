import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OmlmdClient } from '../../src/core/client';
import type { RegistrySettings } from '../../src/core/config';
import { verifyCredentials } from '../../src/core/credentials';
import { OmlmdError } from '../../src/core/errors';
import { sha256 } from '../../src/core/oci/digest';
import { createDispatcher } from '../../src/core/oci/http';
import { MediaType } from '../../src/core/oci/mediatypes';
import { RegistryClient } from '../../src/core/oci/registry';
import { rejectsWith, source } from '../helpers/assertions';
import { runCli, type CliResult } from '../helpers/cli';
import { makeHtpasswd, makePki, startRegistry, type Pki, type RunningRegistry } from '../helpers/registry';
import { tempDir } from '../helpers/tmp';

const PASSWORD = 'S3cret-pa55word!';

/** A user's machine: its own HOME, Docker config, omlmd data and config, and no ambient credentials or CAs. */
function machine(root: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const home = join(root, 'home');
  mkdirSync(home, { recursive: true });
  return {
    HOME: home,
    DOCKER_CONFIG: join(home, '.docker'),
    OMLMD_HOME: join(root, 'omlmd'),
    OMLMD_CONFIG: join(root, 'config.yaml'),
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_RUNTIME_DIR: join(root, 'run'),
    REGISTRY_AUTH_FILE: '',
    OMLMD_AUTH_FILE: '',
    OMLMD_REGISTRY_USERNAME: '',
    OMLMD_REGISTRY_PASSWORD: '',
    SSL_CERT_FILE: '',
    NODE_EXTRA_CA_CERTS: '',
    HTTP_PROXY: '',
    HTTPS_PROXY: '',
    http_proxy: '',
    https_proxy: '',
    ...extra,
  };
}

function noSecret(r: CliResult): void {
  const all = r.stdout + r.stderr;
  assert.ok(!all.includes(PASSWORD), 'the password appears in the output');
  assert.ok(!all.includes(Buffer.from(`alice:${PASSWORD}`).toString('base64')), 'the encoded credentials appear in the output');
}

describe('the real registry with htpasswd auth over TLS, its certificate from a CA the test made', () => {
  let pki: Pki;
  let reg: RunningRegistry;
  let work: string;
  let env: NodeJS.ProcessEnv;
  let model: string;
  const modelBytes = randomBytes(600 * 1024);

  before(async () => {
    pki = await makePki();
    work = tempDir('omlmd-authtls-');
    const htpasswd = await makeHtpasswd(join(work, 'htpasswd'), { alice: PASSWORD });
    reg = await startRegistry({ tls: { cert: pki.serverCert, key: pki.serverKey }, htpasswd });
    env = machine(work);
    // A loopback registry is plain HTTP unless told otherwise: this one speaks TLS.
    writeFileSync(env.OMLMD_CONFIG as string, `registries:\n  "${reg.host}":\n    plainHttp: false\n`);
    model = join(work, 'model.onnx');
    writeFileSync(model, modelBytes);
  });
  after(async () => {
    await reg?.stop();
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('without the CA: a TLS error (exit 6) that names the unknown authority and the fix', async () => {
    const r = await runCli(['login', reg.host, '-u', 'alice', '--password-stdin'], { env, input: PASSWORD });
    assert.equal(r.code, 6, r.stderr);
    assert.match(r.stderr, /certificate of 127\.0\.0\.1:\d+ is signed by an unknown authority/);
    assert.match(r.stderr, /hint: pass --ca-file/);
    noSecret(r);
  });

  it('a CA that did not sign the certificate does not help', async () => {
    const r = await runCli(['tags', `${reg.host}/models/x`, '--ca-file', pki.otherCaCert], { env });
    assert.equal(r.code, 6, r.stderr);
    assert.match(r.stderr, /unknown authority/);
  });

  it('wrong password: exit 3, nothing stored, and the password appears nowhere', async () => {
    const r = await runCli(['login', reg.host, '-u', 'alice', '--password-stdin', '--ca-file', pki.caCert, '--debug'], { env, input: 'not-the-password' });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /refused the credentials of alice/);
    assert.ok(!(r.stdout + r.stderr).includes('not-the-password'));
    assert.throws(() => statSync(join(env.DOCKER_CONFIG as string, 'config.json')));
  });

  it('no credentials at all: exit 3 with "omlmd login HOST"', async () => {
    const r = await runCli(['tags', `${reg.host}/models/x`, '--ca-file', pki.caCert], { env });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, new RegExp(`hint: run omlmd login ${reg.host.replace(/\./g, '\\.')}`));
  });

  it('login with --ca-file verifies, then stores in the Docker config file, mode 0600', async () => {
    const r = await runCli(['login', reg.host, '-u', 'alice', '--password-stdin', '--ca-file', pki.caCert, '--json'], { env, input: `${PASSWORD}\n` });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { verified: boolean; storedIn: string };
    assert.equal(out.verified, true);
    const file = join(env.DOCKER_CONFIG as string, 'config.json');
    assert.equal(out.storedIn, file);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { auths: Record<string, { auth: string }> };
    assert.equal(Buffer.from(doc.auths[reg.host]?.auth ?? '', 'base64').toString(), `alice:${PASSWORD}`, 'the trailing newline of stdin is not part of the password');
    noSecret(r);
  });

  it('push and pull with the stored login and the CA from the config file: no flags', async () => {
    writeFileSync(env.OMLMD_CONFIG as string, `registries:\n  "${reg.host}":\n    caFile: ${pki.caCert}\n`);
    const push = await runCli(['push', `${reg.host}/models/mnist:v1`, model, '--name', 'mnist', '--json'], { env });
    assert.equal(push.code, 0, push.stderr);
    noSecret(push);
    const out = join(work, 'pulled');
    const pull = await runCli(['pull', `${reg.host}/models/mnist:v1`, '-o', out], { env });
    assert.equal(pull.code, 0, pull.stderr);
    assert.ok(readFileSync(join(out, 'model.onnx')).equals(modelBytes));
  });

  it('--insecure skips verification, and says so on stderr', async () => {
    const bare = machine(join(work, 'insecure'));
    const r = await runCli(['tags', `${reg.host}/models/mnist`, '--insecure', '-u', 'alice', '--password-stdin'], { env: bare, input: PASSWORD });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'v1');
    assert.match(r.stderr, /warning: TLS certificate verification is off for 127\.0\.0\.1/);
    noSecret(r);
  });

  it('the system trust store (SSL_CERT_FILE) is honoured without --ca-file', async () => {
    const sys = machine(join(work, 'system'), { SSL_CERT_FILE: pki.caCert, OMLMD_REGISTRY_USERNAME: 'alice', OMLMD_REGISTRY_PASSWORD: PASSWORD });
    writeFileSync(sys.OMLMD_CONFIG as string, `registries:\n  "${reg.host}":\n    plainHttp: false\n`);
    const r = await runCli(['tags', `${reg.host}/models/mnist`], { env: sys });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'v1');
  });

  it('verifyCredentials: true for the right password, UNAUTHORIZED without the secret for a wrong one', async () => {
    const tls = { caFile: pki.caCert };
    assert.deepEqual(await verifyCredentials(reg.host, { username: 'alice', password: PASSWORD }, { tls }), { verified: true });
    try {
      await verifyCredentials(reg.host, { username: 'alice', password: 'wrong-one-42' }, { tls });
      assert.fail('expected a rejection');
    } catch (e) {
      assert.ok(OmlmdError.is(e, 'UNAUTHORIZED'), String(e));
      assert.ok(!JSON.stringify({ m: e.message, r: e.remedies, u: e.url, c: String(e.cause) }).includes('wrong-one-42'));
    }
  });
});

describe('a registry that demands a client certificate (mTLS)', () => {
  let pki: Pki;
  let reg: RunningRegistry;
  let work: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    pki = await makePki();
    reg = await startRegistry({ tls: { cert: pki.serverCert, key: pki.serverKey, clientCas: [pki.caCert] } });
    work = tempDir('omlmd-mtls-');
    env = machine(work);
  });
  after(async () => {
    await reg?.stop();
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('without a client certificate: a TLS error (exit 6) that says to pass --cert-file and --key-file', async () => {
    const r = await runCli(['repos', reg.host, '--ca-file', pki.caCert], { env });
    assert.equal(r.code, 6, r.stderr);
    assert.match(r.stderr, /client certificate/);
    assert.match(r.stderr, /--cert-file and --key-file/);
  });

  it('with --cert-file and --key-file: pushes and lists', async () => {
    const flags = ['--ca-file', pki.caCert, '--cert-file', pki.clientCert, '--key-file', pki.clientKey];
    writeFileSync(join(work, 'm.bin'), randomBytes(1000));
    const push = await runCli(['push', `${reg.host}/mtls/model:v1`, join(work, 'm.bin'), '--name', 'm', ...flags], { env });
    assert.equal(push.code, 0, push.stderr);
    const tags = await runCli(['tags', `${reg.host}/mtls/model`, ...flags], { env });
    assert.equal(tags.code, 0, tags.stderr);
    assert.equal(tags.stdout.trim(), 'v1');
  });

  it('a large blob over HTTPS with a client certificate: byte-identical, its body through undici (the socket path is for plain HTTP: over TLS a body ended by the close came short)', async () => {
    const big = randomBytes(20 * 1024 * 1024 + 777);
    writeFileSync(join(work, 'big.bin'), big);
    const settings = (): RegistrySettings => ({ plainHttp: false, caFile: pki.caCert, certFile: pki.clientCert, keyFile: pki.clientKey });
    await new OmlmdClient({ home: join(work, 'big-push-home'), registrySettings: settings }).push(`${reg.host}/mtls/big:v1`, { paths: [join(work, 'big.bin')], metadata: { name: 'big' } });
    const viaUndici: string[] = [];
    const seen = (m: unknown): void => void viaUndici.push((m as { request: { path: string } }).request.path);
    subscribe('undici:request:create', seen);
    try {
      const out = join(work, 'big-out');
      await new OmlmdClient({ home: join(work, 'big-pull-home'), registrySettings: settings }).pull(`${reg.host}/mtls/big:v1`, out);
      assert.ok(readFileSync(join(out, 'big.bin')).equals(big));
      assert.ok(viaUndici.some((p) => p.includes('/manifests/')), 'the manifest came through undici');
      assert.equal(viaUndici.filter((p) => p.includes(sha256(big))).length, 1, 'the large blob too, in one GET');
    } finally {
      unsubscribe('undici:request:create', seen);
    }
  });

  it('a certificate without its key is a usage error', async () => {
    const r = await runCli(['tags', `${reg.host}/mtls/model`, '--ca-file', pki.caCert, '--cert-file', pki.clientCert], { env });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--cert-file and --key-file/);
  });

  it('the library takes the same settings', async () => {
    const client = new RegistryClient(reg.host, { tls: { caFile: pki.caCert, certFile: pki.clientCert, keyFile: pki.clientKey } });
    assert.deepEqual(await client.repository('mtls/model').listTags(), ['v1']);
  });
});

describe('a loopback registry that speaks TLS, with no plainHttp setting: plain HTTP first, then HTTPS for good (Docker\'s localhost rule)', () => {
  let pki: Pki;
  let reg: RunningRegistry;
  let work: string;
  const modelBytes = randomBytes(300 * 1024);

  before(async () => {
    pki = await makePki();
    work = tempDir('omlmd-loopback-tls-');
    reg = await startRegistry({ tls: { cert: pki.serverCert, key: pki.serverKey } });
    writeFileSync(join(work, 'model.onnx'), modelBytes);
  });
  after(async () => {
    await reg?.stop();
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('the library: push and pull work with the CA in the transport and no TLS settings; the client then speaks HTTPS', async () => {
    const client = new OmlmdClient({ home: join(work, 'lib-home'), dispatcher: await createDispatcher({ tls: { caFile: pki.caCert } }) });
    assert.equal(client.registry(reg.host).baseUrl, `http://${reg.host}/`, 'the premise: a loopback host starts with plain HTTP');
    await client.push(`${reg.host}/loop/model:v1`, { paths: [join(work, 'model.onnx')], metadata: { name: 'loop' } });
    assert.equal(client.registry(reg.host).baseUrl, `https://${reg.host}/`);
    const out = join(work, 'lib-out');
    await client.pull(`${reg.host}/loop/model:v1`, out);
    assert.ok(readFileSync(join(out, 'model.onnx')).equals(modelBytes));
  });

  it('a HEAD (no body to read) is recognised too: the first request of a fresh client may be one', async () => {
    const client = new RegistryClient(reg.host, { dispatcher: await createDispatcher({ tls: { caFile: pki.caCert } }) });
    assert.equal(await client.repository('loop/head').statBlob(sha256('absent')), undefined);
    assert.equal(client.baseUrl, `https://${reg.host}/`);
  });

  it('first requests side by side (a push checks its blobs at once): each one that went out over plain HTTP goes again over HTTPS', async () => {
    const client = new RegistryClient(reg.host, { dispatcher: await createDispatcher({ tls: { caFile: pki.caCert } }) });
    const repo = client.repository('loop/side');
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => repo.statBlob(sha256(`absent ${i}`))));
    assert.deepEqual(answers, Array.from({ length: 6 }, () => undefined));
    assert.equal(client.baseUrl, `https://${reg.host}/`);
  });

  it('the CLI: push and pull work with the CA in the system trust store and no config', async () => {
    const env = machine(join(work, 'cli'), { SSL_CERT_FILE: pki.caCert });
    const push = await runCli(['push', `${reg.host}/loop/cli:v1`, join(work, 'model.onnx'), '--name', 'loop'], { env });
    assert.equal(push.code, 0, push.stderr);
    const out = join(work, 'cli-out');
    const pull = await runCli(['pull', `${reg.host}/loop/cli:v1`, '-o', out], { env });
    assert.equal(pull.code, 0, pull.stderr);
    assert.ok(readFileSync(join(out, 'model.onnx')).equals(modelBytes));
  });

  it('plainHttp set explicitly: never switched; the push fails with the use-https remedy', async () => {
    const client = new OmlmdClient({ home: join(work, 'plain-home'), plainHttp: true, dispatcher: await createDispatcher({ tls: { caFile: pki.caCert } }) });
    const err = await rejectsWith(client.push(`${reg.host}/loop/plain:v1`, { paths: [join(work, 'model.onnx')], metadata: { name: 'loop' } }), 'HTTP');
    assert.equal(err.status, 400);
    assert.deepEqual(err.remedies, [{ kind: 'use-https', host: reg.host }]);
    assert.equal(client.registry(reg.host).baseUrl, `http://${reg.host}/`);
  });

  it('plainHttp set explicitly: every kind of request says use-https (HEAD, GET, POST, PUT)', async () => {
    const repo = new RegistryClient(reg.host, { plainHttp: true, retry: { retries: 0 } }).repository('loop/kinds');
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociEmpty, digest: sha256('{}'), size: 2 }, layers: [] }));
    const attempts: [string, () => Promise<unknown>][] = [
      ['HEAD', () => repo.statBlob(sha256('x'))],
      ['GET', () => repo.fetchManifest('v1')],
      ['POST', () => repo.putBlob(source(Buffer.from('unknown digest')))],
      ['PUT', () => repo.putManifest(manifest, MediaType.ociManifest, 'v1')],
    ];
    for (const [kind, attempt] of attempts) {
      const err = await rejectsWith(attempt(), 'HTTP');
      assert.equal(err.status, 400, kind);
      assert.deepEqual(err.remedies, [{ kind: 'use-https', host: reg.host }], kind);
    }
  });
});
