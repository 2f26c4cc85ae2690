// The metadata editor webview in headless Chromium: the real bundle under the real CSP, driven
// like a user drives it (typing, clicking, keys), checked by what the user sees and by the
// messages the extension host would receive.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Locator, Page } from 'playwright-core';
import { OmlmdError } from '../../src/core/errors';
import { validateMetadata, type ModelMetadata } from '../../src/core/model/metadata';
import { editorCsp } from '../../webview/html';
import { countPosted, hostSends, nextPosted, openEditor, posted, sendInit, startHarness, violations, type Harness } from './harness';
import { THEMES } from './themes';

const ROOT = join(__dirname, '..', '..');
const schema = JSON.parse(readFileSync(join(ROOT, 'src/core/model/metadata.schema.json'), 'utf8')) as {
  properties: Record<string, { title?: string; description?: string; type: string[]; maxLength?: number }>;
};

let h: Harness;
const pages: Page[] = [];

before(async () => {
  h = await startHarness();
});

after(async () => {
  await h?.close();
});

/** Every page a test opens is checked at its end: the CSP never had to block anything. */
async function editor(theme: 'dark' | 'light' | 'hc' = 'dark'): Promise<Page> {
  const page = await openEditor(h, theme);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  pages.push(page);
  (page as Page & { __errors?: string[] }).__errors = errors;
  return page;
}

async function done(page: Page): Promise<void> {
  assert.deepEqual(await violations(page), [], 'CSP violations');
  assert.deepEqual((page as Page & { __errors?: string[] }).__errors, [], 'uncaught errors in the webview');
  await page.close();
}

const textbox = (page: Page, name: string): Locator => page.getByRole('textbox', { name, exact: true });
const fieldMessages = (page: Page, key: string): Promise<string[]> => page.locator(`[data-field="${key}"] .messages li`).allInnerTexts();
const banner = (page: Page): Promise<string[]> => page.locator('.banner li').allInnerTexts();
const rows = (page: Page): Locator => page.locator('table.kv tbody tr');

async function prop<T>(page: Page, selector: string, name: string): Promise<T> {
  return page.locator(selector).evaluate((el, n) => (el as unknown as Record<string, T>)[n], name) as Promise<T>;
}

const pushDisabled = (page: Page): Promise<boolean> => prop<boolean>(page, '#push', 'disabled');
const saveDisabled = (page: Page): Promise<boolean> => prop<boolean>(page, '#save', 'disabled');

/** What the core says about `doc`, without the "source: " prefix. */
function coreSays(doc: unknown): string {
  try {
    validateMetadata(doc, 'src');
  } catch (e) {
    if (OmlmdError.is(e, 'INVALID_METADATA')) return e.message.replace(/^src: /, '');
    throw e;
  }
  return '';
}

async function rowCells(page: Page): Promise<{ key: string; type: string; value: string }[]> {
  // No helper functions inside: tsx would wrap them in a __name() the page does not have.
  return rows(page).evaluateAll((trs) =>
    trs.map((tr) => {
      const [key, type, value, checkbox] = ['.row-key', '.row-type', '.row-value', 'vscode-checkbox'].map((s) => tr.querySelector(s) as unknown as { value?: string; checked?: boolean } | null);
      return { key: key?.value ?? '', type: type?.value ?? '', value: checkbox ? String(checkbox.checked) : (value?.value ?? '') };
    }),
  );
}

async function chooseType(page: Page, row: Locator, label: string): Promise<void> {
  await row.locator('vscode-single-select').click();
  await row.getByRole('option', { name: label, exact: true }).click();
}

/** The deepest focused element (through shadow roots), named as a screen reader would. */
async function focused(page: Page): Promise<string> {
  return page.evaluate(() => {
    interface El {
      shadowRoot: { activeElement: El | null } | null;
      getAttribute(n: string): string | null;
      textContent: string | null;
      tagName: string;
    }
    let el = (globalThis as unknown as { document: { activeElement: El | null } }).document.activeElement;
    while (el?.shadowRoot?.activeElement) el = el.shadowRoot.activeElement;
    return el ? (el.getAttribute('aria-label') ?? el.textContent?.trim() ?? el.tagName) : '';
  });
}

