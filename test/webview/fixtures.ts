// What the host posts to the model page, for the webview tests, the screenshots and the bench's
// warm-up: a model with seven tags, a ModelCar image with its own signature, a model card.

import type { HeadersParams, LineageParams, ModelCardParams, ModelPageParams, SignatureParams, VersionsParams } from '../../webview/pageProtocol';

export const DIGEST = `sha256:${'3f'.repeat(32)}`;

export function pageParams(over: Partial<ModelPageParams> = {}): ModelPageParams {
  return {
    session: 'session-1',
    reference: 'localhost:5000/models/mnist:v7',
    repository: 'localhost:5000/models/mnist',
    tag: 'v7',
    digest: DIGEST,
    name: 'MNIST classifier',
    description: 'A small CNN trained on the MNIST digits, exported to ONNX.',
    author: 'Jane Doe',
    formats: ['onnx v1', 'omlmd'],
    size: 3_480_113,
    sizeText: '3.3 MiB',
    created: '2025-06-07T10:00:00Z',
    uri: 'https://example.com/models/mnist',
    uriOpenable: true,
    fields: [],
    properties: [
      { key: 'accuracy', type: 'number', text: '0.9777' },
      { key: 'license', type: 'string', text: 'Apache-2.0' },
      { key: 'quantized', type: 'boolean', text: 'false' },
      { key: 'layers', type: 'list', text: '[32,64]' },
    ],
    annotations: [{ key: 'org.opencontainers.image.created', text: '2025-06-07T10:00:00Z' }],
    files: [
      { path: 'mnist.onnx', role: 'model', mediaType: 'application/x-mlmodel', digest: `sha256:${'a1'.repeat(32)}`, size: 3_475_000, sizeText: '3.3 MiB' },
      { path: 'README.md', role: 'docs', mediaType: 'application/octet-stream', digest: `sha256:${'b2'.repeat(32)}`, size: 5113, sizeText: '5.0 KiB' },
    ],
    metadataOnly: false,
    isModel: true,
    warnings: [],
    ...over,
  };
}

const ACCURACY = [0.912, 0.934, 0.951, 0.948, 0.962, 0.971, 0.9777];

export function versionsParams(n = ACCURACY.length): VersionsParams {
  const versions = Array.from({ length: n }, (_, i) => ({
    tag: `v${i + 1}`,
    digest: i === n - 1 ? DIGEST : `sha256:${(i + 16).toString(16).padStart(2, '0').repeat(32)}`,
    created: new Date(Date.UTC(2025, 5, 1 + i, 10)).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    metrics: { accuracy: ACCURACY[i % ACCURACY.length]!, loss: Number((0.4 - i * 0.03).toFixed(3)) },
  }));
  return { versions, totalTags: n, readTags: n, problems: [], defaultMetric: 'accuracy' };
}

export const LINEAGE: LineageParams = {
  nodes: [
    {
      digest: `sha256:${'c3'.repeat(32)}`, kind: 'modelcar', label: 'ModelCar image', artifactType: 'application/vnd.omlmd.modelcar.v1', created: '2025-06-07T10:05:00Z',
      children: [{ digest: `sha256:${'d4'.repeat(32)}`, kind: 'signature', label: 'Signature (Sigstore)', children: [] }],
    },
    { digest: `sha256:${'e5'.repeat(32)}`, kind: 'signature', label: 'Signature (Sigstore)', created: '2025-06-07T10:01:00Z', children: [] },
    { digest: `sha256:${'f6'.repeat(32)}`, kind: 'modelcard', label: 'Model card', created: '2025-06-07T10:02:00Z', children: [] },
  ],
};

export const CARD: ModelCardParams = { text: '---\nmodel_name: MNIST classifier\n---\n\n# MNIST classifier\n\nA small CNN trained on the MNIST digits.\n', truncated: false };

export const HEADERS: HeadersParams = { files: [{ path: 'mnist.onnx', header: 'onnx 8, by pytorch 2.3, opset 17, inputs input: float32[1,1,28,28], outputs output: float32[1,10]', warnings: [] }] };

export const SIGNATURE: SignatureParams = { state: { kind: 'verified', label: '✓ signed', detail: 'Signature verified: signed by key SHA256:3kL…' } };
