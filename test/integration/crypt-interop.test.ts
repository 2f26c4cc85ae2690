import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { createReadStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, test } from 'node:test';
import { OmlmdClient } from '../../src/core/client';
import { decryptLayer, encryptLayer, isEncrypted, recipientCount, JWE_KEYS_ANNOTATION, PUBOPTS_ANNOTATION } from '../../src/core/crypt';
import type { Descriptor } from '../../src/core/oci/types';
import { runCli } from '../helpers/cli';
import { rawTar } from '../helpers/hostile';
import { tempDir } from '../helpers/tmp';

/**
 * Layer encryption against real skopeo 1.9.3 (containers/image + ocicrypt), both ways: an
 * image skopeo encrypted opens with our decryption to the original layer digests, and an
 * image we encrypted opens with `skopeo copy --decryption-key` to the original layers.
 * RSA and EC recipients; several recipients, each key alone enough.
 */
const run = promisify(execFile);
const skopeo = async (...args: string[]): Promise<string> => {
  try {
    return (await run('skopeo', args)).stdout;
  } catch (e) {
    throw new Error(`skopeo ${args.join(' ')} failed: ${(e as { stderr?: string }).stderr ?? (e as Error).message}`, { cause: e });
  }
};

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Layout {
  dir: string;
  layers: { desc: Descriptor; bytes: Buffer }[];
}

/** A small runnable-looking OCI image layout: config + two tar+gzip layers, tag v1. */
function imageLayout(dir: string): Layout {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = (b: Buffer): string => {
    const d = sha(b);
    writeFileSync(join(dir, 'blobs', 'sha256', d.slice(7)), b);
    return d;
  };
  const layers = [
    gzipSync(rawTar([{ name: 'models/', type: 'dir' }, { name: 'models/model.bin', body: randomBytes(300_000) }])),
    gzipSync(rawTar([{ name: 'models/README.md', body: Buffer.from('# a model\n') }])),
  ].map((bytes) => ({ bytes, desc: { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: put(bytes), size: bytes.length } as Descriptor }));
  const diffIds = layers.map((l) => sha(gunzipSync(l.bytes)));
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds }, config: {} }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: put(config), size: config.length },
    layers: layers.map((l) => l.desc),
  }));
  const md = put(manifest);
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }] }));
  return { dir, layers };
}

function readManifest(dir: string): { manifest: { layers: Descriptor[]; config: Descriptor }; digest: string } {
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  const digest = index.manifests[0]!.digest;
  return { manifest: JSON.parse(readFileSync(join(dir, 'blobs', 'sha256', digest.slice(7)), 'utf8')), digest };
}

const blobPath = (dir: string, digest: string): string => join(dir, 'blobs', 'sha256', digest.replace('sha256:', ''));

/** Decrypts a blob of a layout through our stream; the plaintext bytes, or the stream's error. */
async function ourDecrypt(dir: string, desc: Descriptor, keys: KeyObject[]): Promise<{ bytes: Buffer; plain: Descriptor }> {
  const { stream, plain } = await decryptLayer(desc, keys, `layer ${desc.digest.slice(0, 19)}`);
  const chunks: Buffer[] = [];
  await pipeline(createReadStream(blobPath(dir, desc.digest)), stream, new Writable({ write(c: Buffer, _e, cb) { chunks.push(c); cb(); } }));
  return { bytes: Buffer.concat(chunks), plain };
}

