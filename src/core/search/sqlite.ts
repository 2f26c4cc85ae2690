/**
 * The embedded index: one SQLite file (better-sqlite3), nothing to install or run. Documents
 * are stored as JSONB; queries use SQLite's JSON functions (see translate.ts).
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { OmlmdError, toOmlmdError } from '../errors';
import { findWith, type FindOptions, type WritableIndex } from './backend';
import type { ArtifactDocument } from './document';
import type { JsonValue } from './ast';
import { compileQuery, matches, type CompiledQuery } from './jsonpath';
import { sqliteOrderBy, sqliteWhere, type Pred, type SortSpec } from './translate';

type Database = BetterSqlite3.Database;

const SCHEMA_VERSION = 1;

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
`;

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

export class SqliteIndex implements WritableIndex {
  readonly description: string;
  private readonly db: Database;

  private constructor(db: Database, readonly path: string) {
    this.db = db;
    this.description = `SQLite index ${path}`;
    // The in-process evaluator inside SQLite's scan: what SQL cannot say (functions, query
    // against query) is checked row by row, and LIMIT/OFFSET still count true matches.
    db.function('omlmd_match', { deterministic: true }, (source: unknown, body: unknown) => {
      const q = this.residuals.get(String(source)) ?? compileQuery(String(source));
      return matches(q, JSON.parse(String(body)) as JsonValue) ? 1 : 0;
    });
  }

  static open(path: string, opts: { readonly?: boolean } = {}): SqliteIndex {
    const Driver = loadDriver();
    let db: Database;
    try {
      if (!opts.readonly && path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      db = new Driver(path, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
      // Several processes (a crawl and a query, a server) share the file.
      db.pragma('busy_timeout = 10000');
      if (!opts.readonly) {
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = NORMAL');
        db.exec(SCHEMA);
        const v = db.prepare(`SELECT value FROM meta WHERE key = 'schema'`).get() as { value: string } | undefined;
        if (v === undefined) db.prepare(`INSERT INTO meta (key, value) VALUES ('schema', ?)`).run(String(SCHEMA_VERSION));
        else if (Number(v.value) > SCHEMA_VERSION) {
          db.close();
          throw new OmlmdError('UNSUPPORTED', `${path} was written by a newer omlmd (index schema ${v.value})`);
        }
      }
    } catch (e) {
      if (e instanceof OmlmdError) throw e;
      throw toOmlmdError(e, `cannot open the index ${path}`);
    }
    return new SqliteIndex(db, path);
  }

  private written = 0;
  /** Queries whose residual the `omlmd_match` function is evaluating, by their text. */
  private readonly residuals = new Map<string, CompiledQuery>();

  private page = async (where: Pred, sort: SortSpec | undefined, offset: number, limit: number, residual?: CompiledQuery): Promise<ArtifactDocument[]> => {
    const w = sqliteWhere(where);
    let cond = w.sql;
    const params = [...w.params];
    if (residual) {
      if (this.residuals.size > 100) this.residuals.clear();
      this.residuals.set(residual.source, residual);
      cond = `(${cond}) AND omlmd_match(?, json(doc))`;
      params.push(residual.source);
    }
    const sql = `SELECT json(doc) AS body FROM artifacts WHERE ${cond} ORDER BY ${sqliteOrderBy(sort)} LIMIT ? OFFSET ?`;
    const rows = this.db.prepare(sql).all(...params, limit, offset) as Row[];
    return rows.map((r) => JSON.parse(r.body) as ArtifactDocument);
  };

  find(query: CompiledQuery, opts: FindOptions = {}): AsyncIterable<ArtifactDocument> {
    return findWith({ page: this.page }, query, opts);
  }

  async get(reference: string): Promise<ArtifactDocument | undefined> {
    const r = this.db.prepare('SELECT json(doc) AS body FROM artifacts WHERE reference = ?').get(reference) as Row | undefined;
    return r ? (JSON.parse(r.body) as ArtifactDocument) : undefined;
  }

  async count(): Promise<number> {
    return (this.db.prepare('SELECT count(*) AS n FROM artifacts').get() as { n: number }).n;
  }

  async upsert(docs: readonly ArtifactDocument[]): Promise<void> {
    const stmt = this.db.prepare(
      `INSERT INTO artifacts (registry, repository, tag, digest, reference, kind, doc, indexed_at) VALUES (?, ?, ?, ?, ?, ?, jsonb(?), ?)
       ON CONFLICT (reference) DO UPDATE SET registry = excluded.registry, repository = excluded.repository, tag = excluded.tag, digest = excluded.digest, kind = excluded.kind, doc = excluded.doc, indexed_at = excluded.indexed_at`,
    );
    const now = new Date().toISOString();
    this.db.transaction(() => {
      for (const d of docs) stmt.run(d.registry, d.repository, d.tag, d.digest, d.reference, d.kind, JSON.stringify(d), now);
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
    const rows = this.db.prepare('SELECT tag, digest FROM artifacts WHERE registry = ? AND repository = ? AND tag <> \'\'').all(registry, repository) as { tag: string; digest: string }[];
    return new Map(rows.map((r) => [r.tag, r.digest]));
  }

  async byDigest(registry: string, repository: string, digest: string): Promise<ArtifactDocument | undefined> {
    const r = this.db.prepare('SELECT json(doc) AS body FROM artifacts WHERE registry = ? AND repository = ? AND digest = ? LIMIT 1').get(registry, repository, digest) as Row | undefined;
    return r ? (JSON.parse(r.body) as ArtifactDocument) : undefined;
  }

  async close(): Promise<void> {
    if (!this.db.open) return;
    if (!this.db.readonly) this.db.exec('PRAGMA analysis_limit = 1000; PRAGMA optimize;');
    this.db.close();
  }
}
