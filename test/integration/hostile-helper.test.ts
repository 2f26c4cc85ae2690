import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { extract } from 'tar';
import { OmlmdClient } from '../../src/core/client';
import { gzipBomb, rawTar, startHostileRegistry, type HostileRegistry } from '../helpers/hostile';
import { tempDir } from '../helpers/tmp';

/** The hostile-registry helper itself: an honest answer from it pulls, so a refusal in other tests is about the crafted part. */
describe('hostile registry helper (fault-injection double)', () => {
  let reg: HostileRegistry;
  before(async () => (reg = await startHostileRegistry()));
  after(async () => reg?.close());

  test('an honest model it serves pulls byte for byte', async () => {
    const work = tempDir('omlmd-hostile-helper-');
    reg.model('m/honest', 'v1', [{ title: 'model.bin', bytes: Buffer.from('weights') }]);
    const client = new OmlmdClient({ home: join(work, 'home') });
    const res = await client.pull(`${reg.host}/m/honest:v1`, join(work, 'out'));
    assert.deepEqual(res.files.map((f) => f.title), ['model.bin']);
    assert.equal(readFileSync(join(work, 'out', 'model.bin'), 'utf8'), 'weights');
    assert.ok(reg.count('GET', /\/blobs\//) >= 1);
  });

  test('rawTar writes entries node-tar reads back, and gzipBomb inflates to its size', async () => {
    const work = tempDir('omlmd-hostile-tar-');
    const long = `d/${'n'.repeat(150)}`;
    const tarPath = join(work, 'x.tar');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(tarPath, rawTar([{ name: 'd/', type: 'dir' }, { name: 'd/a.txt', body: Buffer.from('A') }, { name: long, body: Buffer.from('L') }]));
    await extract({ file: tarPath, cwd: work });
    assert.equal(readFileSync(join(work, 'd', 'a.txt'), 'utf8'), 'A');
    assert.equal(readFileSync(join(work, long), 'utf8'), 'L');
    const bomb = gzipBomb(8 * 1024 * 1024);
    assert.ok(bomb.length < 64 * 1024);
    assert.equal(gunzipSync(bomb).length, 8 * 1024 * 1024);
  });
});