const MNIST: ModelMetadata = {
  name: 'MNIST classifier',
  description: 'A small CNN trained on MNIST digits.',
  author: 'Jane Doe',
  customProperties: { accuracy: 0.9777, license: 'Apache-2.0', quantized: false, layers: [32, 64] },
  uri: null,
  model_format_name: 'onnx',
  model_format_version: '1',
};

test('the form is generated from the schema: each property with its title, description and input, filled from init', async () => {
  const page = await editor();
  await sendInit(page, { title: 'Push mnist.onnx', targetHint: 'localhost:5000/models/mnist:v2', metadata: MNIST });
  assert.equal(await page.locator('h1').innerText(), 'Push mnist.onnx');
  assert.equal(await page.locator('.target').innerText(), 'Target: localhost:5000/models/mnist:v2');

  const keys = Object.keys(schema.properties);
  assert.deepEqual(await page.locator('[data-field]').evaluateAll((els) => els.map((e) => e.getAttribute('data-field'))), keys, 'one field per schema property, in order');
  for (const [key, p] of Object.entries(schema.properties)) {
    const field = page.locator(`[data-field="${key}"]`);
    assert.ok(p.title, `${key} has a title in the schema`);
    assert.equal(await field.locator('vscode-label, .map-title').first().innerText(), p.title);
    assert.equal(await field.locator('.description').first().innerText(), p.description);
    if (key === 'customProperties') continue;
    const input = textbox(page, p.title);
    assert.equal(await input.inputValue(), (MNIST as Record<string, unknown>)[key] ?? '', `${key} shows its value`);
    // Free text (no maxLength in the schema) gets a multi-line box, the rest one line.
    assert.equal(await input.evaluate((e) => e.tagName), p.maxLength === undefined && key !== 'uri' ? 'TEXTAREA' : 'INPUT', key);
  }
  assert.deepEqual(await rowCells(page), [
    { key: 'accuracy', type: 'number', value: '0.9777' },
    { key: 'license', type: 'string', value: 'Apache-2.0' },
    { key: 'quantized', type: 'boolean', value: 'false' },
    { key: 'layers', type: 'json', value: '[32,64]' },
  ]);
  assert.equal(await pushDisabled(page), false);
  assert.equal(await page.locator('.status').innerText(), 'No problems');
  await done(page);
});

test('what the model files\' headers say is shown under the title, and their warnings as an alert; none, nothing shown', async () => {
  const page = await editor();
  await sendInit(page, {
    title: 'Push model', metadata: { name: 'm', model_format_name: 'safetensors' },
    headers: ['m/model.safetensors: safetensors, 1.5M parameters (1501000), BF16×2', 'm/scaler.pkl: pickle, pickle protocol 2, 1 import'],
    warnings: ['m/scaler.pkl: loading this file runs code (it is a pickle): it imports os.system; os.system can run commands or code'],
  });
  assert.deepEqual(await page.locator('.file-headers li').allInnerTexts(), ['m/model.safetensors: safetensors, 1.5M parameters (1501000), BF16×2', 'm/scaler.pkl: pickle, pickle protocol 2, 1 import']);
  assert.equal(await page.locator('.file-warnings[role="alert"]').isVisible(), true);
  assert.match(await page.locator('.file-warnings li').innerText(), /runs code .*os\.system/);
  await done(page);
  const plain = await editor();
  await sendInit(plain, { title: 'Push model', metadata: { name: 'm' } });
  assert.equal(await plain.locator('.file-warnings').isVisible(), false);
  assert.equal(await plain.locator('.file-headers').isVisible(), false);
  await done(plain);
});

