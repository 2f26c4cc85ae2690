import assert from 'node:assert/strict';
import { tempDir } from '../helpers/tmp';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { OmlmdError } from '../../src/core/errors';
import { collectModelFiles } from '../../src/core/model/files';
import { checkTitle, safeOutputPath } from '../../src/core/transfer/paths';

test('unsafe layer titles are refused', () => {
  for (const t of ['/etc/passwd', '../x', 'a/../../x', 'a\\b', 'C:evil', '', '.', 'a/\0b']) {
    assert.throws(() => checkTitle(t), (e: unknown) => OmlmdError.is(e, 'UNSAFE_PATH'), JSON.stringify(t));
  }
  assert.equal(checkTitle('./tok//config.json'), 'tok/config.json');
});

test('a symbolic link in the output directory cannot carry a file outside it', async () => {
  const root = tempDir('omlmd-paths-');
  const out = join(root, 'out');
  const elsewhere = join(root, 'elsewhere');
  mkdirSync(out);
  mkdirSync(elsewhere);
  symlinkSync(elsewhere, join(out, 'link'));
  await assert.rejects(safeOutputPath(out, 'link/file'), (e: unknown) => OmlmdError.is(e, 'UNSAFE_PATH'));
  assert.equal(await safeOutputPath(out, 'sub/file'), join(out, 'sub', 'file'));
});

test('folders become one entry per file with relative paths; same base names never collide', async () => {
  const root = tempDir('omlmd-files-');
  mkdirSync(join(root, 'tokmodel', 'tokenizer'), { recursive: true });
  writeFileSync(join(root, 'tokmodel', 'config.json'), '{"a":1}');
  writeFileSync(join(root, 'tokmodel', 'tokenizer', 'config.json'), '{"b":2}');
  writeFileSync(join(root, 'model.onnx'), 'onnx');
  const files = await collectModelFiles(['model.onnx', 'tokmodel'], root);
  assert.deepEqual(files.map((f) => [f.title, f.size]), [['model.onnx', 4], ['tokmodel/config.json', 7], ['tokmodel/tokenizer/config.json', 7]]);
  mkdirSync(join(root, 'other'));
  writeFileSync(join(root, 'other', 'model.onnx'), 'x');
  await assert.rejects(collectModelFiles(['model.onnx', 'other/model.onnx'], root), (e: unknown) => OmlmdError.is(e, 'CONFLICT') && /same name "model.onnx"/.test(e.message));
  await assert.rejects(collectModelFiles(['missing.onnx'], root), (e: unknown) => OmlmdError.is(e, 'NOT_FOUND'));
});
