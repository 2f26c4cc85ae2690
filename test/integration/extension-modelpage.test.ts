/**
 * The model page's data (src/extension/model/modelPage.ts), read from the real registry: the
 * page from the manifest and config, the files' headers by ranged reads, the lineage and the
 * model card from referrers, the versions chart across tags in the order they were created
 * (capped), and the compare view between two tags.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OmlmdClient } from '../../src/core/client';
import { attach, attachModelCard } from '../../src/core/lineage/api';
import { parseReference } from '../../src/core/oci/reference';
import { compareTags, lineageDigests, loadHeaders, loadLineage, loadModelCard, loadModelPage, loadVersions } from '../../src/extension/model/modelPage';
import { onnxModel } from '../helpers/modelfiles';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { tempDir } from '../helpers/tmp';

describe('extension: the model page\'s data from a real registry', () => {
  let reg: RunningRegistry;
  let client: OmlmdClient;
  let dir: string;
  let repo: string;

  /** Tags pushed out of name order: v10 is the newest by time, v2 the oldest. */
  const TAGS = [
    { tag: 'v2', created: '2025-01-01T00:00:00Z', accuracy: 0.81, loss: 0.5, dims: [1, 4] },
    { tag: 'v9', created: '2025-02-01T00:00:00Z', accuracy: 0.86, loss: 0.4, dims: [1, 4] },
    { tag: 'v10', created: '2025-03-01T00:00:00Z', accuracy: 0.93, loss: 0.2, dims: [1, 8] },
  ];

  before(async () => {
    reg = await startRegistry();
    dir = tempDir('omlmd-modelpage-');
    client = new OmlmdClient({ home: join(dir, 'home') });
    repo = `${reg.host}/models/mnist`;
    for (const t of TAGS) {
      const d = join(dir, t.tag);
      mkdirSync(d);
      writeFileSync(join(d, 'mnist.onnx'), onnxModel({ dims: t.dims, producer: 'pytorch', opset: 17 }));
      if (t.tag !== 'v2') writeFileSync(join(d, 'README.md'), `notes for ${t.tag}\n`);
      const customProperties: Record<string, unknown> = { accuracy: t.accuracy, loss: t.loss, license: 'MIT' };
      if (t.tag === 'v10') customProperties.quantized = true;
      await client.push(`${repo}:${t.tag}`, {
        paths: t.tag === 'v2' ? ['mnist.onnx'] : ['mnist.onnx', 'README.md'], cwd: d, created: t.created,
        metadata: { name: 'MNIST <b>classifier</b>', author: 'Jane', uri: t.tag === 'v10' ? 'https://example.com/mnist' : undefined, model_format_name: 'onnx', model_format_version: '1', customProperties },
      });
    }
    await attachModelCard(client, `${repo}:v10`);
    const notes = join(dir, 'eval.json');
    writeFileSync(notes, '{"accuracy": 0.93}\n');
    await attach(client, `${repo}:v10`, [notes]);
  });
  after(async () => {
    await reg?.stop();
  });

  test('the page: name, reference, digest, formats, typed properties, uri, files; the headers read from the registry', async () => {
    const { page, info, ref } = await loadModelPage(client, `${repo}:v10`, 's1');
    assert.equal(page.name, 'MNIST <b>classifier</b>', 'registry text passed on as text');
    assert.equal(page.reference, `${repo}:v10`);
    assert.equal(page.repository, repo);
    assert.equal(page.tag, 'v10');
    assert.match(page.digest, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(page.formats, ['onnx v1', 'omlmd']);
    assert.equal(page.created, '2025-03-01T00:00:00Z');
    assert.equal(page.uri, 'https://example.com/mnist');
    assert.equal(page.uriOpenable, true);
    assert.deepEqual(page.properties, [
      { key: 'accuracy', type: 'number', text: '0.93' },
      { key: 'loss', type: 'number', text: '0.2' },
      { key: 'license', type: 'string', text: 'MIT' },
      { key: 'quantized', type: 'boolean', text: 'true' },
    ]);
    assert.deepEqual(page.files.map((f) => [f.path, f.role]).sort(), [['README.md', 'model'], ['mnist.onnx', 'model']].sort());
    assert.equal(page.size, info.manifest.layers.reduce((n, l) => n + l.size, 0));
    const headers = await loadHeaders(client, ref, info);
    assert.deepEqual(headers.files.map((f) => f.path), ['mnist.onnx'], 'only model files with a known extension');
    assert.match(headers.files[0]!.header ?? '', /^onnx 9, by pytorch .*, 8 parameters .*opset 17.*outputs Y: float32\[batch,8\]/);
  });

  test('a uri that is not http(s) is not offered to open', async () => {
    const { page } = await loadModelPage(client, `${repo}:v2`, 's2');
    assert.equal(page.uri, undefined);
    assert.equal(page.uriOpenable, false);
  });

  test('lineage: the model card and the attachment from the referrers; the card read as text', async () => {
    const { page, ref } = await loadModelPage(client, `${repo}:v10`, 's3');
    const { lineage, referrers } = await loadLineage(client, ref, page.digest);
    assert.equal(lineage.problem, undefined);
    assert.deepEqual(lineage.nodes.map((n) => n.kind).sort(), ['attachment', 'modelcard']);
    assert.equal(lineageDigests(lineage.nodes).size, 2);
    const card = await loadModelCard(client, ref, referrers);
    assert.ok(card);
    assert.equal(card.truncated, false);
    assert.match(card.text, /^---\n/);
    assert.match(card.text, /# MNIST <b>classifier<\/b>/);
    // Nothing refers to v9.
    const v9 = await loadModelPage(client, `${repo}:v9`, 's4');
    assert.deepEqual((await loadLineage(client, v9.ref, v9.page.digest)).lineage.nodes, []);
  });

  test('versions: every tag in the order it was created, with its numeric properties; accuracy picked first', async () => {
    const v = await loadVersions(client, parseReference(`${repo}:v10`));
    assert.deepEqual(v.versions.map((x) => x.tag), ['v2', 'v9', 'v10']);
    assert.deepEqual(v.versions.map((x) => x.metrics), [{ accuracy: 0.81, loss: 0.5 }, { accuracy: 0.86, loss: 0.4 }, { accuracy: 0.93, loss: 0.2 }]);
    assert.equal(v.defaultMetric, 'accuracy');
    assert.equal(v.totalTags, 3);
    assert.equal(v.readTags, 3);
    assert.deepEqual(v.problems, []);
    // The referrers' sha256-… tags (the tag schema) are not versions.
    assert.ok(v.versions.every((x) => !x.tag.startsWith('sha256-')));
  });

  test('versions: omlmd tags are charted from the manifest\'s projected customProperties, a ModelPack tag from its config', async () => {
    const mixed = `${reg.host}/models/mixed`;
    const d = join(dir, 'mixed');
    mkdirSync(d);
    writeFileSync(join(d, 'mnist.onnx'), onnxModel({ dims: [1, 4], producer: 'pytorch', opset: 17 }));
    await client.push(`${mixed}:a`, { paths: ['mnist.onnx'], cwd: d, created: '2025-01-01T00:00:00Z', metadata: { name: 'm', customProperties: { accuracy: 0.5, note: 'x' } } });
    await client.push(`${mixed}:b`, { paths: ['mnist.onnx'], cwd: d, created: '2025-02-01T00:00:00Z', format: 'modelpack', metadata: { name: 'm', customProperties: { accuracy: 0.75 } } });
    const a = await client.inspect(`${mixed}:a`);
    assert.equal(a.manifest.annotations?.['customProperties+json'], '{"accuracy": 0.5, "note": "x"}', 'the projection the chart reads');
    const b = await client.inspect(`${mixed}:b`);
    assert.equal(b.view.flavor, 'modelpack');
    assert.equal(b.manifest.annotations?.['customProperties+json'], undefined, 'a ModelPack manifest has no projection: its config is read');
    const v = await loadVersions(client, parseReference(mixed));
    assert.deepEqual(v.versions.map((x) => [x.tag, x.metrics]), [['a', { accuracy: 0.5 }], ['b', { accuracy: 0.75 }]]);
    assert.deepEqual(v.problems, []);
  });

  test('versions: the cap reads the newest tags by name, and says how many there are', async () => {
    const v = await loadVersions(client, parseReference(repo), { max: 2 });
    assert.deepEqual(v.versions.map((x) => x.tag), ['v9', 'v10']);
    assert.equal(v.totalTags, 3);
    assert.equal(v.readTags, 2);
  });

  test('compare: the metadata diff, files added and changed by digest', async () => {
    const c = await compareTags(client, parseReference(repo), 'v2', 'v10');
    assert.equal(c.error, undefined);
    assert.notEqual(c.digestA, c.digestB);
    const byKey = <T extends { key: string }>(xs: T[]): T[] => [...xs].sort((x, y) => x.key.localeCompare(y.key));
    assert.deepEqual(byKey(c.fields), byKey([
      { key: 'uri', change: 'added', b: 'https://example.com/mnist' },
      { key: 'customProperties.accuracy', change: 'changed', a: '0.81', b: '0.93' },
      { key: 'customProperties.loss', change: 'changed', a: '0.5', b: '0.2' },
      { key: 'customProperties.quantized', change: 'added', b: 'true' },
    ]));
    assert.deepEqual(c.files.map((f) => [f.path, f.change]), [['README.md', 'added'], ['mnist.onnx', 'changed']]);
    const same = await compareTags(client, parseReference(repo), 'v9', 'v9');
    assert.deepEqual(same.fields, []);
    assert.deepEqual(same.files.map((f) => f.change), ['same', 'same']);
    const missing = await compareTags(client, parseReference(repo), 'v9', 'nope');
    assert.match(missing.error ?? '', /nope/);
  });
});
