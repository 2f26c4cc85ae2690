import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OmlmdClient } from '../../src/core/client';
import { OmlmdError } from '../../src/core/errors';
import { RegistryBrowser } from '../../src/extension/model/browser';
import { decryptionKeysFor } from '../../src/extension/model/keysFlow';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { tempDir } from '../helpers/tmp';

/**
 * Encrypted models in the extension, without VS Code: the tree marks encrypted files, and the
 * keys of omlmd.decryptionKeys (a passphrase asked for when the key has one) decrypt a pull.
 * Against the real registry.
 */
describe('extension: encrypted models (real registry)', () => {
  let reg: RunningRegistry;
  let work: string;
  let client: OmlmdClient;
  const weights = randomBytes(100_000);
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  let plainKey: string;
  let lockedKey: string;

  before(async () => {
    reg = await startRegistry();
    work = tempDir('omlmd-ext-enc-');
    client = new OmlmdClient({ home: join(work, 'home') });
    writeFileSync(join(work, 'model.onnx'), weights);
    plainKey = join(work, 'key.pem');
    lockedKey = join(work, 'locked.pem');
    writeFileSync(plainKey, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(lockedKey, pair.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 's3cret' }));
    await client.push(`${reg.host}/enc/m:v1`, { paths: [join(work, 'model.onnx')], metadata: { name: 'secret model' }, encryptFor: [{ key: pair.publicKey, source: 'test' }] });
  });
  after(async () => reg?.stop());

  test('the tree marks the encrypted file; the metadata stays readable', async () => {
    const browser = new RegistryBrowser(() => client, () => [{ host: reg.host }]);
    const store = { kind: 'registry' as const, host: reg.host };
    const artifact = await browser.artifact({ kind: 'tag', id: 't', store, repository: 'enc/m', tag: 'v1' });
    assert.equal((artifact as { label: string }).label, 'secret model');
    const children = await browser.children(artifact);
    const file = children.find((c) => c.kind === 'file') as { path: string; encrypted?: boolean };
    assert.equal(file.path, 'model.onnx');
    assert.equal(file.encrypted, true);
  });

  test('keys from the setting decrypt a pull; a locked key asks for its passphrase; none configured: refused with the setting named', async () => {
    const asked: string[] = [];
    const keys = await decryptionKeysFor([lockedKey], (p) => (asked.push(p), Promise.resolve('s3cret')));
    assert.deepEqual(asked, [lockedKey]);
    const out = join(work, 'out');
    await client.pull(`${reg.host}/enc/m:v1`, out, { decryptionKeys: keys });
    assert.ok(readFileSync(join(out, 'model.onnx')).equals(weights));
    assert.equal((await decryptionKeysFor([plainKey], () => Promise.reject(new Error('not asked'))))?.length, 1);
    assert.equal(await decryptionKeysFor([], () => Promise.resolve(undefined)), undefined);
    await assert.rejects(decryptionKeysFor([lockedKey], () => Promise.resolve(undefined)), (e: unknown) => OmlmdError.is(e, 'CANCELLED'));
    const { describeForVsCode } = await import('../../src/extension/remedies');
    const e = await client.pull(`${reg.host}/enc/m:v1`, join(work, 'nokey')).then(() => undefined, (x: unknown) => x);
    assert.ok(OmlmdError.is(e, 'DECRYPTION_KEY_NEEDED'));
    assert.match(describeForVsCode(e).message, /omlmd\.decryptionKeys/);
  });
});
