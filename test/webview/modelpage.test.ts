// The model page webview in headless Chromium: the real bundle under the real CSP, fed the
// messages the extension host posts, checked by what a user sees (text, the chart drawn on its
// canvas, tables), by what it posts back, by the keyboard, and by axe-core — for the model
// page and the metadata editor.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { axeViolations, hostPosts, openEditor, openModelPage, posted, sendInit, startHarness, violations, type Harness } from './harness';
import { CARD, DIGEST, HEADERS, LINEAGE, pageParams, SIGNATURE, versionsParams } from './fixtures';
import type { ModelPageParams, VersionsParams } from '../../webview/pageProtocol';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.close();
});

async function modelPage(theme: 'dark' | 'light' | 'hc' = 'dark'): Promise<Page> {
  const page = await openModelPage(h, theme);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  (page as Page & { __errors?: string[] }).__errors = errors;
  return page;
}

async function done(page: Page): Promise<void> {
  assert.deepEqual(await violations(page), [], 'CSP violations');
  assert.deepEqual((page as Page & { __errors?: string[] }).__errors, [], 'uncaught errors in the webview');
  await page.close();
}

/** Everything the host posts for a full page, as it would, part by part. */
async function fill(page: Page, over: Partial<ModelPageParams> = {}, versions: VersionsParams = versionsParams()): Promise<void> {
  await hostPosts(page, { method: 'page/init', params: pageParams(over) });
  await page.locator('h1#title').waitFor();
  await hostPosts(page, { method: 'page/headers', params: HEADERS });
  await hostPosts(page, { method: 'page/lineage', params: LINEAGE });
  await hostPosts(page, { method: 'page/modelCard', params: CARD });
  await hostPosts(page, { method: 'page/signature', params: SIGNATURE });
  await hostPosts(page, { method: 'page/versions', params: versions });
  await page.locator('#versions-table tbody tr').first().waitFor();
}

/** The chart was drawn: the component marks its canvas, and the canvas has painted pixels. */
async function chartPixels(page: Page): Promise<number> {
  await page.locator('#versions-chart[data-drawn]').waitFor();
  return page.locator('#versions-chart').evaluate((c) => {
    const canvas = c as unknown as { width: number; height: number; getContext(t: string): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } };
    const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i]! > 0) n++;
    return n;
  });
}

async function tableRows(page: Page, selector: string): Promise<string[][]> {
  return page.locator(`${selector} tbody tr`).evaluateAll((trs) => trs.map((tr) => [...tr.children].map((c) => (c as unknown as { innerText: string }).innerText.trim())));
}

