// The pure parts of trust: the model signature statement from a manifest, parsing hostile
// statements and bundles, the keys omlmd signs with (and those it refuses), the certificate
// chain checks, and a sign/verify round trip through @sigstore/verify on both key kinds.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { OmlmdError } from '../../src/core/errors';
import { MediaType } from '../../src/core/oci/mediatypes';
import type { ImageManifest } from '../../src/core/oci/types';
import { parseBundle, signStatement, verifyBundle } from '../../src/core/trust/bundle';
import { KeySigner, keyId, loadPrivateKey, loadPublicKeys } from '../../src/core/trust/keys';
import { parsePolicy } from '../../src/core/trust/policy';
import { modelSignatureResources, modelSignatureStatement, parseStatement, signedFiles, statementFor } from '../../src/core/trust/statement';
import { makeSigningKit, type SigningKit } from '../helpers/signing';
import { tempDir } from '../helpers/tmp';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const layer = (title: string, digest: string, mediaType = 'application/vnd.omlmd.model.v1') => ({ mediaType, digest, size: 1, annotations: { 'org.opencontainers.image.title': title } });
const manifest = (layers: ReturnType<typeof layer>[]): ImageManifest => ({
  schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: 'application/vnd.omlmd.config.v1+json', digest: d('c'), size: 2 }, layers,
});

const failsWith = (fn: () => unknown, re: RegExp) => assert.throws(fn, (e: unknown) => OmlmdError.is(e, 'VERIFICATION_FAILED') && re.test(e.message));

describe('the model signature statement', () => {
  test('lists every layer by title with its layer digest (hex), sorted; the subject is the manifest digest named by the repository', () => {
    const s = modelSignatureStatement('r.example/models/m', d('f'), manifest([layer('z.bin', d('1')), layer('a/b.json', d('2'))]));
    assert.deepEqual(s.subject, [{ name: 'r.example/models/m', digest: { sha256: 'f'.repeat(64) } }]);
    assert.equal(s.predicateType, 'https://model_signing/signature/v1.0');
    assert.deepEqual(s.predicate.resources, [{ name: 'a/b.json', algorithm: 'sha256', digest: '2'.repeat(64) }, { name: 'z.bin', algorithm: 'sha256', digest: '1'.repeat(64) }]);
  });

  test('two layers with one title and different content cannot be told apart: refused', () => {
    assert.throws(() => signedFiles(manifest([layer('x', d('1')), layer('x', d('2'))])), /both titled "x"/);
    assert.equal(signedFiles(manifest([layer('x', d('1')), layer('x', d('1'))])).length, 1);
  });

  test('hostile statements are refused with a message, never trusted', () => {
    const what = 'sig';
    failsWith(() => parseStatement(Buffer.from('{}'), 'text/plain', what), /not an in-toto statement/);
    failsWith(() => parseStatement(Buffer.from('{not json'), 'application/vnd.in-toto+json', what), /not JSON/);
    failsWith(() => parseStatement(Buffer.from('{"_type":"x"}'), 'application/vnd.in-toto+json', what), /not an in-toto Statement v1/);
    failsWith(() => parseStatement(Buffer.from('{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"p"}'), 'application/vnd.in-toto+json', what), /no subject/);
    const base = { _type: 'https://in-toto.io/Statement/v1' as const, subject: [{ name: 'n', digest: { sha256: 'a'.repeat(64) } }], predicateType: 'https://model_signing/signature/v1.0' };
    failsWith(() => modelSignatureResources({ ...base, predicate: { resources: [{ name: 'a', algorithm: 'md5', digest: 'x' }] } }, what), /is not \{name, algorithm: sha256, digest\}/);
    failsWith(() => modelSignatureResources({ ...base, predicate: { resources: [{ name: 'a', algorithm: 'sha256', digest: 'a'.repeat(64) }, { name: 'a', algorithm: 'sha256', digest: 'b'.repeat(64) }] } }, what), /lists "a" twice/);
    failsWith(() => modelSignatureResources({ ...base, predicateType: 'https://x', predicate: {} }, what), /not a model signature/);
  });

  test('statementFor wants a URI for the predicate type and an object for the predicate', () => {
    assert.throws(() => statementFor('n', d('a'), 'eval', {}), /is not a URI/);
    assert.throws(() => statementFor('n', d('a'), 'https://e.example/v1', [1]), /is a JSON object/);
  });
});

