import { throwIfAborted } from '../errors';
import type { JsonValue } from './ast';
import type { ArtifactDocument } from './document';
import { compareCodePoints, matches, valueAt, type CompiledQuery, type PathStep } from './jsonpath';
import { plan, sortRank, type Approx, type Pred, type SortSpec } from './translate';

export interface FindOptions {
  sort?: SortSpec;
  offset?: number;
  /** At most this many documents; default: all. */
  limit?: number;
  signal?: AbortSignal;
}

/** What every index answers: the query side, which a search server also offers over HTTP. */
export interface SearchIndex {
  /** How messages name it: a file path, a PostgreSQL database, a server URL. */
  readonly description: string;
  /** The documents that pass the query, in order, fetched lazily in batches. */
  find(query: CompiledQuery, opts?: FindOptions): AsyncIterable<ArtifactDocument>;
  /** One artifact's document by its reference (`registry/repository:tag`). */
  get(reference: string): Promise<ArtifactDocument | undefined>;
  count(): Promise<number>;
  close(): Promise<void>;
}

/** An index the crawler and the notification handler write to. */
export interface WritableIndex extends SearchIndex {
  /** Adds documents, replacing those with the same reference. */
  upsert(docs: readonly ArtifactDocument[]): Promise<void>;
  removeTags(registry: string, repository: string, tags: readonly string[]): Promise<number>;
  /** Removes every tag of a manifest; returns the documents removed. */
  removeDigest(registry: string, repository: string, digest: string): Promise<ArtifactDocument[]>;
  removeRepository(registry: string, repository: string): Promise<number>;
  /** The repositories with documents, for one registry. */
  repositories(registry: string): Promise<string[]>;
  /** Tag → digest of what is indexed for a repository: what an incremental crawl compares with. */
  tagDigests(registry: string, repository: string): Promise<Map<string, string>>;
  /** A document of this manifest under any tag of the repository, to index another tag without fetching. */
  byDigest(registry: string, repository: string, digest: string): Promise<ArtifactDocument | undefined>;
}

export function isWritable(index: SearchIndex): index is WritableIndex {
  return typeof (index as Partial<WritableIndex>).upsert === 'function';
}

/** The JavaScript order of documents; what the SQL of every backend produces. */
export function compareDocuments(a: ArtifactDocument, b: ArtifactDocument, sort?: SortSpec): number {
  if (sort) {
    const va = valueAt(a as unknown as JsonValue, sort.path);
    const vb = valueAt(b as unknown as JsonValue, sort.path);
    const ra = sortRank(va, sort.desc);
    const rb = sortRank(vb, sort.desc);
    if (ra !== rb) return ra - rb;
    if (ra < 2) {
      const c = typeof va === 'number' && typeof vb === 'number' ? va - vb : compareCodePoints(String(va), String(vb));
      if (c !== 0) return sort.desc ? -c : c;
    }
  }
  return compareCodePoints(a.reference, b.reference) || compareCodePoints(a.digest, b.digest);
}

export function sortSpec(path: PathStep[] | undefined, desc = false): SortSpec | undefined {
  return path ? { path, desc } : undefined;
}

/**
 * One page of rows from a backend, in the final order, filtered by the `over` predicate;
 * and by the whole query too when the backend can run the evaluator inside its own scan
 * (`residual`, SQLite's application-defined function).
 */
export type FetchPage = (where: Pred, sort: SortSpec | undefined, offset: number, limit: number, residual?: CompiledQuery) => Promise<ArtifactDocument[]>;

/** Every row passing `where`, in the final order, streamed (PostgreSQL: a cursor). */
export type Scan = (where: Pred, sort: SortSpec | undefined, signal?: AbortSignal) => AsyncIterable<ArtifactDocument>;

export interface Backend {
  page: FetchPage;
  /** Present when the backend cannot evaluate the residual itself: it streams candidates instead. */
  scan?: Scan;
}

const BATCH = 500;

/**
 * The query loop every SQL backend shares. An exact translation, or a backend that runs
 * the evaluator in its own scan, pushes offset and limit into SQL; otherwise candidates
 * stream in the final order, the evaluator keeps the true matches, and offset and limit
 * count those.
 */
export async function* findWith(backend: Backend, query: CompiledQuery, opts: FindOptions = {}): AsyncGenerator<ArtifactDocument> {
  const p: Approx = plan(query.filter);
  const offset = Math.max(0, opts.offset ?? 0);
  const limit = opts.limit ?? Infinity;
  if (limit <= 0) return;
  if (p.over.k === 'const' && !p.over.v) return;
  let yielded = 0;
  if (p.exact || !backend.scan) {
    const residual = p.exact ? undefined : query;
    let at = offset;
    // Pages grow: each one is a query that sorts the matches again, so a long read takes few.
    let batch = BATCH;
    while (yielded < limit) {
      throwIfAborted(opts.signal);
      const n = Math.min(batch, limit - yielded);
      batch = Math.min(batch * 2, 16 * BATCH);
      const rows = await backend.page(p.over, opts.sort, at, n, residual);
      for (const r of rows) {
        yield r;
        yielded++;
      }
      if (rows.length < n) return;
      at += rows.length;
    }
    return;
  }
  let skipped = 0;
  for await (const r of backend.scan(p.over, opts.sort, opts.signal)) {
    if (!matches(query, r as unknown as JsonValue)) continue;
    if (skipped < offset) {
      skipped++;
      continue;
    }
    yield r;
    if (++yielded >= limit) return;
  }
}
