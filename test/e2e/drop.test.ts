// Drag a model file onto a repository in the Models view: the push flow opens with that
// registry and repository proposed (tree.ts ModelDropController). The file is dragged by its
// editor tab, which carries its URI as the Explorer's rows do (the Explorer and the Models view
// share the side bar, so they are never both on screen); Playwright drags with real mouse
// events, which Chromium turns into an HTML5 drag and drop.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OmlmdClient } from '../../src/core/client';
import { ROOT } from '../helpers/cli';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { tempDir } from '../helpers/tmp';
import { rmSync } from 'node:fs';
import { startVSCode, type VSCodeSession } from './harness';

describe('VS Code: drop a model file on a repository of the Models view (real registry)', { timeout: 600_000 }, () => {
  let reg: RunningRegistry;
  let vsc: VSCodeSession;
  const home = tempDir('omlmd-e2e-drop-');

  before(async () => {
    reg = await startRegistry();
    // The repository the file is dropped on exists already, with a v1.
    await new OmlmdClient({ home }).push(`${reg.host}/drop/iris:v1`, { paths: [join(ROOT, 'sample', 'model.onnx')], metadata: { name: 'Iris (first)' } });
    vsc = await startVSCode();
  });
  after(async () => {
    await vsc?.stop();
    await reg?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  test('the tab of model.onnx dropped on drop/iris: Push Model… with that registry, repository and the next tag proposed; pushed there', async () => {
    await vsc.withDiagnostics('drop', async () => {
      await vsc.openModelsView();
      await vsc.runCommand('omlmd: Add Registry…');
      await vsc.answerInputBox(reg.host);
      await vsc.expandTreeRow(reg.host);
      await vsc.waitForTreeRow('drop/iris');

      // model.onnx in the editor (Quick Open), its tab the thing dragged.
      await vsc.page.keyboard.press('Control+P');
      const input = vsc.page.locator('.quick-input-widget input.input');
      await input.waitFor();
      await input.fill('model.onnx');
      await vsc.page.locator('.quick-input-widget .monaco-list-row', { hasText: 'model.onnx' }).first().waitFor();
      await vsc.page.keyboard.press('Enter');
      const tab = vsc.page.locator('.tabs-container .tab', { hasText: 'model.onnx' }).first();
      await tab.waitFor();
      await vsc.openModelsView();
      await tab.dragTo(vsc.treeRow('drop/iris'));

      // The metadata editor of the push, then the three steps with the drop's target proposed.
      const frame = await vsc.webviewFrame('#push');
      await frame.locator('#push').click();
      await vsc.page.locator('.quick-input-widget .quick-input-title', { hasText: '(1/3)' }).waitFor();
      const active = await vsc.page.locator('.quick-input-widget .monaco-list-row.focused').first().innerText();
      assert.match(active, new RegExp(reg.host.replace(/[.]/g, '\\.')), 'the registry dropped on comes first');
      await vsc.pickQuickItem(new RegExp(reg.host.replace(/[.]/g, '\\.')));
      await vsc.page.locator('.quick-input-widget .quick-input-title', { hasText: '(2/3)' }).waitFor();
      assert.equal(await input.inputValue(), 'drop/iris', 'the repository dropped on is proposed');
      await vsc.page.keyboard.press('Enter');
      await vsc.page.locator('.quick-input-widget .quick-input-title', { hasText: '(3/3)' }).waitFor();
      assert.equal(await input.inputValue(), 'v2', 'the next tag after v1');
      await vsc.page.keyboard.press('Enter');
      await vsc.waitForNotification(new RegExp(`Pushed ${reg.host.replace(/[.]/g, '\\.')}/drop/iris:v2`));
      const pushed = await new OmlmdClient({ home }).inspect(`${reg.host}/drop/iris:v2`);
      assert.deepEqual(pushed.view.files.filter((f) => f.role === 'model').map((f) => f.path), ['model.onnx']);
    });
  });
});