test('validation as you type: field messages are the core\'s explanations, and Push waits for a valid form', async () => {
  const page = await editor();
  await sendInit(page, { metadata: { name: 'mnist' } });
  const uri = textbox(page, 'URI');

  await uri.fill('not a uri');
  assert.deepEqual(await fieldMessages(page, 'uri'), [coreSays({ name: 'mnist', uri: 'not a uri' })]);
  assert.equal(await prop<boolean>(page, '#field-uri', 'invalid'), true);
  assert.equal(await pushDisabled(page), true);
  assert.equal(await page.locator('.status').innerText(), '1 problem to fix');
  assert.deepEqual((await nextPosted(page, 'changed', 2)).params, { dirty: true, valid: false });

  await uri.fill('hf://org/model');
  assert.deepEqual(await fieldMessages(page, 'uri'), []);
  assert.equal(await pushDisabled(page), false);

  const long = 'x'.repeat(1025);
  await textbox(page, 'Name').fill(long);
  assert.deepEqual(await fieldMessages(page, 'name'), [coreSays({ name: long })]);
  assert.match((await fieldMessages(page, 'name'))[0] ?? '', /field "name" must NOT have more than 1024 characters/);
  await textbox(page, 'Name').fill('mnist');
  assert.equal(await pushDisabled(page), false);
  const changes = (await posted(page)).filter((m) => m.method === 'changed').map((m) => m.params);
  assert.deepEqual(changes.at(-1), { dirty: true, valid: true });
  await done(page);
});

test('the webview and the core give the same explanations for the same metadata', async () => {
  const cases: Record<string, unknown>[] = [
    { name: 1 },
    { model_format_version: 1 },
    { name: 'x', accuracy: 0.9 },
    { customProperties: [1, 2] },
    { uri: 'not a uri' },
    { name: 'y'.repeat(1025), author: true, description: { a: 1 } },
    { customProperties: { '': 1 } },
    { model_format_name: 'z'.repeat(257), extra: null, other: 1 },
  ];
  const page = await editor();
  for (const doc of cases) {
    await sendInit(page, { metadata: doc as ModelMetadata, title: `case ${JSON.stringify(doc).slice(0, 40)}` });
    const shown = [...(await page.locator('.field .messages li').allInnerTexts()), ...(await banner(page))];
    const core = coreSays(doc);
    assert.notEqual(core, '', `the core refuses ${JSON.stringify(doc)}`);
    // Same sentences, maybe in another order: take each shown one out of the core's text.
    let rest = core;
    for (const m of [...shown].sort((a, b) => b.length - a.length)) {
      const at = rest.indexOf(m);
      assert.ok(at >= 0, `"${m}" is not in the core's "${core}"`);
      rest = rest.slice(0, at) + rest.slice(at + m.length);
    }
    assert.match(rest, /^(; )*$/, `the webview left out part of "${core}" for ${JSON.stringify(doc)}`);
    assert.equal(await pushDisabled(page), true);
  }
  await done(page);
});