test('the page renders the header, metadata, files with their headers, lineage, model card and the versions chart from the host\'s messages', async () => {
  const page = await modelPage();
  await fill(page);
  assert.equal(await page.locator('h1#title').innerText(), 'MNIST classifier');
  assert.equal(await page.locator('#reference').innerText(), 'localhost:5000/models/mnist:v7');
  assert.equal(await page.locator('#digest').innerText(), DIGEST);
  assert.deepEqual(await page.locator('.badges li').allInnerTexts(), ['onnx v1', 'omlmd']);
  assert.equal(await page.locator('#size').innerText(), '3.3 MiB');
  assert.equal(await page.locator('#author').innerText(), 'Jane Doe');
  assert.match(await page.locator('#signature').innerText(), /✓ signed: Signature verified/);
  assert.deepEqual(await tableRows(page, '#properties'), [
    ['accuracy', 'number', '0.9777'],
    ['license', 'string', 'Apache-2.0'],
    ['quantized', 'boolean', 'false'],
    ['layers', 'list', '[32,64]'],
  ]);
  assert.equal(await page.locator('#open-uri').innerText(), 'https://example.com/models/mnist');
  const files = await tableRows(page, '#files');
  assert.equal(files.length, 2);
  assert.deepEqual(files[0]!.slice(0, 4), ['mnist.onnx', 'model', '3.3 MiB', 'a1'.repeat(6)]);
  assert.match(files[0]![4]!, /^onnx 8, by pytorch 2\.3, opset 17/);
  assert.deepEqual(await page.locator('#lineage button.node .node-label').allInnerTexts(), ['ModelCar image', 'Signature (Sigstore)', 'Signature (Sigstore)', 'Model card']);
  // The ModelCar image's own signature hangs under it.
  assert.equal(await page.locator('#lineage button.node-modelcar + ul button.node-signature').count(), 1);
  assert.match(await page.locator('#model-card').innerText(), /# MNIST classifier/);
  assert.ok((await chartPixels(page)) > 500, 'the chart drew on its canvas');
  assert.match((await page.locator('#versions-chart').getAttribute('aria-label')) ?? '', /^accuracy across 7 tags, from 0\.912 \(v1\) to 0\.9777 \(v7\)/);
  const rows = await tableRows(page, '#versions-table');
  assert.deepEqual(rows.map((r) => [r[0], r[2]]), [['v1', '0.912'], ['v2', '0.934'], ['v3', '0.951'], ['v4', '0.948'], ['v5', '0.962'], ['v6', '0.971'], ['v7', '0.9777']]);
  // Another metric: the table (and the chart) follow.
  await page.selectOption('#metric', 'loss');
  await page.locator('#versions-table thead th', { hasText: 'loss' }).waitFor();
  assert.deepEqual((await tableRows(page, '#versions-table')).map((r) => r[2]), ['0.4', '0.37', '0.34', '0.31', '0.28', '0.25', '0.22']);
  assert.match((await page.locator('#versions-chart').getAttribute('aria-label')) ?? '', /^loss across 7 tags/);
  await done(page);
});

test('a repository with more tags than the chart reads says how many it shows', async () => {
  const page = await modelPage();
  await fill(page, {}, { ...versionsParams(150), totalTags: 412, readTags: 150 });
  assert.match(await page.locator('#versions-note').innerText(), /The 150 newest tags \(by name\) of 412/);
  assert.equal((await tableRows(page, '#versions-table')).length, 150);
  assert.ok((await chartPixels(page)) > 500);
  await done(page);
});

test('the buttons post their actions; a lineage node, a tag and the uri ask the host to open them', async () => {
  const page = await modelPage();
  await fill(page);
  for (const a of ['pull', 'editMetadata', 'copyReference', 'buildModelCar', 'signModel', 'verifyModel', 'attachFile', 'inspectManifest', 'refresh']) await page.locator(`#action-${a}`).click();
  await page.locator('#copy-digest').click();
  await page.locator('#lineage button.node-modelcar').click();
  await page.locator('#versions-table button', { hasText: 'v3' }).click();
  await page.locator('#open-uri').click();
  const sent = (await posted(page)).map((m) => ({ method: m.method as string, params: m.params as unknown }));
  assert.deepEqual(sent.filter((m) => m.method === 'page/action').map((m) => (m.params as { action: string }).action), ['pull', 'editMetadata', 'copyReference', 'buildModelCar', 'signModel', 'verifyModel', 'attachFile', 'inspectManifest', 'refresh', 'copyDigest']);
  assert.deepEqual(sent.filter((m) => m.method === 'page/openNode').map((m) => m.params), [{ digest: LINEAGE.nodes[0]!.digest }, { tag: 'v3' }]);
  assert.deepEqual(sent.filter((m) => m.method === 'page/openUri').map((m) => m.params), [{}]);
  await done(page);
});

test('compare: two tags picked, the host asked, the metadata diff and the files by digest shown', async () => {
  const page = await modelPage();
  await fill(page);
  // The page's tag against the one before it, by default.
  assert.equal(await page.locator('#compare-a').inputValue(), 'v6');
  assert.equal(await page.locator('#compare-b').inputValue(), 'v7');
  await page.selectOption('#compare-a', 'v2');
  await page.locator('#compare-run').click();
  const req = (await posted(page)).find((m) => (m.method as string) === 'page/compare')!;
  assert.deepEqual(req.params, { a: 'v2', b: 'v7' });
  await page.locator('#compare-result', { hasText: 'Comparing…' }).waitFor();
  await hostPosts(page, {
    method: 'page/compareResult', completionId: req.id,
    params: {
      a: 'v2', b: 'v7', digestA: `sha256:${'11'.repeat(32)}`, digestB: DIGEST,
      fields: [{ key: 'customProperties.accuracy', change: 'changed', a: '0.934', b: '0.9777' }, { key: 'customProperties.quantized', change: 'added', b: 'false' }, { key: 'description', change: 'removed', a: 'old' }],
      files: [
        { path: 'README.md', change: 'added', b: { digest: `sha256:${'b2'.repeat(32)}`, sizeText: '5.0 KiB' } },
        { path: 'mnist.onnx', change: 'changed', a: { digest: `sha256:${'99'.repeat(32)}`, sizeText: '3.2 MiB' }, b: { digest: `sha256:${'a1'.repeat(32)}`, sizeText: '3.3 MiB' } },
        { path: 'train.py', change: 'removed', a: { digest: `sha256:${'77'.repeat(32)}`, sizeText: '2 KiB' } },
      ],
    },
  });
  await page.locator('#compare-fields').waitFor();
  assert.deepEqual(await tableRows(page, '#compare-fields'), [
    ['customProperties.accuracy', 'changed', '0.934', '0.9777'],
    ['customProperties.quantized', 'added', '', 'false'],
    ['description', 'removed', 'old', ''],
  ]);
  assert.deepEqual((await tableRows(page, '#compare-files')).map((r) => r.slice(0, 2)), [['README.md', 'added'], ['mnist.onnx', 'changed'], ['train.py', 'removed']]);
  assert.match((await tableRows(page, '#compare-files'))[1]![2]!, /3\.2 MiB · 9999/);
  await done(page);
});

const HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script><a href="command:omlmd.deleteTag">click</a> [Run](command:workbench.action.terminal.new) javascript:alert(1)';

test('hostile content stays text: markup and command: links in the name, annotations, metadata, files, lineage and card become no element and no link', async () => {
  const page = await modelPage();
  await fill(page, {
    name: HOSTILE, description: HOSTILE, author: HOSTILE, formats: [HOSTILE], created: HOSTILE,
    uri: 'command:omlmd.deleteTag?%5B%5D', uriOpenable: false,
    fields: [{ key: HOSTILE, text: HOSTILE }],
    properties: [{ key: HOSTILE, type: 'string', text: HOSTILE }],
    annotations: [{ key: 'org.opencontainers.image.title', text: HOSTILE }, { key: HOSTILE, text: '[x](command:omlmd.removeRegistry)' }],
    files: [{ path: HOSTILE, role: 'model', mediaType: HOSTILE, digest: DIGEST, size: 1, sizeText: '1 B' }],
    warnings: [HOSTILE],
  });
  await hostPosts(page, { method: 'page/headers', params: { files: [{ path: HOSTILE, header: HOSTILE, warnings: [HOSTILE] }] } });
  await hostPosts(page, { method: 'page/lineage', params: { nodes: [{ digest: DIGEST, kind: 'other', label: HOSTILE, created: HOSTILE, children: [] }] } });
  await hostPosts(page, { method: 'page/modelCard', params: { text: `# Card\n\n${HOSTILE}\n\n<iframe src="command:omlmd.pushModel"></iframe>`, truncated: false } });
  const v = versionsParams(3);
  v.versions[1]!.tag = HOSTILE;
  v.problems = [{ tag: HOSTILE, message: HOSTILE }];
  await hostPosts(page, { method: 'page/versions', params: v });
  await page.locator('#versions-table tbody tr').nth(2).waitFor();
  await page.locator('#model-card', { hasText: 'iframe' }).waitFor();

  const root = page.locator('#model-page');
  for (const tag of ['img', 'script', 'a', 'iframe', 'object', 'embed', 'form']) assert.equal(await root.locator(tag).count(), 0, `no <${tag}> from registry text`);
  assert.equal(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned), undefined);
  assert.equal(await page.locator('h1#title').innerText(), HOSTILE);
  assert.equal(await page.locator('#description').innerText(), HOSTILE);
  // A command: uri is shown, never offered as something to open.
  assert.equal(await page.locator('#open-uri').count(), 0);
  assert.equal(await page.locator('#uri').innerText(), 'command:omlmd.deleteTag?%5B%5D');
  assert.equal((await tableRows(page, '#properties'))[0]![2], HOSTILE);
  assert.ok((await tableRows(page, '#annotations')).some((r) => r[1] === '[x](command:omlmd.removeRegistry)'));
  assert.match(await page.locator('#model-card').innerText(), /<iframe src="command:omlmd\.pushModel"><\/iframe>/);
  // No attribute anywhere holds a command: or javascript: target.
  const targets = await root.evaluate((el) => [...(el as unknown as { querySelectorAll(s: string): Iterable<{ attributes: ArrayLike<{ name: string; value: string }> }> }).querySelectorAll('*')].flatMap((e) => [...e.attributes as unknown as { name: string; value: string }[]].filter((a) => /^(href|src|action|formaction|xlink:href|on\w+)$/i.test(a.name)).map((a) => `${a.name}=${a.value}`)));
  assert.deepEqual(targets, []);
  assert.ok((await chartPixels(page)) > 0);
  await done(page);
});

