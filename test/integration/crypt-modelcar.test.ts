import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { OmlmdClient } from '../../src/core/client';
import { JWE_KEYS_ANNOTATION, PUBOPTS_ANNOTATION } from '../../src/core/crypt';
import type { Descriptor, ImageManifest } from '../../src/core/oci/types';
import { runCli, runCommand } from '../helpers/cli';
import { privatePodman, type PrivatePodman } from '../helpers/podman';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { tempDir } from '../helpers/tmp';

/**
 * Encrypted ModelCar images (issue #13) against the real registry, real skopeo 1.9.3 and real
 * podman 4.3 (rootful, runc, cgroupfs; config, storage and run state in the test's folder):
 * `modelcar build` of an encrypted model needs its key and decrypts it into the image;
 * `modelcar build --encrypt-recipient` writes the image's layers as skopeo does
 * (tar+gzip+encrypted, enc.keys.jwe, enc.pubopts), no plaintext layer reaches the registry,
 * `skopeo copy --decryption-key` restores layers whose uncompressed digests are the plain
 * image's, and podman runs it given the key and refuses it without.
 */
describe('encrypted ModelCar images: real registry, real skopeo and real podman', { timeout: 600_000 }, () => {
  let reg: RunningRegistry;
  let work: string;
  let env: NodeJS.ProcessEnv;
  const weights = randomBytes(2 * 1024 * 1024 + 5);
  const keys: Record<'model' | 'image' | 'stranger', { pub: string; priv: string }> = {} as never;
  const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
  let pod: PrivatePodman | undefined;
  const podman = (args: string[]) => pod!.podman(args);
  const manifestOf = async (ref: string): Promise<ImageManifest> => (await new OmlmdClient({ home: join(work, 'inspect-home') }).inspect(ref)).manifest;
  const blobStatus = async (repo: string, digest: string): Promise<number> => (await fetch(`http://${reg.host}/v2/${repo}/blobs/${digest}`, { method: 'HEAD' })).status;

  before(async () => {
    reg = await startRegistry();
    work = tempDir('omlmd-crypt-modelcar-');
    pod = privatePodman(work, reg.host);
    env = pod.env;
    for (const kind of ['model', 'image', 'stranger'] as const) {
      const pair = kind === 'image' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
      keys[kind] = { pub: join(work, `${kind}.pub.pem`), priv: join(work, `${kind}.pem`) };
      writeFileSync(keys[kind].pub, pair.publicKey.export({ type: 'spki', format: 'pem' }));
      writeFileSync(keys[kind].priv, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    }
    mkdirSync(join(work, 'model'));
    writeFileSync(join(work, 'model', 'weights.bin'), weights);
    writeFileSync(join(work, 'model', 'labels.txt'), 'setosa\nversicolor\n');
    const r = await runCli(['push', `${reg.host}/mc/enc:v1`, join(work, 'model'), '--name', 'enc', '--no-prefill', '--encrypt-recipient', `jwe:${keys.model.pub}`], { env });
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await pod?.reset();
    await reg?.stop();
  });

  test('modelcar build of an encrypted model: refused without the key (exit 5, no image), decrypted into the image with --decryption-key or OMLMD_DECRYPTION_KEYS', async () => {
    const none = await runCli(['modelcar', 'build', `${reg.host}/mc/enc:v1`, `${reg.host}/mc/enc:nokey`], { env });
    assert.equal(none.code, 5, none.stderr);
    assert.match(none.stderr, /encrypted and no decryption key was given/);
    assert.doesNotMatch(none.stderr, /\n\s+at /, 'no stack trace');
    const wrong = await runCli(['modelcar', 'build', `${reg.host}/mc/enc:v1`, `${reg.host}/mc/enc:wrong`, '--decryption-key', keys.stranger.priv], { env });
    assert.equal(wrong.code, 5, wrong.stderr);
    for (const tag of ['nokey', 'wrong']) assert.equal((await fetch(`http://${reg.host}/v2/mc/enc/manifests/${tag}`, { method: 'HEAD' })).status, 404, `no image tagged ${tag}`);

    const built = await runCli(['modelcar', 'build', `${reg.host}/mc/enc:v1`, `${reg.host}/mc/enc:plain`, '--decryption-key', keys.model.priv, '--json'], { env });
    assert.equal(built.code, 0, built.stderr);
    const viaEnv = await runCli(['modelcar', 'build', `${reg.host}/mc/enc:v1`, `${reg.host}/mc/enc:plain-env`, '--json'], { env: { ...env, OMLMD_DECRYPTION_KEYS: `${keys.stranger.priv},${keys.model.priv}` } });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    assert.equal((JSON.parse(viaEnv.stdout) as { digest: string }).digest, (JSON.parse(built.stdout) as { digest: string }).digest, 'the same image: builds are reproducible');
    const m = await manifestOf(`${reg.host}/mc/enc:plain`);
    const big = m.layers.at(-1)!;
    const tar = Buffer.from(await (await fetch(`http://${reg.host}/v2/mc/enc/blobs/${big.digest}`)).arrayBuffer());
    assert.ok(tar.includes(weights), 'the weights are in the image in clear');
  });

  test('modelcar build --encrypt-recipient: layers as skopeo writes them, no plaintext layer in the registry; skopeo decrypts them to the plain image\'s layers', async () => {
    const plain = await manifestOf(`${reg.host}/mc/enc:plain`);
    const r = await runCli(['modelcar', 'build', `${reg.host}/mc/enc:v1`, `${reg.host}/mc/enc:sealed`, '--decryption-key', keys.model.priv, '--encrypt-recipient', `jwe:${keys.image.pub}`, '--encrypt-recipient', keys.stranger.pub, '--json'], { env });
    assert.equal(r.code, 0, r.stderr);
    const m = await manifestOf(`${reg.host}/mc/enc:sealed`);
    assert.equal(m.layers.length, plain.layers.length);
    assert.deepEqual(m.config, plain.config, 'the config (its diff_ids) is the plain image\'s');
    assert.equal(m.subject?.digest, plain.subject?.digest, 'still a referrer of the model');
    for (const l of m.layers) {
      assert.equal(l.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip+encrypted');
      assert.ok(l.annotations?.[JWE_KEYS_ANNOTATION] && l.annotations[PUBOPTS_ANNOTATION], 'enc.keys.jwe and enc.pubopts');
    }
    for (const l of plain.layers) assert.ok(!m.layers.some((e) => e.digest === l.digest), 'every layer is ciphertext');
    // The plaintext layers exist in mc/enc only because the plain build put them there; a fresh repository gets ciphertext only.
    const fresh = await runCli(['modelcar', 'build', `${reg.host}/mc/enc:v1`, `${reg.host}/mc/sealed-only:v1`, '--decryption-key', keys.model.priv, '--encrypt-recipient', keys.image.pub], { env });
    assert.equal(fresh.code, 0, fresh.stderr);
    for (const l of plain.layers) assert.equal(await blobStatus('mc/sealed-only', l.digest), 404, `plaintext layer ${l.digest} is not in the target`);

    const out = join(work, 'skopeo-dec');
    const sk = await runCommand('skopeo', ['copy', '--src-tls-verify=false', '--decryption-key', keys.image.priv, `docker://${reg.host}/mc/enc:sealed`, `oci:${out}:dec`]);
    assert.equal(sk.code, 0, sk.stderr);
    const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
    const dec = JSON.parse(readFileSync(join(out, 'blobs', 'sha256', index.manifests[0]!.digest.slice(7)), 'utf8')) as ImageManifest;
    const config = JSON.parse(readFileSync(join(out, 'blobs', 'sha256', dec.config.digest.slice(7)), 'utf8')) as { rootfs: { diff_ids: string[] } };
    assert.equal(dec.layers.length, plain.layers.length);
    dec.layers.forEach((l, i) => {
      assert.equal(l.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
      const bytes = readFileSync(join(out, 'blobs', 'sha256', l.digest.slice(7)));
      assert.equal(`sha256:${sha(bytes)}`, l.digest);
      const diff = `sha256:${sha(gunzipSync(bytes))}`;
      assert.equal(diff, plain.layers[i]!.digest, `layer ${i} decrypts to the plain image's layer`);
      assert.equal(diff, config.rootfs.diff_ids[i]);
    });
    const sk2 = await runCommand('skopeo', ['copy', '--src-tls-verify=false', '--decryption-key', keys.stranger.priv, `docker://${reg.host}/mc/enc:sealed`, `oci:${out}:dec2`]);
    assert.equal(sk2.code, 0, `each recipient alone: ${sk2.stderr}`);
    const sk3 = await runCommand('skopeo', ['copy', '--src-tls-verify=false', '--decryption-key', keys.model.priv, `docker://${reg.host}/mc/enc:sealed`, `oci:${out}:dec3`]);
    assert.notEqual(sk3.code, 0, 'a key that is not a recipient does not decrypt');
  });

  test('podman refuses the encrypted ModelCar without the key; given the key (skopeo copy --decryption-key into podman\'s storage: podman 4.3 has no pull --decryption-key) it runs it and reads the model (sha256 matches)', async () => {
    const image = `${reg.host}/mc/enc:sealed`;
    const refused = await podman(['pull', image]);
    assert.notEqual(refused.code, 0, `podman pulled an encrypted image without a key: ${refused.stdout}`);
    // podman 4.3 takes the ciphertext for a layer and fails to unpack it: no container can be made of it.
    assert.match(refused.stderr, /invalid tar header|decrypt|encrypt/i, refused.stderr);
    assert.notEqual((await podman(['image', 'exists', image])).code, 0, 'no image in podman\'s storage');
    const driver = (await podman(['info', '--format', '{{.Store.GraphDriverName}}'])).stdout.trim();
    const store = `containers-storage:[${driver}@${join(work, 'storage')}+${join(work, 'run')}]`;
    const copy = (key: string) => runCommand('skopeo', ['copy', '--src-tls-verify=false', '--decryption-key', key, `docker://${image}`, `${store}${image}`]);
    const wrong = await copy(keys.model.priv);
    assert.notEqual(wrong.code, 0, 'a key that is not a recipient');
    const pulled = await copy(keys.image.priv);
    assert.equal(pulled.code, 0, pulled.stderr);
    const run = await podman(['run', '--rm', '--runtime', 'runc', image, 'sh', '-c', 'busybox sha256sum $(busybox find /models -name weights.bin)']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`^${sha(weights)}  /models/\\S*weights\\.bin$`, 'm'));
  });
});
