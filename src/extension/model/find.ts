import type { OmlmdClient } from '../../core/client';
import type { DispatcherOptions } from '../../core/oci/http';
import { crawlToIndex, type CrawlReport } from '../../core/search/crawler';
import type { ArtifactDocument } from '../../core/search/document';
import { MemoryIndex } from '../../core/search/memory';
import { fieldPaths, query, type QueryResult } from '../../core/search/query';
import { RemoteIndex } from '../../core/search/remote';
import type { SearchIndex } from '../../core/search/backend';
import type { StoreRef } from './browser';
import { l10n } from './l10n';

/**
 * "Find models…" without VS Code: the same JSONPath language as `omlmd query`, answered by
 * a search server when one is configured, else by an index of this session that a crawl of
 * the Local store and the configured registries fills (incrementally: only changed tags
 * are fetched again).
 */

export const QUERY_EXAMPLES: { query: string; description: string }[] = [
  { query: '$[?@.customProperties.accuracy > 0.95]', description: l10n.t('accuracy above 0.95') },
  { query: "$[?@.model_format_name == 'onnx']", description: l10n.t('ONNX models') },
  { query: "$[?search(@.name, '[Ii][Rr][Ii][Ss]')]", description: l10n.t('name contains "iris" (any case; patterns are I-Regexp, which has no flags)') },
  { query: "$[?@.author == 'Jane Doe' && @.customProperties.license == 'Apache-2.0']", description: l10n.t('by author and license') },
  { query: '$[*]', description: l10n.t('every model') },
];

export class ModelFinder {
  private readonly local = new MemoryIndex();
  /** The server's index, kept while its URL, token and transport stay (one connection pool). */
  private remote?: { key: string; index: RemoteIndex };

  constructor(
    private readonly client: () => OmlmdClient,
    private readonly registries: () => string[],
    private readonly server: () => { url: string; token?: string; transport?: DispatcherOptions } | undefined,
  ) {}

  /** The index queries go to: the server's (through the registries' proxy and CAs), or this session's. */
  index(): SearchIndex {
    const s = this.server();
    if (!s) return this.local;
    const key = JSON.stringify([s.url, s.token, s.transport]);
    if (this.remote?.key !== key) {
      void this.remote?.index.close();
      this.remote = { key, index: new RemoteIndex(s.url, { token: s.token, transport: s.transport }) };
    }
    return this.remote.index;
  }

  get usesServer(): boolean {
    return this.server() !== undefined;
  }

  /** Crawls stores into this session's index: all of them (Local store + registries), or one. */
  async crawl(only?: StoreRef, opts: { signal?: AbortSignal; repositories?: string[] } = {}): Promise<CrawlReport> {
    const targets = only ? [only.kind === 'local' ? 'local' : only.host] : ['local', ...this.registries()];
    return crawlToIndex(this.client(), this.local, targets, { signal: opts.signal, repositories: opts.repositories });
  }

  async count(): Promise<number> {
    return this.local.count();
  }

  search(jsonpath: string, opts: { sort?: string; desc?: boolean; limit?: number; signal?: AbortSignal } = {}): Promise<QueryResult> {
    return query(this.index(), jsonpath, { limit: 50, ...opts });
  }

  /** Field names for completion, most common first. */
  fields(signal?: AbortSignal): Promise<string[]> {
    return fieldPaths(this.index(), { signal });
  }
}

/** Where a found document lives in the tree. */
export function storeOf(doc: ArtifactDocument): StoreRef | undefined {
  if (doc.registry === 'local') return { kind: 'local' };
  if (doc.registry.startsWith('oci:')) return undefined;
  return { kind: 'registry', host: doc.registry };
}

/** A short line for a result: format and the first numeric metrics. */
export function describeDoc(doc: ArtifactDocument): string {
  const d = doc as unknown as Record<string, unknown>;
  const props = (d.customProperties ?? {}) as Record<string, unknown>;
  const metrics = Object.entries(props).filter(([, v]) => typeof v === 'number').slice(0, 3).map(([k, v]) => `${k} ${String(v)}`);
  return [d.model_format_name, ...metrics].filter(Boolean).join(' · ');
}