test('a page that could not be read says why, as text', async () => {
  const page = await modelPage();
  await hostPosts(page, { method: 'page/error', params: { message: 'localhost:5000/models/gone:v1 not found <b>bold</b>' } });
  await page.locator('.banner[role="alert"]').waitFor();
  assert.equal(await page.locator('.banner li').innerText(), 'localhost:5000/models/gone:v1 not found <b>bold</b>');
  assert.equal(await page.locator('.banner b').count(), 0);
  await done(page);
});

/** The deepest focused element (through shadow roots), by id or accessible name. */
async function focusedName(page: Page): Promise<string> {
  return page.evaluate(() => {
    interface El { id: string; shadowRoot: { activeElement: El | null } | null; getAttribute(n: string): string | null; textContent: string | null; tagName: string; getRootNode(): { host?: El } }
    let el = (globalThis as unknown as { document: { activeElement: El | null } }).document.activeElement;
    while (el?.shadowRoot?.activeElement) el = el.shadowRoot.activeElement;
    if (!el) return '';
    const host = el.getRootNode().host;
    return (host?.id || el.id || el.getAttribute('aria-label') || el.textContent?.trim() || el.tagName).slice(0, 60);
  });
}

test('everything that does something is reached with Tab, in reading order, and works with Enter', async () => {
  const page = await modelPage();
  await fill(page);
  await page.locator('body').click({ position: { x: 2, y: 2 } });
  const seen: string[] = [];
  for (let i = 0; i < 60; i++) {
    await page.keyboard.press('Tab');
    seen.push(await focusedName(page));
  }
  const want = ['copy-reference', 'copy-digest', 'action-pull', 'action-editMetadata', 'action-signModel', 'action-refresh', 'open-uri', 'ModelCar image', 'model-card', 'metric', 'Open the page of v1', 'Open the page of v7', 'compare-a', 'compare-b', 'compare-run'];
  const at = want.map((w) => seen.findIndex((s) => s === w || s.startsWith(w)));
  assert.ok(at.every((i) => i >= 0), `all reached by Tab: ${want.filter((_, i) => at[i]! < 0).join(', ')} missing from ${seen.join(' | ')}`);
  assert.deepEqual([...at].sort((x, y) => x - y), at, 'in reading order');
  // Enter on a focused lineage node opens it.
  await page.locator('#lineage button.node-modelcard').focus();
  await page.keyboard.press('Enter');
  assert.ok((await posted(page)).some((m) => (m.method as string) === 'page/openNode' && (m.params as { digest?: string }).digest === LINEAGE.nodes[2]!.digest));
  await done(page);
});

