import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { OmlmdClient } from '../../src/core/client';
import { crawlToIndex } from '../../src/core/search/crawler';
import { MemoryIndex } from '../../src/core/search/memory';
import { startHostileRegistry } from '../helpers/hostile';
import { tempDir } from '../helpers/tmp';

test('hostile registry counting connections: a re-crawl resolves 60 tags with HEADs over kept connections, and a first crawl sends no HEAD', async () => {
  const reg = await startHostileRegistry();
  try {
    for (let i = 0; i < 60; i++) reg.model('models/many', `v${i}`, [{ title: 'model.onnx', bytes: Buffer.from(`model ${i}`) }], { config: Buffer.from(JSON.stringify({ name: `m${i}` })) });
    const client = new OmlmdClient({ home: join(tempDir('omlmd-conn-'), 'home') });
    const index = new MemoryIndex();
    const first = await crawlToIndex(client, index, [reg.host]);
    assert.equal(first.indexed, 60);
    assert.equal(reg.count('HEAD', /\/manifests\//), 0, 'tags the index did not know are fetched by tag, with no HEAD first');
    const before = reg.connections;
    const again = await crawlToIndex(client, index, [reg.host]);
    assert.equal(again.unchanged, 60);
    assert.equal(reg.count('HEAD', /\/manifests\//), 60);
    // At most one connection per request running at once (8); undici's default closes one after every HEAD.
    assert.ok(reg.connections - before <= 8, `${reg.connections - before} connections for 60 HEADs`);
  } finally {
    await reg.close();
  }
});
