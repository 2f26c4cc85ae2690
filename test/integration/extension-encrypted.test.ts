import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OmlmdClient } from '../../src/core/client';
import { OmlmdError } from '../../src/core/errors';
import { fileDescription, RegistryBrowser, type BrowserNode } from '../../src/extension/model/browser';
import { decryptionKeysFor, encryptionRecipientsFor } from '../../src/extension/model/keysFlow';
import { runPush, type PushUi } from '../../src/extension/model/pushFlow';
import { describeForVsCode } from '../../src/extension/remedies';
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
    const file = children.find((c) => c.kind === 'file') as Extract<BrowserNode, { kind: 'file' }>;
    assert.equal(file.path, 'model.onnx');
    assert.equal(file.encrypted, true);
    assert.equal(fileDescription(file), '100.0 kB · encrypted for 1 recipient');
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
    const e = await client.pull(`${reg.host}/enc/m:v1`, join(work, 'nokey')).then(() => undefined, (x: unknown) => x);
    assert.ok(OmlmdError.is(e, 'DECRYPTION_KEY_NEEDED'));
    assert.match(describeForVsCode(e).message, /omlmd\.decryptionKeys/);
  });

  /** A Push Model… run with scripted answers: what the editor showed and the progress title are recorded. */
  const scripted = (repository: string, seen: { headers?: string[]; progress?: string; editorOpened?: boolean }): PushUi => ({
    editMetadata: (initial, _title, _hint, found) => ((seen.editorOpened = true), (seen.headers = found?.headers ?? []), Promise.resolve({ ...initial, name: 'sealed' })),
    pickTarget: () => Promise.resolve({ store: { kind: 'registry', host: reg.host }, repository, tag: 'v1' }),
    withProgress: (title, run) => ((seen.progress = title), run(() => undefined, new AbortController().signal)),
  });

  test('omlmd.push.encryptRecipients: Push Model… encrypts for every recipient (jwe: and a bare path), says so in the editor, the progress and the tree; each key alone decrypts', async () => {
    const second = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pubs = [join(work, 'ec.pub.pem'), join(work, 'rsa.pub.pem')];
    writeFileSync(pubs[0]!, pair.publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(pubs[1]!, second.publicKey.export({ type: 'spki', format: 'pem' }));
    const seen: { headers?: string[]; progress?: string } = {};
    const out = await runPush(client, scripted('enc/pushed', seen), { paths: [join(work, 'model.onnx')], encryptRecipients: [`jwe:${pubs[0]}`, pubs[1]!] });
    assert.equal(out?.recipients, 2);
    assert.ok(seen.headers?.some((h) => /Model files will be encrypted for 2 recipients \(omlmd\.push\.encryptRecipients\)/.test(h)), String(seen.headers));
    assert.match(seen.progress ?? '', /^Pushing .*enc\/pushed:v1 \(encrypted for 2 recipients\)$/);
    const m = (await client.inspect(`${reg.host}/enc/pushed:v1`)).manifest;
    assert.deepEqual(m.layers.filter((l) => l.mediaType.startsWith('application/x-mlmodel')).map((l) => l.mediaType), ['application/x-mlmodel+encrypted']);

    const browser = new RegistryBrowser(() => client, () => [{ host: reg.host }]);
    const artifact = await browser.artifact({ kind: 'tag', id: 't2', store: { kind: 'registry', host: reg.host }, repository: 'enc/pushed', tag: 'v1' });
    const file = (await browser.children(artifact)).find((c) => c.kind === 'file') as Extract<BrowserNode, { kind: 'file' }>;
    assert.equal(file.recipients, 2);
    assert.match(fileDescription(file), /· encrypted for 2 recipients$/);

    for (const [i, key] of [pair.privateKey, second.privateKey].entries()) {
      const dir = join(work, `pushed-out-${i}`);
      await client.pull(`${reg.host}/enc/pushed:v1`, dir, { decryptionKeys: [key] });
      assert.ok(readFileSync(join(dir, 'model.onnx')).equals(weights));
    }
  });

  test('a recipient entry that cannot be used stops the push before the editor, worded with the setting; ModelPack with recipients is refused', async () => {
    writeFileSync(join(work, 'not-a-key.pem'), 'hello');
    for (const [entry, problem] of [
      [join(work, 'missing.pub.pem'), /cannot read the recipient's public key .*missing\.pub\.pem/],
      [`jwe:${join(work, 'not-a-key.pem')}`, /not-a-key\.pem is not a public key/],
      ['pgp:someone@example.com', /only JWE recipients .* not pgp/],
      ['provider:attestation-agent', /names a key provider, and no key-provider configuration is set/],
    ] as const) {
      const seen: { editorOpened?: boolean } = {};
      const e = await runPush(client, scripted('enc/refused', seen), { paths: [join(work, 'model.onnx')], encryptRecipients: [entry] }).then(() => undefined, (x: unknown) => x);
      assert.ok(e instanceof OmlmdError, String(e));
      assert.match(e.problem, problem);
      assert.equal(seen.editorOpened, undefined, 'the editor did not open');
      const d = describeForVsCode(e);
      assert.match(d.message, new RegExp(`Check "${entry.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}" in the omlmd\\.push\\.encryptRecipients setting`));
      assert.ok(d.buttons.some((b) => b.title === 'Open Settings'));
    }
    const tags = await fetch(`http://${reg.host}/v2/enc/refused/tags/list`);
    assert.equal(tags.status, 404, 'nothing was pushed');
    assert.equal(await encryptionRecipientsFor([]), undefined);

    writeFileSync(join(work, 'ec.pub.pem'), pair.publicKey.export({ type: 'spki', format: 'pem' }));
    const mp = await runPush(client, scripted('enc/refused', {}), { paths: [join(work, 'model.onnx')], format: 'modelpack', encryptRecipients: [join(work, 'ec.pub.pem')] }).then(() => undefined, (x: unknown) => x);
    assert.ok(OmlmdError.is(mp, 'USAGE'));
    assert.match(describeForVsCode(mp).message, /Set omlmd\.push\.format to omlmd to push encrypted models/);
  });

  test('package.json declares omlmd.push.encryptRecipients', () => {
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { contributes: { configuration: { properties: Record<string, { type: string; default: unknown; markdownDescription: string }> } | { properties: Record<string, { type: string; default: unknown; markdownDescription: string }> }[] } };
    const conf = pkg.contributes.configuration;
    const props = Object.assign({}, ...(Array.isArray(conf) ? conf : [conf]).map((c) => c.properties)) as Record<string, { type: string; default: unknown; markdownDescription: string }>;
    const s = props['omlmd.push.encryptRecipients'];
    assert.equal(s?.type, 'array');
    assert.deepEqual(s.default, []);
    // The manifest names its English text by a package.nls.json key (%key%).
    const nls = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.nls.json'), 'utf8')) as Record<string, string>;
    assert.match(s.markdownDescription.replace(/^%(.+)%$/, (_, key: string) => nls[key] ?? _), /jwe:.*provider:NAME/);
  });
});
