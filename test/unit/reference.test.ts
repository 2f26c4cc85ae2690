import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OmlmdError } from '../../src/core/errors';
import { formatReference, isLoopbackHost, parseReference } from '../../src/core/oci/reference';

test('registry references: host, port, nested repository, tag, digest', () => {
  const d = 'sha256:' + 'a'.repeat(64);
  assert.deepEqual(parseReference('localhost:5000/models/mnist:v1'), { kind: 'registry', registry: 'localhost:5000', repository: 'models/mnist', tag: 'v1', digest: undefined });
  assert.deepEqual(parseReference(`quay.io/org/m@${d}`), { kind: 'registry', registry: 'quay.io', repository: 'org/m', tag: undefined, digest: d });
  assert.deepEqual(parseReference(`127.0.0.1:5001/m:v2@${d}`), { kind: 'registry', registry: '127.0.0.1:5001', repository: 'm', tag: 'v2', digest: d });
  assert.equal(parseReference('[::1]:5000/m:t').kind, 'registry');
});

test('a reference without a registry host names the local store', () => {
  assert.deepEqual(parseReference('mnist:v1'), { kind: 'local', repository: 'mnist', tag: 'v1', digest: undefined });
  assert.deepEqual(parseReference('team/mnist'), { kind: 'local', repository: 'team/mnist', tag: undefined, digest: undefined });
});

test('OCI layout references split at the first colon, as skopeo does', () => {
  assert.deepEqual(parseReference('oci:/tmp/lay:single'), { kind: 'layout', path: '/tmp/lay', tag: 'single', digest: undefined });
  assert.deepEqual(parseReference('oci:./lay'), { kind: 'layout', path: './lay', tag: undefined, digest: undefined });
  const d = 'sha256:' + 'b'.repeat(64);
  assert.deepEqual(parseReference(`oci:./lay@${d}`), { kind: 'layout', path: './lay', tag: undefined, digest: d });
});

test('bad references are refused with the reason and a fix', () => {
  const cases: [string, RegExp][] = [
    ['', /empty/],
    ['localhost:5000/MNIST:v1', /not a valid name/],
    ['localhost:5000/m:-bad', /tag/],
    ['localhost:5000/m@sha256:xyz', /not a sha256 digest/],
    ['oci::tag', /layout path is empty/],
  ];
  for (const [input, re] of cases) {
    assert.throws(() => parseReference(input), (e: unknown) => OmlmdError.is(e, 'INVALID_REFERENCE') && re.test(e.message), input);
  }
  assert.throws(() => parseReference('localhost:5000/MNIST'), (e: unknown) => OmlmdError.is(e) && e.remedies.length === 1 && e.remedies[0]!.kind === 'say' && /use "mnist"/.test(e.remedies[0]!.text));
});

test('format round-trips and loopback detection', () => {
  for (const s of ['localhost:5000/a/b:c', 'oci:/x/y:t', 'm:v1']) assert.equal(formatReference(parseReference(s)), s);
  assert.ok(isLoopbackHost('localhost:5000'));
  assert.ok(isLoopbackHost('127.0.0.1:80'));
  assert.ok(isLoopbackHost('[::1]:5000'));
  assert.ok(!isLoopbackHost('quay.io'));
});
