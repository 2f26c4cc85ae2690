/**
 * The index for teams and scale: PostgreSQL (node-postgres). Documents are `jsonb` with a
 * GIN `jsonb_path_ops` index; a filter becomes one SQL/JSON path predicate (`doc @@ path`),
 * which that index serves (see translate.ts). The text of each document is kept as well,
 * so documents come back with their fields in the order they were written, as from SQLite.
 */
import { createHash } from 'node:crypto';
import type * as PgModule from 'pg';
import type { Pool, PoolClient } from 'pg';
import { OmlmdError, throwIfAborted } from '../errors';
import { findWith, type FindOptions, type WritableIndex } from './backend';
import { stringsOf, type ArtifactDocument } from './document';
import type { CompiledQuery } from './jsonpath';
import { postgresOrderBy, postgresOrderTerms, postgresWhere, sortedWindow, type Pred, type SortSpec } from './translate';

const SCHEMA_LOCK = 0x6f6d6c6d; // "omlm": one process creates the tables at a time

function schemaSql(table: string): string {
  return `
CREATE TABLE IF NOT EXISTS ${table} (
  registry   text NOT NULL,
  repository text NOT NULL,
  tag        text NOT NULL,
  digest     text NOT NULL,
  reference  text NOT NULL,
  kind       text NOT NULL,
  doc        jsonb NOT NULL,
  body       text NOT NULL,
  indexed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (reference)
);
CREATE INDEX IF NOT EXISTS ${table}_doc ON ${table} USING gin (doc jsonb_path_ops);
CREATE INDEX IF NOT EXISTS ${table}_tag ON ${table} (registry, repository, tag);
CREATE INDEX IF NOT EXISTS ${table}_order ON ${table} (reference COLLATE "C", digest COLLATE "C");
CREATE INDEX IF NOT EXISTS ${table}_digest ON ${table} (registry, repository, digest);
`;
}

/** Every string value of a jsonb document, one per line. */
const STRINGS_OF = (doc: string): string => `COALESCE((SELECT string_agg(v #>> '{}', E'\\n') FROM jsonb_path_query(${doc}, 'strict $.** ? (@.type() == "string")') AS v), '')`;

/** Rows looked at in the order of a sort index before the whole query is asked instead. */
const SORTED_WINDOW = 1000;

export interface PostgresIndexOptions {
  /** Table name (default `omlmd_artifacts`), so one database can hold several indexes. */
  table?: string;
  /** Most connections at once (default 4). */
  max?: number;
}

/** Redacts the password of a connection string for messages. */
export function redactConnectionString(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://…';
  }
}

function pgError(e: unknown, what: string, where: string): OmlmdError {
  if (e instanceof OmlmdError) return e;
  const err = e as { code?: string; message?: string };
  const code = err.code ?? '';
  if (code === '28P01' || code === '28000') return new OmlmdError('UNAUTHORIZED', `${what}: ${where} refused the credentials`, { cause: e });
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'ETIMEDOUT' || code === '57P03') return new OmlmdError('NETWORK', `${what}: cannot reach ${where} (${err.message ?? code})`, { cause: e });
  if (code === '3D000') return new OmlmdError('NOT_FOUND', `${what}: ${where}: ${err.message ?? 'no such database'}`, { cause: e });
  return new OmlmdError('IO', `${what}: ${where}: ${err.message ?? String(e)}`, { cause: e });
}

export class PostgresIndex implements WritableIndex {
  readonly description: string;
  private readonly table: string;

  private constructor(private readonly pool: Pool, connection: string, table: string) {
    this.table = table;
    this.description = `PostgreSQL index ${redactConnectionString(connection)}`;
  }