test('axe-core finds no serious or critical accessibility violation in the model page (dark, light, high contrast)', async () => {
  for (const theme of ['dark', 'light', 'hc'] as const) {
    const page = await modelPage(theme);
    await fill(page);
    await chartPixels(page);
    await page.locator('#compare-run').click();
    const req = (await posted(page)).find((m) => (m.method as string) === 'page/compare')!;
    await hostPosts(page, { method: 'page/compareResult', completionId: req.id, params: { a: 'v6', b: 'v7', digestA: DIGEST, digestB: DIGEST, fields: [{ key: 'customProperties.accuracy', change: 'changed', a: '0.971', b: '0.9777' }], files: [{ path: 'mnist.onnx', change: 'same', a: { digest: DIGEST, sizeText: '3.3 MiB' }, b: { digest: DIGEST, sizeText: '3.3 MiB' } }] } });
    await page.locator('#compare-files').waitFor();
    assert.deepEqual(await axeViolations(page), [], `axe (${theme})`);
    await done(page);
  }
});

test('axe-core finds no serious or critical accessibility violation in the metadata editor (form, YAML view)', async () => {
  for (const theme of ['dark', 'light'] as const) {
    const page = await openEditor(h, theme);
    await sendInit(page, { title: 'Push mnist.onnx', targetHint: 'localhost:5000/models/mnist:v2', metadata: { name: 'MNIST', author: 'Jane', customProperties: { accuracy: 0.97, quantized: false, layers: [1, 2] }, model_format_name: 'onnx' } });
    assert.deepEqual(await axeViolations(page), [], `axe, form (${theme})`);
    await page.locator('[data-tab="yaml"]').click();
    assert.deepEqual(await axeViolations(page), [], `axe, YAML view (${theme})`);
    assert.deepEqual(await violations(page), [], 'CSP violations');
    await page.close();
  }
});

test('axe as a <script> of its own is refused by the CSP (so the tests evaluate it through the DevTools protocol instead)', async () => {
  const page = await modelPage();
  const source = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  await page.addScriptTag({ content: source }).catch(() => undefined);
  assert.equal(await page.evaluate(() => typeof (globalThis as unknown as { axe?: unknown }).axe), 'undefined', 'the inline script did not run');
  assert.ok((await violations(page)).some((v) => v.startsWith('script-src')), 'the CSP reported it');
  await page.close();
});
