import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type BetterSqlite3 from 'better-sqlite3';
import { compareDocuments } from '../../src/core/search/backend';
import { compileQuery, matches, parseSortField, type JsonValue } from '../../src/core/search/jsonpath';
import { requiredLiterals } from '../../src/core/search/literals';
import { query } from '../../src/core/search/query';
import { SqliteIndex, sortIndexName } from '../../src/core/search/sqlite';
import { PostgresIndex } from '../../src/core/search/postgres';
import { startPostgres } from '../helpers/postgres';
import type * as PgModule from 'pg';
import { corpus } from '../helpers/search-corpus';
import { tempDir } from '../helpers/tmp';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const Driver = require('better-sqlite3') as typeof BetterSqlite3;

/** An index file as omlmd wrote it at schema 1: documents only, no text table. */
function writeSchema1(path: string, docs: ReturnType<typeof corpus>): void {
  const db = new Driver(path);
  db.exec(`CREATE TABLE artifacts (registry TEXT NOT NULL, repository TEXT NOT NULL, tag TEXT NOT NULL, digest TEXT NOT NULL, reference TEXT NOT NULL, kind TEXT NOT NULL, doc BLOB NOT NULL, indexed_at TEXT NOT NULL, PRIMARY KEY (reference));
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); INSERT INTO meta VALUES ('schema', '1');`);
  const st = db.prepare('INSERT INTO artifacts VALUES (?, ?, ?, ?, ?, ?, jsonb(?), ?)');
  for (const d of docs) st.run(d.registry, d.repository, d.tag, d.digest, d.reference, d.kind, JSON.stringify(d), 'then');
  db.close();
}

const QUERIES = ["$[?search(@.name, 'model 1')]", "$[?match(@.customProperties.license, 'Apache-2.0')]", "$[?search(@.name, 'zebra') || @.size > 2000]", "$[?!search(@.name, 'model 2')]", '$[*]', '$[?@.customProperties.accuracy > 0.5]'];

test('a schema-1 SQLite index is migrated in place; narrowing and a lazily made sort index keep the answers, and the sort index survives a reopen', async () => {
  const docs = corpus();
  const path = join(tempDir('omlmd-migrate-'), 'old.sqlite');
  writeSchema1(path, docs);
  const sort = { path: parseSortField('customProperties.accuracy'), desc: true };
  const want = (q: string): string[] => docs.filter((d) => matches(compileQuery(q), JSON.parse(JSON.stringify(d)) as JsonValue)).sort((a, b) => compareDocuments(a, b, sort)).map((d) => d.reference);
  let index = SqliteIndex.open(path);
  for (const q of QUERIES) {
    const got: string[] = [];
    // Pages of 3: the window of the sort index serves them.
    for (let offset: number | undefined = 0; offset !== undefined;) {
      const page = await query(index, q, { sort: 'customProperties.accuracy', desc: true, limit: 3, offset });
      got.push(...page.items.map((d) => d.reference));
      offset = page.next;
    }
    assert.deepEqual(got, want(q), q);
  }
  await index.close();
  const db = new Driver(path, { readonly: true });
  assert.equal((db.prepare(`SELECT value FROM meta WHERE key = 'schema'`).get() as { value: string }).value, '3');
  assert.ok(db.prepare('SELECT 1 FROM sqlite_master WHERE name = ?').get(sortIndexName(sort)), 'the sort index is in the file');
  assert.equal((db.prepare('SELECT count(*) AS n FROM artifacts_text').get() as { n: number }).n, docs.length, 'the text of every old document');
  db.close();
  index = SqliteIndex.open(path, { readonly: true });
  for (const q of QUERIES) assert.deepEqual((await query(index, q, { sort: 'customProperties.accuracy', desc: true, limit: 1000 })).items.map((d) => d.reference), want(q), `reopened: ${q}`);
  await index.close();
});

test('the literal pieces every match of a pattern contains', () => {
  assert.deepEqual(requiredLiterals('^model-4242$'), ['model-4242']);
  assert.deepEqual(requiredLiterals('onnx|ONNX'), []);
  assert.deepEqual(requiredLiterals('ab?cdef'), ['cdef']);
  assert.deepEqual(requiredLiterals('abc+def'), ['abc', 'def']);
  assert.deepEqual(requiredLiterals('a(b|c)def'), ['def']);
  assert.deepEqual(requiredLiterals('abc{0,2}de'), []);
  assert.deepEqual(requiredLiterals('x\\.yz\\|q'), ['x.yz|q']);
});

