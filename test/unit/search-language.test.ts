import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { OmlmdError } from '../../src/core/errors';
import { MODEL_ARTIFACT_TYPE } from '../../src/core/model/artifact';
import type { ImageManifest } from '../../src/core/oci/types';
import { parseCrawlTarget } from '../../src/core/search/crawler';
import { artifactKind, buildDocument, parseConfig } from '../../src/core/search/document';
import { compareCodePoints, compileQuery, evaluateJsonPath, matches, parseSortField, QueryError, type JsonValue } from '../../src/core/search/jsonpath';
import { formatSortPath } from '../../src/core/search/remote';
import { plan, postgresJsonPath, sqlitePath, sqliteWhere } from '../../src/core/search/translate';

/** The compliance suite, copied into our fixtures with its licence (see its README for the revision). */
const CTS = join(__dirname, '..', 'fixtures', 'jsonpath-compliance-test-suite', 'cts.json');

describe('JSONPath: RFC 9535', () => {
  test('the JSONPath compliance test suite passes in full: every valid selector selects what it must, every invalid one is refused', () => {
    const { tests } = JSON.parse(readFileSync(CTS, 'utf8')) as { tests: { name: string; selector: string; document: JsonValue; result?: JsonValue[]; results?: JsonValue[][]; invalid_selector?: boolean }[] };
    assert.ok(tests.length > 600);
    const failures: string[] = [];
    for (const t of tests) {
      try {
        const got = evaluateJsonPath(t.selector, t.document);
        if (t.invalid_selector) failures.push(`accepted invalid ${t.name}: ${t.selector}`);
        else if (!(t.result ? isDeepStrictEqual(got, t.result) : t.results!.some((r) => isDeepStrictEqual(got, r)))) failures.push(`wrong ${t.name}: ${t.selector}`);
      } catch (e) {
        if (!(t.invalid_selector && e instanceof QueryError)) failures.push(`threw on ${t.name}: ${t.selector}: ${(e as Error).message}`);
      }
    }
    assert.deepEqual(failures, []);
  });

  test('a search query is $[?FILTER], $[*], $ or a bare filter', () => {
    assert.equal(compileQuery('$').filter, undefined);
    assert.equal(compileQuery('$[*]').filter, undefined);
    assert.equal(compileQuery('  ').filter, undefined);
    const doc = { customProperties: { accuracy: 0.97 }, model_format_name: 'onnx' };
    assert.equal(matches(compileQuery("@.customProperties.accuracy > 0.95 && @.model_format_name == 'onnx'"), doc), true);
    assert.equal(matches(compileQuery("$[?@.customProperties.accuracy > 0.95 && @.model_format_name == 'onnx']"), doc), true);
    assert.equal(matches(compileQuery('$[?@.customProperties.accuracy > 0.98]'), doc), false);
  });

  const rejected: [string, number, RegExp][] = [
    ['$[?@.a > ]', 9, /unexpected "\]"/],
    ['$[?@.a == 01]', 11, /unexpected "1"/],
    ['$[?length(@.a)]', 3, /result of length\(\) must be compared/],
    ["$[?@.a == 1 && match(@.b, 'x') == true]", 15, /match\(\) is true or false and cannot be compared/],
    ['$[?@.a == 1 || frobnicate(@.b)]', 15, /unknown function frobnicate\(\)/],
    ['$[?count(@.a, @.b) > 1]', 3, /count\(\) takes 1 argument, not 2/],
    ['$[?length(@.*) > 1]', 3, /needs a single value/],
    ['$[?count(1) > 1]', 3, /needs a query/],
    ['$[?@.a == $.b]', 10, /`\$` inside a filter/],
    ['$[?@.a].name', 7, /nothing may follow the filter/],
    ['$.name', 1, /write \$\[\?FILTER\]/],
    ['$[0]', 2, /write \$\[\?FILTER\]/],
    ['$[?@.a[9007199254740992]]', 7, /outside the exact integer range/],
    ['@.a = 1', 4, /unexpected "="/],
    ['  $[?@.x ==]', 11, /unexpected "\]"/],
  ];
  for (const [q, at, why] of rejected) {
    test(`refuses ${JSON.stringify(q)} at column ${at + 1}`, () => {
      assert.throws(() => compileQuery(q), (e: unknown) => {
        assert.ok(e instanceof QueryError, String(e));
        assert.ok(OmlmdError.is(e, 'INVALID_QUERY'));
        assert.equal(e.position, at, e.message);
        assert.match(e.message, why);
        assert.equal(e.pointer().split('\n')[1]!.indexOf('^'), at + 2);
        return true;
      });
    });
  }

  test('sort fields: dotted names or a singular JSONPath', () => {
    assert.deepEqual(parseSortField('customProperties.accuracy'), [{ name: 'customProperties' }, { name: 'accuracy' }]);
    assert.deepEqual(parseSortField('@.customProperties["f1-score"]'), [{ name: 'customProperties' }, { name: 'f1-score' }]);
    assert.deepEqual(parseSortField("$.files[-1]['size']"), [{ name: 'files' }, { index: -1 }, { name: 'size' }]);
    assert.throws(() => parseSortField('a..b'), (e: unknown) => e instanceof QueryError && e.position === 2);
    assert.throws(() => parseSortField('@.files[*].size'), (e: unknown) => e instanceof QueryError && e.position === 8);
    for (const p of [[{ name: 'a"b' }, { index: 0 }, { name: 'x y' }], [{ name: "it's" }]]) assert.deepEqual(parseSortField(formatSortPath(p)), p);
  });

  test('strings order by code point, not by UTF-16 unit', () => {
    assert.ok(compareCodePoints('\uffff', '😀') < 0, 'U+FFFF < U+1F600');
    assert.ok('\uffff' > '😀', 'JavaScript < would say otherwise');
    assert.ok(compareCodePoints('B', 'a') < 0);
    assert.ok(compareCodePoints('a', 'ab') < 0);
    assert.equal(compareCodePoints('é', 'é'), 0);
    assert.equal(matches(compileQuery("@.s < '😀'"), { s: '\uffff' }), true);
  });
});

