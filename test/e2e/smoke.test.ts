// Smoke test in a real VS Code (code-server 4.100.3 = VS Code 1.100) with the packaged
// .vsix: the Models view container and its Registries view, activation, the contributed
// commands and menus, and the sample workspace's notebook.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startVSCode, type VSCodeSession } from './harness';

describe('VS Code smoke (code-server + packaged extension)', { timeout: 300_000 }, () => {
  let vsc: VSCodeSession;
  const registries = [{ host: '127.0.0.1:5999', plainHttp: true, repositories: ['models/iris'] }];

  before(async () => {
    vsc = await startVSCode({ settings: { 'omlmd.registries': registries } });
  });
  after(async () => {
    await vsc?.stop();
  });

  test('the Models view container opens and shows the Registries view', async () => {
    await vsc.withDiagnostics('models-view', async () => {
      await vsc.openModelsView();
      assert.equal(await vsc.viewVisible('Registries'), true, 'Registries view body visible');
      assert.match(await vsc.sideBarTitle(), /^Models: Registries$|^Models$/i);
      // Opening the view activates the extension (onView:omlmd.registries).
      const log = await vsc.waitForExtensionLog('omlmd activated');
      assert.match(log, /\[info\] omlmd activated/);
      await vsc.screenshot(join(vsc.tmp, 'models-view.png'));
    });
  });

  test('the extension host activated omlmd on its view and has OMLMD_HOME from the harness', async () => {
    await vsc.withDiagnostics('activation', async () => {
      const exthost = await vsc.extensionHostLog();
      const line = /^(\S+ \S+) \[info\] ExtensionService#_doActivateExtension omlmd\.omlmd, startup: (\w+), activationEvent: '([^']+)'/m.exec(exthost);
      assert.ok(line, `no activation line for omlmd.omlmd in the extension host log:\n${exthost}`);
      assert.equal(line[2], 'false', 'omlmd must not activate at startup (lazy activation)');
      assert.match(line[3] ?? '', /^onView:omlmd\.registries$|^onCommand:omlmd\./);
      const env = await vsc.extensionHostEnv();
      assert.equal(env.OMLMD_HOME, vsc.omlmdHome);

      // From the log's timestamps: activation event to the extension's own "activated" line.
      const activated = /^(\S+ \S+) \[info\] omlmd activated/m.exec(await vsc.extensionLog());
      assert.ok(activated);
      const logMs = Date.parse(activated[1]!.replace(' ', 'T')) - Date.parse(line[1]!.replace(' ', 'T'));
      assert.ok(Number.isFinite(logMs) && logMs >= 0, `activation span from logs: ${logMs}`);
      // And as VS Code measures it (Developer: Show Running Extensions).
      const times = await vsc.activationTimes();
      const omlmd = times.get('omlmd');
      assert.ok(omlmd, `omlmd not among running extensions: ${JSON.stringify([...times.keys()])}`);
      assert.equal(omlmd.startup, false);
      console.log(`# omlmd activation: ${omlmd.text} (VS Code), ${logMs} ms from activation event to "omlmd activated" (logs), event ${line[3]}`);
    });
  });

  test('the user settings given to the harness are VS Code\'s settings', async () => {
    await vsc.withDiagnostics('settings', async () => {
      const onDisk = JSON.parse(await readFile(join(vsc.userDataDir, 'User', 'settings.json'), 'utf8')) as Record<string, unknown>;
      assert.deepEqual(onDisk['omlmd.registries'], registries);
      await vsc.runCommand('Preferences: Open User Settings (JSON)');
      const editor = vsc.page.locator('.editor-instance .monaco-editor .view-lines').first();
      await editor.filter({ hasText: '127.0.0.1:5999' }).waitFor();
      assert.match(await editor.innerText(), /"omlmd\.registries"/);
      await vsc.runCommand('View: Close Editor');
    });
  });

  test('the command palette lists the omlmd commands', async () => {
    await vsc.withDiagnostics('palette', async () => {
      const entries = await vsc.commandPaletteEntries('omlmd: ');
      for (const title of ['omlmd: Push Model…', 'omlmd: Add Registry…', 'omlmd: Refresh']) {
        assert.ok(entries.includes(title), `${title} missing from ${JSON.stringify(entries)}`);
      }
      // Only on an open notebook.
      assert.ok(!entries.includes('omlmd: Push Model from This Notebook'), JSON.stringify(entries));
    });
  });

  test('the explorer offers Push Model… on model files only', async () => {
    await vsc.withDiagnostics('explorer-menu', async () => {
      await vsc.rightClickExplorerFile('model.onnx');
      assert.ok((await vsc.contextMenuItems()).includes('Push Model…'));
      await vsc.dismissHovers();
      await vsc.rightClickExplorerFile('model.joblib');
      assert.ok((await vsc.contextMenuItems()).includes('Push Model…'));
      await vsc.dismissHovers();
      await vsc.rightClickExplorerFile('metadata.yaml');
      const items = await vsc.contextMenuItems();
      assert.ok(!items.includes('Push Model…'), JSON.stringify(items));
      // A built-in item, to show clickContextMenu runs what it clicks.
      await vsc.clickContextMenu('Open to the Side');
      await vsc.page.locator('.tabs-container .tab[data-resource-name="metadata.yaml"]').waitFor();
      assert.ok((await vsc.editorTabs()).includes('metadata.yaml'));
      await vsc.runCommand('View: Close All Editors');
    });
  });

  test('the sample notebook opens with its saved outputs and the Push toolbar action', async () => {
    await vsc.withDiagnostics('notebook', async () => {
      await vsc.openNotebook('train.ipynb');
      const sources = (await vsc.notebookCodeCells()).join('\n');
      assert.match(sources, /joblib\.dump\(model, 'model\.joblib'\)/);
      const outputs = await vsc.notebookOutputs(/accuracy: 0\.97/);
      assert.ok(outputs.includes('accuracy: 0.97'), JSON.stringify(outputs));
      await vsc.notebookToolbarAction('Push Model from This Notebook').waitFor();
      const entries = await vsc.commandPaletteEntries('omlmd: Push Model from');
      assert.ok(entries.includes('omlmd: Push Model from This Notebook'), JSON.stringify(entries));
      await vsc.screenshot(join(vsc.tmp, 'notebook.png'));
    });
  });
});