test('a schema-2 SQLite index (text kept by insert and update triggers) is migrated to 3: each document is in the text table once, after inserts and updates alike', async () => {
  const docs = corpus();
  const path = join(tempDir('omlmd-migrate-'), 'v2.sqlite');
  let index = SqliteIndex.open(path);
  await index.close();
  // Schema 2's triggers, put back as the previous omlmd wrote them.
  const strings = (doc: string): string => `(SELECT group_concat(value, char(10)) FROM json_tree(${doc}) WHERE type = 'text')`;
  let db = new Driver(path);
  db.exec(`DROP TRIGGER artifacts_text_replace;
    CREATE TRIGGER artifacts_text_insert AFTER INSERT ON artifacts BEGIN INSERT INTO artifacts_text (rowid, body) VALUES (new.rowid, ${strings('new.doc')}); END;
    CREATE TRIGGER artifacts_text_update AFTER UPDATE OF doc ON artifacts BEGIN DELETE FROM artifacts_text WHERE rowid = old.rowid; INSERT INTO artifacts_text (rowid, body) VALUES (new.rowid, ${strings('new.doc')}); END;
    UPDATE meta SET value = '2' WHERE key = 'schema';`);
  db.close();
  index = SqliteIndex.open(path);
  await index.upsert(docs);
  await index.upsert(docs.slice(0, 5).map((d) => ({ ...d, name: `renamed ${d.name as string}` })));
  const q = "$[?search(@.name, '^renamed ')]";
  assert.deepEqual((await query(index, q, { limit: 1000 })).items.map((d) => d.reference).sort(), docs.slice(0, 5).map((d) => d.reference).sort());
  await index.close();
  db = new Driver(path, { readonly: true });
  assert.equal((db.prepare(`SELECT value FROM meta WHERE key = 'schema'`).get() as { value: string }).value, '3');
  assert.equal((db.prepare('SELECT count(*) AS n FROM artifacts_text').get() as { n: number }).n, docs.length, 'one text row per document');
  assert.equal(db.prepare(`SELECT 1 FROM sqlite_master WHERE name IN ('artifacts_text_insert', 'artifacts_text_update')`).get(), undefined);
  db.close();
});

test('a PostgreSQL index made before the strings column gains it in place: the old documents are narrowed by match()/search() with the same answers', async () => {
  const docs = corpus();
  const pg = await startPostgres();
  try {
    const url = await pg.createDatabase('old');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Client } = require('pg') as typeof PgModule;
    const c = new Client({ connectionString: url });
    await c.connect();
    // The table as the previous schema made it: no strings column, no trigram index.
    await c.query(`CREATE TABLE omlmd_artifacts (registry text NOT NULL, repository text NOT NULL, tag text NOT NULL, digest text NOT NULL, reference text NOT NULL, kind text NOT NULL, doc jsonb NOT NULL, body text NOT NULL, indexed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (reference));
      CREATE INDEX omlmd_artifacts_doc ON omlmd_artifacts USING gin (doc jsonb_path_ops)`);
    for (const d of docs) {
      const body = JSON.stringify(d);
      await c.query('INSERT INTO omlmd_artifacts (registry, repository, tag, digest, reference, kind, doc, body) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $7)', [d.registry, d.repository, d.tag, d.digest, d.reference, d.kind, body]);
    }
    const index = await PostgresIndex.open(url);
    try {
      const want = (q: string): string[] => docs.filter((d) => matches(compileQuery(q), JSON.parse(JSON.stringify(d)) as JsonValue)).map((d) => d.reference).sort();
      for (const q of QUERIES) assert.deepEqual((await query(index, q, { limit: 1000 })).items.map((d) => d.reference).sort(), want(q), q);
      const cols = await c.query(`SELECT count(*)::int AS n FROM omlmd_artifacts WHERE strings IS NULL OR strings = ''`);
      assert.equal(cols.rows[0].n, 0, 'every old document has its strings');
      const idx = await c.query(`SELECT 1 FROM pg_indexes WHERE indexname = 'omlmd_artifacts_strings'`);
      assert.equal(idx.rowCount, 1, 'the trigram index is made');
      // New writes keep the same text the migration made.
      const before = (await c.query(`SELECT strings FROM omlmd_artifacts WHERE reference = $1`, [docs[0]!.reference])).rows[0].strings as string;
      await index.upsert([docs[0]!]);
      const after = (await c.query(`SELECT strings FROM omlmd_artifacts WHERE reference = $1`, [docs[0]!.reference])).rows[0].strings as string;
      assert.deepEqual(after.split('\n').sort(), before.split('\n').sort());
    } finally {
      await index.close();
      await c.end();
    }
  } finally {
    await pg.stop();
  }
});