describe('translation to SQL', () => {
  test('SQLite paths quote member names as the stored JSON writes them, and index from the end with #', () => {
    assert.equal(sqlitePath([{ name: 'a.b' }, { index: -2 }, { name: 'q"k' }]), '$."a.b"[#-2]."q\\"k"');
  });

  test('a negation stays two-valued in SQLite (IS, never = NULL)', () => {
    const w = sqliteWhere(plan(compileQuery("$[?!(@.a == 'x')]").filter).over);
    assert.match(w.sql, /^NOT \(\(json_type\(doc, '\$\."a"'\) IS 'text' AND json_extract\(doc, '\$\."a"'\) = \?\)\)$/);
    assert.deepEqual(w.params, ['x']);
  });

  test('PostgreSQL paths guard each step and the value by type (lax mode would unwrap arrays)', () => {
    assert.equal(
      postgresJsonPath(plan(compileQuery('$[?@.customProperties.accuracy > 0.9]').filter).over),
      '($."customProperties".type() == "object" && $."customProperties"."accuracy".type() == "number" && $."customProperties"."accuracy" > 0.9)',
    );
    assert.equal(postgresJsonPath(plan(compileQuery('$[?@.a[-2] == true]').filter).over), '($."a".type() == "array" && $."a"[last - 1].type() == "boolean" && $."a"[last - 1] == true)');
    assert.equal(postgresJsonPath(plan(compileQuery('$[?1 > 2]').filter).over), false);
  });

  test('what cannot be translated is over-approximated, so the database never drops a match', () => {
    const p = plan(compileQuery("$[?!(@.kind == 'omlmd' && search(@.name, 'x'))]").filter);
    assert.equal(p.exact, false);
    // not(A and R): over = not(under(A and R)) = not(A and false) = true.
    assert.deepEqual(p.over, { k: 'const', v: true });
  });
});

