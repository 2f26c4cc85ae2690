// Screenshots of the model page for the README: `node --import tsx test/webview/modelpage-screenshots.ts`.
// Not a test (pictures are looked at, not asserted); the same harness and fixtures as the tests.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { hostPosts, openModelPage, startHarness } from './harness';
import { CARD, HEADERS, LINEAGE, pageParams, SIGNATURE, versionsParams } from './fixtures';

const OUT = join(__dirname, '..', '..', 'docs', 'images');

async function fill(page: Page): Promise<void> {
  await hostPosts(page, { method: 'page/init', params: pageParams() });
  await hostPosts(page, { method: 'page/headers', params: HEADERS });
  await hostPosts(page, { method: 'page/lineage', params: LINEAGE });
  await hostPosts(page, { method: 'page/modelCard', params: CARD });
  await hostPosts(page, { method: 'page/signature', params: SIGNATURE });
  await hostPosts(page, { method: 'page/versions', params: versionsParams() });
  await page.locator('#versions-chart[data-drawn]').waitFor();
  await page.selectOption('#compare-a', 'v5');
  await page.locator('#compare-run').click();
  const id = await page.evaluate(() => (globalThis as unknown as { __posted: { id: string; method: string }[] }).__posted.find((m) => m.method === 'page/compare')!.id);
  await hostPosts(page, {
    method: 'page/compareResult', completionId: id,
    params: {
      a: 'v5', b: 'v7', digestA: `sha256:${'14'.repeat(32)}`, digestB: pageParams().digest,
      fields: [{ key: 'customProperties.accuracy', change: 'changed', a: '0.962', b: '0.9777' }, { key: 'customProperties.quantized', change: 'added', b: 'false' }],
      files: [{ path: 'README.md', change: 'added', b: { digest: `sha256:${'b2'.repeat(32)}`, sizeText: '5.0 KiB' } }, { path: 'mnist.onnx', change: 'changed', a: { digest: `sha256:${'99'.repeat(32)}`, sizeText: '3.3 MiB' }, b: { digest: `sha256:${'a1'.repeat(32)}`, sizeText: '3.3 MiB' } }],
    },
  });
  await page.locator('#compare-files').waitFor();
}

async function shoot(page: Page, file: string): Promise<void> {
  await page.evaluate(() => (globalThis as unknown as { document: { fonts: { ready: Promise<unknown> } } }).document.fonts.ready);
  await page.setViewportSize({ width: 1000, height: 900 });
  const height = await page.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollHeight: number } } }).document.documentElement.scrollHeight);
  await page.setViewportSize({ width: 1000, height });
  await page.mouse.move(0, 0);
  await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { blur(): void } | null } }).document.activeElement?.blur());
  await page.screenshot({ path: join(OUT, file) });
  console.log(join(OUT, file));
}

void (async () => {
  await mkdir(OUT, { recursive: true });
  const h = await startHarness();
  try {
    for (const theme of ['light', 'dark'] as const) {
      const page = await openModelPage(h, theme);
      await fill(page);
      await shoot(page, `model-page-${theme}.png`);
      await page.close();
    }
  } finally {
    await h.close();
  }
})();