test('customProperties: typed rows, added and removed, with empty and duplicate keys and bad values flagged', async () => {
  const page = await editor();
  await sendInit(page, { metadata: { name: 'mnist' } });
  assert.equal(await page.locator('.empty').isVisible(), true);

  await page.getByRole('button', { name: 'Add property' }).click();
  // The new row's key has the keyboard.
  await page.keyboard.type('accuracy');
  let row = rows(page).nth(0);
  await chooseType(page, row, 'Number');
  await row.locator('.row-value input').fill('0,97');
  assert.match(await row.locator('.cell-msg').last().innerText(), /not a number: "0,97"/);
  assert.equal(await pushDisabled(page), true);
  await row.locator('.row-value input').fill('0.97');
  assert.equal(await row.locator('.cell-msg').last().innerText(), '');

  await page.getByRole('button', { name: 'Add property' }).click();
  row = rows(page).nth(1);
  assert.match(await row.locator('.cell-msg').first().innerText(), /the key is empty/);
  await page.keyboard.type('accuracy');
  assert.match(await row.locator('.cell-msg').first().innerText(), /duplicate key "accuracy"/);
  assert.equal(await pushDisabled(page), true);
  await row.locator('.row-key input').fill('license');
  await row.locator('.row-value input').fill('Apache-2.0');

  await page.getByRole('button', { name: 'Add property' }).click();
  row = rows(page).nth(2);
  await page.keyboard.type('nested');
  await chooseType(page, row, 'JSON');
  await row.locator('.row-value input').fill('{"layers": [32, 64');
  assert.match(await row.locator('.cell-msg').last().innerText(), /not valid JSON/);
  await row.locator('.row-value input').fill('{"layers": [32, 64], "dropout": null}');

  await page.getByRole('button', { name: 'Add property' }).click();
  row = rows(page).nth(3);
  await page.keyboard.type('quantized');
  await chooseType(page, row, 'Boolean');
  await row.locator('vscode-checkbox').click();

  await page.getByRole('button', { name: 'Remove license' }).click();
  assert.deepEqual(await rowCells(page), [
    { key: 'accuracy', type: 'number', value: '0.97' },
    { key: 'nested', type: 'json', value: '{"layers": [32, 64], "dropout": null}' },
    { key: 'quantized', type: 'boolean', value: 'true' },
  ]);
  assert.equal(await pushDisabled(page), false);
  await page.locator('#push').click();
  const push = await nextPosted(page, 'push');
  assert.deepEqual(push.params.metadata, { name: 'mnist', customProperties: { accuracy: 0.97, nested: { layers: [32, 64], dropout: null }, quantized: true } });

  // Changing a row's type keeps what still makes sense: 0.97 as JSON is the number 0.97.
  await hostSends(page, { method: 'validationResult', params: { valid: true, errors: [] }, completionId: push.id });
  await chooseType(page, rows(page).nth(0), 'JSON');
  await chooseType(page, rows(page).nth(0), 'String');
  assert.deepEqual((await rowCells(page))[0], { key: 'accuracy', type: 'string', value: '0.97' });
  await done(page);
});

test('the YAML and JSON views round-trip with the form; a syntax error shows its line and column and leaves the form alone', async () => {
  const page = await editor();
  await sendInit(page, { metadata: { name: 'mnist', description: null, customProperties: { accuracy: 0.97 } } });
  await page.locator('[data-tab="yaml"]').click();
  const yamlArea = page.locator('#text-yaml textarea');
  assert.equal(await yamlArea.inputValue(), 'name: mnist\ncustomProperties:\n  accuracy: 0.97\n');

  await yamlArea.fill("name: mnist v2\nauthor: Jane\ncustomProperties:\n  accuracy: 0.98\n  trained: 2024-01-01\n  tags: [a, b]\nmodel_format_version: '1'\n");
  await page.locator('[data-tab="form"]').click();
  assert.equal(await textbox(page, 'Name').inputValue(), 'mnist v2');
  assert.equal(await textbox(page, 'Author').inputValue(), 'Jane');
  assert.equal(await textbox(page, 'Model format version').inputValue(), '1');
  // As in the core's parser, a YAML date stays the string it was written as.
  assert.deepEqual(await rowCells(page), [
    { key: 'accuracy', type: 'number', value: '0.98' },
    { key: 'trained', type: 'string', value: '2024-01-01' },
    { key: 'tags', type: 'json', value: '["a","b"]' },
  ]);

  await page.locator('[data-tab="yaml"]').click();
  await yamlArea.fill('name: [unclosed\nauthor: Jane\n');
  assert.match(await page.locator('#text-yaml ~ .text-error, vscode-tab-panel .text-error').first().innerText(), /^not valid YAML: .+ at line \d+, column \d+$/);
  assert.equal(await pushDisabled(page), true);
  await page.locator('[data-tab="form"]').click();
  assert.equal(await textbox(page, 'Name').inputValue(), 'mnist v2', 'the form keeps the last metadata that parsed');
  assert.match((await banner(page)).join('\n'), /The YAML view has an error \(not valid YAML: .* at line \d+, column \d+\)/);
  await page.locator('[data-tab="yaml"]').click();
  assert.equal(await yamlArea.inputValue(), 'name: [unclosed\nauthor: Jane\n', 'the broken text is still there to fix');

  await page.locator('[data-tab="json"]').click();
  const jsonArea = page.locator('#text-json textarea');
  assert.deepEqual(JSON.parse(await jsonArea.inputValue()), { name: 'mnist v2', author: 'Jane', customProperties: { accuracy: 0.98, trained: '2024-01-01', tags: ['a', 'b'] }, model_format_version: '1' });
  await jsonArea.fill('{\n  "name": "from json",\n}');
  assert.match(await page.locator('vscode-tab-panel .text-error').nth(1).innerText(), /^not valid JSON: .+ at line 3, column 1$/);
  await jsonArea.fill('{\n  "name": "from json",\n  "model_format_version": 1\n}');
  assert.deepEqual(await page.locator('vscode-tab-panel').nth(2).locator('.messages li').allInnerTexts(), [coreSays({ name: 'from json', model_format_version: 1 })]);
  await jsonArea.fill('{"name": "from json", "model_format_version": "2"}');
  await page.locator('[data-tab="form"]').click();
  assert.equal(await textbox(page, 'Name').inputValue(), 'from json');
  assert.deepEqual(await banner(page), [], 'a valid JSON edit replaced the broken YAML');
  assert.equal(await rows(page).count(), 0);

  await textbox(page, 'Author').fill('Ann');
  await page.locator('[data-tab="yaml"]').click();
  assert.equal(await yamlArea.inputValue(), "name: from json\nauthor: Ann\nmodel_format_version: '2'\n");
  await yamlArea.fill('- name: x\n');
  assert.match(await page.locator('vscode-tab-panel .text-error').first().innerText(), /the top level is a list/);
  await done(page);
});