describe('documents', () => {
  const manifest = (over: Partial<ImageManifest>): ImageManifest => ({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/x-config', digest: `sha256:${'1'.repeat(64)}`, size: 10 },
    layers: [{ mediaType: 'application/x-mlmodel', digest: `sha256:${'2'.repeat(64)}`, size: 5, annotations: { 'org.opencontainers.image.title': 'model.onnx' } }],
    ...over,
  });

  test('recognises omlmd, omlmd 0.1.x, ModelPack and KitOps artifacts, and nothing else', () => {
    assert.equal(artifactKind(manifest({ artifactType: MODEL_ARTIFACT_TYPE })), 'omlmd');
    assert.equal(artifactKind(manifest({})), 'omlmd-0.1');
    assert.equal(artifactKind(manifest({ artifactType: 'application/vnd.cncf.model.manifest.v1+json', config: { mediaType: 'application/vnd.cncf.model.config.v1+json', digest: `sha256:${'1'.repeat(64)}`, size: 1 } })), 'modelpack');
    assert.equal(artifactKind(manifest({ config: { mediaType: 'application/vnd.kitops.modelkit.config.v1+json', digest: `sha256:${'1'.repeat(64)}`, size: 1 } })), 'kitops');
    assert.equal(artifactKind(manifest({ config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'1'.repeat(64)}`, size: 1 } })), undefined);
  });

  test('the metadata sits at the top level; the document\'s own fields win and the clash is reported', () => {
    const config = parseConfig(Buffer.from('{"name":"m","customProperties":{"accuracy":0.9},"digest":"mine","descriptor":{"name":"x"}}'), 'r');
    const { document, warnings } = buildDocument({ registry: 'h:1', repository: 'r', tag: 'v1', reference: 'h:1/r:v1', digest: `sha256:${'3'.repeat(64)}`, mediaType: 'application/vnd.oci.image.manifest.v1+json', manifest: manifest({ annotations: { 'org.opencontainers.image.created': '2026-01-01T00:00:00Z' } }), kind: 'omlmd', config });
    assert.equal(document.name, 'm');
    assert.deepEqual(document.customProperties, { accuracy: 0.9 });
    assert.equal(document.digest, `sha256:${'3'.repeat(64)}`);
    assert.equal(document.created, '2026-01-01T00:00:00Z');
    assert.deepEqual(document.files, [{ path: 'model.onnx', mediaType: 'application/x-mlmodel', size: 5 }]);
    assert.equal(document.size, 15);
    assert.match(warnings.join(), /config field digest hidden/);
  });

  test('ModelPack and KitOps documents get a top-level name and created from their own fields', () => {
    const mp = buildDocument({ registry: 'h:1', repository: 'r', tag: 'v1', reference: 'h:1/r:v1', digest: `sha256:${'3'.repeat(64)}`, mediaType: 'm', manifest: manifest({}), kind: 'modelpack', config: { descriptor: { name: 'llama', createdAt: '2025-05-05T00:00:00Z' }, config: { format: 'safetensors' } } }).document;
    assert.equal(mp.name, 'llama');
    assert.equal(mp.created, '2025-05-05T00:00:00Z');
    const kit = buildDocument({ registry: 'h:1', repository: 'r', tag: 'v1', reference: 'h:1/r:v1', digest: `sha256:${'3'.repeat(64)}`, mediaType: 'm', manifest: manifest({}), kind: 'kitops', config: { manifestVersion: '1.0', package: { name: 'kit' } } }).document;
    assert.equal(kit.name, 'kit');
  });

  test('a config no index could hold the same everywhere is refused, with where', () => {
    assert.throws(() => parseConfig(Buffer.from('{"name":"a\\u0000b"}'), 'h/r:v1'), /h\/r:v1: the text at \$\["name"\] holds U\+0000/);
    assert.throws(() => parseConfig(Buffer.from('{"x":"\\ud800"}'), 'h/r:v1'), /unpaired surrogate/);
    assert.throws(() => parseConfig(Buffer.from('{"x":1e999}'), 'h/r:v1'), /out of range/);
    assert.throws(() => parseConfig(Buffer.from('[1]'), 'h/r:v1'), (e: unknown) => OmlmdError.is(e, 'INVALID_METADATA'));
    assert.throws(() => parseConfig(Buffer.from('not json'), 'h/r:v1'), /not valid JSON/);
  });

  test('crawl targets: a registry, a repository, a reference, the local store', () => {
    assert.deepEqual(parseCrawlTarget('localhost:5000'), { kind: 'catalog', registry: 'localhost:5000', lister: 'localhost:5000' });
    assert.deepEqual(parseCrawlTarget('http://quay.io/'), { kind: 'catalog', registry: 'quay.io', lister: 'quay.io' });
    assert.equal(parseCrawlTarget('local').kind, 'catalog');
    const repo = parseCrawlTarget('localhost:5000/models/mnist');
    assert.equal(repo.kind, 'repository');
    const ref = parseCrawlTarget('localhost:5000/models/mnist:v1');
    assert.ok(ref.kind === 'reference' && ref.tag === 'v1' && ref.repository === 'models/mnist');
    const local = parseCrawlTarget('team/llm');
    assert.ok(local.kind === 'repository' && local.place.registry === 'local');
    assert.throws(() => parseCrawlTarget('localhost:5000/Bad'), (e: unknown) => OmlmdError.is(e, 'INVALID_REFERENCE'));
  });
});
