// Signing in from VS Code to a registry behind TLS (a private CA, given in the settings)
// and htpasswd: the tree says what is wrong and offers the fix; a wrong password is refused
// before anything is saved; the right one is checked, kept in secret storage, and the
// tree then lists the registry's repositories.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OmlmdClient } from '../../src/core/client';
import { makeHtpasswd, makePki, startRegistry, type RunningRegistry } from '../helpers/registry';
import { ROOT, startVSCode, type VSCodeSession } from './harness';

describe('VS Code: sign in to a TLS + htpasswd registry', { timeout: 600_000 }, () => {
  let reg: RunningRegistry;
  let vsc: VSCodeSession;

  before(async () => {
    const pki = await makePki();
    const htpasswd = await makeHtpasswd(join(pki.dir, 'htpasswd'), { alice: 's3cret-pass' });
    reg = await startRegistry({ tls: { cert: pki.serverCert, key: pki.serverKey }, htpasswd });
    const client = new OmlmdClient({
      home: join(pki.dir, 'home'),
      credentials: async () => ({ username: 'alice', password: 's3cret-pass' }),
      registrySettings: () => ({ caFile: pki.caCert }),
    });
    await client.push(`${reg.host}/private/model:v1`, { paths: [join(ROOT, 'sample', 'model.onnx')], metadata: { name: 'private model' } });
    vsc = await startVSCode({ settings: { 'omlmd.registries': [{ host: reg.host, caFile: pki.caCert }] } });
    await vsc.openModelsView();
  });
  after(async () => {
    await vsc?.stop();
    await reg?.stop();
  });

  test('unauthenticated: the tree offers Sign in; a wrong password is refused and not saved', async () => {
    await vsc.withDiagnostics('signin-wrong', async () => {
      await vsc.waitForTreeRow(reg.host);
      await vsc.expandTreeRow(reg.host);
      await vsc.waitForTreeRow(/Sign in to see private repositories/);
      await vsc.clickTreeRow(/Sign in to see private repositories/);
      await vsc.answerInputBox('alice');
      await vsc.page.locator('.quick-input-widget .quick-input-title', { hasText: '(2/2)' }).waitFor();
      await vsc.answerInputBox('wrong-password');
      const msg = await vsc.waitForNotification(/refused the credentials/);
      assert.doesNotMatch(msg, /wrong-password/);
      assert.doesNotMatch(await vsc.extensionLog(), /wrong-password/);
    });
  });

  test('the right password is verified, saved, and the repositories appear', async () => {
    await vsc.withDiagnostics('signin-right', async () => {
      await vsc.dismissHovers();
      await vsc.runCommand('omlmd: Sign in to Registry…');
      await vsc.pickQuickItem(reg.host);
      await vsc.page.locator('.quick-input-widget .quick-input-title', { hasText: '(1/2)' }).waitFor();
      await vsc.answerInputBox('alice');
      await vsc.page.locator('.quick-input-widget .quick-input-title', { hasText: '(2/2)' }).waitFor();
      await vsc.answerInputBox('s3cret-pass');
      await vsc.waitForNotification(new RegExp(`Signed in to ${reg.host.replace(/\./g, '\\.')} as alice`));
      await vsc.openModelsView();
      await vsc.waitForTreeRow('private/model');
      await vsc.expandTreeRow('private/model');
      await vsc.waitForTreeRow('v1');
      await vsc.expandTreeRow('v1');
      await vsc.waitForTreeRow('private model');
      assert.doesNotMatch(readFileSync(join(vsc.userDataDir, 'User', 'settings.json'), 'utf8'), /s3cret/);
      assert.doesNotMatch(await vsc.extensionLog(), /s3cret/);
    });
  });
});