describe('keys, bundles and certificates', () => {
  let kit: SigningKit;
  before(async () => {
    kit = await makeSigningKit();
  });

  test('sign and verify round trip with Ed25519 and P-256; one flipped bit of the signature is a bad signature', async () => {
    for (const k of [kit.ed25519, kit.p256]) {
      const signer = new KeySigner(await loadPrivateKey(k.key));
      const s = statementFor('n', d('a'), 'https://e.example/v1', { ok: true });
      const { json } = await signStatement(s, signer);
      const trust = { kind: 'keys' as const, keys: await loadPublicKeys(k.pub), source: k.pub };
      const res = verifyBundle(parseBundle(json, 'b'), trust, 'b');
      assert.deepEqual(res.statement, s);
      assert.deepEqual(res.signer, { kind: 'key', keyId: keyId(trust.keys[0]!) });
      const doc = JSON.parse(json.toString()) as { dsseEnvelope: { signatures: { sig: string }[] } };
      const sig = Buffer.from(doc.dsseEnvelope.signatures[0]!.sig, 'base64');
      sig[sig.length - 1] = sig[sig.length - 1]! ^ 1;
      doc.dsseEnvelope.signatures[0]!.sig = sig.toString('base64');
      failsWith(() => verifyBundle(parseBundle(Buffer.from(JSON.stringify(doc)), 'b'), trust, 'b'), /^bad signature/);
    }
  });

  test('keys omlmd does not sign with (RSA, P-384) are refused by name', async () => {
    const dir = tempDir('omlmd-keys-');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey.export({ type: 'pkcs8', format: 'pem' });
    writeFileSync(join(dir, 'rsa.pem'), rsa);
    writeFileSync(join(dir, 'p384.pem'), p384);
    await assert.rejects(loadPrivateKey(join(dir, 'rsa.pem')), /is a rsa key: omlmd signs with ECDSA P-256 or Ed25519 keys/);
    await assert.rejects(loadPrivateKey(join(dir, 'p384.pem')), /is an EC key on secp384r1/);
    await assert.rejects(loadPrivateKey(join(dir, 'missing.pem')), /no such file/);
    await assert.rejects(loadPublicKeys(kit.ed25519.key), /holds no public key/);
  });

  test('bundles that are not bundles: not JSON, not a Sigstore bundle, too large', () => {
    failsWith(() => parseBundle(Buffer.from('<html>'), 'b'), /is not JSON/);
    failsWith(() => parseBundle(Buffer.from('{"mediaType":"x"}'), 'b'), /not a valid Sigstore bundle/);
    failsWith(() => parseBundle(Buffer.alloc((1 << 20) + 1, 32), 'b'), /more than a signature bundle can be/);
  });
});

describe('the trust policy', () => {
  test('the schema refuses unknown fields and a missing version; a valid one loads its keys relative to the file', async () => {
    const kit = await makeSigningKit();
    await assert.rejects(parsePolicy('rules: []', 'p.yaml', kit.dir), /p\.yaml is not valid: the top level must have required property 'version'/);
    await assert.rejects(parsePolicy('version: 1\nrules: []\nextra: 1', 'p.yaml', kit.dir), /must NOT have additional properties/);
    const p = await parsePolicy('version: 1\nrules:\n  - match: "**"\n    require: [{ key: ed.pub }]', 'p.yaml', kit.dir);
    assert.equal(p.roots[0]![0]!.kind, 'keys');
  });
});
