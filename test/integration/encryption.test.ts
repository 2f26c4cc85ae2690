import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OmlmdClient } from '../../src/core/client';
import { JWE_KEYS_ANNOTATION, parsePrivateKey, PUBOPTS_ANNOTATION } from '../../src/core/crypt';
import { unwrapKey } from '../../src/core/crypt/jwe';
import { MediaType } from '../../src/core/oci/mediatypes';
import type { ImageManifest } from '../../src/core/oci/types';
import { runCli } from '../helpers/cli';
import { startFaultProxy, type FaultProxy } from '../helpers/faultproxy';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { tempDir } from '../helpers/tmp';

/**
 * Encrypted model artifacts end to end through the CLI, against the real registry: push for
 * an RSA and an EC recipient, pull with either key alone, refusals without a key, with a wrong
 * key and with a tampered HMAC (nothing written), a re-push that sends nothing, a copy
 * without a key that keeps the ciphertext, and the KServe storage initializer with a key file.
 */
describe('encrypted models (ocicrypt) through the CLI and the real registry', () => {
  let reg: RunningRegistry;
  let proxy: FaultProxy;
  let work: string;
  let env: NodeJS.ProcessEnv;
  const weights = randomBytes(3 * 1024 * 1024 + 17);
  const small = Buffer.from('{"labels": ["setosa", "versicolor", "virginica"]}\n');
  const keys: Record<'rsa' | 'ec' | 'stranger', { pub: string; priv: string }> = {} as never;

  before(async () => {
    reg = await startRegistry();
    proxy = await startFaultProxy(reg.host);
    work = tempDir('omlmd-encryption-');
    env = { OMLMD_HOME: join(work, 'home') };
    for (const kind of ['rsa', 'ec', 'stranger'] as const) {
      const pair = kind === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-384' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
      keys[kind] = { pub: join(work, `${kind}.pub.pem`), priv: join(work, `${kind}.pem`) };
      writeFileSync(keys[kind].pub, pair.publicKey.export({ type: 'spki', format: 'pem' }));
      writeFileSync(keys[kind].priv, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    }
    mkdirSync(join(work, 'model'));
    writeFileSync(join(work, 'model', 'weights.bin'), weights);
    writeFileSync(join(work, 'model', 'labels.json'), small);
    const r = await runCli(['push', `${proxy.host}/enc/iris:v1`, join(work, 'model', 'weights.bin'), join(work, 'model', 'labels.json'), '--name', 'iris', '--description', 'secret iris',
      '--encrypt-recipient', `jwe:${keys.rsa.pub}`, '--encrypt-recipient', keys.ec.pub], { env });
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await proxy?.close();
    await reg?.stop();
  });

  const manifestOf = async (ref: string): Promise<ImageManifest> => (await new OmlmdClient({ home: join(work, 'inspect-home') }).inspect(ref)).manifest;

  test('the model files are encrypted layers; config, metadata layers and annotations stay readable', async () => {
    const m = await manifestOf(`${reg.host}/enc/iris:v1`);
    const models = m.layers.filter((l) => l.mediaType.startsWith('application/x-mlmodel'));
    assert.equal(models.length, 2);
    for (const l of models) {
      assert.equal(l.mediaType, 'application/x-mlmodel+encrypted');
      assert.ok(l.annotations?.[JWE_KEYS_ANNOTATION] && l.annotations[PUBOPTS_ANNOTATION]);
      assert.ok(l.annotations['org.opencontainers.image.title']);
    }
    assert.equal(m.config.mediaType, 'application/x-config');
    assert.equal(m.layers.filter((l) => l.mediaType === 'application/x-config').length, 2);
    assert.equal(m.annotations?.description, 'secret iris');
    const r = await runCli(['inspect', `${reg.host}/enc/iris:v1`], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Name:\s+iris/);
  });

  for (const who of ['rsa', 'ec'] as const) {
    test(`the ${who} key alone decrypts the model, byte for byte`, async () => {
      const out = join(work, `out-${who}`);
      const r = await runCli(['pull', `${reg.host}/enc/iris:v1`, '-o', out, '--decryption-key', keys[who].priv], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(readFileSync(join(out, 'weights.bin')).equals(weights));
      assert.ok(readFileSync(join(out, 'labels.json')).equals(small));
      assert.deepEqual(readdirSync(out).filter((f) => f.startsWith('.')), [], 'no partial file is left');
      // Pulled again into the same place: the files are recognised by their plaintext digest.
      const again = await runCli(['pull', `${reg.host}/enc/iris:v1`, '-o', out, '--decryption-key', keys[who].priv], { env });
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /weights\.bin.*already there/);
    });
  }

  test('without a key the pull is refused in one line and writes nothing', async () => {
    const out = join(work, 'out-nokey');
    const r = await runCli(['pull', `${reg.host}/enc/iris:v1`, '-o', out], { env });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /^omlmd: error: 2 files \(.*weights\.bin.*\) are encrypted \(for 2 recipients\) and no decryption key was given; nothing was written\n {2}hint: pass --decryption-key/);
    assert.ok(!existsSync(out));
  });

  test('a key that is not a recipient is refused before any byte is fetched', async () => {
    const out = join(work, 'out-stranger');
    proxy.seen.length = 0;
    const r = await runCli(['pull', `${proxy.host}/enc/iris:v1`, '-o', out, '--decryption-key', keys.stranger.priv], { env });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /none of the 1 decryption key\(s\) given is a recipient of/);
    assert.ok(!existsSync(out));
    assert.equal(proxy.seen.filter((s) => s.method === 'GET' && /\/blobs\//.test(s.path)).length, 0);
  });

  test('a tampered HMAC is refused after the download, and nothing stays at the final path', async () => {
    const client = new OmlmdClient({ home: join(work, 'tamper-home') });
    const repo = await client.repository(`${reg.host}/enc/iris`);
    const m = await manifestOf(`${reg.host}/enc/iris:v1`);
    const layers = m.layers.map((l) => {
      if (l.annotations?.['org.opencontainers.image.title'] !== 'weights.bin') return l;
      const pub = JSON.parse(Buffer.from(l.annotations[PUBOPTS_ANNOTATION]!, 'base64').toString()) as { hmac: string };
      const mac = Buffer.from(pub.hmac, 'base64');
      mac[0] = mac[0]! ^ 1;
      return { ...l, annotations: { ...l.annotations, [PUBOPTS_ANNOTATION]: Buffer.from(JSON.stringify({ ...pub, hmac: mac.toString('base64') })).toString('base64') } };
    });
    await repo.putManifest(Buffer.from(JSON.stringify({ ...m, layers })), MediaType.ociManifest, 'tampered');
    const out = join(work, 'out-tampered');
    const r = await runCli(['pull', `${reg.host}/enc/iris:tampered`, '-o', out, '--decryption-key', keys.ec.priv], { env });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /weights\.bin .* failed authentication/);
    assert.ok(!existsSync(join(out, 'weights.bin')));
    assert.deepEqual(readdirSync(out).filter((f) => f.includes('weights')), [], 'no partial or plaintext is left');
  });

  test('pushing the unchanged model again sends no byte of it', async () => {
    proxy.seen.length = 0;
    const r = await runCli(['push', `${proxy.host}/enc/iris:v2`, join(work, 'model', 'weights.bin'), join(work, 'model', 'labels.json'), '--name', 'iris', '--description', 'secret iris',
      '--encrypt-recipient', `jwe:${keys.rsa.pub}`, '--encrypt-recipient', keys.ec.pub], { env });
    assert.equal(r.code, 0, r.stderr);
    const sent = proxy.seen.filter((s) => (s.method === 'PATCH' || s.method === 'PUT') && /\/blobs\/uploads\//.test(s.path)).reduce((n, s) => n + s.bodyBytes, 0);
    assert.equal(sent, 0, 'no blob bytes went out');
    assert.equal(proxy.seen.filter((s) => s.method === 'POST' && /\/blobs\/uploads\//.test(s.path)).length, 0, 'no upload was started');
    const [v1, v2] = [await manifestOf(`${reg.host}/enc/iris:v1`), await manifestOf(`${reg.host}/enc/iris:v2`)];
    assert.deepEqual(v2.layers, v1.layers, 'the same ciphertext and wrapped keys');
    // For another set of recipients the file is encrypted again.
    const other = await runCli(['push', `${reg.host}/enc/iris:ec-only`, join(work, 'model', 'weights.bin'), '--name', 'iris', '--encrypt-recipient', keys.ec.pub], { env });
    assert.equal(other.code, 0, other.stderr);
    const m = await manifestOf(`${reg.host}/enc/iris:ec-only`);
    assert.notEqual(m.layers[0]!.digest, v1.layers.find((l) => l.annotations?.['org.opencontainers.image.title'] === 'weights.bin')!.digest);
  });

  test('the per-layer key is on disk only wrapped for the recipients (the cache of encrypted layers), never in clear', async () => {
    const m = await manifestOf(`${reg.host}/enc/iris:v1`);
    const home = env.OMLMD_HOME!;
    const files = (readdirSync(home, { recursive: true }) as string[]).map((f) => join(home, f)).filter((f) => statSync(f).isFile());
    const entries = files.filter((f) => f.includes(`${join('cache', 'encrypted')}`));
    assert.ok(entries.length >= 2, `the cache remembers the encrypted layers: ${files.join(', ')}`);
    const disk = Buffer.concat(files.map((f) => readFileSync(f)));
    const jwes = entries.map((f) => readFileSync(f, 'utf8')).join('\n');
    for (const l of m.layers.filter((x) => x.mediaType === 'application/x-mlmodel+encrypted')) {
      assert.ok(jwes.includes(l.annotations![JWE_KEYS_ANNOTATION]!), 'the cache holds the wrapped key the manifest names');
      const opened = await unwrapKey(l.annotations![JWE_KEYS_ANNOTATION]!, [parsePrivateKey(readFileSync(keys.rsa.priv), 'rsa')], 'layer');
      const symkey = (JSON.parse(Buffer.from(opened!).toString()) as { symkey: string }).symkey;
      const raw = Buffer.from(symkey, 'base64');
      assert.equal(raw.length, 32);
      for (const form of [raw, Buffer.from(symkey), Buffer.from(raw.toString('hex')), Buffer.from(raw.toString('base64url'))]) {
        assert.equal(disk.indexOf(form), -1, 'the key in clear is nowhere under OMLMD_HOME');
      }
    }
  });

  test('a copy without any key moves the ciphertext untouched, and the copy decrypts', async () => {
    const r = await runCli(['copy', `${reg.host}/enc/iris:v1`, `${reg.host}/copied/iris:v1`], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await manifestOf(`${reg.host}/copied/iris:v1`)).layers, (await manifestOf(`${reg.host}/enc/iris:v1`)).layers);
    const out = join(work, 'out-copied');
    const p = await runCli(['pull', `${reg.host}/copied/iris:v1`, '-o', out, '--decryption-key', keys.rsa.priv], { env });
    assert.equal(p.code, 0, p.stderr);
    assert.ok(readFileSync(join(out, 'weights.bin')).equals(weights));
  });

  test('copy --decryption-key decrypts on the way: the copy is the artifact a push in clear makes (same digest), metadata sealed or not', async () => {
    const epoch = { ...env, SOURCE_DATE_EPOCH: '1700000000' };
    const files = [join(work, 'model', 'weights.bin'), join(work, 'model', 'labels.json')];
    const common = ['--name', 'twin', '--description', 'the same model', '-p', 'owner=team-y', '-a', 'org.opencontainers.image.vendor=acme'];
    const clear = await runCli(['push', `${reg.host}/twin/clear:v1`, ...files, ...common], { env: epoch });
    assert.equal(clear.code, 0, clear.stderr);
    for (const [tag, extra] of [['open', []], ['sealed', ['--encrypt-metadata']]] as const) {
      const enc = await runCli(['push', `${proxy.host}/twin/enc:${tag}`, ...files, ...common, '--encrypt-recipient', keys.rsa.pub, '--encrypt-recipient', keys.ec.pub, ...extra], { env: epoch });
      assert.equal(enc.code, 0, enc.stderr);
      proxy.seen.length = 0;
      const r = await runCli(['copy', `${proxy.host}/twin/enc:${tag}`, `${proxy.host}/twin/dec:${tag}`, '--decryption-key', keys.ec.priv], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`${tag === 'sealed' ? 4 : 2} encrypted layers in clear: a new digest`));
      const decrypted = await new OmlmdClient({ home: join(work, 'inspect-home') }).inspect(`${reg.host}/twin/dec:${tag}`);
      const plain = await new OmlmdClient({ home: join(work, 'inspect-home') }).inspect(`${reg.host}/twin/clear:v1`);
      assert.deepEqual(decrypted.manifest, plain.manifest, `the decrypted copy (${tag}) is the manifest of the push in clear`);
      assert.equal(decrypted.descriptor.digest, plain.descriptor.digest);
      // The plaintext went up, verified by the registry against the digest the wrapped key names.
      const sent = proxy.seen.filter((s) => (s.method === 'PATCH' || s.method === 'PUT') && /\/blobs\/uploads\//.test(s.path)).reduce((b, s) => b + s.bodyBytes, 0);
      if (tag === 'open') assert.ok(sent >= weights.length, `${sent} bytes sent`);
      else assert.match(r.stdout, /0 blobs sent \(0 B\)/, 'the plaintext of the same files is there already: nothing decrypted is sent again');
    }
    const out = join(work, 'out-dec');
    const p = await runCli(['pull', `${reg.host}/twin/dec:sealed`, '-o', out], { env });
    assert.equal(p.code, 0, p.stderr);
    assert.ok(readFileSync(join(out, 'weights.bin')).equals(weights));
    const info = await runCli(['inspect', `${reg.host}/twin/dec:sealed`], { env });
    assert.match(info.stdout, /Name:\s+twin/);
  });

  test('copy --encrypt-recipient encrypts a model in clear on its way (its metadata stays readable); each recipient alone pulls it; copied back with --decryption-key it is the original, digest and all', async () => {
    const files = [join(work, 'model', 'weights.bin'), join(work, 'model', 'labels.json')];
    const clear = await runCli(['push', `${reg.host}/seal/clear:v1`, ...files, '--name', 'to-seal', '--description', 'sealed later'], { env });
    assert.equal(clear.code, 0, clear.stderr);
    proxy.seen.length = 0;
    const r = await runCli(['copy', `${proxy.host}/seal/clear:v1`, `${proxy.host}/seal/enc:v1`, '--encrypt-recipient', `jwe:${keys.rsa.pub}`, '--encrypt-recipient', keys.ec.pub], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /2 layers encrypted for 2 recipients: a new digest/);
    const original = await manifestOf(`${reg.host}/seal/clear:v1`);
    const m = await manifestOf(`${reg.host}/seal/enc:v1`);
    assert.deepEqual(m.layers.map((l) => l.mediaType), original.layers.map((l) => (l.mediaType === 'application/x-mlmodel' ? 'application/x-mlmodel+encrypted' : l.mediaType)));
    assert.deepEqual(m.config, original.config, 'the config is kept');
    assert.equal(m.annotations?.description, 'sealed later', 'the metadata annotations are kept');
    for (const l of m.layers.filter((x) => x.mediaType.endsWith('+encrypted'))) {
      assert.ok(l.annotations?.[JWE_KEYS_ANNOTATION] && l.annotations[PUBOPTS_ANNOTATION]);
      const blob = Buffer.from(await (await fetch(`http://${reg.host}/v2/seal/enc/blobs/${l.digest}`)).arrayBuffer());
      assert.ok(!blob.equals(weights) && !blob.equals(small), 'ciphertext in the registry');
    }
    for (const who of ['rsa', 'ec'] as const) {
      const out = join(work, `out-seal-${who}`);
      const p = await runCli(['pull', `${reg.host}/seal/enc:v1`, '-o', out, '--decryption-key', keys[who].priv], { env });
      assert.equal(p.code, 0, p.stderr);
      assert.ok(readFileSync(join(out, 'weights.bin')).equals(weights));
    }
    const back = await runCli(['copy', `${reg.host}/seal/enc:v1`, `${reg.host}/seal/back:v1`, '--decryption-key', keys.ec.priv], { env });
    assert.equal(back.code, 0, back.stderr);
    const [a, b] = await Promise.all([`${reg.host}/seal/back:v1`, `${reg.host}/seal/clear:v1`].map((ref) => new OmlmdClient({ home: join(work, 'inspect-home') }).inspect(ref)));
    assert.equal(a!.descriptor.digest, b!.descriptor.digest, 'encrypted and decrypted again, it is the artifact it was');
    const both = await runCli(['copy', `${reg.host}/seal/enc:v1`, `${reg.host}/seal/x:v1`, '--decryption-key', keys.ec.priv, '--encrypt-recipient', keys.rsa.pub], { env });
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--decryption-key and --encrypt-recipient in one copy/);
  });

  test('copy --decryption-key refuses a key that opens nothing, a tampered HMAC and --recursive, and tags nothing', async () => {
    const tags = async (repo: string): Promise<string[]> => {
      const res = await fetch(`http://${reg.host}/v2/${repo}/tags/list`);
      return res.status === 404 ? [] : (((await res.json()) as { tags?: string[] | null }).tags ?? []);
    };
    const stranger = await runCli(['copy', `${reg.host}/enc/iris:v1`, `${reg.host}/refused/iris:v1`, '--decryption-key', keys.stranger.priv], { env });
    assert.equal(stranger.code, 5, stranger.stderr);
    assert.match(stranger.stderr, /none of the 1 decryption key\(s\) given is a recipient of weights\.bin/);
    // The tag made by the HMAC test above: its weights fail authentication at their end.
    const tampered = await runCli(['copy', `${reg.host}/enc/iris:tampered`, `${reg.host}/refused/iris:v2`, '--decryption-key', keys.ec.priv], { env });
    assert.equal(tampered.code, 5, tampered.stderr);
    assert.match(tampered.stderr, /HMAC|authentic/i);
    const recursive = await runCli(['copy', '-r', `${reg.host}/enc/iris:v1`, `${reg.host}/refused/iris:v3`, '--decryption-key', keys.ec.priv], { env });
    assert.equal(recursive.code, 2, recursive.stderr);
    assert.match(recursive.stderr, /--decryption-key gives the artifact a new digest/);
    assert.deepEqual(await tags('refused/iris'), []);
  });

  test('the KServe storage initializer decrypts with a mounted key file (OMLMD_DECRYPTION_KEYS)', async () => {
    const out = join(work, 'mnt-models');
    const r = await runCli(['storage-initializer', `oci-artifact://${reg.host}/enc/iris:v1`, out], { env: { ...env, OMLMD_DECRYPTION_KEYS: keys.ec.priv } });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(out).sort(), ['labels.json', 'weights.bin']);
    assert.ok(readFileSync(join(out, 'weights.bin')).equals(weights));
    const none = await runCli(['storage-initializer', `oci-artifact://${reg.host}/enc/iris:v1`, join(work, 'mnt-empty')], { env });
    assert.equal(none.code, 5);
    assert.equal(none.stderr.split('\n')[0]!.startsWith('omlmd: error: 2 files'), true, none.stderr);
    assert.ok(!existsSync(join(work, 'mnt-empty')));
  });

  test('a recipient that is not a usable public key is refused with the file named', async () => {
    writeFileSync(join(work, 'not-a-key.pem'), 'hello');
    const r = await runCli(['push', `${reg.host}/enc/bad:v1`, join(work, 'model', 'labels.json'), '--name', 'bad', '--encrypt-recipient', `jwe:${join(work, 'not-a-key.pem')}`], { env });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /not-a-key\.pem is not a public key/);
    const pgp = await runCli(['push', `${reg.host}/enc/bad:v1`, join(work, 'model', 'labels.json'), '--name', 'bad', '--encrypt-recipient', 'pgp:someone@example.com'], { env });
    assert.equal(pgp.code, 2);
    assert.match(pgp.stderr, /only JWE recipients/);
  });
  test('push --encrypt-metadata: the metadata layers are ciphertext, the config empty, only --annotation values in clear; pull with the key restores them, without it writes nothing', async () => {
    const args = ['push', `${proxy.host}/enc/sealed:v1`, join(work, 'model', 'weights.bin'), '--name', 'sealed-iris', '--description', 'a very secret description', '-p', 'owner=team-x',
      '--encrypt-recipient', keys.rsa.pub, '--encrypt-metadata', '-a', 'org.opencontainers.image.vendor=acme'];
    const r = await runCli(args, { env });
    assert.equal(r.code, 0, r.stderr);
    const m = await manifestOf(`${reg.host}/enc/sealed:v1`);
    const meta = m.layers.filter((l) => /model_metadata/.test(l.annotations?.['org.opencontainers.image.title'] ?? ''));
    assert.equal(meta.length, 2);
    for (const l of meta) {
      assert.equal(l.mediaType, 'application/x-config+encrypted');
      assert.ok(l.annotations?.[JWE_KEYS_ANNOTATION] && l.annotations[PUBOPTS_ANNOTATION]);
    }
    const manifestText = JSON.stringify(m);
    assert.doesNotMatch(manifestText, /secret description|sealed-iris|team-x/, 'nothing of the metadata in the manifest');
    assert.equal(m.annotations?.['org.opencontainers.image.vendor'], 'acme');
    const config = Buffer.from(await (await fetch(`http://${reg.host}/v2/enc/sealed/blobs/${m.config.digest}`)).arrayBuffer()).toString('utf8');
    assert.equal(config, '{}');
    for (const l of meta) {
      const blob = Buffer.from(await (await fetch(`http://${reg.host}/v2/enc/sealed/blobs/${l.digest}`)).arrayBuffer());
      assert.ok(!blob.includes('secret description'), 'the metadata layer is ciphertext');
    }

    const none = join(work, 'out-sealed-none');
    const n = await runCli(['pull', `${reg.host}/enc/sealed:v1`, '-o', none], { env });
    assert.equal(n.code, 5, n.stderr);
    assert.match(n.stderr, /3 files .* encrypted/);
    assert.ok(!existsSync(none) || readdirSync(none).length === 0, 'nothing written');
    const out = join(work, 'out-sealed');
    const p = await runCli(['pull', `${reg.host}/enc/sealed:v1`, '-o', out, '--decryption-key', keys.rsa.priv], { env });
    assert.equal(p.code, 0, p.stderr);
    assert.ok(readFileSync(join(out, 'weights.bin')).equals(weights));
    const restored = JSON.parse(readFileSync(join(out, 'model_metadata.omlmd.json'), 'utf8')) as { name: string; description: string; customProperties: Record<string, unknown> };
    assert.equal(restored.name, 'sealed-iris');
    assert.equal(restored.description, 'a very secret description');
    assert.equal(restored.customProperties.owner, 'team-x');
    assert.match(readFileSync(join(out, 'model_metadata.omlmd.yaml'), 'utf8'), /description: a very secret description/);

    // An unchanged re-push sends nothing and makes the same manifest (the cache knows what the metadata became).
    proxy.seen.length = 0;
    const again = await runCli(args.map((a) => a.replace('sealed:v1', 'sealed:v2')), { env });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(proxy.seen.filter((s) => (s.method === 'PATCH' || s.method === 'PUT') && /\/blobs\/uploads\//.test(s.path)).reduce((b, s) => b + s.bodyBytes, 0), 0);
    assert.deepEqual((await manifestOf(`${reg.host}/enc/sealed:v2`)).layers, m.layers);

    const usage = await runCli(['push', `${reg.host}/enc/sealed:v3`, join(work, 'model', 'weights.bin'), '--name', 'x', '--encrypt-metadata'], { env });
    assert.equal(usage.code, 2, usage.stderr);
    assert.match(usage.stderr, /--encrypt-metadata goes with --encrypt-recipient/);
  });
});