  static async open(connectionString: string, opts: PostgresIndexOptions = {}): Promise<PostgresIndex> {
    const table = opts.table ?? 'omlmd_artifacts';
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(table)) throw new OmlmdError('USAGE', `${JSON.stringify(table)} is not a plain table name (lowercase letters, digits, _)`);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const pg = require('pg') as typeof PgModule;
    const pool = new pg.Pool({ connectionString, max: opts.max ?? 4 });
    // An idle client that loses its server emits 'error'; without a listener that ends the process.
    pool.on('error', () => undefined);
    const index = new PostgresIndex(pool, connectionString, table);
    try {
      await index.tx(async (c) => {
        await c.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
        await c.query(schemaSql(table));
        // Added later, in place: every string value of the document, one per line, for match() and search().
        const has = await c.query(`SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 AND column_name = 'strings'`, [table]);
        if (has.rowCount === 0) {
          await c.query(`ALTER TABLE ${table} ADD COLUMN strings text`);
          await c.query(`UPDATE ${table} SET strings = ${STRINGS_OF('doc')}`);
        }
        // pg_trgm (PostgreSQL's contrib, a trusted extension) indexes the text for LIKE;
        // without it the same LIKE reads every row and answers the same.
        await c.query('SAVEPOINT trgm');
        try {
          await c.query('CREATE EXTENSION IF NOT EXISTS pg_trgm');
          await c.query(`CREATE INDEX IF NOT EXISTS ${table}_strings ON ${table} USING gin (strings gin_trgm_ops)`);
          await c.query('RELEASE SAVEPOINT trgm');
        } catch {
          await c.query('ROLLBACK TO SAVEPOINT trgm');
        }
      });
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw pgError(e, 'cannot open the index', redactConnectionString(connectionString));
    }
    return index;
  }

  private async tx<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
  }

  private async q<R>(sql: string, params: unknown[] = []): Promise<R[]> {
    try {
      return (await this.pool.query(sql, params)).rows as R[];
    } catch (e) {
      throw pgError(e, 'index query failed', this.description);
    }
  }

  private select(where: Pred, sort: SortSpec | undefined, params: unknown[]): string | undefined {
    const cond = postgresWhere(where, params);
    if (cond === 'FALSE') return undefined;
    return `SELECT body FROM ${this.table} WHERE ${cond} ORDER BY ${postgresOrderBy(sort)}`;
  }

  /** Sort indexes known to exist. */
  private readonly sortIndexes = new Set<string>();

  /** The name of the index that serves a sort (the same in every process). */
  private sortIndexName(sort: SortSpec): string {
    const h = createHash('sha256').update(JSON.stringify([this.table, sort.path])).digest('hex').slice(0, 16);
    return `${this.table.slice(0, 32)}_sort_${h}_${sort.desc ? 'd' : 'a'}`;
  }

  /**
   * The index that serves a sort by a field, made the first time the field is sorted by; it
   * stays in the database. Undefined when it cannot be made (no privilege): the sort still
   * works, reading every match.
   */
  private async sortIndex(sort: SortSpec): Promise<string | undefined> {
    const name = this.sortIndexName(sort);
    if (this.sortIndexes.has(name)) return name;
    const exists = async (): Promise<boolean> => (await this.q<{ r: string | null }>('SELECT to_regclass($1) AS r', [name]))[0]?.r != null;
    if (!(await exists())) {
      try {
        await this.pool.query(`CREATE INDEX IF NOT EXISTS ${name} ON ${this.table} (${postgresOrderTerms(sort).map(([e, d]) => `(${e}) ${d}`).join(', ')})`);
        await this.pool.query(`ANALYZE ${this.table}`);
      } catch {
        // another process made it meanwhile, or this role may not
      }
      if (!(await exists())) return undefined;
    }
    this.sortIndexes.add(name);
    return name;
  }

  private page = async (where: Pred, sort: SortSpec | undefined, offset: number, limit: number): Promise<ArtifactDocument[]> => {
    if (sort && (await this.sortIndex(sort))) {
      // The first rows in the sort's order, from its index, hold the whole page whenever
      // enough of them match; otherwise the whole query, which may start from a filter's index.
      const params: unknown[] = [Math.max(SORTED_WINDOW, 20 * (offset + limit))];
      const w = sortedWindow(postgresOrderTerms(sort), this.table, 'body, doc, strings, reference, digest');
      const cond = postgresWhere(where, params);
      if (cond === 'FALSE') return [];
      params.push(limit, offset);
      const sql = `SELECT body FROM ${w.sql.replace('LIMIT ?', 'LIMIT $1')} AS w WHERE ${cond} ORDER BY ${w.order} LIMIT $${params.length - 1} OFFSET $${params.length}`;
      const rows = await this.q<{ body: string }>(sql, params);
      if (rows.length === limit) return rows.map((r) => JSON.parse(r.body) as ArtifactDocument);
    }
    const params: unknown[] = [];
    const sql = this.select(where, sort, params);
    if (sql === undefined) return [];
    params.push(limit, offset);
    const rows = await this.q<{ body: string }>(`${sql} LIMIT $${params.length - 1} OFFSET $${params.length}`, params);
    return rows.map((r) => JSON.parse(r.body) as ArtifactDocument);
  };

  /** Candidates for the in-process evaluator through a cursor: one sort, read in batches. */
  private async *scan(where: Pred, sort: SortSpec | undefined, signal?: AbortSignal): AsyncGenerator<ArtifactDocument> {
    const params: unknown[] = [];
    const sql = this.select(where, sort, params);
    if (sql === undefined) return;
    let c: PoolClient;
    try {
      c = await this.pool.connect();
    } catch (e) {
      throw pgError(e, 'index query failed', this.description);
    }
    let open = false;
    try {
      await c.query('BEGIN READ ONLY');
      open = true;
      await c.query(`DECLARE omlmd_scan NO SCROLL CURSOR FOR ${sql}`, params);
      for (;;) {
        throwIfAborted(signal);
        const { rows } = await c.query<{ body: string }>('FETCH 1000 FROM omlmd_scan');
        for (const r of rows) yield JSON.parse(r.body) as ArtifactDocument;
        if (rows.length < 1000) break;
      }
    } catch (e) {
      throw pgError(e, 'index query failed', this.description);
    } finally {
      if (open) await c.query('ROLLBACK').catch(() => undefined);
      c.release();
    }
  }

  find(query: CompiledQuery, opts: FindOptions = {}): AsyncIterable<ArtifactDocument> {
    return findWith({ page: this.page, scan: (w, s, sig) => this.scan(w, s, sig) }, query, opts);
  }

  async get(reference: string): Promise<ArtifactDocument | undefined> {
    const rows = await this.q<{ body: string }>(`SELECT body FROM ${this.table} WHERE reference = $1 LIMIT 1`, [reference]);
    return rows[0] ? (JSON.parse(rows[0].body) as ArtifactDocument) : undefined;
  }

  async count(): Promise<number> {
    const rows = await this.q<{ n: string }>(`SELECT count(*) AS n FROM ${this.table}`);
    return Number(rows[0]?.n ?? 0);
  }

  async upsert(docs: readonly ArtifactDocument[]): Promise<void> {
    if (docs.length === 0) return;
    const cols: string[][] = [[], [], [], [], [], [], [], []];
    for (const d of docs) {
      const body = JSON.stringify(d);
      // The strings gathered here, not by jsonb_path_query in the server: loads take a third of the time.
      [d.registry, d.repository, d.tag, d.digest, d.reference, d.kind, body, stringsOf(d).join('\n')].forEach((v, i) => cols[i]!.push(v));
    }
    try {
      await this.pool.query(
        `INSERT INTO ${this.table} (registry, repository, tag, digest, reference, kind, doc, body, strings)
         SELECT r, p, t, d, f, k, b::jsonb, b, s FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]) AS u(r, p, t, d, f, k, b, s)
         ON CONFLICT (reference) DO UPDATE SET registry = excluded.registry, repository = excluded.repository, tag = excluded.tag, digest = excluded.digest, kind = excluded.kind, doc = excluded.doc, body = excluded.body, strings = excluded.strings, indexed_at = now()`,
        cols,
      );
    } catch (e) {
      throw pgError(e, 'cannot write to the index', this.description);
    }
  }

  async removeTags(registry: string, repository: string, tags: readonly string[]): Promise<number> {
    if (tags.length === 0) return 0;
    const rows = await this.q<{ tag: string }>(`DELETE FROM ${this.table} WHERE registry = $1 AND repository = $2 AND tag = ANY($3::text[]) RETURNING tag`, [registry, repository, [...tags]]);
    return rows.length;
  }

  async removeDigest(registry: string, repository: string, digest: string): Promise<ArtifactDocument[]> {
    const rows = await this.q<{ body: string }>(`DELETE FROM ${this.table} WHERE registry = $1 AND repository = $2 AND digest = $3 RETURNING body`, [registry, repository, digest]);
    return rows.map((r) => JSON.parse(r.body) as ArtifactDocument);
  }

  async removeRepository(registry: string, repository: string): Promise<number> {
    const rows = await this.q<{ tag: string }>(`DELETE FROM ${this.table} WHERE registry = $1 AND repository = $2 RETURNING tag`, [registry, repository]);
    return rows.length;
  }

  async repositories(registry: string): Promise<string[]> {
    const rows = await this.q<{ repository: string }>(`SELECT repository FROM ${this.table} WHERE registry = $1 GROUP BY repository ORDER BY repository COLLATE "C"`, [registry]);
    return rows.map((r) => r.repository);
  }

  async tagDigests(registry: string, repository: string): Promise<Map<string, string>> {
    const rows = await this.q<{ tag: string; digest: string }>(`SELECT tag, digest FROM ${this.table} WHERE registry = $1 AND repository = $2 AND tag <> ''`, [registry, repository]);
    return new Map(rows.map((r) => [r.tag, r.digest]));
  }

  async byDigest(registry: string, repository: string, digest: string): Promise<ArtifactDocument | undefined> {
    const rows = await this.q<{ body: string }>(`SELECT body FROM ${this.table} WHERE registry = $1 AND repository = $2 AND digest = $3 LIMIT 1`, [registry, repository, digest]);
    return rows[0] ? (JSON.parse(rows[0].body) as ArtifactDocument) : undefined;
  }

  /** Removes the table (tests, benchmarks). */
  async drop(): Promise<void> {
    await this.q(`DROP TABLE IF EXISTS ${this.table}`);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