test('unsaved edits survive the panel being hidden and rebuilt (setState); a new session starts from its own metadata', async () => {
  const page = await editor();
  await sendInit(page, { session: 'session-a', metadata: { name: 'mnist', customProperties: { accuracy: 0.97 } } });
  await textbox(page, 'Name').fill('mnist edited');
  await page.getByRole('button', { name: 'Add property' }).click();
  await page.keyboard.type('half-typed');
  await page.locator('[data-tab="json"]').click();

  // VS Code throws a hidden webview away and loads it again; only setState's state is kept.
  await page.reload();
  await nextPosted(page, 'ready');
  assert.equal(await page.locator('h1').innerText(), 'Push mnist', 'restored before the host answers ready');
  assert.deepEqual(JSON.parse(await page.locator('#text-json textarea').inputValue()), { name: 'mnist edited', customProperties: { accuracy: 0.97, 'half-typed': '' } });
  await sendInit(page, { session: 'session-a', metadata: { name: 'mnist', customProperties: { accuracy: 0.97 } } });
  await page.locator('[data-tab="form"]').click();
  assert.equal(await textbox(page, 'Name').inputValue(), 'mnist edited');
  assert.deepEqual(await rowCells(page), [
    { key: 'accuracy', type: 'number', value: '0.97' },
    { key: 'half-typed', type: 'string', value: '' },
  ]);
  assert.deepEqual((await posted(page)).find((m) => m.method === 'changed')?.params, { dirty: true, valid: true });

  await sendInit(page, { session: 'session-b', metadata: { name: 'other' } });
  assert.equal(await textbox(page, 'Name').inputValue(), 'other');
  assert.equal(await rows(page).count(), 0);
  assert.deepEqual((await posted(page)).filter((m) => m.method === 'changed').at(-1)?.params, { dirty: false, valid: true });
  await done(page);
});

