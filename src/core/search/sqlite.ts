/**
 * The embedded index: one SQLite file (better-sqlite3), nothing to install or run. Documents
 * are stored as JSONB; queries use SQLite's JSON functions (see translate.ts).
 */
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { OmlmdError, toOmlmdError } from '../errors';
import { findWith, type FindOptions, type WritableIndex } from './backend';
import { stringsOf, type ArtifactDocument } from './document';
import type { JsonValue } from './ast';
import { compileQuery, matches, type CompiledQuery } from './jsonpath';
import { orderBy, sortedWindow, sqliteOrderBy, sqliteOrderTerms, sqliteWhere, type Pred, type SortSpec } from './translate';

type Database = BetterSqlite3.Database;

/**
 * 1: the documents. 2: `artifacts_text`, every string value of each document in an FTS5
 * trigram index kept by triggers, which narrows match() and search(). 3: the same table
 * written by `upsert` from strings gathered in JavaScript (three times faster than the
 * trigger's json_tree); only deletes are left to triggers. A file at 1 or 2 is migrated in
 * place when it is opened for writing; opened read-only, it is read as it is.
 */
const SCHEMA_VERSION = 3;

/** Every string value of a document, one per line: what the trigram index holds (SQL, for migrating old files). */
const STRINGS_OF = (doc: string): string => `(SELECT group_concat(value, char(10)) FROM json_tree(${doc}) WHERE type = 'text')`;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS artifacts (
  registry   TEXT NOT NULL,
  repository TEXT NOT NULL,
  tag        TEXT NOT NULL,
  digest     TEXT NOT NULL,
  reference  TEXT NOT NULL,
  kind       TEXT NOT NULL,
  doc        BLOB NOT NULL,
  indexed_at TEXT NOT NULL,
  PRIMARY KEY (reference)
);
CREATE INDEX IF NOT EXISTS artifacts_tag ON artifacts (registry, repository, tag);
CREATE INDEX IF NOT EXISTS artifacts_digest ON artifacts (registry, repository, digest);
-- The fields most queries test for equality; a query's json_extract matches these exactly.
CREATE INDEX IF NOT EXISTS artifacts_name ON artifacts (json_extract(doc, '$."name"'));
CREATE INDEX IF NOT EXISTS artifacts_author ON artifacts (json_extract(doc, '$."author"'));
CREATE INDEX IF NOT EXISTS artifacts_format ON artifacts (json_extract(doc, '$."model_format_name"'));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS artifacts_text USING fts5(body, tokenize = 'trigram case_sensitive 1', detail = none);
DROP TRIGGER IF EXISTS artifacts_text_insert;
DROP TRIGGER IF EXISTS artifacts_text_update;
-- upsert writes the new text after the row; the old text goes here.
CREATE TRIGGER IF NOT EXISTS artifacts_text_replace AFTER UPDATE OF doc ON artifacts BEGIN
  DELETE FROM artifacts_text WHERE rowid = old.rowid;
END;
CREATE TRIGGER IF NOT EXISTS artifacts_text_delete AFTER DELETE ON artifacts BEGIN
  DELETE FROM artifacts_text WHERE rowid = old.rowid;
