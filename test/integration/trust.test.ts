/**
 * Trusted models against the real registry (distribution 2.8.2: no referrers API, so the
 * tag schema is what stores the signatures) and through the front that adds the API: sign
 * with Ed25519, ECDSA P-256, an encrypted key and a private CA's certificate; verify from the
 * manifest and the bundle alone (blob GETs counted); the bundles checked with @sigstore/verify
 * directly and their referrer manifests field by field against cosign's bundle spec; a pulled
 * folder against its model.sig; attestations; the ModelCar chain; and every bad input its own
 * message with exit 5. Keys and the CA are made with openssl (test/helpers/signing.ts).
 */
import assert from 'node:assert/strict';
import { createPublicKey, randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { bundleFromJSON } from '@sigstore/bundle';
import { toSignedEntity, Verifier } from '@sigstore/verify';
import { OmlmdClient } from '../../src/core/client';
import { listReferrers, readReferrersIndex } from '../../src/core/lineage/referrers';
import {
  BUNDLE_MEDIA_TYPE, keyId, loadPrivateKey, MODEL_SIGNATURE_PREDICATE, modelSignatureStatement, pushBundle, signStatement, type Signer,
} from '../../src/core/trust';
import { runCli } from '../helpers/cli';
import { startFaultProxy, type FaultProxy } from '../helpers/faultproxy';
import { startReferrersFront, type ReferrersFront } from '../helpers/referrersfront';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { makeSigningKit, type SigningKit } from '../helpers/signing';
import { tempDir } from '../helpers/tmp';

const EMPTY = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

interface Manifest {
  schemaVersion: number;
  mediaType: string;
  artifactType?: string;
  config: Record<string, unknown>;
  layers: { mediaType: string; digest: string; size: number; annotations?: Record<string, string> }[];
  subject?: { mediaType: string; digest: string; size: number };
  annotations?: Record<string, string>;
}

describe('trusted models: sign, attest, verify', () => {
  let reg: RunningRegistry;
  let kit: SigningKit;
  let work: string;
  let client: OmlmdClient;
  let env: NodeJS.ProcessEnv;
  const fronts: ReferrersFront[] = [];
  const proxies: FaultProxy[] = [];
  let n = 0;

  before(async () => {
    [reg, kit] = await Promise.all([startRegistry(), makeSigningKit()]);
    work = tempDir('omlmd-trust-');
    client = new OmlmdClient({ home: join(work, 'home') });
    env = { OMLMD_HOME: join(work, 'home') };
  });
  after(async () => {
    for (const f of fronts) await f.close();
    for (const p of proxies) await p.close();
    await reg?.stop();
  });

  /** Pushes a fresh model with two files (`weights.bin` large enough to matter, `config.json`) and returns its reference and digest. */
  const pushModel = async (host = reg.host, files: Record<string, Buffer> = { 'weights.bin': randomBytes(200_000), 'config.json': Buffer.from('{"layers": 2}') }, repo = `trust/m${++n}`) => {
    const dir = join(work, `src-${n}-${Math.random().toString(36).slice(2)}`);
    mkdirSync(dir, { recursive: true });
    for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
    const ref = `${host}/${repo}:v1`;
    const res = await client.push(ref, { paths: Object.keys(files).map((f) => join(dir, f)), metadata: { name: 'tiny' } });
    return { ref, digest: res.descriptor.digest, repo, host, dir };
  };

  const fetchManifest = async (ref: string, digest: string): Promise<{ manifest: Manifest; bytes: Buffer }> => {
    const repo = await client.repository(ref);
    const f = await repo.fetchManifest(digest);
    return { manifest: (f.kind === 'manifest' ? f.manifest : f.index) as unknown as Manifest, bytes: f.bytes };
  };
  const fetchBlob = async (ref: string, digest: string, size: number): Promise<Buffer> => {
    const repo = await client.repository(ref);
    const chunks: Buffer[] = [];
    for await (const c of await repo.openBlob({ digest, size, mediaType: '' })) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  };
  const sign = async (ref: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}) => {
    const r = await runCli(['sign', ref, ...args, '--json'], { env: { ...env, ...opts.env }, input: opts.input });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as { digest: string; signature: string; source: string; signer: string; files: { name: string; digest: string }[] };
  };
  const verifyFails = async (args: string[], pattern: RegExp) => {
    const r = await runCli(['verify', ...args], { env });
    assert.equal(r.code, 5, `exit 5 expected: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(r.stderr.trim().split('\n')[0]!.startsWith('omlmd: error: '), true, r.stderr);
    return r.stderr;
  };

  test('sign with Ed25519 on distribution: the referrer is laid out exactly as cosign\'s bundle spec says, listed in the sha256-<hex> tag', async () => {
    const m = await pushModel();
    const out = await sign(m.ref, ['--key', kit.ed25519.key]);
    assert.equal(out.digest, m.digest);
    assert.equal(out.source, 'tag-schema');
    const { manifest } = await fetchManifest(m.ref, out.signature);
    assert.deepEqual(Object.keys(manifest).sort(), ['annotations', 'artifactType', 'config', 'layers', 'mediaType', 'schemaVersion', 'subject']);
    assert.equal(manifest.schemaVersion, 2);
    assert.equal(manifest.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(manifest.artifactType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
    assert.deepEqual(manifest.config, { mediaType: 'application/vnd.oci.empty.v1+json', digest: EMPTY, size: 2 });
    assert.equal(manifest.layers.length, 1);
    const layer = manifest.layers[0]!;
    assert.equal(layer.mediaType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
    assert.deepEqual(layer.annotations, { 'org.opencontainers.image.title': `${layer.digest.replace(':', '-')}.sigstore.json` });
    const subject = await fetchManifest(m.ref, m.digest);
    assert.deepEqual(manifest.subject, { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: m.digest, size: subject.bytes.length });
    assert.equal(manifest.annotations!['dev.sigstore.bundle.content'], 'dsse-envelope');
    assert.equal(manifest.annotations!['dev.sigstore.bundle.predicateType'], 'https://model_signing/signature/v1.0');
    assert.match(manifest.annotations!['org.opencontainers.image.created']!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.deepEqual(Object.keys(manifest.annotations!).sort(), ['dev.sigstore.bundle.content', 'dev.sigstore.bundle.predicateType', 'org.opencontainers.image.created']);
    // The tag schema's index carries the artifactType and the annotations, as the spec asks.
    const index = await readReferrersIndex(await client.repository(m.ref), m.digest);
    const entry = index!.index.manifests.find((d) => d.digest === out.signature)!;
    assert.equal(entry.artifactType, BUNDLE_MEDIA_TYPE);
    assert.deepEqual(entry.annotations, manifest.annotations);

    // The bundle itself: v0.3, DSSE, an in-toto statement whose subject is the manifest digest and whose predicate lists every layer.
    const json = await fetchBlob(m.ref, layer.digest, layer.size);
    const doc = JSON.parse(json.toString()) as { mediaType: string; dsseEnvelope: { payloadType: string; payload: string; signatures: { keyid: string }[] }; verificationMaterial: { publicKey: { hint: string }; tlogEntries: unknown[] } };
    assert.equal(doc.mediaType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
    assert.equal(doc.dsseEnvelope.payloadType, 'application/vnd.in-toto+json');
    const statement = JSON.parse(Buffer.from(doc.dsseEnvelope.payload, 'base64').toString()) as { _type: string; subject: { name: string; digest: { sha256: string } }[]; predicateType: string; predicate: { serialization: Record<string, unknown>; resources: { name: string; algorithm: string; digest: string }[] } };
    assert.equal(statement._type, 'https://in-toto.io/Statement/v1');
    assert.deepEqual(statement.subject, [{ name: `${m.host}/${m.repo}`, digest: { sha256: m.digest.slice(7) } }]);
    assert.equal(statement.predicateType, 'https://model_signing/signature/v1.0');
    assert.deepEqual(statement.predicate.serialization, { method: 'files', hash_type: 'sha256', allow_symlinks: false, ignore_paths: ['model.sig'] });
    const layers = subject.manifest.layers.map((l) => ({ name: l.annotations!['org.opencontainers.image.title']!, algorithm: 'sha256', digest: l.digest.slice(7) })).sort((a, b) => (a.name < b.name ? -1 : 1));
    assert.deepEqual(statement.predicate.resources, layers, 'every layer by title with its layer digest, sorted');
    assert.deepEqual(layers.map((l) => l.name), ['config.json', 'model_metadata.omlmd.json', 'model_metadata.omlmd.yaml', 'weights.bin']);

    // Independence: @sigstore/verify, called directly with the public key as trust material, accepts it.
    const pub = createPublicKey(readFileSync(kit.ed25519.pub));
    assert.equal(doc.verificationMaterial.publicKey.hint, keyId(pub));
    const hints: string[] = [];
    const verifier = new Verifier({ certificateAuthorities: [], timestampAuthorities: [], tlogs: [], ctlogs: [], publicKey: (hint) => (hints.push(hint), { publicKey: pub, validFor: () => true }) }, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
    verifier.verify(toSignedEntity(bundleFromJSON(doc)));
    assert.deepEqual(hints, [keyId(pub)]);
    // ... and refuses it with another key.
    const other = createPublicKey(readFileSync(kit.other.pub));
    const strict = new Verifier({ certificateAuthorities: [], timestampAuthorities: [], tlogs: [], ctlogs: [], publicKey: () => ({ publicKey: other, validFor: () => true }) }, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
    assert.throws(() => strict.verify(toSignedEntity(bundleFromJSON(doc))), /signature verification failed/);

    const ok = await runCli(['verify', m.ref, '--key', kit.ed25519.pub], { env });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, new RegExp(`Verified .*${m.digest}`));
    assert.match(ok.stdout, /4 files/);
  });

  test('verify reads the manifest and the bundle only: one blob GET, the bundle, no weight byte', async () => {
    const proxy = await startFaultProxy(reg.host);
    proxies.push(proxy);
    const m = await pushModel();
    const out = await sign(m.ref, ['--key', kit.p256.key]);
    const { manifest } = await fetchManifest(m.ref, out.signature);
    proxy.seen.length = 0;
    const r = await runCli(['verify', `${proxy.host}/${m.repo}:v1`, '--key', kit.p256.pub], { env });
    assert.equal(r.code, 0, r.stderr);
    const blobGets = proxy.seen.filter((s) => s.method === 'GET' && s.path.includes('/blobs/'));
    assert.deepEqual(blobGets.map((s) => s.path.split('/blobs/')[1]), [manifest.layers[0]!.digest], 'only the bundle blob');
    const subject = await fetchManifest(m.ref, m.digest);
    const weights = subject.manifest.layers.find((l) => l.annotations?.['org.opencontainers.image.title'] === 'weights.bin')!;
    assert.equal(proxy.seen.some((s) => s.path.includes(weights.digest)), false, 'the weights are never asked for');
  });

  test('the referrers API path: sign through a registry that serves it, verify finds the signature there', async () => {
    const front = await startReferrersFront(reg.host, { referrersApi: true });
    fronts.push(front);
    const m = await pushModel(front.host);
    const out = await sign(m.ref, ['--key', kit.ed25519.key]);
    assert.equal(out.source, 'api');
    const listed = await listReferrers(await client.repository(m.ref), m.digest);
    assert.equal(listed.source, 'api');
    assert.equal(listed.referrers.find((d) => d.digest === out.signature)?.annotations?.['dev.sigstore.bundle.predicateType'], MODEL_SIGNATURE_PREDICATE);
    assert.ok(front.seen.some((s) => s.startsWith('GET ') && s.includes('/referrers/')));
    const r = await runCli(['verify', m.ref, '--key', kit.ed25519.pub, '--json'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { source: string }).source, 'api');
  });

  test('an encrypted key: the passphrase from standard input or OMLMD_SIGNING_PASSPHRASE, never an argument; none or a wrong one is a clear usage error', async () => {
    const m = await pushModel();
    await sign(m.ref, ['--key', kit.encrypted.key, '--passphrase-stdin'], { input: `${kit.encrypted.passphrase}\n` });
    await sign(m.ref, ['--key', kit.encrypted.key], { env: { OMLMD_SIGNING_PASSPHRASE: kit.encrypted.passphrase } });
    const none = await runCli(['sign', m.ref, '--key', kit.encrypted.key], { env });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /is encrypted and no passphrase was given/);
    const wrong = await runCli(['sign', m.ref, '--key', kit.encrypted.key, '--passphrase-stdin'], { env, input: 'wrong\n' });
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /wrong passphrase/);
    const ok = await runCli(['verify', m.ref, '--key', kit.encrypted.pub], { env });
    assert.equal(ok.code, 0, ok.stderr);
  });

  test('a signing certificate from a private CA: verify with the CA bundle and the identity; another identity, another CA, an expired certificate each fail', async () => {
    const m = await pushModel();
    const out = await sign(m.ref, ['--key', kit.leaf.key, '--cert', kit.leaf.cert, '--chain', kit.caBundle]);
    assert.match(out.signer, /CN=ML team/);
    const ok = await runCli(['verify', m.ref, '--ca', kit.caBundle, '--cert-identity', kit.leaf.identity], { env });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /certificate CN=ML team, O=Example \(email:ml-team@example.com\)/);
    await verifyFails([m.ref, '--ca', kit.caBundle, '--cert-identity', 'someone@else.example'], /wrong identity: .* not someone@else\.example/);
    await verifyFails([m.ref, '--ca', kit.otherCaCert], /untrusted certificate: .*was not issued by a CA in/);
    // The root alone does not link the leaf (its issuer is the intermediate, which a v0.3 bundle does not carry).
    await verifyFails([m.ref, '--ca', kit.rootCert], /untrusted certificate/);
    await verifyFails([m.ref, '--key', kit.ed25519.pub], /signed with a certificate, not a key/);

    // A certificate from another CA, signed through the Signer interface (sign refuses what it cannot chain).
    const other = await pushModel();
    const otherKey = await loadPrivateKey(kit.otherLeaf.key);
    await attachWithSigner(other, certSigner(otherKey, readFileSync(kit.otherLeaf.cert, 'utf8')));
    await verifyFails([other.ref, '--ca', kit.caBundle], /untrusted certificate/);

    // An expired certificate: sign refuses it; a bundle made with it anyway fails verification as expired.
    const refused = await runCli(['sign', m.ref, '--key', kit.expired.key, '--cert', kit.expired.cert], { env });
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /is not valid now/);
    const expired = await pushModel();
    await attachWithSigner(expired, certSigner(await loadPrivateKey(kit.expired.key), readFileSync(kit.expired.cert, 'utf8')));
    await verifyFails([expired.ref, '--ca', kit.caBundle], /expired certificate: /);
  });

  /** A Signer made by hand: the key signs, the certificate given is what the bundle carries. */
  function certSigner(key: Awaited<ReturnType<typeof loadPrivateKey>>, certPem: string): Signer {
    return {
      description: 'test',
      sign: async (data) => {
        const { sign } = await import('node:crypto');
        return { signature: sign('sha256', data, key), key: { $case: 'x509Certificate', certificate: certPem } };
      },
    };
  }
  async function attachWithSigner(m: { ref: string; digest: string; host: string; repo: string }, signer: Signer, mutate?: (s: ReturnType<typeof modelSignatureStatement>) => void, subjectOverride?: string) {
    const repo = await client.repository(m.ref);
    const f = await repo.fetchManifest(m.digest);
    assert.equal(f.kind, 'manifest');
    const statement = modelSignatureStatement(`${m.host}/${m.repo}`, subjectOverride ?? m.digest, (f as { manifest: Parameters<typeof modelSignatureStatement>[2] }).manifest);
    mutate?.(statement);
    const { json } = await signStatement(statement, signer);
    return pushBundle(repo, f.descriptor, json, MODEL_SIGNATURE_PREDICATE);
  }
  const keySigner = async (path: string) => new (await import('../../src/core/trust')).KeySigner(await loadPrivateKey(path));

  /** Pushes `bytes` as the bundle of a signature referrer of `m`, as a hostile writer could. */
  async function attachRawBundle(m: { ref: string; digest: string }, bytes: Buffer) {
    const repo = await client.repository(m.ref);
    const f = await repo.fetchManifest(m.digest);
    return pushBundle(repo, f.descriptor, bytes, MODEL_SIGNATURE_PREDICATE);
  }

  test('bad input: an unsigned model, the wrong key: each its own message, exit 5', async () => {
    const m = await pushModel();
    await verifyFails([m.ref, '--key', kit.ed25519.pub], /unsigned: no signature refers to/);
    await sign(m.ref, ['--key', kit.ed25519.key]);
    await verifyFails([m.ref, '--key', kit.other.pub], /unknown key: .* was signed by key [0-9a-f]{16}, not by the key in/);
  });

  test('bad input: a tampered bundle (one byte of the signature, one byte of the payload) is a bad signature', async () => {
    for (const part of ['sig', 'payload'] as const) {
      const m = await pushModel();
      const { json } = await signStatement(modelSignatureStatement(`${m.host}/${m.repo}`, m.digest, (await fetchManifest(m.ref, m.digest)).manifest as never), await keySigner(kit.ed25519.key));
      const doc = JSON.parse(json.toString()) as { dsseEnvelope: { payload: string; signatures: { sig: string }[] } };
      const flip = (b64: string, at: number) => {
        const b = Buffer.from(b64, 'base64');
        b[at] = b[at]! ^ 0x01;
        return b.toString('base64');
      };
      if (part === 'sig') doc.dsseEnvelope.signatures[0]!.sig = flip(doc.dsseEnvelope.signatures[0]!.sig, 10);
      // A byte inside the statement's JSON that keeps it JSON (a digest's hex digit): only the signature can tell.
      else {
        const payload = Buffer.from(doc.dsseEnvelope.payload, 'base64').toString();
        const at = payload.indexOf('"digest":"') + 12;
        const c = payload[at] === 'a' ? 'b' : 'a';
        doc.dsseEnvelope.payload = Buffer.from(payload.slice(0, at) + c + payload.slice(at + 1)).toString('base64');
      }
      await attachRawBundle(m, Buffer.from(JSON.stringify(doc)));
      await verifyFails([m.ref, '--key', kit.ed25519.pub], /bad signature: .*its signature or signed payload was changed/);
    }
  });

  test('bad input: a tampered layer — the tag moved to a manifest with one changed file — is unsigned, and with the old signature attached names the file', async () => {
    const weights = randomBytes(100_000);
    const m = await pushModel(reg.host, { 'weights.bin': weights, 'config.json': Buffer.from('{}') });
    const out = await sign(m.ref, ['--key', kit.ed25519.key]);
    const changed = Buffer.from(weights);
    changed[500] = changed[500]! ^ 0xff;
    const moved = await pushModel(reg.host, { 'weights.bin': changed, 'config.json': Buffer.from('{}') }, m.repo);
    assert.notEqual(moved.digest, m.digest);
    await verifyFails([m.ref, '--key', kit.ed25519.pub], /unsigned: no signature refers to/);
    // The attacker copies the old signature onto the new manifest.
    const { manifest } = await fetchManifest(m.ref, out.signature);
    const bundle = await fetchBlob(m.ref, manifest.layers[0]!.digest, manifest.layers[0]!.size);
    await attachRawBundle(moved, bundle);
    await verifyFails([m.ref, '--key', kit.ed25519.pub], new RegExp(`signature for another digest: .* signs ${m.digest}, but the reference resolves to ${moved.digest}; the digest of weights\\.bin differs`));
    // By digest, the original still verifies.
    const ok = await runCli(['verify', `${reg.host}/${m.repo}@${m.digest}`, '--key', kit.ed25519.pub], { env });
    assert.equal(ok.code, 0, ok.stderr);
  });

  test('bad input: a signature for another digest (another model\'s, same files named)', async () => {
    const a = await pushModel();
    const b = await pushModel();
    await attachWithSigner(b, await keySigner(kit.ed25519.key), undefined, a.digest);
    await verifyFails([b.ref, '--key', kit.ed25519.pub], new RegExp(`signature for another digest: .* signs ${a.digest}, but the reference resolves to ${b.digest}`));
  });

  test('bad input: a predicate that omits a file, or lists one the model lacks, or with another digest', async () => {
    const m = await pushModel();
    await attachWithSigner(m, await keySigner(kit.ed25519.key), (s) => {
      s.predicate.resources = s.predicate.resources.filter((r) => r.name !== 'weights.bin');
    });
    await verifyFails([m.ref, '--key', kit.ed25519.pub], /unsigned file: weights\.bin is in the model but the signature does not list it/);
    const m2 = await pushModel();
    await attachWithSigner(m2, await keySigner(kit.ed25519.key), (s) => {
      s.predicate.resources.find((r) => r.name === 'config.json')!.digest = 'a'.repeat(64);
    });
    await verifyFails([m2.ref, '--key', kit.ed25519.pub], /the digest of config\.json differs: signed sha256:aaaaaaaaaaaa…/);
    const m3 = await pushModel();
    await attachWithSigner(m3, await keySigner(kit.ed25519.key), (s) => {
      s.predicate.resources.push({ name: 'extra.bin', algorithm: 'sha256', digest: 'b'.repeat(64) });
    });
    await verifyFails([m3.ref, '--key', kit.ed25519.pub], /the signature lists extra\.bin, which the model does not have/);
  });

  test('bad input: a bundle referrer that is huge or not JSON is refused with its own message (the huge one unread)', async () => {
    const m = await pushModel();
    await attachRawBundle(m, Buffer.from('this is not json'));
    await verifyFails([m.ref, '--key', kit.ed25519.pub], /is not JSON, so not a Sigstore bundle/);
    const proxy = await startFaultProxy(reg.host);
    proxies.push(proxy);
    const h = await pushModel();
    const huge = Buffer.alloc((1 << 20) + 10, 0x20);
    const pushed = await attachRawBundle(h, huge);
    proxy.seen.length = 0;
    const r = await runCli(['verify', `${proxy.host}/${h.repo}:v1`, '--key', kit.ed25519.pub], { env });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /its bundle is 1048586 bytes, more than a signature bundle can be \(1048576\); not read/);
    assert.equal(proxy.seen.some((s) => s.method === 'GET' && s.path.includes(pushed.manifest.layers[0]!.digest)), false, 'the huge blob is never fetched');
  });

  test('pull writes model.sig beside the files; verify --path checks the folder file by file, a changed or extra file fails', async () => {
    const m = await pushModel();
    await sign(m.ref, ['--key', kit.ed25519.key]);
    const out = join(work, `pulled-${n}`);
    const p = await runCli(['pull', m.ref, '-o', out], { env });
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, /model\.sig/);
    assert.ok(existsSync(join(out, 'model.sig')));
    const ok = await runCli(['verify', '--path', out, '--key', kit.ed25519.pub], { env });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /4 files match model\.sig/);
    writeFileSync(join(out, 'notes.txt'), 'hello');
    await verifyFails(['--path', out, '--key', kit.ed25519.pub], /unsigned file: notes\.txt is in .* but model\.sig does not list it/);
    const { rmSync } = await import('node:fs');
    rmSync(join(out, 'notes.txt'));
    appendFileSync(join(out, 'config.json'), ' ');
    await verifyFails(['--path', out, '--key', kit.ed25519.pub], /the digest of config\.json differs/);
    await verifyFails(['--path', out, '--key', kit.other.pub], /unknown key/);
    rmSync(join(out, 'model.sig'));
    await verifyFails(['--path', out, '--key', kit.ed25519.pub], /unsigned: .* has no model\.sig/);
    const usage = await runCli(['verify', '--path', out], { env });
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /nothing to verify with/);
    // An unsigned model pulls as before, without model.sig.
    const u = await pushModel();
    const out2 = join(work, `pulled-unsigned-${n}`);
    const p2 = await runCli(['pull', u.ref, '-o', out2], { env });
    assert.equal(p2.code, 0, p2.stderr);
    assert.equal(existsSync(join(out2, 'model.sig')), false);
  });

  test('pull --verify-key refuses an unsigned model and writes nothing', async () => {
    const u = await pushModel();
    const out = join(work, `refused-${n}`);
    const r = await runCli(['pull', u.ref, '-o', out, '--verify-key', kit.ed25519.pub], { env });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /unsigned/);
    assert.equal(existsSync(out), false, 'nothing written');
  });

  test('attest any predicate; discover lists signatures and attestations with their predicate type and signer; verify --type checks one', async () => {
    const m = await pushModel();
    await sign(m.ref, ['--key', kit.ed25519.key]);
    const pred = join(work, 'eval.json');
    writeFileSync(pred, JSON.stringify({ accuracy: 0.97, dataset: 'mnist-test' }));
    const a = await runCli(['attest', m.ref, '--predicate', pred, '--type', 'https://example.com/eval/v1', '--key', kit.p256.key, '--json'], { env });
    assert.equal(a.code, 0, a.stderr);
    const d = await runCli(['discover', m.ref], { env });
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /application\/vnd\.dev\.sigstore\.bundle\.v0\.3\+json {2}sha256:[0-9a-f]{64} {2}\(predicate https:\/\/model_signing\/signature\/v1\.0, signed by key [0-9a-f]{16}/);
    assert.match(d.stdout, /predicate https:\/\/example\.com\/eval\/v1, signed by key [0-9a-f]{16}/);
    const ok = await runCli(['verify', m.ref, '--type', 'https://example.com/eval/v1', '--key', kit.p256.pub, '--json'], { env });
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual((JSON.parse(ok.stdout) as { statement: { predicate: unknown } }).statement.predicate, { accuracy: 0.97, dataset: 'mnist-test' });
    await verifyFails([m.ref, '--type', 'https://example.com/eval/v1', '--key', kit.ed25519.pub], /unknown key/);
    await verifyFails([m.ref, '--type', 'https://example.com/sbom/v1', '--key', kit.p256.pub], /unsigned: no https:\/\/example\.com\/sbom\/v1 attestation refers to/);
    const bad = await runCli(['attest', m.ref, '--predicate', pred, '--type', 'not a uri', '--key', kit.p256.key], { env });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /is not a URI/);
  });

  test('the chain: modelcar build --verify-key --sign-key refuses an unsigned model, builds from a signed one and signs its provenance; verify --chain walks it back', async () => {
    const unsigned = await pushModel();
    const refused = await runCli(['modelcar', 'build', unsigned.ref, `${reg.host}/${unsigned.repo}:car`, '--verify-key', kit.ed25519.pub, '--sign-key', kit.ed25519.key], { env });
    assert.equal(refused.code, 5, refused.stderr);
    assert.match(refused.stderr, /unsigned: no signature refers to/);
    const tags = await client.tags(unsigned.ref);
    assert.equal(tags.includes('car'), false, 'no image was built');

    const m = await pushModel();
    await sign(m.ref, ['--key', kit.ed25519.key]);
    const img = `${reg.host}/${m.repo}:car`;
    const b = await runCli(['modelcar', 'build', m.ref, img, '--verify-key', kit.ed25519.pub, '--sign-key', kit.ed25519.key, '--json'], { env });
    assert.equal(b.code, 0, b.stderr);
    const built = JSON.parse(b.stdout) as { digest: string; model: { digest: string; verified: unknown }; provenance: { digest: string; signed: boolean } };
    assert.equal(built.model.digest, m.digest);
    assert.ok(built.model.verified);
    assert.equal(built.provenance.signed, true);
    // The provenance: SLSA v1, subject the image, the model and base as resolved dependencies, omlmd as the builder.
    const { manifest } = await fetchManifest(img, built.provenance.digest);
    assert.equal(manifest.annotations!['dev.sigstore.bundle.predicateType'], 'https://slsa.dev/provenance/v1');
    assert.equal(manifest.subject!.digest, built.digest);
    const doc = JSON.parse((await fetchBlob(img, manifest.layers[0]!.digest, manifest.layers[0]!.size)).toString()) as { dsseEnvelope: { payload: string } };
    const st = JSON.parse(Buffer.from(doc.dsseEnvelope.payload, 'base64').toString()) as { subject: { digest: { sha256: string } }[]; predicate: { buildDefinition: { resolvedDependencies: { name: string; uri: string; digest: { sha256?: string } }[] }; runDetails: { builder: { id: string; version: Record<string, string> } } } };
    assert.equal(st.subject[0]!.digest.sha256, built.digest.slice(7));
    const deps = st.predicate.buildDefinition.resolvedDependencies;
    assert.deepEqual(deps.find((d) => d.name === 'model'), { name: 'model', uri: `oci://${reg.host}/${m.repo}@${m.digest}`, digest: { sha256: m.digest.slice(7) } });
    assert.match(deps.find((d) => d.name === 'base')!.digest.sha256!, /^[0-9a-f]{64}$/);
    assert.ok(st.predicate.runDetails.builder.version.omlmd);

    const chain = await runCli(['verify', img, '--chain', '--key', kit.ed25519.pub], { env });
    assert.equal(chain.code, 0, chain.stderr);
    const lines = chain.stdout.trim().split('\n');
    assert.match(lines[0]!, /^Verified the chain:/);
    assert.match(lines[1]!, new RegExp(`^  image .*@${built.digest}`));
    assert.match(lines[2]!, /^ {2}└── provenance .* https:\/\/slsa\.dev\/provenance\/v1 {2}\(signed by key /);
    assert.match(lines[3]!, new RegExp(`^      └── model .*@${m.digest}`));
    assert.match(lines[4]!, /^ {10}└── signature .* 4 files {2}\(signed by key /);

    // Broken links: another key; an image whose provenance is unsigned.
    await verifyFails([img, '--chain', '--key', kit.other.pub], /chain broken at image → provenance: unknown key/);
    const m2 = await pushModel();
    const img2 = `${reg.host}/${m2.repo}:car`;
    const b2 = await runCli(['modelcar', 'build', m2.ref, img2], { env });
    assert.equal(b2.code, 0, b2.stderr);
    assert.match(b2.stdout, /provenance \(SLSA v1\) sha256:[0-9a-f]{64}, unsigned/);
    await verifyFails([img2, '--chain', '--key', kit.ed25519.pub], /chain broken at image → provenance: unsigned: no https:\/\/slsa\.dev\/provenance\/v1 attestation refers to/);
    // Provenance signed, model not: the chain breaks at the model's signature.
    const m3 = await pushModel();
    const img3 = `${reg.host}/${m3.repo}:car`;
    const b3 = await runCli(['modelcar', 'build', m3.ref, img3, '--sign-key', kit.ed25519.key], { env });
    assert.equal(b3.code, 0, b3.stderr);
    await verifyFails([img3, '--chain', '--key', kit.ed25519.pub], /chain broken at model → signature: unsigned: no signature refers to/);
  });

  test('a trust policy (--policy, OMLMD_POLICY): pull, copy and storage-initializer verify first and refuse with nothing written', async () => {
    const signed = await pushModel();
    await sign(signed.ref, ['--key', kit.ed25519.key]);
    const unsigned = await pushModel();
    const polDir = join(work, `policy-${n}`);
    mkdirSync(polDir, { recursive: true });
    writeFileSync(join(polDir, 'team.pub'), readFileSync(kit.ed25519.pub));
    const policy = join(polDir, 'policy.yaml');
    writeFileSync(policy, [
      'version: 1',
      `registries: ["${reg.host}"]`,
      'rules:',
      '  - match: "*/trust/**"',
      '    require:',
      '      - key: team.pub',
      `      - ca: ${kit.caBundle}`,
      '        identity: ml-team@example.com',
      '  - match: "*/open/**"',
      '    require: []',
    ].join('\n'));

    const ok = join(work, `pol-ok-${n}`);
    const p = await runCli(['pull', signed.ref, '-o', ok, '--policy', policy], { env });
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, new RegExp(`@${signed.digest}`), 'pulled by the verified digest');
    assert.ok(existsSync(join(ok, 'weights.bin')));

    const refused = join(work, `pol-refused-${n}`);
    const r = await runCli(['pull', unsigned.ref, '-o', refused], { env: { ...env, OMLMD_POLICY: policy } });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /refused by the trust policy .*policy\.yaml \(rule \*\/trust\/\*\*\): unsigned: no signature refers to/);
    assert.equal(existsSync(refused), false, 'nothing written');

    // A rule with no signer needed; a name no rule covers; a registry not allowed.
    const open = await pushModel(reg.host, undefined, 'open/m');
    const o = await runCli(['pull', open.ref, '-o', join(work, `pol-open-${n}`), '--policy', policy], { env });
    assert.equal(o.code, 0, o.stderr);
    const other = await pushModel(reg.host, undefined, 'elsewhere/m');
    const u = await runCli(['pull', other.ref, '-o', join(work, `pol-u-${n}`), '--policy', policy], { env });
    assert.equal(u.code, 5);
    assert.match(u.stderr, /not covered: no rule of the trust policy .* matches .*\/elsewhere\/m/);
    const front = await startReferrersFront(reg.host);
    fronts.push(front);
    const viaOther = await runCli(['pull', `${front.host}/${signed.repo}:v1`, '-o', join(work, `pol-r-${n}`), '--policy', policy], { env });
    assert.equal(viaOther.code, 5);
    assert.match(viaOther.stderr, new RegExp(`registry not allowed: .* allows models only from ${reg.host.replace(/\./g, '\\.')}, not ${front.host.replace(/\./g, '\\.')}`));

    // copy: the source verified, the destination's registry allowed.
    const c1 = await runCli(['copy', signed.ref, `${reg.host}/trust/copied:v1`, '--policy', policy], { env });
    assert.equal(c1.code, 0, c1.stderr);
    const c2 = await runCli(['copy', unsigned.ref, `${reg.host}/trust/copied2:v1`, '--policy', policy], { env });
    assert.equal(c2.code, 5);
    assert.equal((await client.tags(`${reg.host}/trust/copied2`).catch(() => [])).length, 0, 'nothing copied');
    const c3 = await runCli(['copy', signed.ref, `${front.host}/trust/copied3:v1`, '--policy', policy], { env });
    assert.equal(c3.code, 5);
    assert.match(c3.stderr, /registry not allowed/);

    // storage-initializer (KServe): /mnt/models stays empty on a refusal, a one-line reason.
    const mnt = join(work, `mnt-${n}`);
    mkdirSync(mnt);
    const s1 = await runCli(['storage-initializer', `oci://${unsigned.ref}`, mnt], { env: { ...env, OMLMD_POLICY: policy } });
    assert.equal(s1.code, 5);
    assert.equal(s1.stderr.trim().split('\n').length <= 2, true, s1.stderr);
    assert.deepEqual((await import('node:fs')).readdirSync(mnt), []);
    const s2 = await runCli(['storage-initializer', `oci://${signed.ref}`, mnt], { env: { ...env, OMLMD_POLICY: policy } });
    assert.equal(s2.code, 0, s2.stderr);
    assert.ok(existsSync(join(mnt, 'weights.bin')));
  });

  test('a trust policy that is not valid, not YAML or an alias bomb is a usage error naming the file', async () => {
    const m = await pushModel();
    const bad = join(work, 'bad-policy.yaml');
    writeFileSync(bad, 'version: 1\nrules:\n  - match: "**"\n    require: [{ keys: x.pub }]\n');
    const r = await runCli(['pull', m.ref, '-o', join(work, 'x1'), '--policy', bad], { env });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /the trust policy .*bad-policy\.yaml is not valid: \/rules\/0\/require\/0 /);
    writeFileSync(bad, 'version: [1\n');
    const r2 = await runCli(['pull', m.ref, '-o', join(work, 'x2'), '--policy', bad], { env });
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /is not YAML/);
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]', ...Array.from({ length: 12 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(',')}]`), 'version: 1', 'rules: []'].join('\n');
    writeFileSync(bad, bomb);
    const r3 = await runCli(['pull', m.ref, '-o', join(work, 'x3'), '--policy', bad], { env });
    assert.equal(r3.code, 2, r3.stderr);
    assert.match(r3.stderr, /is not YAML/);
    assert.equal(existsSync(join(work, 'x3')), false);
  });

  test('the serve pipeline\'s modelcar action takes the same keys: an unsigned model fails the run, a signed one gets an image with signed provenance', async () => {
    const { Pipeline } = await import('../../src/core/lineage/pipeline');
    const { modelCarWithProvenance, verifyImageChain, loadPublicKeys, KeySigner } = await import('../../src/core/trust');
    const verify = { kind: 'keys' as const, keys: await loadPublicKeys(kit.ed25519.pub), source: kit.ed25519.pub };
    const signer = new KeySigner(await loadPrivateKey(kit.ed25519.key));
    const pipeline = new Pipeline([{ kind: 'modelcar' }], {
      retries: 0,
      modelCarBuilder: (c, model, image, opts) => modelCarWithProvenance(c, model, image, { ...opts, verify, signer, builderVersion: 'test' }),
    });
    const push = (m: { repo: string; digest: string }) => ({ registry: reg.host, repository: m.repo, tag: 'v1', digest: m.digest, reference: `${reg.host}/${m.repo}:v1` });
    const unsigned = await pushModel();
    const [bad] = await pipeline.handle(client, push(unsigned));
    assert.equal(bad!.status, 'failed');
    assert.match(bad!.error!, /unsigned: no signature refers to/);
    const m = await pushModel();
    await sign(m.ref, ['--key', kit.ed25519.key]);
    const [ok] = await pipeline.handle(client, push(m));
    assert.equal(ok!.status, 'succeeded', ok!.error);
    const links = await verifyImageChain(client, `${reg.host}/${m.repo}:v1-modelcar`, verify);
    assert.deepEqual(links.map((l) => l.kind), ['image', 'provenance', 'model', 'signature']);
  });
});
