import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OmlmdClient } from '../../src/core/client';
import { OmlmdError } from '../../src/core/errors';
import { RegistryBrowser } from '../../src/extension/model/browser';
import { pullTarget, runSign, runVerify, SignatureStates, trustRootFor, type TrustSettings, type TrustUi } from '../../src/extension/model/trustFlow';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { makeSigningKit, type SigningKit } from '../helpers/signing';
import { tempDir } from '../helpers/tmp';

/**
 * The extension's trust side without VS Code (the pure module the commands and the tree
 * call): Sign… with an encrypted key whose passphrase the UI gives, Verify, the signature
 * state of tag nodes (unsigned, signed and verified, signed but unchecked, invalid) and Pull
 * to Workspace under a policy, against the real registry, keys made with openssl.
 */
describe('extension: Sign…, Verify, signature states, Pull under a policy (real registry)', () => {
  let reg: RunningRegistry;
  let kit: SigningKit;
  let work: string;
  let client: OmlmdClient;
  const asked: string[] = [];
  const forgotten: string[] = [];
  const ui = (answers: { file?: string; passphrase?: string }): TrustUi => ({
    pickFile: (title) => {
      asked.push(`file: ${title}`);
      return Promise.resolve(answers.file);
    },
    passphrase: (path) => {
      asked.push(`passphrase: ${path}`);
      return Promise.resolve(answers.passphrase);
    },
    forgetPassphrase: (path) => {
      forgotten.push(path);
      return Promise.resolve();
    },
  });

  let n = 0;
  const pushModel = async (): Promise<string> => {
    const dir = join(work, `m${n}`);
    writeFileSync(`${dir}.bin`, randomBytes(20_000));
    const ref = `${reg.host}/ext/trust${n++}:v1`;
    await client.push(ref, { paths: [`${dir}.bin`], metadata: { name: 'm' } });
    return ref;
  };

  before(async () => {
    reg = await startRegistry();
    kit = await makeSigningKit();
    work = tempDir('omlmd-ext-trust-');
    client = new OmlmdClient({ home: join(work, 'home') });
  });
  after(async () => {
    await reg?.stop();
  });

  test('Sign… with an encrypted key asks for its passphrase; a wrong one is dropped from the store; cancelling signs nothing', async () => {
    const ref = await pushModel();
    const settings: TrustSettings = { signingKey: kit.encrypted.key };
    assert.equal(await runSign(client, ref, settings, ui({})), undefined, 'cancelled at the passphrase');
    await assert.rejects(runSign(client, ref, settings, ui({ passphrase: 'wrong' })), (e: unknown) => OmlmdError.is(e, 'USAGE') && /wrong passphrase/.test(e.message));
    assert.deepEqual(forgotten, [kit.encrypted.key]);
    const signed = await runSign(client, ref, settings, ui({ passphrase: kit.encrypted.passphrase }));
    assert.ok(signed);
    assert.equal(signed.files?.length, 3, 'the model file and the two metadata files');
    const v = await runVerify(client, ref, { verifyKey: kit.encrypted.pub }, ui({}));
    assert.equal(v?.digest, signed.digest);
    // No verification key set: Verify asks for one.
    asked.length = 0;
    const picked = await runVerify(client, ref, {}, ui({ file: kit.encrypted.pub }));
    assert.ok(picked);
    assert.match(asked.join('\n'), /file: Public key/);
    await assert.rejects(runVerify(client, ref, { verifyKey: kit.other.pub }, ui({})), (e: unknown) => OmlmdError.is(e, 'VERIFICATION_FAILED'));
  });

  test("tag nodes show the signature's state, from the manifest and bundle only, cached by digest", async () => {
    const unsigned = await pushModel();
    const signedRef = await pushModel();
    await runSign(client, signedRef, { signingKey: kit.ed25519.key }, ui({}));
    const pinned = async (ref: string) => {
      const d = (await (await client.repository(ref)).resolve('v1')).digest;
      return { at: `${ref.replace(/:v1$/, '')}@${d}`, digest: d };
    };
    const verified = new SignatureStates(() => client, () => trustRootFor({ verifyKey: kit.ed25519.pub }));
    const u = await pinned(unsigned);
    const s = await pinned(signedRef);
    assert.deepEqual(await verified.state(u.at, u.digest), { kind: 'unsigned' });
    const st = await verified.state(s.at, s.digest);
    assert.equal(st.kind, 'verified');
    assert.match((st as { signer: string }).signer, /^key /);
    const wrong = new SignatureStates(() => client, () => trustRootFor({ verifyKey: kit.other.pub }));
    const inv = await wrong.state(s.at, s.digest);
    assert.equal(inv.kind, 'invalid');
    const unchecked = new SignatureStates(() => client, () => Promise.resolve(undefined));
    assert.equal((await unchecked.state(s.at, s.digest)).kind, 'signed');

    const browser = new RegistryBrowser(() => client, () => [{ host: reg.host }], undefined, verified);
    const repository = signedRef.slice(reg.host.length + 1).replace(/:v1$/, '');
    const node = await browser.artifact({ kind: 'tag', id: 't', store: { kind: 'registry', host: reg.host }, repository, tag: 'v1' });
    assert.match((node as { description: string }).description, /✓ signed/);
    assert.match((node as { tooltip: string }).tooltip, /Signature verified\\: signed by key/, 'escaped as Markdown text (a certificate subject comes from the bundle)');
  });

  test('Pull to Workspace under a policy: an unsigned model is refused before anything is written; a signed one is pulled by its verified digest', async () => {
    const unsigned = await pushModel();
    const signedRef = await pushModel();
    await runSign(client, signedRef, { signingKey: kit.p256.key }, ui({}));
    const policyFile = join(work, 'policy.yaml');
    writeFileSync(policyFile, ['version: 1', `registries: ["${reg.host}"]`, 'rules:', '  - match: "*/ext/**"', '    require:', `      - key: ${kit.p256.pub}`].join('\n'));
    const settings: TrustSettings = { policyFile };
    await assert.rejects(pullTarget(client, unsigned, settings), (e: unknown) => OmlmdError.is(e, 'VERIFICATION_FAILED') && /unsigned/.test(e.message));
    const t = await pullTarget(client, signedRef, settings);
    assert.match(t.reference, /@sha256:[0-9a-f]{64}$/);
    const out = join(work, 'pulled');
    await client.pull(t.reference, out);
    assert.ok(readdirSync(out).some((f) => f.endsWith('.bin')));
    assert.equal(existsSync(join(work, 'never')), false);
    // Without a policy the reference goes as given.
    assert.equal((await pullTarget(client, unsigned, {})).reference, unsigned);
  });
});

