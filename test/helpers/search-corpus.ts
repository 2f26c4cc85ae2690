import type { ArtifactDocument } from '../../src/core/search/document';

/**
 * Documents built to catch every way a translation can drift from RFC 9535: the same field
 * as every JSON type or missing, arrays where objects are expected (PostgreSQL's lax mode
 * unwraps them), strings whose code point order differs from UTF-16 and from a linguistic
 * collation, keys that need quoting, and numbers at the edges of what a double holds.
 */
export function corpus(): ArtifactDocument[] {
  const values: unknown[] = [
    0.97, 0.5, 0.95, 1, 0, -1.5, 1e21, 5e-7, 9007199254740992, -0.000001,
    '0.99', 'B', 'a', 'ab', '', 'é', '\uffff', '😀', 'Z', 'zeta',
    true, false, null, [0.99], [0.1, 0.99], { v: 0.99 }, [], {}, [[0.99]],
  ];
  const formats = ['onnx', 'pytorch', 'ONNX', 'sklearn', 'onnx ', 'gguf'];
  const docs: ArtifactDocument[] = [];
  let i = 0;
  const add = (extra: Record<string, unknown>, repo = 'models/m'): void => {
    const n = i++;
    const tag = `t${String(n).padStart(3, '0')}`;
    docs.push({
      name: `model ${n}`,
      description: null,
      author: n % 3 === 0 ? 'Jane' : n % 3 === 1 ? 'jane' : null,
      uri: null,
      model_format_version: n % 2 === 0 ? '1' : null,
      ...extra,
      reference: `reg.example:5000/${repo}:${tag}`,
      registry: 'reg.example:5000',
      repository: repo,
      tag,
      digest: `sha256:${n.toString(16).padStart(64, '0')}`,
      kind: n % 4 === 0 ? 'omlmd-0.1' : n % 4 === 1 ? 'omlmd' : n % 4 === 2 ? 'modelpack' : 'kitops',
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: null,
      created: `2026-0${1 + (n % 9)}-1${n % 10}T00:00:00Z`,
      annotations: { 'org.opencontainers.image.title': `model ${n}`, ...(n % 5 === 0 ? { 'dev.example/stage': 'prod' } : {}) },
      size: 1000 + n * 37,
      files: n % 2 === 0 ? [{ path: 'model.onnx', mediaType: 'application/x-mlmodel', size: 100 + n }] : [{ path: 'weights/model.safetensors', mediaType: 'application/x-mlmodel', size: 7 }, { path: 'model_metadata.omlmd.json', mediaType: 'application/x-config', size: 3 }],
    } as ArtifactDocument);
  };
  values.forEach((v, k) => add({ customProperties: { accuracy: v, license: k % 2 ? 'Apache-2.0' : 'MIT' }, model_format_name: formats[k % formats.length] }));
  // The fields in odd places: customProperties an array of objects, missing, null, a string.
  add({ customProperties: [{ accuracy: 0.99 }], model_format_name: 'onnx' });
  add({ customProperties: [{ accuracy: 0.99 }, { accuracy: 0.1 }], model_format_name: ['onnx'] });
  add({ customProperties: null, model_format_name: null });
  add({ customProperties: 'accuracy', model_format_name: 7 });
  add({ model_format_name: true });
  add({ customProperties: { accuracy: 0.99, nested: { deep: { x: [1, 2, 3] } }, 'f1-score': 0.8, 'a.b': 1, "it's": 'q', 'quote"key': 'dq', 'back\\slash': 'bs', '😀key': 'emoji', '': 'empty' } }, 'team/special');
  add({ customProperties: { accuracy: 0.91, tags: ['prod', 'nlp'], nested: { deep: { x: [3] } }, 'f1-score': '0.9' } }, 'team/special');
  add({ customProperties: { accuracy: 0.91, tags: 'prod' }, name: 'Zebra' }, 'team/special');
  add({ customProperties: { accuracy: 0.91, tags: [] }, name: 'zebra' }, 'team/other');
  add({ customProperties: { accuracy: -0.0 }, name: '😀 emoji first' }, 'team/other');
  add({ customProperties: { accuracy: 1e-300 }, name: '\uffff last BMP' }, 'team/other');
  return docs;
}