test('the protocol: ready, push and save requests with ids, the host\'s answers, busy, errors and cancel', async () => {
  const page = await editor();
  const first = await posted(page);
  assert.deepEqual(first[0], { id: 'webview:1', method: 'ready', params: {} });
  await sendInit(page, { metadata: { name: 'mnist' } });

  await page.locator('#push').click();
  const push = await nextPosted(page, 'push');
  assert.deepEqual(push.params, { metadata: { name: 'mnist' } });
  assert.equal(await pushDisabled(page), true, 'one request at a time');
  await hostSends(page, { method: 'validationResult', params: { valid: false, errors: ['the metadata editor: field "name" is taken'] }, completionId: push.id });
  assert.deepEqual(await banner(page), ['the metadata editor: field "name" is taken']);
  assert.equal(await pushDisabled(page), false);

  await page.locator('[data-tab="json"]').click();
  const before = await countPosted(page);
  await page.locator('#save').click();
  const save = await nextPosted(page, 'saveAs', before);
  assert.deepEqual(save.params, { metadata: { name: 'mnist' }, format: 'json' });
  await hostSends(page, { method: 'busy', params: { busy: true, message: 'Saving…' } });
  // The JSON tab's own check of the text may report after the busy message: the busy message must win.
  // A locator wait, not waitForFunction: a string predicate is eval, which the page's CSP refuses.
  await page.locator('.status', { hasText: 'Saving…' }).waitFor({ timeout: 5000 });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await page.locator('.status').innerText(), 'Saving…');
  assert.equal(await saveDisabled(page), true);
  assert.equal(await page.locator('vscode-progress-bar').isVisible(), true);
  await hostSends(page, { method: 'error', params: { message: 'Could not save the metadata: EACCES' } });
  await hostSends(page, { method: 'busy', params: { busy: false } });
  assert.deepEqual(await banner(page), ['Could not save the metadata: EACCES']);
  assert.equal(await saveDisabled(page), false);
  await page.locator('[data-tab="form"]').click();
  const n = await countPosted(page);
  await page.locator('#save').click();
  assert.equal((await nextPosted(page, 'saveAs', n)).params.format, 'yaml');
  await hostSends(page, { method: 'validationResult', params: { valid: true, errors: [] }, completionId: 'webview:999' });
  assert.equal(await saveDisabled(page), true, 'an answer to another request does not end this one');
  await hostSends(page, { method: 'busy', params: { busy: false } });

  // The host may be busy without a request of ours (e.g. checking the target): nothing to click then.
  assert.equal(await pushDisabled(page), false);
  await hostSends(page, { method: 'busy', params: { busy: true, message: 'Checking the registry…' } });
  assert.deepEqual([await pushDisabled(page), await saveDisabled(page)], [true, true]);
  await page.locator('#push').click({ force: true });
  assert.equal(await countPosted(page, 'push'), 1, 'a disabled Push sends nothing');
  await hostSends(page, { method: 'busy', params: { busy: false } });
  // The buttons re-render asynchronously (web components): wait for the state rather than read it once.
  await page.locator('#push:not([disabled])').waitFor({ timeout: 10_000 }).catch(() => undefined);
  await page.locator('#save:not([disabled])').waitFor({ timeout: 10_000 }).catch(() => undefined);
  assert.deepEqual([await pushDisabled(page), await saveDisabled(page)], [false, false]);

  const ids = (await posted(page)).map((m) => m.id);
  assert.equal(new Set(ids).size, ids.length, 'message ids are unique');
  await page.locator('#cancel').click();
  await nextPosted(page, 'cancel');
  await done(page);
});

