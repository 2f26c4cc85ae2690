import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { OmlmdClient } from '../../src/core/client';
import { JWE_KEYS_ANNOTATION, parsePrivateKey, parsePublicKey, PUBOPTS_ANNOTATION } from '../../src/core/crypt';
import { unwrapKey, wrapKey } from '../../src/core/crypt/jwe';
import { MediaType } from '../../src/core/oci/mediatypes';
import type { Descriptor, ImageManifest } from '../../src/core/oci/types';
import { runCli } from '../helpers/cli';
import { startFaultProxy } from '../helpers/faultproxy';
import { startHostileRegistry, type HostileRegistry } from '../helpers/hostile';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { tempDir } from '../helpers/tmp';

/**
 * Bad encrypted input through the CLI: manifests the real registry stores and serves (a
 * truncated ciphertext, garbled and foreign JWEs, an unknown cipher, a 3 MiB key annotation)
 * and, where the registry cannot serve it (an 8 MiB annotation: its manifests are at most
 * 4 MiB), the hostile registry. Each is one line, exit 5, and nothing under the output folder.
 */
describe('encrypted models: bad input is refused in one line, nothing written (real registry, and a hostile registry for an 8 MiB annotation)', () => {
  let reg: RunningRegistry;
  let hostile: HostileRegistry;
  let work: string;
  let env: NodeJS.ProcessEnv;
  let client: OmlmdClient;
  let base: ImageManifest;
  let other: ImageManifest;
  let key: string;
  // Over 16 MiB with an unaligned tail: decrypted with direct I/O, the plaintext hashed by a worker.
  const weights = randomBytes(17 * 1024 * 1024 + 4097);

  before(async () => {
    reg = await startRegistry();
    hostile = await startHostileRegistry();
    work = tempDir('omlmd-crypt-bad-');
    env = { OMLMD_HOME: join(work, 'home') };
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    key = join(work, 'key.pem');
    writeFileSync(key, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(join(work, 'key.pub.pem'), pair.publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(join(work, 'weights.bin'), weights);
    writeFileSync(join(work, 'other.bin'), randomBytes(1000));
    for (const [tag, file] of [['v1', 'weights.bin'], ['other', 'other.bin']] as const) {
      const r = await runCli(['push', `${reg.host}/bad/m:${tag}`, join(work, file), '--name', 'm', '--encrypt-recipient', `jwe:${join(work, 'key.pub.pem')}`], { env });
      assert.equal(r.code, 0, r.stderr);
    }
    client = new OmlmdClient({ home: join(work, 'client-home') });
    base = (await client.inspect(`${reg.host}/bad/m:v1`)).manifest;
    other = (await client.inspect(`${reg.host}/bad/m:other`)).manifest;
  });
  after(async () => {
    await hostile?.close();
    await reg?.stop();
  });

  const model = (m: ImageManifest): Descriptor => m.layers.find((l) => l.mediaType === 'application/x-mlmodel+encrypted')!;
  /** Tags a copy of the base manifest whose encrypted layer `change` rewrote. */
  const variant = async (tag: string, change: (l: Descriptor) => Descriptor): Promise<void> => {
    const repo = await client.repository(`${reg.host}/bad/m`);
    const layers = base.layers.map((l) => (l === model(base) ? change(l) : l));
    await repo.putManifest(Buffer.from(JSON.stringify({ ...base, layers })), MediaType.ociManifest, tag);
  };
  const pubopts = (l: Descriptor): Record<string, unknown> => JSON.parse(Buffer.from(l.annotations![PUBOPTS_ANNOTATION]!, 'base64').toString()) as Record<string, unknown>;
  const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64');

  const refused = async (ref: string, message: RegExp): Promise<void> => {
    const out = join(work, `out-${ref.replace(/\W/g, '_')}`);
    const r = await runCli(['pull', ref, '-o', out, '--decryption-key', key], { env });
    assert.equal(r.code, 5, `exit code: ${r.stderr}`);
    const lines = r.stderr.split('\n').filter((l) => l && !l.startsWith('  hint:'));
    assert.equal(lines.length, 1, `one line: ${r.stderr}`);
    assert.match(lines[0]!, /^omlmd: error: /);
    assert.match(lines[0]!, message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.ok(!existsSync(join(out, 'weights.bin')), 'nothing at the final path');
    assert.deepEqual(existsSync(out) ? readdirSync(out).filter((f) => /weights|^\./.test(f)) : [], [], 'no partial file left');
  };

  test('a truncated ciphertext (the registry serves the shorter blob) fails authentication', async () => {
    const layer = model(base);
    const blob = Buffer.from(await (await fetch(`http://${reg.host}/v2/bad/m/blobs/${layer.digest}`)).arrayBuffer());
    const short = blob.subarray(0, blob.length - 4096);
    const repo = await client.repository(`${reg.host}/bad/m`);
    const digest = `sha256:${createHash('sha256').update(short).digest('hex')}`;
    await repo.putBlob({ open: () => Readable.from([short]), size: short.length, digest });
    await variant('truncated', (l) => ({ ...l, digest, size: short.length }));
    await refused(`${reg.host}/bad/m:truncated`, /weights\.bin .*failed authentication.*truncated/);
  });

  test('the model decrypts byte for byte (direct I/O, the plaintext hashed by a worker); nothing is left beside it', async () => {
    const out = join(work, 'out-good');
    const r = await runCli(['pull', `${reg.host}/bad/m:v1`, '-o', out, '--decryption-key', key], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(readFileSync(join(out, 'weights.bin')).equals(weights));
    assert.deepEqual(readdirSync(out).filter((f) => f.startsWith('.')), []);
  });

  test('an encrypted download cut off midway resumes from the plaintext it wrote, byte for byte', async () => {
    const proxy = await startFaultProxy(reg.host);
    try {
      const layer = model(base);
      proxy.add({ method: 'GET', path: new RegExp(`/blobs/${layer.digest}$`), times: 2, fault: { kind: 'drop-response', after: 9 * 1024 * 1024 + 123 } });
      const out = join(work, 'out-resume');
      const first = await runCli(['pull', `${proxy.host}/bad/m:v1`, '-o', out, '--decryption-key', key], { env });
      if (first.code !== 0) {
        assert.ok(!existsSync(join(out, 'weights.bin')), 'nothing at the final path after the cut');
        const again = await runCli(['pull', `${proxy.host}/bad/m:v1`, '-o', out, '--decryption-key', key], { env });
        assert.equal(again.code, 0, again.stderr);
      }
      const gets = proxy.seen.filter((x) => x.method === 'GET' && x.path.endsWith(layer.digest));
      assert.ok(gets.some((g) => /^bytes=[1-9]\d*-/.test(String(g.headers.range ?? ''))), `a ranged GET resumed the download: ${gets.map((g) => g.headers.range).join(', ')}`);
      assert.ok(readFileSync(join(out, 'weights.bin')).equals(weights));
      assert.deepEqual(readdirSync(out).filter((f) => f.startsWith('.')), []);
    } finally {
      await proxy.close();
    }
  });

  test('a wrapped key naming another plaintext digest is refused after decryption (the digest the worker hashed)', async () => {
    const layer = model(base);
    const opened = await unwrapKey(layer.annotations![JWE_KEYS_ANNOTATION]!, [parsePrivateKey(readFileSync(key), key)], 'layer');
    const priv = JSON.parse(Buffer.from(opened!).toString()) as { digest: string };
    const lie = `sha256:${'ab'.repeat(32)}`;
    const rewrapped = await wrapKey(Buffer.from(JSON.stringify({ ...priv, digest: lie })), [{ key: parsePublicKey(readFileSync(join(work, 'key.pub.pem')), 'pub'), source: 'pub' }]);
    await variant('digest-lie', (l) => ({ ...l, annotations: { ...l.annotations, [JWE_KEYS_ANNOTATION]: rewrapped } }));
    await refused(`${reg.host}/bad/m:digest-lie`, new RegExp(`weights\\.bin .*decrypted to sha256:[a-f0-9]{64}, not the ${lie} it was encrypted from`));
  });

  test('a tampered HMAC of a large file is refused after the download, nothing written', async () => {
    await variant('hmac', (l) => {
      const p = pubopts(l);
      const mac = Buffer.from(p.hmac as string, 'base64');
      mac[5] = mac[5]! ^ 0x10;
      return { ...l, annotations: { ...l.annotations, [PUBOPTS_ANNOTATION]: b64({ ...p, hmac: mac.toString('base64') }) } };
    });
    await refused(`${reg.host}/bad/m:hmac`, /weights\.bin .*failed authentication/);
  });

  test('a garbled JWE is named as such', async () => {
    await variant('garbled', (l) => ({ ...l, annotations: { ...l.annotations, [JWE_KEYS_ANNOTATION]: 'bm90IGEgandl!!' } }));
    await refused(`${reg.host}/bad/m:garbled`, /org\.opencontainers\.image\.enc\.keys\.jwe annotation is not base64 of a JWE/);
  });

  test('a JWE whose ciphertext was altered does not open', async () => {
    await variant('jwe-tampered', (l) => {
      const jwe = JSON.parse(Buffer.from(l.annotations![JWE_KEYS_ANNOTATION]!, 'base64').toString()) as { ciphertext: string };
      const c = Buffer.from(jwe.ciphertext, 'base64url');
      c[0] = c[0]! ^ 1;
      return { ...l, annotations: { ...l.annotations, [JWE_KEYS_ANNOTATION]: b64({ ...jwe, ciphertext: c.toString('base64url') }) } };
    });
    await refused(`${reg.host}/bad/m:jwe-tampered`, /none of the 1 decryption key\(s\) given is a recipient of weights\.bin .*, or its wrapped key was altered/);
  });

  test("another layer's JWE (the wrong key for this ciphertext) is refused", async () => {
    await variant('jwe-swapped', (l) => ({ ...l, annotations: { ...l.annotations, [JWE_KEYS_ANNOTATION]: model(other).annotations![JWE_KEYS_ANNOTATION]! } }));
    await refused(`${reg.host}/bad/m:jwe-swapped`, /weights\.bin .*(failed authentication|decrypted to)/);
  });

  test('an unknown cipher in enc.pubopts is named, before any byte is fetched', async () => {
    await variant('cipher', (l) => ({ ...l, annotations: { ...l.annotations, [PUBOPTS_ANNOTATION]: b64({ ...pubopts(l), cipher: 'AES_512_XTS_MADEUP' }) } }));
    await refused(`${reg.host}/bad/m:cipher`, /encrypted with "AES_512_XTS_MADEUP", a cipher this version does not know/);
  });

  test('pubopts that are not base64 JSON, or lack the HMAC, are named', async () => {
    await variant('pubopts-garbled', (l) => ({ ...l, annotations: { ...l.annotations, [PUBOPTS_ANNOTATION]: 'eyJub3QganNvbg==' } }));
    await refused(`${reg.host}/bad/m:pubopts-garbled`, /enc\.pubopts annotation is not base64 of JSON/);
    await variant('pubopts-nohmac', (l) => ({ ...l, annotations: { ...l.annotations, [PUBOPTS_ANNOTATION]: b64({ cipher: 'AES_256_CTR_HMAC_SHA256' }) } }));
    await refused(`${reg.host}/bad/m:pubopts-nohmac`, /lacks its cipher or HMAC/);
  });

  test('a 3 MiB key annotation (served by the real registry) is refused unread', async () => {
    const huge = Array.from({ length: 3 * 1024 }, () => randomBytes(768).toString('base64')).join(',');
    await variant('huge', (l) => ({ ...l, annotations: { ...l.annotations, [JWE_KEYS_ANNOTATION]: huge } }));
    await refused(`${reg.host}/bad/m:huge`, /enc\.keys\.jwe annotation is \d+ bytes, more than the 262144 allowed/);
  });

  test('an 8 MiB key annotation (a manifest over 4 MiB, hostile registry) is refused in one line', async () => {
    const layer = model(base);
    const blob = Buffer.from(await (await fetch(`http://${reg.host}/v2/bad/m/blobs/${layer.digest}`)).arrayBuffer());
    const huge = 'A'.repeat(8 * 1024 * 1024);
    hostile.model('bad/huge', 'v1', [{ title: 'weights.bin', bytes: blob, mediaType: layer.mediaType, annotations: { ...layer.annotations, [JWE_KEYS_ANNOTATION]: huge } }]);
    await refused(`${hostile.host}/bad/huge:v1`, /manifest v1 in .*bad\/huge is larger than \d+ bytes/);
    assert.equal(hostile.count('GET', /\/blobs\//), 0, 'no blob fetched');
  });
});
