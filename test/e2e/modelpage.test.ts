// The model page in a real VS Code (code-server 4.100.3 = VS Code 1.100) with the packaged
// .vsix, against the real registry: opened from a tag in the Models view, its versions chart
// drawn from the repository's tags, and two tags compared.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OmlmdClient } from '../../src/core/client';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { ROOT, startVSCode, type VSCodeSession } from './harness';

describe('VS Code: the model page (real registry)', { timeout: 600_000 }, () => {
  let reg: RunningRegistry;
  let vsc: VSCodeSession;

  before(async () => {
    reg = await startRegistry();
    const client = new OmlmdClient({ home: join(reg.root, 'home') });
    const accuracy = [0.91, 0.94, 0.97];
    for (const [i, acc] of accuracy.entries()) {
      await client.push(`${reg.host}/page/iris:r${i + 1}`, {
        // The first without the ONNX file, so compare shows a file added.
        paths: i === 0 ? [join(ROOT, 'sample', 'model.joblib')] : [join(ROOT, 'sample', 'model.joblib'), join(ROOT, 'sample', 'model.onnx')],
        created: `2025-0${i + 1}-01T00:00:00Z`,
        metadata: { name: 'Iris classifier', model_format_name: 'sklearn', customProperties: { accuracy: acc, release: i + 1 } },
      });
    }
    vsc = await startVSCode({ settings: { 'omlmd.registries': [{ host: reg.host }] } });
    await vsc.openModelsView();
  });
  after(async () => {
    await vsc?.stop();
    await reg?.stop();
  });

  test('Open Model Page on a tag: the header, the versions chart across the tags, and a comparison of two tags', async () => {
    await vsc.withDiagnostics('model-page', async () => {
      await vsc.waitForTreeRow(reg.host);
      await vsc.expandTreeRow(reg.host);
      await vsc.waitForTreeRow('page/iris');
      await vsc.expandTreeRow('page/iris');
      await vsc.waitForTreeRow('r3');
      await vsc.dismissHovers();
      await vsc.rightClickTreeRow('r3');
      await vsc.clickContextMenu('Open Model Page');

      const frame = await vsc.webviewFrame('#model-page');
      assert.equal(await frame.locator('h1#title').innerText(), 'Iris classifier');
      assert.equal(await frame.locator('#reference').innerText(), `${reg.host}/page/iris:r3`);
      assert.ok((await vsc.editorTabs()).includes('iris:r3'), 'the panel is titled after the tag');

      await frame.locator('#versions-chart[data-drawn="3"]').waitFor({ timeout: 60_000 });
      const drawn = await frame.locator('#versions-chart').evaluate((c) => {
        const canvas = c as unknown as { width: number; height: number; getContext(t: string): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } };
        const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let n = 0;
        for (let i = 3; i < d.length; i += 4) if (d[i]! > 0) n++;
        return n;
      });
      assert.ok(drawn > 500, `the chart is drawn (${drawn} pixels)`);
      const rows = await frame.locator('#versions-table tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.children].map((c) => (c as unknown as { innerText: string }).innerText.trim())));
      assert.deepEqual(rows.map((r) => [r[0], r[2]]), [['r1', '0.91'], ['r2', '0.94'], ['r3', '0.97']]);
      await vsc.screenshot(join(vsc.tmp, 'model-page.png'));

      await frame.locator('#compare-a').selectOption('r1');
      await frame.locator('#compare-b').selectOption('r3');
      await frame.locator('#compare-run').click();
      await frame.locator('#compare-files').waitFor({ timeout: 60_000 });
      const fields = await frame.locator('#compare-fields tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.children].map((c) => (c as unknown as { innerText: string }).innerText.trim())));
      assert.deepEqual(fields, [['customProperties.accuracy', 'changed', '0.91', '0.97'], ['customProperties.release', 'changed', '1', '3']]);
      const files = await frame.locator('#compare-files tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.children].slice(0, 2).map((c) => (c as unknown as { innerText: string }).innerText.trim())));
      assert.deepEqual(files, [['model.joblib', 'same'], ['model.onnx', 'added']]);
      await vsc.screenshot(join(vsc.tmp, 'model-page-compare.png'));
    });
  });
});
