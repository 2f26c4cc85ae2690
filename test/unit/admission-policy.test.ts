import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { run, type CelInput } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import { loadAll } from 'js-yaml';

/**
 * deploy/policy/inferenceservice-registry.yaml, evaluated as the API server evaluates a
 * ValidatingAdmissionPolicy: its variables in order (each bound under `variables`), then
 * every validation against `object`; a validation that is false denies, with its message or
 * messageExpression. The evaluator is @bufbuild/cel (conformance-tested against the CEL
 * spec) with the strings extension that Kubernetes enables; what it cannot show is
 * Kubernetes' own type check against the InferenceService CRD's schema.
 */
interface Policy {
  kind: string;
  spec: {
    matchConstraints: { resourceRules: { apiGroups: string[]; resources: string[]; operations: string[] }[] };
    variables: { name: string; expression: string }[];
    validations: { expression: string; message?: string; messageExpression?: string }[];
    policyName?: string;
  };
}

const docs = loadAll(readFileSync(join(__dirname, '..', '..', 'deploy', 'policy', 'inferenceservice-registry.yaml'), 'utf8')) as Policy[];
const policy = docs.find((d) => d.kind === 'ValidatingAdmissionPolicy')!;

function toCel(v: unknown): CelInput {
  if (Array.isArray(v)) return v.map(toCel);
  if (v && typeof v === 'object') return new Map(Object.entries(v).map(([k, x]) => [k, toCel(x)]));
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  return v as CelInput;
}

/** The denial messages for this object; empty when admitted. */
function admit(object: unknown): string[] {
  const variables = new Map<string, CelInput>();
  const bind = (): Record<string, CelInput> => ({ object: toCel(object), variables });
  for (const v of policy.spec.variables) {
    const value = run(v.expression, bind(), { funcs: strings });
    if (value instanceof Error) throw value;
    variables.set(v.name, value as CelInput);
  }
  const denied: string[] = [];
  for (const rule of policy.spec.validations) {
    const ok = run(rule.expression, bind(), { funcs: strings });
    if (ok instanceof Error) throw ok;
    assert.equal(typeof ok, 'boolean', `${rule.expression} must be boolean`);
    if (ok === false) {
      const msg = rule.messageExpression ? run(rule.messageExpression, bind(), { funcs: strings }) : rule.message;
      if (msg instanceof Error) throw msg;
      denied.push(String(msg).replace(/\s+/g, ' ').trim());
    }
  }
  return denied;
}

const isvc = (predictor: Record<string, unknown>, extra: Record<string, unknown> = {}): unknown => ({
  apiVersion: 'serving.kserve.io/v1beta1',
  kind: 'InferenceService',
  metadata: { name: 'iris' },
  spec: { predictor: { minReplicas: 1, ...predictor }, ...extra },
});

describe('the admission policy for InferenceServices (CEL, @bufbuild/cel)', () => {
  test('it matches InferenceServices on create and update, and its binding denies', () => {
    const rule = policy.spec.matchConstraints.resourceRules[0]!;
    assert.deepEqual([rule.apiGroups, rule.resources, rule.operations], [['serving.kserve.io'], ['inferenceservices'], ['CREATE', 'UPDATE']]);
    const binding = docs.find((d) => d.kind === 'ValidatingAdmissionPolicyBinding') as unknown as { spec: { policyName: string; validationActions: string[] } };
    assert.equal(binding.spec.policyName, 'omlmd-models-from-enterprise-registry');
    assert.deepEqual(binding.spec.validationActions, ['Deny']);
  });

  const admitted: [string, unknown][] = [
    ['a ModelCar from the registry', isvc({ model: { modelFormat: { name: 'sklearn' }, storageUri: 'oci://registry.example.com/models/iris:v1' } })],
    ['an image volume (oci+native)', isvc({ model: { modelFormat: { name: 'sklearn' }, storageUri: 'oci+native://registry.example.com/models/iris@sha256:' + 'a'.repeat(64) } })],
    ['a model for the omlmd storage initializer (oci-artifact)', isvc({ model: { storageUri: 'oci-artifact://registry.example.com/models/iris:v1' } })],
    ['a per-framework predictor from the registry', isvc({ sklearn: { storageUri: 'oci://registry.example.com/m/iris:v1' } })],
    ['a custom container whose STORAGE_URI is in the registry', isvc({ containers: [{ name: 'kserve-container', image: 'x', env: [{ name: 'STORAGE_URI', value: 'oci://registry.example.com/m:v1' }] }] })],
    ['a custom container without a model', isvc({ containers: [{ name: 'kserve-container', image: 'x', env: [{ name: 'OTHER', value: 's3://b/m' }] }] })],
    ['storage credentials beside an OCI storageUri', isvc({ model: { storageUri: 'oci://registry.example.com/m:v1', storage: { key: 'creds' } } })],
  ];
  for (const [what, obj] of admitted) test(`admits ${what}`, () => assert.deepEqual(admit(obj), []));

  const refused: [string, unknown, RegExp][] = [
    ['a model from S3', isvc({ model: { storageUri: 's3://bucket/iris' } }), /storageUri s3:\/\/bucket\/iris is not allowed: models must be OCI artifacts from registry\.example\.com/],
    ['a model from the Hugging Face Hub', isvc({ model: { storageUri: 'hf://org/model' } }), /storageUri hf:\/\/org\/model is not allowed/],
    ['an omlmd artifact from another registry', isvc({ model: { storageUri: 'oci-artifact://quay.io/evil/model:v1' } }), /oci-artifact:\/\/quay\.io\/evil\/model:v1 is not allowed/],
    ['an OCI model from another registry', isvc({ model: { storageUri: 'oci://quay.io/evil/model:v1' } }), /oci:\/\/quay\.io\/evil\/model:v1 is not allowed/],
    ['a look-alike host', isvc({ model: { storageUri: 'oci://registry.example.com.evil.example/m:v1' } }), /is not allowed/],
    ['user info hiding another host', isvc({ model: { storageUri: 'oci://registry.example.com@evil.example/m:v1' } }), /is not allowed/],
    ['the registry with no repository', isvc({ model: { storageUri: 'oci://registry.example.com' } }), /is not allowed/],
    ['a per-framework predictor elsewhere (the seed\'s Rego let it through)', isvc({ sklearn: { storageUri: 'gs://bucket/iris' } }), /gs:\/\/bucket\/iris is not allowed/],
    ['an explainer elsewhere', isvc({ model: { storageUri: 'oci://registry.example.com/m:v1' } }, { explainer: { art: { storageUri: 'https://example.org/x' } } }), /https:\/\/example\.org\/x is not allowed/],
    ['a custom container\'s STORAGE_URI elsewhere', isvc({ containers: [{ name: 'c', image: 'x', env: [{ name: 'STORAGE_URI', value: 'pvc://claim/m' }] }] }), /STORAGE_URI pvc:\/\/claim\/m of a predictor container is not allowed/],
    ['a storage block with no storageUri', isvc({ model: { modelFormat: { name: 'sklearn' }, storage: { key: 'bucket-creds', path: 'models/iris' } } }), /storage without a storageUri/],
  ];
  for (const [what, obj, message] of refused) {
    test(`refuses ${what}, saying why`, () => {
      const denied = admit(obj);
      assert.equal(denied.length, 1, JSON.stringify(denied));
      assert.match(denied[0]!, message);
    });
  }
});