END;
`;

/** Rows looked at in the order of a sort index before the whole query is asked instead. */
const SORTED_WINDOW = 1000;

/** better-sqlite3 is a native module: loaded only when an index is opened. */
function loadDriver(): typeof BetterSqlite3 {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('better-sqlite3') as typeof BetterSqlite3;
  } catch (e) {
    throw new OmlmdError('UNSUPPORTED', `the SQLite index needs the better-sqlite3 module, which did not load: ${(e as Error).message}`, {
      cause: e,
      remedies: [{ kind: 'say', text: 'reinstall with `npm ci` (it builds better-sqlite3), or use a PostgreSQL index (postgres://...)' }],
    });
  }
}

interface Row {
  body: string;
}

function tableExists(db: Database, name: string): boolean {
  return db.prepare(`SELECT 1 FROM sqlite_master WHERE name = ?`).get(name) !== undefined;
}

/** The name of the index that serves a sort: the same for the same field and direction in every process. */
export function sortIndexName(sort: SortSpec): string {
  return `artifacts_sort_${createHash('sha256').update(JSON.stringify(sort.path)).digest('hex').slice(0, 16)}_${sort.desc ? 'd' : 'a'}`;
}

export class SqliteIndex implements WritableIndex {
  readonly description: string;
  private readonly db: Database;

  private constructor(db: Database, readonly path: string) {
    this.db = db;
    this.description = `SQLite index ${path}`;
    this.textTable = tableExists(db, 'artifacts_text') ? 'artifacts_text' : undefined;
    // The in-process evaluator inside SQLite's scan: what SQL cannot say (functions, query
    // against query) is checked row by row, and LIMIT/OFFSET still count true matches.
    db.function('omlmd_match', { deterministic: true }, (source: unknown, body: unknown) => {
      const q = this.residuals.get(String(source)) ?? compileQuery(String(source));
      return matches(q, JSON.parse(String(body)) as JsonValue) ? 1 : 0;
    });
  }

  static open(path: string, opts: { readonly?: boolean } = {}): SqliteIndex {
    const Driver = loadDriver();
    let db: Database | undefined;
    try {
      if (!opts.readonly && path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      const d = new Driver(path, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
      db = d;
      // Several processes (a crawl and a query, a server) share the file.
      d.pragma('busy_timeout = 10000');
      if (!opts.readonly) {
        d.pragma('journal_mode = WAL');
        d.pragma('synchronous = NORMAL');
        // One transaction, so two processes opening an old file migrate it once.
        d.transaction(() => {
          const hasMeta = tableExists(d, 'meta');
          const v = hasMeta ? (d.prepare(`SELECT value FROM meta WHERE key = 'schema'`).get() as { value: string } | undefined) : undefined;
          if (v && Number(v.value) > SCHEMA_VERSION) throw new OmlmdError('UNSUPPORTED', `${path} was written by a newer omlmd (index schema ${v.value})`);
          const hadText = tableExists(d, 'artifacts_text');
          d.exec(SCHEMA);
          // Schema 1 → 2: the text of the documents already there.
          if (!hadText) d.exec(`INSERT INTO artifacts_text (rowid, body) SELECT rowid, ${STRINGS_OF('doc')} FROM artifacts`);
          d.prepare(`INSERT INTO meta (key, value) VALUES ('schema', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`).run(String(SCHEMA_VERSION));
        }).immediate();
      }
    } catch (e) {
      if (db?.open) db.close();
      if (e instanceof OmlmdError) throw e;
      throw toOmlmdError(e, `cannot open the index ${path}`);
    }
    return new SqliteIndex(db!, path);
  }

  private written = 0;
  private readonly statements = new Map<string, BetterSqlite3.Statement>();

  /** A prepared statement, prepared once per text. */
  private statement(sql: string): BetterSqlite3.Statement {
    let st = this.statements.get(sql);
    if (!st) {
      if (this.statements.size > 200) this.statements.clear();
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    }
    return st;
  }
  /** Queries whose residual the `omlmd_match` function is evaluating, by their text. */
  private readonly residuals = new Map<string, CompiledQuery>();

  /** Sort indexes known to exist (made here or by another process). */
  private readonly sortIndexes = new Set<string>();
  private textTable: string | undefined;

  /**
   * The index that serves a sort by a field, made the first time the field is sorted by
   * (a writable file; a read-only one uses it when it is there). It stays in the file.
   */
  private sortIndex(sort: SortSpec): string | undefined {
    const name = sortIndexName(sort);
    if (this.sortIndexes.has(name)) return name;
    if (!tableExists(this.db, name)) {
      if (this.db.readonly) return undefined;
      this.db.exec(`CREATE INDEX IF NOT EXISTS ${name} ON artifacts (${orderBy(sqliteOrderTerms(sort))}); PRAGMA analysis_limit = 1000; ANALYZE ${name};`);
    }
    this.sortIndexes.add(name);
    return name;
  }

  private page = async (where: Pred, sort: SortSpec | undefined, offset: number, limit: number, residual?: CompiledQuery): Promise<ArtifactDocument[]> => {
    const w = sqliteWhere(where, 'doc', this.textTable);
    let cond = w.sql;
    const params = [...w.params];
    if (residual) {
      if (this.residuals.size > 100) this.residuals.clear();
      this.residuals.set(residual.source, residual);
      cond = `(${cond}) AND omlmd_match(?, json(doc))`;
      params.push(residual.source);
    }
    const order = sqliteOrderBy(sort);
    const index = sort ? this.sortIndex(sort) : undefined;
    if (index) {
      // The first rows in the sort's order, from its index, hold the whole page whenever
      // enough of them match (a sort by a field and a filter most rows pass: the top
      // accuracy). Otherwise the whole query, which the planner may start from a filter's index.
      const window = Math.max(SORTED_WINDOW, 20 * (offset + limit));
      const w = sortedWindow(sqliteOrderTerms(sort), `artifacts INDEXED BY ${index}`, 'rowid, doc, reference, digest');
      const sql = `SELECT json(doc) AS body FROM ${w.sql} WHERE ${cond} ORDER BY ${w.order} LIMIT ? OFFSET ?`;
      const rows = this.statement(sql).all(window, ...params, limit, offset) as Row[];
      if (rows.length === limit) return rows.map((r) => JSON.parse(r.body) as ArtifactDocument);
    }
    const sql = `SELECT json(doc) AS body FROM artifacts WHERE ${cond} ORDER BY ${order} LIMIT ? OFFSET ?`;
    const rows = this.statement(sql).all(...params, limit, offset) as Row[];
    return rows.map((r) => JSON.parse(r.body) as ArtifactDocument);
  };

  find(query: CompiledQuery, opts: FindOptions = {}): AsyncIterable<ArtifactDocument> {
    return findWith({ page: this.page }, query, opts);
  }

  async get(reference: string): Promise<ArtifactDocument | undefined> {
    const r = this.statement('SELECT json(doc) AS body FROM artifacts WHERE reference = ?').get(reference) as Row | undefined;
    return r ? (JSON.parse(r.body) as ArtifactDocument) : undefined;
  }

  async count(): Promise<number> {
    return (this.db.prepare('SELECT count(*) AS n FROM artifacts').get() as { n: number }).n;
  }

  async upsert(docs: readonly ArtifactDocument[]): Promise<void> {
    const stmt = this.statement(
      `INSERT INTO artifacts (registry, repository, tag, digest, reference, kind, doc, indexed_at) VALUES (?, ?, ?, ?, ?, ?, jsonb(?), ?)
       ON CONFLICT (reference) DO UPDATE SET registry = excluded.registry, repository = excluded.repository, tag = excluded.tag, digest = excluded.digest, kind = excluded.kind, doc = excluded.doc, indexed_at = excluded.indexed_at
       RETURNING rowid AS id`,
    );
    const text = this.textTable ? this.statement(`INSERT INTO ${this.textTable} (rowid, body) VALUES (?, ?)`) : undefined;
    const now = new Date().toISOString();
    this.db.transaction(() => {
      const ids = docs.map((d) => (stmt.get(d.registry, d.repository, d.tag, d.digest, d.reference, d.kind, JSON.stringify(d), now) as { id: number | bigint }).id);
      // After the rows, not between them: FTS5 inserts in a run cost a third as much.
      if (text) docs.forEach((d, i) => text.run(ids[i], stringsOf(d).join('\n')));
    })();
    // Without statistics the planner picks the first expression index, even a useless one
    // (model_format_name has a handful of values); a sampled ANALYZE now and then fixes that.
    this.written += docs.length;
    if (this.written >= 5000) {
      this.written = 0;
      this.db.exec('PRAGMA analysis_limit = 1000; ANALYZE;');
    }
  }

  async removeTags(registry: string, repository: string, tags: readonly string[]): Promise<number> {
    const stmt = this.db.prepare('DELETE FROM artifacts WHERE registry = ? AND repository = ? AND tag = ?');
    let n = 0;
    this.db.transaction(() => {
      for (const t of tags) n += stmt.run(registry, repository, t).changes;
    })();
    return n;
  }

  async removeDigest(registry: string, repository: string, digest: string): Promise<ArtifactDocument[]> {
    const rows = this.db.prepare('DELETE FROM artifacts WHERE registry = ? AND repository = ? AND digest = ? RETURNING json(doc) AS body').all(registry, repository, digest) as Row[];
    return rows.map((r) => JSON.parse(r.body) as ArtifactDocument);
  }

  async removeRepository(registry: string, repository: string): Promise<number> {
    return this.db.prepare('DELETE FROM artifacts WHERE registry = ? AND repository = ?').run(registry, repository).changes;
  }

  async repositories(registry: string): Promise<string[]> {
    return (this.db.prepare('SELECT DISTINCT repository FROM artifacts WHERE registry = ? ORDER BY repository').all(registry) as { repository: string }[]).map((r) => r.repository);
  }

  async tagDigests(registry: string, repository: string): Promise<Map<string, string>> {
    const rows = this.statement('SELECT tag, digest FROM artifacts WHERE registry = ? AND repository = ? AND tag <> \'\'').all(registry, repository) as { tag: string; digest: string }[];
    return new Map(rows.map((r) => [r.tag, r.digest]));
  }

  async byDigest(registry: string, repository: string, digest: string): Promise<ArtifactDocument | undefined> {
    const r = this.statement('SELECT json(doc) AS body FROM artifacts WHERE registry = ? AND repository = ? AND digest = ? LIMIT 1').get(registry, repository, digest) as Row | undefined;
    return r ? (JSON.parse(r.body) as ArtifactDocument) : undefined;
  }

  async close(): Promise<void> {
    if (!this.db.open) return;
    if (!this.db.readonly) this.db.exec('PRAGMA analysis_limit = 1000; PRAGMA optimize;');
    this.db.close();
  }
}
