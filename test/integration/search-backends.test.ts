import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type * as PgModule from 'pg';
import { compareDocuments, type SearchIndex, type WritableIndex } from '../../src/core/search/backend';
import type { ArtifactDocument } from '../../src/core/search/document';
import { compileQuery, matches, parseSortField, QueryError, type JsonValue } from '../../src/core/search/jsonpath';
import { PostgresIndex } from '../../src/core/search/postgres';
import { fieldPaths, query } from '../../src/core/search/query';
import { SqliteIndex } from '../../src/core/search/sqlite';
import { MemoryIndex } from '../../src/core/search/memory';
import { plan } from '../../src/core/search/translate';
import { corpus, QUERIES, SORTS } from '../helpers/search-corpus';
import { startPostgres, type RunningPostgres } from '../helpers/postgres';
import { tempDir } from '../helpers/tmp';

/** What the evaluator says, sorted in JavaScript: the answer every backend must give. */
function expected(docs: ArtifactDocument[], q: string, sort?: string, desc?: boolean): ArtifactDocument[] {
  const compiled = compileQuery(q);
  const spec = sort !== undefined ? { path: parseSortField(sort), desc: desc ?? false } : undefined;
  return docs.filter((d) => matches(compiled, JSON.parse(JSON.stringify(d)) as JsonValue)).sort((a, b) => compareDocuments(a, b, spec));
}

async function all(index: SearchIndex, q: string, sort?: string, desc?: boolean): Promise<ArtifactDocument[]> {
  return (await query(index, q, { sort, desc, limit: 10_000 })).items;
}

