import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Server, ServerCredentials, status, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { OmlmdClient } from '../../src/core/client';
import { PROVIDER_ANNOTATION_PREFIX } from '../../src/core/crypt';
import { runCli } from '../helpers/cli';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { tempDir } from '../helpers/tmp';

/**
 * ocicrypt's key-provider protocol over gRPC (the way Confidential Containers' attestation
 * agent and coco_keyprovider are reached: `{"grpc": "host:port"}` in
 * OCICRYPT_KEYPROVIDER_CONFIG). The provider is a gRPC service this test starts in its own
 * process (a stand-in for a KMS or the attestation agent, no package of either runs here):
 * `keyprovider.KeyProviderService` with WrapKey and UnWrapKey, its messages declared here
 * from the protocol's field names and numbers and decoded by protobufjs's reflection, not by
 * the client's codec. It seals the private options with AES-GCM under a secret of its own
 * and keeps every request. The CLI runs as a separate process against the real registry.
 */
const root = new protobuf.Root();
const ns = root.define('keyprovider');
ns.add(new protobuf.Type('keyProviderKeyWrapProtocolInput').add(new protobuf.Field('KeyProviderKeyWrapProtocolInput', 1, 'bytes')));
ns.add(new protobuf.Type('keyProviderKeyWrapProtocolOutput').add(new protobuf.Field('KeyProviderKeyWrapProtocolOutput', 1, 'bytes')));
const Input = root.lookupType('keyprovider.keyProviderKeyWrapProtocolInput');
const Output = root.lookupType('keyprovider.keyProviderKeyWrapProtocolOutput');

interface Request {
  op: string;
  keywrapparams?: { ec?: { Parameters?: Record<string, string[]> }; optsdata?: string };
  keyunwrapparams?: { dc?: { Parameters?: Record<string, string[]> }; annotation?: string };
}

