import assert from 'node:assert/strict';
import { tempDir } from '../helpers/tmp';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OmlmdClient } from '../../src/core/client';
import { OmlmdError } from '../../src/core/errors';
import { describeDoc, ModelFinder, QUERY_EXAMPLES, storeOf } from '../../src/extension/model/find';
import { startRegistry, type RunningRegistry } from '../helpers/registry';

describe('Find models in the extension: session index over the Local store and registries', () => {
  let reg: RunningRegistry;
  let client: OmlmdClient;
  let finder: ModelFinder;

  before(async () => {
    reg = await startRegistry();
    const work = tempDir('omlmd-find-');
    client = new OmlmdClient({ home: join(work, 'home') });
    writeFileSync(join(work, 'm.onnx'), 'onnx bytes');
    const push = (ref: string, md: Record<string, unknown>) => client.push(ref, { paths: [join(work, 'm.onnx')], metadata: md });
    await push(`${reg.host}/team/a:v1`, { name: 'A', model_format_name: 'onnx', customProperties: { accuracy: 0.91 } });
    await push(`${reg.host}/team/b:v1`, { name: 'B', model_format_name: 'onnx', customProperties: { accuracy: 0.97 } });
    await push('local/c:v1', { name: 'C', model_format_name: 'sklearn', customProperties: { accuracy: 0.99 } });
    finder = new ModelFinder(() => client, () => [reg.host], () => undefined);
  });
  after(async () => reg?.stop());

  test('a crawl fills the session index; queries answer as omlmd query does', async () => {
    const report = await finder.crawl();
    assert.equal(report.indexed, 3);
    const onnx = await finder.search("$[?@.model_format_name == 'onnx']", { sort: 'customProperties.accuracy', desc: true });
    assert.deepEqual(onnx.items.map((d) => d.reference), [`${reg.host}/team/b:v1`, `${reg.host}/team/a:v1`]);
    const best = await finder.search('$[*]', { sort: 'customProperties.accuracy', desc: true, limit: 1 });
    assert.equal(best.items[0]!.reference, 'local/c:v1');
    assert.deepEqual(storeOf(best.items[0]!), { kind: 'local' });
    assert.equal(describeDoc(onnx.items[0]!), 'onnx · accuracy 0.97');
    const again = await finder.crawl();
    assert.equal(again.indexed, 0);
    assert.equal(again.unchanged, 3);
    assert.ok((await finder.fields()).includes('customProperties.accuracy'));
    for (const e of QUERY_EXAMPLES) await finder.search(e.query);
    await assert.rejects(finder.search('$[?@.name ==]'), (e: unknown) => OmlmdError.is(e, 'INVALID_QUERY'));
  });
});