test('keyboard: Enter pushes from a field, Ctrl+Enter from anywhere, Enter on an invalid form goes to the problem, Escape cancels (asking first when edited)', async () => {
  const page = await editor();
  await sendInit(page, { metadata: { name: 'mnist' } });
  await textbox(page, 'Author').click();
  await page.keyboard.press('Enter');
  assert.deepEqual((await nextPosted(page, 'push')).params.metadata, { name: 'mnist' });
  await hostSends(page, { method: 'validationResult', params: { valid: false, errors: ['no'] }, completionId: (await nextPosted(page, 'push')).id });

  await textbox(page, 'Description').fill('line one');
  await page.keyboard.press('Enter');
  assert.equal(await textbox(page, 'Description').inputValue(), 'line one\n', 'Enter in a multi-line field is a new line');
  assert.equal(await countPosted(page, 'push'), 1);
  await page.keyboard.press('Control+Enter');
  await page.waitForFunction(() => (globalThis as unknown as { __posted: { method: string }[] }).__posted.filter((m) => m.method === 'push').length === 2);
  await hostSends(page, { method: 'busy', params: { busy: false } });

  await textbox(page, 'URI').fill('nope');
  await textbox(page, 'Name').click();
  await page.keyboard.press('Enter');
  assert.equal(await countPosted(page, 'push'), 2, 'no push while invalid');
  assert.equal(await focused(page), 'URI', 'Enter took the keyboard to the field to fix');

  await page.keyboard.press('Escape');
  assert.equal(await page.locator('.confirm').isVisible(), true, 'edited: Escape asks first');
  assert.equal(await focused(page), 'Keep editing');
  assert.equal(await countPosted(page, 'cancel'), 0);
  await page.keyboard.press('Enter');
  assert.equal(await page.locator('.confirm').isVisible(), false);
  await page.keyboard.press('Escape');
  await page.keyboard.press('Escape');
  assert.equal(await countPosted(page, 'cancel'), 1);

  const clean = await editor();
  await sendInit(clean, { metadata: { name: 'mnist' } });
  await clean.keyboard.press('Escape');
  assert.equal(await countPosted(clean, 'cancel'), 1, 'nothing edited: Escape cancels at once');
  await done(clean);
  await done(page);
});

test('keyboard: every control is labelled and Tab walks the form in reading order', async () => {
  const page = await editor();
  await sendInit(page, { metadata: { name: 'mnist', customProperties: { accuracy: 0.97 } } });
  await textbox(page, 'Name').focus();
  const order = [await focused(page)];
  for (let i = 0; i < 11; i++) {
    await page.keyboard.press('Tab');
    order.push(await focused(page));
  }
  assert.deepEqual(order, ['Name', 'Description', 'Author', 'Key of accuracy', 'Type of accuracy', 'Value of accuracy', 'Remove accuracy', 'Add property', 'URI', 'Model format', 'Model format version', 'Push']);
  await done(page);
});

test('modes: "new" saves instead of pushing; read-only shows the metadata without letting it change', async () => {
  const page = await editor();
  await sendInit(page, { mode: 'new', title: 'New model metadata', metadata: { name: 'draft' } });
  assert.equal(await page.locator('#push').isVisible(), false);
  await textbox(page, 'Name').press('Enter');
  assert.deepEqual((await nextPosted(page, 'saveAs')).params, { metadata: { name: 'draft' }, format: 'yaml' });
  await done(page);

  const ro = await editor();
  await sendInit(ro, { readOnly: true, mode: 'edit', title: 'Metadata of mnist:v1', metadata: { name: 'mnist', customProperties: { accuracy: 0.97 } } });
  assert.equal(await ro.locator('#push').isVisible(), false);
  assert.equal(await ro.locator('#cancel').innerText(), 'Close');
  assert.equal(await ro.getByRole('button', { name: 'Add property' }).isVisible(), false);
  await textbox(ro, 'Name').click();
  await ro.keyboard.type('xyz');
  assert.equal(await textbox(ro, 'Name').inputValue(), 'mnist');
  assert.equal(await countPosted(ro, 'push'), 0);
  await done(ro);

  const edit = await editor();
  await sendInit(edit, { mode: 'edit', title: 'Metadata of mnist:v1', metadata: { name: 'mnist', extra: 1 } as ModelMetadata });
  assert.equal(await edit.locator('#push').innerText(), 'Push as new tag');
  assert.deepEqual(await banner(edit), [coreSays({ name: 'mnist', extra: 1 })], 'a field the schema does not know is shown, not dropped');
  await edit.locator('[data-tab="yaml"]').click();
  await edit.locator('#text-yaml textarea').fill('name: mnist\ncustomProperties:\n  extra: 1\n');
  assert.equal(await pushDisabled(edit), false);
  await done(edit);
});

