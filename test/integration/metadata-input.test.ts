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

describe('metadata too large for a manifest', () => {
  const work = tempDir('omlmd-metadata-size-');
  const env = { OMLMD_HOME: join(work, 'home') };
  writeFileSync(join(work, 'model.bin'), 'weights');

  test('a 5 MB description is refused before anything is pushed (it became a manifest nothing could read back), the field named', async () => {
    const file = join(work, 'huge.json');
    writeFileSync(file, JSON.stringify({ name: 'huge', description: 'x'.repeat(5 * 1024 * 1024) }));
    const r = await runCli(['push', 'huge/m:v1', join(work, 'model.bin'), '-m', file], { env });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /the manifest would be \d+ bytes, over the 4194304 a registry keeps.*"description"/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.equal((await runCli(['inspect', 'huge/m:v1'], { env })).code, 4, 'nothing was tagged');
  });

  test('every store refuses a manifest over 4 MiB before writing it: the local store as a registry would', async () => {
    const { OmlmdClient } = await import('../../src/core/client');
    const { OmlmdError } = await import('../../src/core/errors');
    const client = new OmlmdClient({ home: join(work, 'lib-home') });
    const repo = await client.repository({ kind: 'local', repository: 'big/manifest' });
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a', size: 2 }, layers: [], annotations: { pad: 'p'.repeat(6_700_000) } }));
    await assert.rejects(repo.putManifest(bytes, 'application/vnd.oci.image.manifest.v1+json', 'v1'), (e: unknown) => OmlmdError.is(e, 'INVALID_MANIFEST') && /at most 4194304 bytes/.test(e.message));
  });
});
