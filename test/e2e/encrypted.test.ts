// Encrypted models in a real VS Code (code-server 4.100.3 = VS Code 1.100) with the packaged
// .vsix, against the real registry: the Models view marks an encrypted file with a lock and
// "encrypted for N recipients" (from the manifest, no bytes fetched), and Pull to Workspace…
// decrypts it with the key omlmd.decryptionKeys names, byte for byte.
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OmlmdClient } from '../../src/core/client';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { tempDir } from '../helpers/tmp';
import { startVSCode, type VSCodeSession } from './harness';

describe('VS Code: an encrypted model in the Models view, pulled with omlmd.decryptionKeys (real registry)', { timeout: 600_000 }, () => {
  let reg: RunningRegistry;
  let vsc: VSCodeSession;
  let work: string;
  const weights = randomBytes(300_000);

  before(async () => {
    reg = await startRegistry();
    work = tempDir('omlmd-e2e-enc-');
    const mine = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const theirs = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(work, 'key.pem'), mine.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(join(work, 'model.onnx'), weights);
    const client = new OmlmdClient({ home: join(work, 'home') });
    await client.push(`${reg.host}/enc/secret:e1`, {
      paths: [join(work, 'model.onnx')],
      metadata: { name: 'secret model', model_format_name: 'onnx' },
      encryptFor: [{ key: mine.publicKey, source: 'mine' }, { key: theirs.publicKey, source: 'theirs' }],
    });
    vsc = await startVSCode({ settings: { 'omlmd.registries': [{ host: reg.host }], 'omlmd.decryptionKeys': [join(work, 'key.pem')] } });
    await vsc.openModelsView();
  });
  after(async () => {
    await vsc?.stop();
    await reg?.stop();
  });

  test('the file shows a lock and "encrypted for 2 recipients"; Pull to Workspace… decrypts it with the configured key', async () => {
    await vsc.withDiagnostics('encrypted', async () => {
      await vsc.waitForTreeRow(reg.host);
      await vsc.expandTreeRow(reg.host);
      await vsc.waitForTreeRow('enc/secret');
      await vsc.expandTreeRow('enc/secret');
      await vsc.waitForTreeRow('e1');
      await vsc.expandTreeRow('e1');
      await vsc.waitForTreeRow('secret model');
      await vsc.expandTreeRow('secret model');
      await vsc.waitForTreeRow('model.onnx');
      const rows = await vsc.treeRows();
      assert.match(rows.find((r) => r.label === 'model.onnx')?.description ?? '', /encrypted for 2 recipients$/, JSON.stringify(rows));
      assert.equal(await vsc.treeRow('model.onnx').locator('.codicon-lock').count(), 1, 'the lock icon');

      await vsc.dismissHovers();
      await vsc.rightClickTreeRow('e1');
      await vsc.clickContextMenu('Pull to Workspace…');
      await vsc.pickQuickItem(/secret-e1/);
      await vsc.waitForNotification(/Pulled \d+ files? into secret-e1/);
      assert.ok(readFileSync(join(vsc.workspace, 'secret-e1', 'model.onnx')).equals(weights), 'decrypted, byte for byte');
    });
  });
});