/** Queries that cover every construct: each must give the same answer everywhere. */
export const QUERIES: string[] = [
  '$[*]',
  '$',
  '$[?@.customProperties.accuracy > 0.9]',
  '$[?@.customProperties.accuracy >= 0.95]',
  '$[?@.customProperties.accuracy < 0.5]',
  '$[?@.customProperties.accuracy <= 0.5]',
  '$[?@.customProperties.accuracy == 1]',
  '$[?@.customProperties.accuracy == 1.0]',
  '$[?@.customProperties.accuracy != 1]',
  '$[?@.customProperties.accuracy == 0]',
  '$[?@.customProperties.accuracy == -0]',
  '$[?@.customProperties.accuracy > 1e20]',
  '$[?@.customProperties.accuracy < 1e-6]',
  '$[?@.customProperties.accuracy == 9007199254740992]',
  "$[?@.customProperties.accuracy == '0.99']",
  "$[?@.customProperties.accuracy > 'a']",
  "$[?@.customProperties.accuracy < 'a']",
  "$[?@.customProperties.accuracy >= 'é']",
  "$[?@.customProperties.accuracy > '\uffff']",
  "$[?@.customProperties.accuracy < '😀']",
  "$[?@.customProperties.accuracy == '']",
  '$[?@.customProperties.accuracy == true]',
  '$[?@.customProperties.accuracy != false]',
  '$[?@.customProperties.accuracy == null]',
  '$[?@.customProperties.accuracy != null]',
  '$[?@.customProperties.accuracy <= null]',
  '$[?@.customProperties.accuracy < true]',
  '$[?@.customProperties.accuracy]',
  '$[?!@.customProperties.accuracy]',
  '$[?@.customProperties]',
  '$[?@.customProperties.accuracy[0] == 0.99]',
  '$[?@.customProperties.accuracy[-1] == 0.99]',
  '$[?@.customProperties.accuracy[1]]',
  '$[?@.customProperties.accuracy[0][0] == 0.99]',
  '$[?@.customProperties.accuracy.v == 0.99]',
  '$[?@.customProperties[0].accuracy == 0.99]',
  '$[?@.customProperties[-1].accuracy < 0.5]',
  "$[?@.model_format_name == 'onnx']",
  "$[?@.model_format_name != 'onnx']",
  "$[?@.model_format_name == 'onnx' || @.model_format_name == 'ONNX']",
  "$[?@.customProperties.accuracy > 0.9 && @.model_format_name == 'onnx']",
  "$[?!(@.customProperties.accuracy > 0.9 && @.model_format_name == 'onnx')]",
  "$[?(@.customProperties.accuracy > 0.9 || @.author == 'Jane') && !(@.kind == 'kitops')]",
  '$[?@.model_format_name == 7]',
  '$[?@.model_format_name == true]',
  "$[?@.customProperties['f1-score'] > 0.5]",
  "$[?@.customProperties['a.b'] == 1]",
  "$[?@.customProperties[\"it's\"] == 'q']",
  "$[?@.customProperties['quote\"key'] == 'dq']",
  "$[?@.customProperties['back\\\\slash'] == 'bs']",
  "$[?@.customProperties['😀key']]",
  "$[?@.customProperties[''] == 'empty']",
  '$[?@.customProperties.nested.deep.x[2] == 3]',
  '$[?@.customProperties.nested.deep.x[-1] == 3]',
  "$[?@.annotations['dev.example/stage'] == 'prod']",
  "$[?@.kind == 'modelpack']",
  "$[?@.repository == 'team/special']",
  "$[?@.created >= '2026-05']",
  '$[?@.size > 1500]',
  "$[?@.name == 'Zebra']",
  "$[?@.name < 'a']",
  "$[?@ == 'x']",
  '$[?@ != 1]',
  '$[?1 == 1]',
  "$[?'a' < 'b']",
  '$[?1 > 2]',
  '$[?0.9 < @.customProperties.accuracy]',
  // Function calls and query-to-query comparisons are evaluated in process after a coarse SQL pre-filter.
  '$[?length(@.customProperties.tags) == 2]',
  '$[?length(@.customProperties.accuracy) == 1]',
  "$[?length(@.name) > 9 && @.kind == 'omlmd']",
  '$[?count(@.files[*]) == 2]',
  "$[?@.files[?@.path == 'model.onnx']]",
  "$[?!@.files[?@.path == 'model.onnx']]",
  "$[?match(@.model_format_name, 'onnx|ONNX')]",
  "$[?search(@.name, '[0-9]{2}$')]",
  "$[?search(@.name, 'zebra')]",
  "$[?match(@.customProperties.license, 'apache.*')]",
  "$[?!match(@.customProperties.license, 'Apache.*')]",
  '$[?value(@..deep.x[0]) == 1]',
  '$[?@..accuracy]',
  "$[?@.customProperties.tags[?@ == 'prod'] || @.customProperties.tags == 'prod']",
  '$[?@.customProperties.accuracy == @.customProperties.accuracy]',
  '$[?@.name == @.annotations["org.opencontainers.image.title"]]',
  "$[?@.customProperties.accuracy > 0.9 && search(@.name, '1')]",
  "$[?@.customProperties.accuracy > 0.9 || search(@.name, '^model 1')]",
  "$[?!(@.customProperties.accuracy > 0.9 || search(@.name, '^model 1'))]",
  "$[?@.customProperties.accuracy > 0.9, ?@.model_format_name == 'gguf']",
  "@.model_format_name == 'onnx'",
];

export const SORTS: { sort?: string; desc?: boolean }[] = [
  {},
  { sort: 'customProperties.accuracy' },
  { sort: 'customProperties.accuracy', desc: true },
  { sort: 'name' },
  { sort: 'name', desc: true },
  { sort: '@.customProperties["f1-score"]', desc: true },
  { sort: '@.customProperties.accuracy[0]' },
  { sort: 'created', desc: true },
  { sort: 'size' },
];
