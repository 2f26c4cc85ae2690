import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runCli } from '../helpers/cli';
import { tempDir } from '../helpers/tmp';

/**
 * Hostile metadata files given to `push -m` (issue: billion laughs, nesting, invalid UTF-8):
 * each is refused before anything is pushed, exit 2, the file named, no stack trace. The
 * push targets the local store, so nothing but the file is in play.
 */
describe('hostile metadata files are refused where they enter', () => {
  const work = tempDir('omlmd-metadata-input-');
  const env = { OMLMD_HOME: join(work, 'home') };
  writeFileSync(join(work, 'model.bin'), 'weights');

  const push = (file: string) => runCli(['push', 'hostile/m:v1', join(work, 'model.bin'), '-m', file], { env });

  test('a YAML alias bomb (9 levels of 9 aliases) is refused, not expanded', async () => {
    const lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i <= 9; i++) lines.push(`a${i}: &a${i} [${Array.from({ length: 9 }, () => `*a${i - 1}`).join(',')}]`);
    lines.push('name: bomb', 'customProperties: { payload: *a9 }');
    const file = join(work, 'bomb.yaml');
    writeFileSync(file, lines.join('\n') + '\n');
    const r = await push(file);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /bomb\.yaml/);
    assert.match(r.stderr, /alias/i);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });

  test('metadata nested deeper than 64 levels is refused, with a message instead of a stack overflow', async () => {
    let v = '1';
    for (let i = 0; i < 5000; i++) v = `{"x": ${v}}`;
    const file = join(work, 'deep.json');
    writeFileSync(file, `{"name": "deep", "customProperties": ${v}}`);
    const r = await push(file);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /deep\.json/);
    assert.match(r.stderr, /64/);
    assert.doesNotMatch(r.stderr, /Maximum call stack|please report/);
  });

  test('a metadata file that is not UTF-8 is refused with the byte offset', async () => {
    const file = join(work, 'latin1.yaml');
    writeFileSync(file, Buffer.concat([Buffer.from('name: caf'), Buffer.from([0xe9]), Buffer.from('\n')]));
    const r = await push(file);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /latin1\.yaml/);
    assert.match(r.stderr, /UTF-8/);
    assert.match(r.stderr, /\b9\b/, 'the offset of the bad byte');
  });

  test('an ordinary metadata file still pushes', async () => {
    const file = join(work, 'ok.yaml');
    writeFileSync(file, 'name: fine\ncustomProperties:\n  accuracy: 0.97\n  tags: &t [a, b]\n  again: *t\n');
    const r = await push(file);
    assert.equal(r.code, 0, r.stderr);
  });
});