test('themes: colours come from VS Code\'s variables only, and follow a theme switch without a reload', async () => {
  const css = readFileSync(join(ROOT, 'webview/editor.css'), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
  assert.doesNotMatch(css, /#[0-9a-f]{3,8}\b|rgba?\(|hsla?\(|\b(white|black|red|green|blue|gray|grey)\b(?!-)/i, 'no colour literal in editor.css');

  const rgb = (hex: string): string => {
    const n = hex.replace('#', '');
    return `rgb(${[0, 2, 4].map((i) => parseInt(n.slice(i, i + 2), 16)).join(', ')})`;
  };
  const page = await editor('dark');
  await sendInit(page, { metadata: { name: 'mnist', uri: 'bad' } });
  const colours = () =>
    page.evaluate(() => {
      const g = globalThis as unknown as { document: { body: unknown; querySelector(s: string): unknown }; getComputedStyle(e: unknown): { backgroundColor: string; color: string } };
      return { body: g.getComputedStyle(g.document.body).backgroundColor, text: g.getComputedStyle(g.document.body).color, error: g.getComputedStyle(g.document.querySelector('[data-field="uri"] .messages')).color };
    });
  assert.deepEqual(await colours(), { body: rgb(THEMES.dark.vars['editor-background']!), text: rgb(THEMES.dark.vars.foreground!), error: rgb(THEMES.dark.vars.errorForeground!) });

  // What VS Code does on a theme switch: new variables and body class on the live page.
  await page.evaluate((hc) => {
    const d = (globalThis as unknown as { document: { documentElement: { style: { setProperty(k: string, v: string): void } }; body: { className: string } } }).document;
    for (const [k, v] of Object.entries(hc.vars)) d.documentElement.style.setProperty(`--vscode-${k}`, v);
    d.body.className = hc.bodyClass;
  }, THEMES.hc);
  assert.deepEqual(await colours(), { body: rgb(THEMES.hc.vars['editor-background']!), text: rgb(THEMES.hc.vars.foreground!), error: rgb(THEMES.hc.vars.errorForeground!) });
  await done(page);
});

test('the page runs under the CSP the host sends: no eval, only nonce-carrying scripts', async () => {
  const page = await editor();
  await sendInit(page, { metadata: { name: 'mnist' } });
  const meta = await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content');
  assert.equal(meta, editorCsp(new URL(h.url).origin, 'bm9uY2UtZm9yLXRoZS10ZXN0LXBhZ2U'));
  assert.doesNotMatch(meta ?? '', /unsafe-(eval|inline)/);
  // The policy really is enforced here, so "no violations" after each test means something:
  // a script without the nonce does not run, and one with it still may not eval.
  // Later, not inside evaluate(): DevTools lets code run during its own evaluate() call eval.
  await page.evaluate((nonce) => {
    const g = globalThis as unknown as { setTimeout(f: () => void, ms: number): void; document: { createElement(t: string): { textContent: string; nonce: string }; head: { append(e: unknown): void } } };
    g.setTimeout(() => {
      const bad = g.document.createElement('script');
      bad.textContent = 'window.__inline = true';
      g.document.head.append(bad);
      const good = g.document.createElement('script');
      good.nonce = nonce;
      good.textContent = 'try { window.__eval = eval("1 + 1"); } catch (e) { window.__eval = e.name; } window.__nonced = true;';
      g.document.head.append(good);
    }, 0);
  }, 'bm9uY2UtZm9yLXRoZS10ZXN0LXBhZ2U');
  await page.waitForFunction(() => (globalThis as unknown as { __nonced?: boolean }).__nonced === true);
  const g = await page.evaluate(() => {
    const w = globalThis as unknown as { __inline?: boolean; __nonced?: boolean; __eval?: unknown };
    return { inline: w.__inline, nonced: w.__nonced, evaluated: w.__eval };
  });
  assert.deepEqual(g, { inline: undefined, nonced: true, evaluated: 'EvalError' });
  assert.ok((await violations(page)).some((v) => v.startsWith('script-src')));
  await page.close();
});
