import { throwIfAborted } from '../errors';
import type { JsonValue } from './ast';
import { compareDocuments, type FindOptions, type WritableIndex } from './backend';
import type { ArtifactDocument } from './document';
import { matches, type CompiledQuery } from './jsonpath';

/**
 * An index held in memory, evaluated with the same JSONPath evaluator the other backends
 * finish their queries with, so it answers exactly as they do. For the VS Code extension,
 * where the native SQLite module is not at hand (VS Code runs extensions on Electron's own
 * Node ABI), and for short-lived crawls. Everything is lost when the process ends.
 *
 * Not jsonpath-rfc9535's own `query()` (whose parser we use): measured against ours
 * (bench/search-memory.ts) it is as fast where sorting dominates and 1.3-1.6x slower on
 * filters, and on the cross-backend corpus it answers differently from SQLite, PostgreSQL
 * and RFC 9535: strings order by UTF-16 unit, not code point; an index in a comparison
 * (`@.a[0] == 1`) never matches; length() counts an astral character as 0; match() anchors
 * `a|b` as `^a|b$`; only the last `.` of a pattern is made I-Regexp's `.`.
 */
export class MemoryIndex implements WritableIndex {
  readonly description = 'in-memory index';
  private readonly docs = new Map<string, ArtifactDocument>();

  async *find(query: CompiledQuery, opts: FindOptions = {}): AsyncIterable<ArtifactDocument> {
    throwIfAborted(opts.signal);
    const hits = [...this.docs.values()].filter((d) => matches(query, d as unknown as JsonValue));
    hits.sort((a, b) => compareDocuments(a, b, opts.sort));
    const start = opts.offset ?? 0;
    const end = opts.limit === undefined ? hits.length : start + opts.limit;
    for (const d of hits.slice(start, end)) yield d;
  }

  async get(reference: string): Promise<ArtifactDocument | undefined> {
    return this.docs.get(reference);
  }

  async count(): Promise<number> {
    return this.docs.size;
  }

  async close(): Promise<void> {}

  async upsert(docs: readonly ArtifactDocument[]): Promise<void> {
    for (const d of docs) this.docs.set(d.reference, d);
  }

  private where(registry: string, repository: string, f: (d: ArtifactDocument) => boolean = () => true): ArtifactDocument[] {
    return [...this.docs.values()].filter((d) => d.registry === registry && d.repository === repository && f(d));
  }

  private remove(docs: ArtifactDocument[]): ArtifactDocument[] {
    for (const d of docs) this.docs.delete(d.reference);
    return docs;
  }

  async removeTags(registry: string, repository: string, tags: readonly string[]): Promise<number> {
    return this.remove(this.where(registry, repository, (d) => tags.includes(d.tag))).length;
  }

  async removeDigest(registry: string, repository: string, digest: string): Promise<ArtifactDocument[]> {
    return this.remove(this.where(registry, repository, (d) => d.digest === digest || d.manifestDigest === digest));
  }

  async removeRepository(registry: string, repository: string): Promise<number> {
    return this.remove(this.where(registry, repository)).length;
  }

  async repositories(registry: string): Promise<string[]> {
    return [...new Set([...this.docs.values()].filter((d) => d.registry === registry).map((d) => d.repository))].sort();
  }

  async tagDigests(registry: string, repository: string): Promise<Map<string, string>> {
    return new Map(this.where(registry, repository).map((d) => [d.tag, d.digest]));
  }

  async byDigest(registry: string, repository: string, digest: string): Promise<ArtifactDocument | undefined> {
    return this.where(registry, repository, (d) => d.digest === digest)[0];
  }
}