describe('extension: a push from a notebook leaves signed provenance (real registry)', () => {
  let reg: RunningRegistry;
  let kit: SigningKit;
  let work: string;
  before(async () => {
    reg = await startRegistry();
    kit = await makeSigningKit();
    work = tempDir('omlmd-ext-prov-');
  });
  after(async () => {
    await reg?.stop();
  });

  test('the notebook (path, digest) and the metadata in an SLSA v1 statement about the model, which verifies with the key', async () => {
    const { attestNotebookPush, NOTEBOOK_BUILD_TYPE, signerFor } = await import('../../src/extension/model/trustFlow');
    const { verifyAttestation, SLSA_PROVENANCE_V1, loadPublicKeys } = await import('../../src/core/trust');
    const client = new OmlmdClient({ home: join(work, 'home') });
    writeFileSync(join(work, 'model.onnx'), randomBytes(5000));
    const pushed = await client.push(`${reg.host}/ext/nb:v1`, { paths: [join(work, 'model.onnx')], metadata: { name: 'nb' } });
    const pinned = `${reg.host}/ext/nb@${pushed.descriptor.digest}`;
    const signer = await signerFor({ signingKey: kit.ed25519.key }, { pickFile: () => Promise.resolve(undefined), passphrase: () => Promise.resolve(undefined), forgetPassphrase: () => Promise.resolve() });
    assert.ok(signer);
    const digest = `sha256:${'ab'.repeat(32)}`;
    await attestNotebookPush(client, pinned, { path: 'notebooks/train.ipynb', digest }, { name: 'nb' }, signer, 'omlmd-vscode@test');
    const v = await verifyAttestation(client, pinned, SLSA_PROVENANCE_V1, { kind: 'keys', keys: await loadPublicKeys(kit.ed25519.pub), source: kit.ed25519.pub });
    const pred = v.statement.predicate as { buildDefinition: { buildType: string; externalParameters: { notebook: string; metadata: unknown }; resolvedDependencies: { digest: { sha256: string } }[] } };
    assert.equal(pred.buildDefinition.buildType, NOTEBOOK_BUILD_TYPE);
    assert.equal(pred.buildDefinition.externalParameters.notebook, 'notebooks/train.ipynb');
    assert.deepEqual(pred.buildDefinition.externalParameters.metadata, { name: 'nb' });
    assert.equal(pred.buildDefinition.resolvedDependencies[0]!.digest.sha256, 'ab'.repeat(32));
    assert.equal(v.statement.subject[0]!.digest.sha256, pushed.descriptor.digest.slice(7));
  });
});
