// Screenshots of the editor for the README: `node --import tsx test/webview/screenshots.ts`.
// Not a test (pictures are looked at, not asserted); it drives the same harness as the tests.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { openEditor, sendInit, startHarness } from './harness';

const OUT = join(__dirname, '..', '..', 'docs', 'images');
const METADATA = {
  name: 'MNIST classifier',
  description: 'A small CNN trained on the MNIST digits, exported to ONNX.',
  author: 'Jane Doe',
  customProperties: { accuracy: 0.9777, license: 'Apache-2.0', quantized: false, layers: [32, 64] },
  model_format_name: 'onnx',
  model_format_version: '1',
};

/** The whole editor in one picture: the viewport grows to the page, so the sticky footer sits at the end. */
async function shoot(page: Page, file: string): Promise<void> {
  await page.evaluate(() => (globalThis as unknown as { document: { fonts: { ready: Promise<unknown> } } }).document.fonts.ready);
  const height = await page.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollHeight: number } } }).document.documentElement.scrollHeight);
  await page.setViewportSize({ width: 820, height });
  await page.mouse.move(0, 0);
  // No caret or selected text in the picture.
  await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { blur(): void } | null } }).document.activeElement?.blur());
  await page.screenshot({ path: join(OUT, file) });
  console.log(join(OUT, file));
}

void (async () => {
  await mkdir(OUT, { recursive: true });
  const h = await startHarness();
  try {
    const light = await openEditor(h, 'light');
    await sendInit(light, { title: 'Push mnist.onnx', targetHint: 'localhost:5000/models/mnist:v2', metadata: METADATA });
    await shoot(light, 'editor-light.png');

    const dark = await openEditor(h, 'dark');
    await sendInit(dark, { title: 'Push mnist.onnx', targetHint: 'localhost:5000/models/mnist:v2', metadata: METADATA });
    await dark.getByRole('textbox', { name: 'URI', exact: true }).fill('s3 bucket/model.onnx');
    await dark.getByRole('button', { name: 'Add property' }).click();
    await dark.keyboard.type('accuracy');
    await shoot(dark, 'editor-dark.png');

    await dark.locator('[data-tab="yaml"]').click();
    await dark.locator('#text-yaml textarea').fill('name: MNIST classifier\nauthor: Jane Doe\ncustomProperties:\n  accuracy: 0.9777\n  license: Apache-2.0\n  layers: [32, 64\nmodel_format_name: onnx\n');
    await shoot(dark, 'editor-dark-yaml.png');
  } finally {
    await h.close();
  }
})();