describe('ocicrypt key providers over gRPC (a gRPC service made by the test, the real registry)', { timeout: 300_000 }, () => {
  let reg: RunningRegistry;
  let server: Server;
  let port: number;
  let work: string;
  let env: NodeJS.ProcessEnv;
  const secret = randomBytes(32);
  const seen: { method: string; req: Request }[] = [];
  let refuse = false;
  const weights = randomBytes(2 * 1024 * 1024 + 5);
  const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

  const handler = (method: string) => (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => {
    const doc = (Input.decode(call.request) as unknown as { KeyProviderKeyWrapProtocolInput: Uint8Array }).KeyProviderKeyWrapProtocolInput;
    const req = JSON.parse(Buffer.from(doc).toString('utf8')) as Request;
    seen.push({ method, req });
    if (refuse) return cb({ code: status.PERMISSION_DENIED, details: 'attestation failed for this workload' });
    let answer: unknown;
    if (method === 'WrapKey') {
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', secret, iv);
      const ct = Buffer.concat([c.update(Buffer.from(req.keywrapparams!.optsdata!, 'base64')), c.final()]);
      const sealed = { tenant: Buffer.from(req.keywrapparams!.ec!.Parameters!.kbs![0]!, 'base64').toString(), iv: iv.toString('base64'), ct: ct.toString('base64'), tag: c.getAuthTag().toString('base64') };
      answer = { keywrapresults: { annotation: Buffer.from(JSON.stringify(sealed)).toString('base64') } };
    } else {
      const a = JSON.parse(Buffer.from(req.keyunwrapparams!.annotation!, 'base64').toString()) as { iv: string; ct: string; tag: string };
      const d = createDecipheriv('aes-256-gcm', secret, Buffer.from(a.iv, 'base64'));
      d.setAuthTag(Buffer.from(a.tag, 'base64'));
      answer = { keyunwrapresults: { optsdata: Buffer.concat([d.update(Buffer.from(a.ct, 'base64')), d.final()]).toString('base64') } };
    }
    cb(null, Buffer.from(Output.encode(Output.create({ KeyProviderKeyWrapProtocolOutput: Buffer.from(JSON.stringify(answer)) })).finish()));
  };

  before(async () => {
    reg = await startRegistry();
    work = tempDir('omlmd-keyprovider-grpc-');
    server = new Server();
    const raw = { requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b, requestStream: false, responseStream: false };
    server.addService({
      WrapKey: { path: '/keyprovider.KeyProviderService/WrapKey', ...raw },
      UnWrapKey: { path: '/keyprovider.KeyProviderService/UnWrapKey', ...raw },
    }, { WrapKey: handler('WrapKey'), UnWrapKey: handler('UnWrapKey') });
    port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    const config = join(work, 'ocicrypt_keyprovider.conf');
    writeFileSync(config, JSON.stringify({ 'key-providers': { kbs: { grpc: `127.0.0.1:${port}` }, broken: { grpc: 'not an address' } } }));
    env = { OMLMD_HOME: join(work, 'home'), OCICRYPT_KEYPROVIDER_CONFIG: config };
    mkdirSync(join(work, 'model'));
    writeFileSync(join(work, 'model', 'weights.bin'), weights);
  });
  after(async () => {
    await new Promise<void>((resolve) => (server ? server.tryShutdown(() => resolve()) : resolve()));
    await reg?.stop();
  });

  test('push --encrypt-recipient provider:kbs:PARAM calls WrapKey with ocicrypt\'s keywrap document; pull and the storage initializer --decryption-key provider:kbs call UnWrapKey and get the model back', async () => {
    const r = await runCli(['push', `${reg.host}/grpc/model:v1`, join(work, 'model', 'weights.bin'), '--name', 'kp', '--no-prefill', '--encrypt-recipient', 'provider:kbs:tenant-a'], { env });
    assert.equal(r.code, 0, r.stderr);
    const wraps = seen.filter((s) => s.method === 'WrapKey');
    assert.equal(wraps.length, 1);
    assert.equal(wraps[0]!.req.op, 'keywrap');
    assert.deepEqual(wraps[0]!.req.keywrapparams!.ec!.Parameters, { kbs: [Buffer.from('tenant-a').toString('base64')] });
    const opts = JSON.parse(Buffer.from(wraps[0]!.req.keywrapparams!.optsdata!, 'base64').toString()) as { digest: string; symkey: string };
    assert.equal(opts.digest, sha(weights));
    const m = (await new OmlmdClient({ home: join(work, 'inspect-home') }).inspect(`${reg.host}/grpc/model:v1`)).manifest;
    const layer = m.layers.find((l) => l.annotations?.['org.opencontainers.image.title'] === 'weights.bin')!;
    assert.equal(layer.mediaType, 'application/x-mlmodel+encrypted');
    assert.match(Buffer.from(layer.annotations![`${PROVIDER_ANNOTATION_PREFIX}kbs`]!, 'base64').toString(), /"tenant":"tenant-a"/);

    const out = join(work, 'out');
    const p = await runCli(['pull', `${reg.host}/grpc/model:v1`, '-o', out, '--decryption-key', 'provider:kbs:workload-1'], { env });
    assert.equal(p.code, 0, p.stderr);
    assert.ok(readFileSync(join(out, 'weights.bin')).equals(weights));
    const unwrap = seen.filter((s) => s.method === 'UnWrapKey').at(-1)!;
    assert.equal(unwrap.req.op, 'keyunwrap');
    assert.equal(unwrap.req.keyunwrapparams!.annotation, layer.annotations![`${PROVIDER_ANNOTATION_PREFIX}kbs`]);
    assert.deepEqual(unwrap.req.keyunwrapparams!.dc!.Parameters, { kbs: [Buffer.from('workload-1').toString('base64')] });
    const si = await runCli(['storage-initializer', `oci-artifact://${reg.host}/grpc/model:v1`, join(work, 'si')], { env: { ...env, OMLMD_DECRYPTION_KEYS: 'provider:kbs' } });
    assert.equal(si.code, 0, si.stderr);
    assert.ok(readFileSync(join(work, 'si', 'weights.bin')).equals(weights));
  });

  test('a gRPC provider that refuses is exit 5 with its status and words, nothing written; a malformed address is a usage error naming the form', async () => {
    refuse = true;
    try {
      const out = join(work, 'out-refused');
      const r = await runCli(['pull', `${reg.host}/grpc/model:v1`, '-o', out, '--decryption-key', 'provider:kbs'], { env });
      assert.equal(r.code, 5, r.stderr);
      assert.match(r.stderr, /key provider kbs \(gRPC 127\.0\.0\.1:\d+\) did not unwrap the layer key: PERMISSION_DENIED: attestation failed for this workload/);
      assert.ok(!existsSync(out));
    } finally {
      refuse = false;
    }
    const bad = await runCli(['pull', `${reg.host}/grpc/model:v1`, '-o', join(work, 'x'), '--decryption-key', 'provider:broken'], { env });
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /"broken" .* has "grpc": "not an address"; it takes "host:port" or "unix:\/path"/);
  });
});
