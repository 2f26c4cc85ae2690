import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import Ajv, { type ValidateFunction } from 'ajv';
import yaml from 'js-yaml';

/**
 * The Kubernetes manifests the documentation gives (every ```yaml block of docs/kserve.md and
 * docs/confidential.md) validated against schemas: Pods against Kubernetes 1.36.0's OpenAPI
 * (kubernetes-models 5.1.0's validators, generated from it), KServe's kinds against the strict
 * JSON schemas of KServe 0.16.0's CRDs (test/fixtures/kserve-crds). A kind with no schema here
 * fails the test, so a new manifest in the docs cannot go unchecked.
 */
const ROOT = join(__dirname, '..', '..');
const DOCS = ['docs/kserve.md', 'docs/confidential.md'];

interface Manifest {
  apiVersion?: string;
  kind?: string;
  [k: string]: unknown;
}

function manifestsOf(file: string): { where: string; doc: Manifest }[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const out: { where: string; doc: Manifest }[] = [];
  for (const m of text.matchAll(/```ya?ml\n([\s\S]*?)```/g)) {
    const line = text.slice(0, m.index).split('\n').length;
    for (const doc of yaml.loadAll(m[1]!)) if (doc) out.push({ where: `${file}:${line}`, doc: doc as Manifest });
  }
  return out;
}

const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
const crd = (name: string): ValidateFunction => ajv.compile(JSON.parse(gunzipSync(readFileSync(join(ROOT, 'test', 'fixtures', 'kserve-crds', `${name}.json.gz`))).toString('utf8')) as object);
const kserve: Record<string, ValidateFunction> = {
  'serving.kserve.io/v1beta1 InferenceService': crd('inferenceservice_v1beta1'),
  'serving.kserve.io/v1alpha1 ClusterStorageContainer': crd('clusterstoragecontainer_v1alpha1'),
};

/** The problems of one manifest, as `path: message` lines; [] when it is valid. */
async function problems(doc: Manifest): Promise<string[]> {
  const key = `${doc.apiVersion} ${doc.kind}`;
  if (key === 'v1 Pod') {
    const { Pod } = await import('kubernetes-models/v1/Pod');
    try {
      new Pod(doc as never).validate();
      return [];
    } catch (e) {
      return [(e as Error).message];
    }
  }
  const validate = kserve[key];
  if (!validate) return [`no schema here for ${key}: add one to test/unit/kserve-manifests.test.ts`];
  return validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'}: ${e.message}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`);
}

describe('the documentation\'s Kubernetes manifests against Kubernetes 1.36 and KServe CRD schemas', () => {
  const all = DOCS.flatMap(manifestsOf);

  test('the documents hold the manifests the docs promise (Pods with image volumes, InferenceServices with oci:// and oci+native://, the ClusterStorageContainer)', () => {
    const kinds = all.map((m) => m.doc.kind);
    assert.ok(kinds.includes('Pod') && kinds.includes('InferenceService') && kinds.includes('ClusterStorageContainer'), kinds.join(', '));
    const uris = all.map((m) => JSON.stringify(m.doc)).join('\n');
    for (const scheme of ['oci://', 'oci+native://', 'oci-artifact://']) assert.ok(uris.includes(`"storageUri":"${scheme}`), `an InferenceService with ${scheme}`);
    assert.ok(all.some((m) => m.doc.kind === 'Pod' && /"image":\{"reference"/.test(JSON.stringify(m.doc))), 'a Pod with an image volume');
  });

  for (const { where, doc } of all) {
    test(`${where}: ${doc.kind} ${(doc.metadata as { name?: string } | undefined)?.name ?? ''} is valid`, async () => {
      assert.deepEqual(await problems(doc), []);
    });
  }

  test('the schemas refuse what they should: an unknown field in an InferenceService, a wrong pullPolicy and a nameless container in a Pod', async () => {
    const isvc = all.find((m) => m.doc.kind === 'InferenceService')!.doc as Manifest & { spec: { predictor: Record<string, unknown> } };
    const typo = structuredClone(isvc);
    (typo.spec.predictor as Record<string, unknown>).storageUrl = 'oci://x/y:z';
    assert.match((await problems(typo)).join('\n'), /must NOT have additional properties \(storageUrl\)/);
    const pod = all.find((m) => m.doc.kind === 'Pod' && /"image":\{"reference"/.test(JSON.stringify(m.doc)))!.doc as Manifest & { spec: { volumes: { image?: { pullPolicy?: string } }[]; containers: { name?: string }[] } };
    const bad = structuredClone(pod);
    bad.spec.volumes.find((v) => v.image)!.image!.pullPolicy = 'Sometimes';
    assert.match((await problems(bad)).join('\n'), /pullPolicy must be equal to one of the allowed values/);
    const nameless = structuredClone(pod);
    delete nameless.spec.containers[0]!.name;
    assert.match((await problems(nameless)).join('\n'), /must have required property '?name'?/);
  });
});