function keyPair(kind: 'rsa' | 'ec', dir: string, name: string): { pub: string; priv: string; key: KeyObject } {
  const { publicKey, privateKey } = kind === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pub = join(dir, `${name}.pub.pem`);
  const priv = join(dir, `${name}.pem`);
  writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(priv, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  return { pub, priv, key: privateKey };
}

describe('encrypted layers: ocicrypt interop with real skopeo', () => {
  for (const kind of ['rsa', 'ec'] as const) {
    test(`an image skopeo encrypted (${kind} recipient) decrypts with ours to the original layers`, async () => {
      const work = tempDir('omlmd-crypt-');
      const keys = keyPair(kind, work, 'k');
      const plain = imageLayout(join(work, 'plain'));
      await skopeo('copy', '-q', '--encryption-key', `jwe:${keys.pub}`, `oci:${plain.dir}:v1`, `oci:${join(work, 'enc')}:v1`);
      const { manifest } = readManifest(join(work, 'enc'));
      assert.equal(manifest.layers.length, 2);
      for (const [i, layer] of manifest.layers.entries()) {
        assert.equal(layer.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip+encrypted');
        assert.ok(isEncrypted(layer));
        assert.equal(recipientCount(layer), 1);
        assert.notEqual(layer.digest, plain.layers[i]!.desc.digest);
        const { bytes, plain: restored } = await ourDecrypt(join(work, 'enc'), layer, [keys.key]);
        assert.equal(sha(bytes), plain.layers[i]!.desc.digest, 'the decrypted layer is the original, byte for byte');
        assert.equal(restored.digest, plain.layers[i]!.desc.digest);
        assert.equal(restored.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
        assert.equal(restored.annotations, undefined);
      }
      // The same through `omlmd copy --decryption-key`, layout to layout: skopeo copy --decryption-key's twin.
      const out = join(work, 'dec');
      const r = await runCli(['copy', `oci:${join(work, 'enc')}:v1`, `oci:${out}:v1`, '--decryption-key', keys.priv], { env: { OMLMD_HOME: join(work, 'home') } });
      assert.equal(r.code, 0, r.stderr);
      const decrypted = readManifest(out).manifest;
      assert.deepEqual(decrypted.layers, plain.layers.map((l) => l.desc), 'the layers are the original ones again');
      assert.equal(decrypted.config.digest, readManifest(plain.dir).manifest.config.digest);
      for (const l of plain.layers) assert.ok(readFileSync(blobPath(out, l.desc.digest)).equals(l.bytes));
      // skopeo reads our decrypted copy as the plain image it was.
      const inspected = JSON.parse(await skopeo('inspect', `oci:${out}:v1`)) as { Layers: string[] };
      assert.deepEqual(inspected.Layers, plain.layers.map((l) => l.desc.digest));
    });
  }

  test('an image we encrypted for an RSA and an EC recipient decrypts with skopeo, with either key alone', async () => {
    const work = tempDir('omlmd-crypt-');
    const rsa = keyPair('rsa', work, 'rsa');
    const ec = keyPair('ec', work, 'ec');
    const plain = imageLayout(join(work, 'plain'));
    // Encrypt every layer of the plain layout into a new layout, as a push would.
    const encDir = join(work, 'ours');
    mkdirSync(join(encDir, 'blobs', 'sha256'), { recursive: true });
    const { manifest } = readManifest(plain.dir);
    const layers: Descriptor[] = [];
    for (const l of manifest.layers) {
      const enc = encryptLayer([{ key: readPub(rsa.pub), source: rsa.pub }, { key: readPub(ec.pub), source: ec.pub }]);
      const chunks: Buffer[] = [];
      await pipeline(Readable.from([readFileSync(blobPath(plain.dir, l.digest))]), enc.stream(), new Writable({ write(c: Buffer, _e, cb) { chunks.push(c); cb(); } }));
      const cipher = Buffer.concat(chunks);
      writeFileSync(blobPath(encDir, sha(cipher)), cipher);
      const desc = await enc.descriptor(l, { digest: sha(cipher), size: cipher.length });
      assert.equal(recipientCount(desc), 2);
      assert.ok(desc.annotations?.[JWE_KEYS_ANNOTATION] && desc.annotations[PUBOPTS_ANNOTATION]);
      layers.push(desc);
    }
    const configBytes = readFileSync(blobPath(plain.dir, manifest.config.digest));
    writeFileSync(blobPath(encDir, manifest.config.digest), configBytes);
    const m = Buffer.from(JSON.stringify({ ...manifest, layers }));
    writeFileSync(blobPath(encDir, sha(m)), m);
    writeFileSync(join(encDir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(join(encDir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(m), size: m.length, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }] }));

    for (const who of [rsa, ec]) {
      const out = join(work, `dec-${who === rsa ? 'rsa' : 'ec'}`);
      await skopeo('copy', '-q', '--decryption-key', who.priv, `oci:${encDir}:v1`, `oci:${out}:v1`);
      const dec = readManifest(out).manifest;
      assert.deepEqual(dec.layers.map((l) => [l.mediaType, l.digest]), manifest.layers.map((l) => [l.mediaType, l.digest]), 'skopeo restores the original layers');
    }
    // Without a key, skopeo copies the ciphertext as it is (it cannot decrypt); with another key it refuses.
    const stranger = keyPair('rsa', work, 'stranger');
    await assert.rejects(skopeo('copy', '-q', '--decryption-key', stranger.priv, `oci:${encDir}:v1`, `oci:${join(work, 'nope')}:v1`), /decrypt|key/i);
  });

  test('omlmd copy --encrypt-recipient of a plain image: skopeo copy --decryption-key restores the original layers', async () => {
    const work = tempDir('omlmd-crypt-');
    const keys = keyPair('ec', work, 'k');
    const plain = imageLayout(join(work, 'plain'));
    const r = await runCli(['copy', `oci:${plain.dir}:v1`, `oci:${join(work, 'enc')}:v1`, '--encrypt-recipient', `jwe:${keys.pub}`], { env: { OMLMD_HOME: join(work, 'home') } });
    assert.equal(r.code, 0, r.stderr);
    const enc = readManifest(join(work, 'enc')).manifest;
    assert.deepEqual(enc.layers.map((l) => l.mediaType), ['application/vnd.oci.image.layer.v1.tar+gzip+encrypted', 'application/vnd.oci.image.layer.v1.tar+gzip+encrypted']);
    await skopeo('copy', '-q', '--decryption-key', keys.priv, `oci:${join(work, 'enc')}:v1`, `oci:${join(work, 'dec')}:v1`);
    assert.deepEqual(readManifest(join(work, 'dec')).manifest.layers.map((l) => [l.mediaType, l.digest]), plain.layers.map((l) => [l.desc.mediaType, l.desc.digest]));
  });

  test('our encrypted model artifact (raw model layers) decrypts with skopeo to the original file digests', async () => {
    const work = tempDir('omlmd-crypt-');
    const keys = keyPair('rsa', work, 'k');
    const weights = randomBytes(200_000);
    writeFileSync(join(work, 'w.bin'), weights);
    const client = new OmlmdClient({ home: join(work, 'home') });
    await client.push(`oci:${join(work, 'lay')}:v1`, { paths: [join(work, 'w.bin')], metadata: { name: 'w' }, encryptFor: [{ key: readPub(keys.pub), source: keys.pub }] });
    const enc = readManifest(join(work, 'lay')).manifest;
    assert.equal(enc.layers[0]!.mediaType, 'application/x-mlmodel+encrypted');
    assert.notEqual(enc.layers[0]!.digest, sha(weights));
    await skopeo('copy', '-q', '--decryption-key', keys.priv, `oci:${join(work, 'lay')}:v1`, `oci:${join(work, 'dec')}:v1`);
    const dec = readManifest(join(work, 'dec')).manifest;
    assert.equal(dec.layers[0]!.mediaType, 'application/x-mlmodel');
    assert.equal(dec.layers[0]!.digest, sha(weights));
    assert.ok(readFileSync(blobPath(join(work, 'dec'), dec.layers[0]!.digest)).equals(weights));
  });

  test('a tampered ciphertext, a wrong key and a truncated blob are refused by our decryption', async () => {
    const work = tempDir('omlmd-crypt-');
    const keys = keyPair('ec', work, 'k');
    const plain = imageLayout(join(work, 'plain'));
    await skopeo('copy', '-q', '--encryption-key', `jwe:${keys.pub}`, `oci:${plain.dir}:v1`, `oci:${join(work, 'enc')}:v1`);
    const layer = readManifest(join(work, 'enc')).manifest.layers[0]!;
    const file = blobPath(join(work, 'enc'), layer.digest);
    const original = readFileSync(file);

    const flipped = Buffer.from(original);
    flipped[1000] = flipped[1000]! ^ 1;
    writeFileSync(file, flipped);
    await assert.rejects(ourDecrypt(join(work, 'enc'), layer, [keys.key]), (e: Error & { code?: string }) => e.code === 'DECRYPTION_FAILED' && /failed authentication/.test(e.message));

    writeFileSync(file, original.subarray(0, original.length - 10));
    await assert.rejects(ourDecrypt(join(work, 'enc'), layer, [keys.key]), (e: Error & { code?: string }) => e.code === 'DECRYPTION_FAILED');

    writeFileSync(file, original);
    const other = keyPair('ec', work, 'other');
    await assert.rejects(ourDecrypt(join(work, 'enc'), layer, [other.key]), (e: Error & { code?: string }) => e.code === 'DECRYPTION_FAILED' && /none of the 1 decryption key/.test(e.message));
    await assert.rejects(ourDecrypt(join(work, 'enc'), layer, []), (e: Error & { code?: string }) => e.code === 'DECRYPTION_KEY_NEEDED');

    const badCipher = { ...layer, annotations: { ...layer.annotations, [PUBOPTS_ANNOTATION]: Buffer.from(JSON.stringify({ cipher: 'CHACHA_FUTURE', hmac: 'AAAA', cipheroptions: {} })).toString('base64') } };
    await assert.rejects(ourDecrypt(join(work, 'enc'), badCipher, [keys.key]), /a cipher this version does not know/);
    const huge = { ...layer, annotations: { ...layer.annotations, [JWE_KEYS_ANNOTATION]: 'A'.repeat(1024 * 1024) } };
    await assert.rejects(ourDecrypt(join(work, 'enc'), huge, [keys.key]), /more than the 262144 allowed/);
    const notJwe = { ...layer, annotations: { ...layer.annotations, [JWE_KEYS_ANNOTATION]: Buffer.from('{"hello":1}').toString('base64') } };
    await assert.rejects(ourDecrypt(join(work, 'enc'), notJwe, [keys.key]), /not base64 of a JWE/);
  });
});

function readPub(path: string): KeyObject {
  return createPublicKey(readFileSync(path));
}
