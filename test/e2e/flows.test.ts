// The user's journeys in a real VS Code (code-server 4.100.3 = VS Code 1.100) with the
// packaged .vsix, against the real registry: browse, Push Model from the explorer through
// the metadata editor, see the new tag, pull it back, and push from a notebook's toolbar.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OmlmdClient } from '../../src/core/client';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { ROOT, startVSCode, type VSCodeSession } from './harness';

describe('VS Code: browse, push, pull, notebook (real registry)', { timeout: 600_000 }, () => {
  let reg: RunningRegistry;
  let vsc: VSCodeSession;
  let client: OmlmdClient;

  before(async () => {
    reg = await startRegistry();
    client = new OmlmdClient({ home: join(reg.root, 'home') });
    await client.push(`${reg.host}/models/iris:v1`, {
      paths: [join(ROOT, 'sample', 'model.joblib')],
      metadata: { name: 'Iris classifier', model_format_name: 'sklearn', customProperties: { accuracy: 0.97 } },
    });
    vsc = await startVSCode({ settings: { 'omlmd.registries': [{ host: reg.host }] } });
    await vsc.openModelsView();
  });
  after(async () => {
    await vsc?.stop();
    await reg?.stop();
  });

  /** Screenshots go to the session's temp dir; OMLMD_E2E_SCREENSHOTS=docs/images refreshes the README's. */
  const shot = (name: string): string => join(process.env.OMLMD_E2E_SCREENSHOTS ?? vsc.tmp, name);

  /** Fills and submits the metadata editor webview; returns the frame. */
  async function pushFromEditor(name?: string): Promise<void> {
    const frame = await vsc.webviewFrame('#push');
    if (name !== undefined) await frame.locator('[data-field="name"] input').fill(name);
    await frame.locator('#push').click();
  }

  /** Answers the quick input once its title shows `step`: the next box may take a moment to replace the last. */
  async function answerStep(step: string, text: string): Promise<void> {
    await vsc.page.locator('.quick-input-widget .quick-input-title', { hasText: step }).waitFor();
    await vsc.answerInputBox(text);
  }

  /** Right-clicks a tree row; the tree may re-render after a push (it refreshes), so retry until the menu shows. */
  async function rightClickRow(label: string): Promise<void> {
    await vsc.rightClickTreeRow(label);
  }


  async function pickTarget(repository: string, tag: string): Promise<void> {
    await vsc.page.locator('.quick-input-widget .quick-input-title', { hasText: '(1/3)' }).waitFor();
    await vsc.pickQuickItem(new RegExp(reg.host.replace(/[.]/g, '\\.')));
    await answerStep('(2/3)', repository);
    await answerStep('(3/3)', tag);
  }

  test('the tree shows the Local store and the registry down to the model and its files', async () => {
    await vsc.withDiagnostics('browse', async () => {
      await vsc.waitForTreeRow('Local store');
      await vsc.waitForTreeRow(reg.host);
      await vsc.expandTreeRow(reg.host);
      await vsc.waitForTreeRow('models/iris');
      await vsc.expandTreeRow('models/iris');
      await vsc.waitForTreeRow('v1');
      await vsc.expandTreeRow('v1');
      await vsc.waitForTreeRow('Iris classifier');
      const rows = await vsc.treeRows();
      const model = rows.find((r) => r.label === 'Iris classifier');
      // The signature state comes last: no verification key is set here, and iris is unsigned.
      assert.match(model?.description ?? '', /^sklearn · .* · [0-9a-f]{12} · unsigned$/);
      await vsc.expandTreeRow('Iris classifier');
      await vsc.waitForTreeRow('model.joblib');
      await vsc.waitForTreeRow('metadata');
      await vsc.screenshot(shot('tree.png'));
    });
  });

  test('right-click a model file → Push Model…: editor, target pickers, the new tag in the tree', async () => {
    await vsc.withDiagnostics('push-explorer', async () => {
      await vsc.rightClickExplorerFile('model.onnx');
      await vsc.clickContextMenu('Push Model…');
      const frame = await vsc.webviewFrame('#push');
      // sample/metadata.yaml beside the model pre-fills the editor.
      assert.equal(await frame.locator('[data-field="name"] input').inputValue(), 'Iris classifier');
      await vsc.screenshot(shot('push-editor.png'));
      await pushFromEditor('ONNX demo');
      await pickTarget('demo/onnx', 'v1');
      await vsc.waitForNotification(new RegExp(`Pushed ${reg.host}/demo/onnx:v1`));
      const info = await client.inspect(`${reg.host}/demo/onnx:v1`);
      assert.equal(info.metadata?.name, 'ONNX demo');
      assert.equal(info.metadata?.model_format_name, 'onnx');
      assert.deepEqual(info.view.files.filter((f) => f.role === 'model').map((f) => f.path), ['model.onnx']);
      await vsc.clickNotificationButton(/Pushed/, 'Reveal in Tree');
      await vsc.waitForTreeRow('demo/onnx');
      // Revealed means selected (models/iris has a v1 row too, so a v1 row alone proves nothing);
      // waiting for it also keeps the next test from starting while the reveal still moves the focus.
      await vsc.treeRow('v1').and(vsc.page.locator('[aria-selected="true"]')).waitFor();
      const after = await vsc.treeRows();
      assert.equal(after[after.findIndex((r) => r.label === 'demo/onnx') + 1]?.selected, true, JSON.stringify(after));
    });
  });

  test('Pull to Workspace… brings the files back byte for byte', async () => {
    await vsc.withDiagnostics('pull', async () => {
      await vsc.openModelsView();
      await vsc.expandTreeRow('demo/onnx');
      await vsc.waitForTreeRow('v1');
      await vsc.dismissHovers();
      // demo/onnx sorts before models/iris, so its v1 is the first "v1" row.
      const rows = vsc.page.locator('.pane-body .monaco-list-row').filter({ has: vsc.page.locator('.label-name', { hasText: /^v1$/ }) });
      await vsc.rightClickRow(rows.first(), 'v1 of demo/onnx');
      await vsc.clickContextMenu('Pull to Workspace…');
      await vsc.pickQuickItem(/onnx-v1/);
      await vsc.waitForNotification(/Pulled \d+ files? into onnx-v1/);
      assert.deepEqual(readFileSync(join(vsc.workspace, 'onnx-v1', 'model.onnx')), readFileSync(join(vsc.workspace, 'model.onnx')));
    });
  });

  test('a notebook\'s toolbar pushes the model it produced, with its metrics and provenance', async () => {
    await vsc.withDiagnostics('notebook', async () => {
      await vsc.openNotebook('train.ipynb');
      await vsc.notebookToolbarAction('Push Model from This Notebook').click();
      const items = await vsc.quickPickItems();
      assert.ok(items.includes('model.joblib'), JSON.stringify(items));
      // Keep only the joblib model: unpick the ONNX export.
      if (items.includes('model.onnx')) await vsc.pickQuickItem('model.onnx');
      await vsc.page.keyboard.press('Enter');
      const frame = await vsc.webviewFrame('#push');
      assert.equal(await frame.locator('[data-field="name"] input').inputValue(), 'Train an iris classifier');
      const rows = await frame.locator('table.kv tbody tr .row-key input').evaluateAll((els) => els.map((e) => (e as unknown as { value: string }).value));
      assert.ok(rows.includes('accuracy'), JSON.stringify(rows));
      await pushFromEditor();
      await pickTarget('notebooks/iris', 'v1');
      await vsc.waitForNotification(new RegExp(`Pushed ${reg.host}/notebooks/iris:v1`));
      const info = await client.inspect(`${reg.host}/notebooks/iris:v1`);
      assert.equal(info.metadata?.customProperties?.accuracy, 0.97);
      assert.equal(info.metadata?.model_format_name, 'sklearn');
      assert.equal(info.manifest.annotations?.['dev.omlmd.notebook.path'], 'train.ipynb');
      assert.match(info.manifest.annotations?.['dev.omlmd.notebook.digest'] ?? '', /^sha256:[0-9a-f]{64}$/);
      assert.deepEqual(info.view.files.filter((f) => f.role === 'model').map((f) => f.path), ['model.joblib']);
    });
  });

  test('Edit Metadata… on a model shows its metadata and saves the edit as a new tag', async () => {
    await vsc.withDiagnostics('edit-metadata', async () => {
      await vsc.openModelsView();
      await vsc.waitForTreeRow('Iris classifier');
      await rightClickRow('Iris classifier');
      await vsc.clickContextMenu('Edit Metadata…');
      const frame = await vsc.webviewFrame('#push');
      assert.equal(await frame.locator('[data-field="name"] input').inputValue(), 'Iris classifier');
      await pushFromEditor('Iris classifier (retrained)');
      await answerStep('new tag', 'v2');
      await vsc.waitForNotification(new RegExp(`Pushed ${reg.host}/models/iris:v2`));
      const v2 = await client.inspect(`${reg.host}/models/iris:v2`);
      const v1 = await client.inspect(`${reg.host}/models/iris:v1`);
      assert.equal(v2.metadata?.name, 'Iris classifier (retrained)');
      assert.equal(v1.metadata?.name, 'Iris classifier', 'v1 is not rewritten');
      assert.deepEqual(v2.view.files.filter((f) => f.role === 'model').map((f) => f.descriptor.digest), v1.view.files.filter((f) => f.role === 'model').map((f) => f.descriptor.digest));
    });
  });

  test('Find Models… runs a JSONPath query over the Local store and registries and reveals the match', async () => {
    await vsc.withDiagnostics('find-models', async () => {
      await vsc.runCommand('omlmd: Find Models…');
      await vsc.page.locator('.quick-input-widget .quick-input-title', { hasText: 'Find models' }).waitFor();
      const input = vsc.page.locator('.quick-input-widget input.input');
      await input.fill("$[?@.customProperties.accuracy > 0.96 && @.model_format_name == 'sklearn']");
      await vsc.pickQuickItem(/run this query|accuracy > 0.96/);
      await vsc.page.locator('.quick-input-widget .quick-input-title', { hasText: /models? for/ }).waitFor();
      const found = await vsc.quickPickItems();
      assert.ok(found.includes('Train an iris classifier'), JSON.stringify(found));
      assert.ok(found.includes('Iris classifier'), JSON.stringify(found));
      assert.ok(!found.includes('ONNX demo'), JSON.stringify(found));
      await vsc.pickQuickItem('Train an iris classifier');
      await vsc.openModelsView();
      await vsc.waitForTreeRow('notebooks/iris');
      await vsc.waitForTreeRow('Train an iris classifier');
    });
  });
});
