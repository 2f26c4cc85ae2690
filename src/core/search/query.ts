import { join } from 'node:path';
import type { Dispatcher } from 'undici';
import { OmlmdError } from '../errors';
import { omlmdHome } from '../home';
import { isWritable, type SearchIndex, type WritableIndex } from './backend';
import type { ArtifactDocument } from './document';
import { compileQuery, parseSortField } from './jsonpath';
import { PostgresIndex } from './postgres';
import { RemoteIndex } from './remote';
import { SqliteIndex } from './sqlite';

/** The embedded index: `$OMLMD_HOME/index.sqlite`. */
export function defaultIndexPath(home: string = omlmdHome()): string {
  return join(home, 'index.sqlite');
}

export interface OpenIndexOptions {
  /** Where the default SQLite file lives (default OMLMD_HOME). */
  home?: string;
  /** For a search server: its bearer token. */
  token?: string;
  dispatcher?: Dispatcher;
}

export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

/**
 * Opens an index by where it is: nothing (the default SQLite file under OMLMD_HOME), a
 * file path (SQLite), `postgres://...` (PostgreSQL), or `http(s)://...` (a search server,
 * read-only).
 */
export async function openIndex(location?: string, opts: OpenIndexOptions = {}): Promise<SearchIndex> {
  const where = location?.trim() || defaultIndexPath(opts.home);
  if (isPostgresUrl(where)) return PostgresIndex.open(where);
  if (/^https?:\/\//i.test(where)) return new RemoteIndex(where, { token: opts.token, dispatcher: opts.dispatcher });
  return SqliteIndex.open(where);
}

/** An index the crawler can write to: SQLite or PostgreSQL. */
export async function openWritableIndex(location?: string, opts: OpenIndexOptions = {}): Promise<WritableIndex> {
  const index = await openIndex(location, opts);
  if (!isWritable(index)) {
    await index.close();
    throw new OmlmdError('USAGE', `${index.description} is read-only here: crawl into a SQLite file or a PostgreSQL database`);
  }
  return index;
}

export interface QueryOptions {
  /** A field to sort by: `customProperties.accuracy` or a singular JSONPath `@.a['b-c']`. */
  sort?: string;
  desc?: boolean;
  /** At most this many (default 100). */
  limit?: number;
  /** Skip this many matches first (default 0). */
  offset?: number;
  signal?: AbortSignal;
}

export interface QueryResult {
  items: ArtifactDocument[];
  offset: number;
  /** The offset of the next page, when there are more matches. */
  next?: number;
}

export const DEFAULT_LIMIT = 100;

/**
 * Runs a JSONPath search query (`$[?@.customProperties.accuracy > 0.9]`) on an index and
 * returns one page of matching documents, each with its reference and digest. The same
 * query gives the same page on every backend. A query the language refuses throws a
 * QueryError whose `position` points at the offending spot.
 */
export async function query(index: SearchIndex, jsonpath: string, opts: QueryOptions = {}): Promise<QueryResult> {
  const compiled = compileQuery(jsonpath);
  const limit = opts.limit ?? DEFAULT_LIMIT;
  const offset = opts.offset ?? 0;
  if (!Number.isInteger(limit) || limit < 0) throw new OmlmdError('USAGE', `limit must be a whole number ≥ 0, got ${limit}`);
  if (!Number.isInteger(offset) || offset < 0) throw new OmlmdError('USAGE', `offset must be a whole number ≥ 0, got ${offset}`);
  const sort = opts.sort !== undefined ? { path: parseSortField(opts.sort), desc: opts.desc ?? false } : undefined;
  const items: ArtifactDocument[] = [];
  let more = false;
  for await (const d of index.find(compiled, { sort, offset, limit: limit + 1, signal: opts.signal })) {
    if (items.length === limit) {
      more = true;
      break;
    }
    items.push(d);
  }
  return { items, offset, ...(more ? { next: offset + limit } : {}) };
}

/**
 * The field paths documents have (`customProperties.accuracy`, `files[].path`), from a
 * sample of the index, most frequent first: what an editor offers to complete in a query.
 */
export async function fieldPaths(index: SearchIndex, opts: { sample?: number; signal?: AbortSignal } = {}): Promise<string[]> {
  const counts = new Map<string, number>();
  const walk = (v: unknown, path: string, depth: number): void => {
    if (depth > 6) return;
    if (Array.isArray(v)) {
      for (const x of v.slice(0, 20)) walk(x, `${path}[]`, depth + 1);
      return;
    }
    if (typeof v !== 'object' || v === null) return;
    for (const [k, x] of Object.entries(v)) {
      const name = /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? k : `[${JSON.stringify(k)}]`;
      const p = path === '' ? name : name.startsWith('[') ? `${path}${name}` : `${path}.${name}`;
      counts.set(p, (counts.get(p) ?? 0) + 1);
      walk(x, p, depth + 1);
    }
  };
  for await (const d of index.find(compileQuery('$[*]'), { limit: opts.sample ?? 500, signal: opts.signal })) walk(d, '', 0);
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([p]) => p);
}