/** The same queries on SQLite and on a real PostgreSQL: identical answers, identical to the evaluator. */
describe('search backends give the same answers', { timeout: 300_000 }, () => {
  let pg: RunningPostgres;
  let dir: string;
  const docs = corpus();
  const backends: { name: string; index: WritableIndex }[] = [];

  before(async () => {
    pg = await startPostgres();
    dir = tempDir('omlmd-search-');
    backends.push({ name: 'sqlite', index: SqliteIndex.open(join(dir, 'index.sqlite')) });
    backends.push({ name: 'postgres', index: await PostgresIndex.open(await pg.createDatabase('corpus')) });
    backends.push({ name: 'memory', index: new MemoryIndex() });
    for (const b of backends) await b.index.upsert(docs);
  });
  after(async () => {
    for (const b of backends) await b.index.close();
    await pg?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the corpus is stored and read back unchanged, fields in their order', async () => {
    for (const b of backends) {
      assert.equal(await b.index.count(), docs.length, b.name);
      for (const d of docs.slice(0, 5).concat(docs.slice(-8))) assert.equal(JSON.stringify(await b.index.get(d.reference)), JSON.stringify(d), `${b.name} ${d.reference}`);
    }
  });

  for (const q of QUERIES) {
    test(`query ${q}`, async () => {
      for (const s of SORTS) {
        const want = expected(docs, q, s.sort, s.desc).map((d) => d.reference);
        for (const b of backends) {
          const got = (await all(b.index, q, s.sort, s.desc)).map((d) => d.reference);
          assert.deepEqual(got, want, `${b.name}: ${q} sorted by ${s.sort ?? 'reference'}${s.desc ? ' desc' : ''}`);
        }
      }
    });
  }

  test('queries that matter select what a person expects (the evaluator is not vacuous)', () => {
    const refs = (q: string): string[] => expected(docs, q).map((d) => d.tag);
    // Nothing (missing) is neither null nor equal to anything; != holds for it.
    assert.deepEqual(refs('$[?@.customProperties.accuracy == null]'), ['t022']);
    assert.ok(refs('$[?@.customProperties.accuracy != 1]').includes('t031'), 'a document without customProperties.accuracy is != 1');
    // An array holding 0.99 is not 0.99; an array of objects has no member `accuracy`.
    assert.deepEqual(refs('$[?@.customProperties.accuracy == 0.99]'), ['t034']);
    // 1 and 1.0 are the same number; -0 is 0.
    assert.deepEqual(refs('$[?@.customProperties.accuracy == 1]'), ['t003']);
    assert.deepEqual(refs('$[?@.customProperties.accuracy == 0]'), ['t004', 't038']);
    // Strings order by code point: U+FFFF before U+1F600, 'B' before 'a'.
    assert.deepEqual(refs("$[?@.customProperties.accuracy > '\uffff']"), ['t017']);
    assert.deepEqual(refs("$[?@.customProperties.accuracy < 'a']"), ['t010', 't011', 't014', 't018']);
  });

  test('pages put together give the whole answer, for pushed-down and for in-process filters', async () => {
    for (const q of ['$[*]', '$[?@.customProperties.accuracy > 0.5]', "$[?search(@.name, '1')]", "$[?@.size > 1100 && length(@.name) >= 7]"]) {
      for (const b of backends) {
        const whole = (await all(b.index, q, 'size', true)).map((d) => d.reference);
        const pages: string[] = [];
        let offset: number | undefined = 0;
        let n = 0;
        while (offset !== undefined) {
          const page = await query(b.index, q, { sort: 'size', desc: true, limit: 7, offset });
          assert.ok(page.items.length <= 7);
          pages.push(...page.items.map((d) => d.reference));
          offset = page.next;
          assert.ok(++n < 100);
        }
        assert.deepEqual(pages, whole, `${b.name}: ${q}`);
      }
    }
  });

  test('comparisons and existence run in the database; functions after a coarse pre-filter', () => {
    assert.equal(plan(compileQuery("$[?@.customProperties.accuracy > 0.9 && @.model_format_name == 'onnx']").filter).exact, true);
    assert.equal(plan(compileQuery('$[?!@.customProperties.tags || @.name != null]').filter).exact, true);
    const partial = plan(compileQuery("$[?@.kind == 'omlmd' && search(@.name, 'x')]").filter);
    assert.equal(partial.exact, false);
    assert.equal(partial.over.k, 'cmp', 'the translatable half still narrows the rows in SQL');
  });

  test('PostgreSQL answers a metadata filter from the GIN jsonb_path_ops index', async () => {
    const url = await pg.createDatabase('explain');
    const index = await PostgresIndex.open(url);
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const pgmod = require('pg') as typeof PgModule;
      const c = new pgmod.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query('SET enable_seqscan = off');
        const { rows } = await c.query(`EXPLAIN SELECT body FROM omlmd_artifacts WHERE doc @@ $1::jsonpath`, [
          '($."model_format_name".type() == "string" && $."model_format_name" == "onnx")',
        ]);
        assert.match(rows.map((r: { 'QUERY PLAN': string }) => r['QUERY PLAN']).join('\n'), /Bitmap Index Scan on omlmd_artifacts_doc/);
      } finally {
        await c.end();
      }
    } finally {
      await index.close();
    }
  });

  test('field paths for completion: every backend offers the same, most frequent first', async () => {
    const lists = await Promise.all(backends.map((b) => fieldPaths(b.index, { sample: 1000 })));
    for (const l of lists) assert.deepEqual(l, lists[0]);
    const paths = lists[0]!;
    for (const p of ['reference', 'customProperties.accuracy', 'files[].path', 'annotations["org.opencontainers.image.title"]', 'customProperties["f1-score"]', 'customProperties.nested.deep.x']) assert.ok(paths.includes(p), p);
    assert.ok(paths.indexOf('reference') < paths.indexOf('customProperties.nested.deep.x'));
  });

  test('a rejected query says where, the same on every backend', async () => {
    for (const b of backends) {
      await assert.rejects(query(b.index, '$[?@.a == ]'), (e: unknown) => e instanceof QueryError && e.position === 10);
      await assert.rejects(query(b.index, '$[?@.a]', { sort: '@.a[*]' }), (e: unknown) => e instanceof QueryError && e.position === 4);
    }
  });
});
