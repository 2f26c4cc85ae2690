import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { OmlmdError } from '../../src/core/errors';
import { buildModelManifest, MODEL_ARTIFACT_TYPE, viewArtifact } from '../../src/core/model/artifact';
import { metadataAnnotations, metadataToJson, metadataToYaml, parseMetadata, validateMetadata } from '../../src/core/model/metadata';
import { pyJsonDumps } from '../../src/core/model/pyjson';
import { sha256 } from '../../src/core/oci/digest';
import type { ImageManifest } from '../../src/core/oci/types';

const FIXTURE = join(__dirname, '..', 'fixtures', 'omlmd-0.1.6', 'layout');
const blob = (d: string) => readFileSync(join(FIXTURE, 'blobs', 'sha256', d.replace('sha256:', '')));
const manifestOf = (tag: string): ImageManifest => {
  const index = JSON.parse(readFileSync(join(FIXTURE, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations: Record<string, string> }[] };
  const d = index.manifests.find((m) => m.annotations['org.opencontainers.image.ref.name'] === tag)!;
  return JSON.parse(blob(d.digest).toString()) as ImageManifest;
};

const single = {
  name: 'MNIST classifier', description: 'a tiny fixture', author: 'John Doe', model_format_name: 'onnx', model_format_version: '1',
  customProperties: { accuracy: 0.9777, license: 'Apache-2.0' },
};

test('metadata JSON and YAML are byte-identical to what omlmd 0.1.6 wrote', () => {
  for (const [tag, md] of [['single', single], ['empty', {}], ['dir', { name: 'dir model' }]] as const) {
    const m = manifestOf(tag);
    assert.deepEqual(metadataToJson(md), blob(m.config.digest), `${tag} config`);
    assert.deepEqual(metadataToYaml(md), blob(m.layers[2]!.digest), `${tag} yaml`);
    assert.deepEqual(metadataAnnotations(md), m.annotations, `${tag} annotations`);
  }
});

test('our manifest keeps the 0.1.x layout and adds artifactType and standard annotations', () => {
  const config = metadataToJson(single);
  const yaml = metadataToYaml(single);
  const { manifest } = buildModelManifest({
    metadata: single, config: { digest: sha256(config), size: config.length }, yaml: { digest: sha256(yaml), size: yaml.length },
    files: [{ title: 'mnist.onnx', digest: 'sha256:' + '0'.repeat(64), size: 4096 }, { title: 'tok/config.json', digest: 'sha256:' + '1'.repeat(64), size: 8 }],
    created: '2026-01-02T03:04:05Z',
  });
  const ref = manifestOf('single');
  assert.equal(manifest.artifactType, MODEL_ARTIFACT_TYPE);
  assert.deepEqual(manifest.config, ref.config);
  assert.deepEqual(manifest.layers.slice(-2), ref.layers.slice(-2));
  assert.equal(manifest.layers[0]!.mediaType, 'application/x-mlmodel');
  assert.equal(manifest.layers[1]!.annotations!['org.opencontainers.image.title'], 'tok/config.json');
  for (const [k, v] of Object.entries(ref.annotations!)) assert.equal(manifest.annotations![k], v, k);
  assert.equal(manifest.annotations!['org.opencontainers.image.created'], '2026-01-02T03:04:05Z');
  assert.equal(manifest.annotations!['org.opencontainers.image.licenses'], 'Apache-2.0');
  const view = viewArtifact(manifest);
  assert.equal(view.flavor, 'omlmd');
  assert.deepEqual(view.files.map((f) => [f.path, f.role]), [['mnist.onnx', 'model'], ['tok/config.json', 'model'], ['model_metadata.omlmd.json', 'metadata'], ['model_metadata.omlmd.yaml', 'metadata']]);
});

test('0.1.x artifacts are recognised, including legacy application/x-artifact layers', () => {
  const m = manifestOf('single');
  assert.equal(viewArtifact(m).flavor, 'omlmd-0.1');
  const legacy = { ...m, layers: [{ ...m.layers[0]!, mediaType: 'application/x-artifact' }, ...m.layers.slice(1)] };
  assert.equal(viewArtifact(legacy).files[0]!.role, 'model');
  const untitled = { ...m, layers: [{ ...m.layers[0]!, annotations: {} }] };
  assert.equal(viewArtifact(untitled).files[0]!.path, m.layers[0]!.digest.replace(':', '-'));
});

test('metadata errors name the file, the field and what is wrong', () => {
  const bad: [string, RegExp][] = [
    ['', /meta.yaml: the file is empty/],
    ['- name: x\n', /meta.yaml: the top level is a list/],
    ['name: x\naccuracy: 0.9\n', /unknown field "accuracy".*customProperties/],
    ['model_format_version: 1\n', /field "model_format_version" must be a string, got number 1 \(quote it: '1'\)/],
    ['customProperties: [1, 2]\n', /field "customProperties" must be a mapping, got a list/],
    ['uri: not a uri\n', /field "uri" must be an absolute URI/],
    ['name: [unclosed\n', /meta.yaml: not valid YAML: .* at line \d+, column \d+/],
    ['just a string\n', /the top level is string/],
  ];
  for (const [text, re] of bad) {
    assert.throws(() => parseMetadata(text, 'meta.yaml'), (e: unknown) => OmlmdError.is(e, 'INVALID_METADATA') && re.test(e.message), text);
  }
  assert.throws(() => parseMetadata('{"name": 1}', 'meta.json'), /meta.json: field "name" must be a string, got number 1/);
});

test('valid metadata: YAML dates stay strings, JSON files parse as JSON', () => {
  const md = parseMetadata('name: m\ncustomProperties:\n  trained: 2024-01-01\n  accuracy: 0.97\nuri: s3://bucket/model.onnx\n', 'm.yaml');
  assert.deepEqual(md.customProperties, { trained: '2024-01-01', accuracy: 0.97 });
  assert.equal(validateMetadata({ name: null }, 'x').name, null);
});

test('Python-style JSON: separators, ensure_ascii, float exponents', () => {
  assert.equal(pyJsonDumps({ a: [1, 'é'], b: { c: null } }), '{"a": [1, "\\u00e9"], "b": {"c": null}}');
  assert.equal(pyJsonDumps(1e-7), '1e-07');
  assert.equal(pyJsonDumps(1e21), '1e+21');
  assert.equal(pyJsonDumps({}, 4), '{}');
});

test('the metadata schema is valid JSON Schema (checked here once: validation at run time skips the meta-schema)', async () => {
  const { default: Ajv } = await import('ajv');
  const { default: addFormats } = await import('ajv-formats');
  const schema = JSON.parse(readFileSync(join(__dirname, '..', '..', 'src', 'core', 'model', 'metadata.schema.json'), 'utf8')) as object;
  const ajv = new Ajv({ allErrors: true, strict: true, validateSchema: true });
  addFormats(ajv, ['uri']);
  assert.equal(ajv.validateSchema(schema), true, JSON.stringify(ajv.errors));
  assert.doesNotThrow(() => ajv.compile(schema));
  // And a broken copy is caught, so the check can fail.
  assert.equal(ajv.validateSchema({ ...schema, type: 'not-a-type' }), false);
});
