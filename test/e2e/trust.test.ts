// Signing in a real VS Code (code-server 4.100.3 = VS Code 1.100) with the packaged .vsix,
// against the real registry: the tree shows a signed model as verified and an unsigned one
// as unsigned (from the manifest and the bundle, no weights); Sign… signs the unsigned one
// with the key in omlmd.trust.signingKey and Verify Signature checks it.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OmlmdClient } from '../../src/core/client';
import { KeySigner, listSignatures, loadPrivateKey, signModel } from '../../src/core/trust';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { makeSigningKit, type SigningKit } from '../helpers/signing';
import { ROOT, startVSCode, type VSCodeSession } from './harness';

describe('VS Code: signatures in the Models view, Sign…, Verify Signature (real registry)', { timeout: 600_000 }, () => {
  let reg: RunningRegistry;
  let vsc: VSCodeSession;
  let client: OmlmdClient;
  let kit: SigningKit;

  before(async () => {
    reg = await startRegistry();
    kit = await makeSigningKit();
    client = new OmlmdClient({ home: join(reg.root, 'home') });
    // Tags of their own (s1, p1), so each row is found by its label.
    for (const [repo, tag] of [['signed', 's1'], ['plain', 'p1']]) {
      await client.push(`${reg.host}/trust/${repo}:${tag}`, { paths: [join(ROOT, 'sample', 'model.joblib')], metadata: { name: `model ${repo}`, model_format_name: 'sklearn' } });
    }
    await signModel(client, `${reg.host}/trust/signed:s1`, new KeySigner(await loadPrivateKey(kit.ed25519.key)));
    vsc = await startVSCode({ settings: { 'omlmd.registries': [{ host: reg.host }], 'omlmd.trust.verifyKey': kit.ed25519.pub, 'omlmd.trust.signingKey': kit.ed25519.key } });
    await vsc.openModelsView();
  });
  after(async () => {
    await vsc?.stop();
    await reg?.stop();
  });

  async function openRepository(repo: string): Promise<void> {
    await vsc.waitForTreeRow(reg.host);
    await vsc.expandTreeRow(reg.host);
    await vsc.waitForTreeRow(`trust/${repo}`);
    await vsc.expandTreeRow(`trust/${repo}`);
  }

  test('a signed model shows as verified, an unsigned one as unsigned; Sign… and Verify Signature on it', async () => {
    await vsc.withDiagnostics('trust', async () => {
      await openRepository('signed');
      await vsc.waitForTreeRow('s1');
      await vsc.expandTreeRow('s1');
      await vsc.waitForTreeRow('model signed');
      let rows = await vsc.treeRows();
      assert.match(rows.find((r) => r.label === 'model signed')?.description ?? '', /✓ signed$/);

      await vsc.dismissHovers();
      await vsc.rightClickTreeRow('model signed');
      await vsc.clickContextMenu('Verify Signature');
      await vsc.waitForNotification(/Verified .*trust\/signed.* as signed by key [0-9a-f]{16}; no weights were read/);

      await openRepository('plain');
      await vsc.waitForTreeRow('p1');
      await vsc.expandTreeRow('p1');
      await vsc.waitForTreeRow('model plain');
      rows = await vsc.treeRows();
      assert.match(rows.find((r) => r.label === 'model plain')?.description ?? '', /unsigned$/);

      await vsc.dismissHovers();
      await vsc.rightClickTreeRow('model plain');
      await vsc.clickContextMenu('Sign…');
      await vsc.waitForNotification(/Signed .*trust\/plain.*: 3 files, by key/);
      const sigs = await listSignatures(client, `${reg.host}/trust/plain:p1`);
      assert.equal(sigs.length, 1, 'the signature is in the registry');
    });
  });
});
