/**
 * A search server (`omlmd serve`) used as an index: the query side over HTTP, so the CLI
 * and the extension query a team's index the same way as a local one.
 */
import { request, type Dispatcher } from 'undici';
import { OmlmdError, toOmlmdError } from '../errors';
import { createDispatcher, type DispatcherOptions } from '../oci/http';
import type { FindOptions, SearchIndex } from './backend';
import type { ArtifactDocument } from './document';
import type { CompiledQuery, PathStep } from './jsonpath';
import { QueryError } from './jsonpath';

export interface RemoteIndexOptions {
  /** Bearer token, when the server is protected. */
  token?: string;
  /** The HTTP transport; the caller's to close. Without it, one is built from `transport`. */
  dispatcher?: Dispatcher;
  /**
   * Proxies, TLS (CA file, client certificate) and timeouts, for the dispatcher built when
   * none is passed: the registry client's factory, so the same settings hold for both (and
   * HTTP(S)_PROXY, NO_PROXY, the system's CAs and NODE_EXTRA_CA_CERTS by default).
   */
  transport?: DispatcherOptions;
}

/** A singular path back in JSONPath syntax, `@["a"][0]`, for the server's `sort` parameter. */
export function formatSortPath(path: readonly PathStep[]): string {
  return '@' + path.map((s) => ('name' in s ? `[${JSON.stringify(s.name)}]` : `[${s.index}]`)).join('');
}

interface ErrorBody {
  error?: { code?: string; message?: string; position?: number; query?: string };
}

const PAGE = 500;

export class RemoteIndex implements SearchIndex {
  readonly description: string;
  private readonly base: URL;
  private own?: Promise<Dispatcher>;

  constructor(url: string, private readonly opts: RemoteIndexOptions = {}) {
    try {
      this.base = new URL(url.endsWith('/') ? url : url + '/');
    } catch (e) {
      throw new OmlmdError('USAGE', `${JSON.stringify(url)} is not a server URL`, { cause: e });
    }
    this.description = `search server ${this.base.origin}${this.base.pathname.replace(/\/$/, '')}`;
  }

  private dispatcher(): Promise<Dispatcher> {
    if (this.opts.dispatcher) return Promise.resolve(this.opts.dispatcher);
    this.own ??= createDispatcher(this.opts.transport);
    // A bad CA path fails every call the same way, rather than being cached as one rejection.
    this.own.catch(() => {
      this.own = undefined;
    });
    return this.own;
  }

  private async call(path: string, params: Record<string, string | undefined> = {}, signal?: AbortSignal): Promise<{ status: number; body: unknown }> {
    const url = new URL(path, this.base);
    for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
    const dispatcher = await this.dispatcher();
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, {
        method: 'GET',
        headers: { accept: 'application/json', ...(this.opts.token ? { authorization: `Bearer ${this.opts.token}` } : {}) },
        dispatcher,
        signal,
      });
    } catch (e) {
      throw toOmlmdError(e, `cannot reach the ${this.description}`);
    }
    const text = await res.body.text();
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (res.statusCode >= 400 && res.statusCode !== 404) {
      const err = (body as ErrorBody | undefined)?.error;
      if (err?.code === 'INVALID_QUERY' && typeof err.position === 'number' && typeof err.query === 'string') {
        throw new QueryError((err.message ?? '').replace(/^invalid query at column \d+: /, ''), err.query, err.position);
      }
      const code = res.statusCode === 401 ? 'UNAUTHORIZED' : res.statusCode === 403 ? 'DENIED' : 'HTTP';
      throw new OmlmdError(code, `the ${this.description} answered ${res.statusCode}${err?.message ? `: ${err.message}` : ''}`, {
        status: res.statusCode,
        remedies: res.statusCode === 401 ? [{ kind: 'server-token', server: this.base.origin }] : undefined,
      });
    }
    return { status: res.statusCode, body };
  }

  async *find(query: CompiledQuery, opts: FindOptions = {}): AsyncGenerator<ArtifactDocument> {
    let offset = Math.max(0, opts.offset ?? 0);
    let left = opts.limit ?? Infinity;
    while (left > 0) {
      const n = Math.min(PAGE, left);
      const { body } = await this.call('api/v1/search', {
        q: query.source,
        sort: opts.sort ? formatSortPath(opts.sort.path) : undefined,
        order: opts.sort?.desc ? 'desc' : undefined,
        limit: String(n),
        offset: String(offset),
      }, opts.signal);
      const page = body as { items?: ArtifactDocument[]; next?: number };
      const items = Array.isArray(page?.items) ? page.items : [];
      for (const d of items) yield d;
      left -= items.length;
      if (typeof page.next !== 'number' || items.length === 0) return;
      offset = page.next;
    }
  }

  async get(reference: string): Promise<ArtifactDocument | undefined> {
    const { status, body } = await this.call(`api/v1/artifacts/${reference.split('/').map(encodeURIComponent).join('/')}`);
    return status === 404 ? undefined : (body as ArtifactDocument);
  }

  async count(): Promise<number> {
    const { body } = await this.call('healthz');
    return Number((body as { documents?: number })?.documents ?? 0);
  }

  /** Closes the dispatcher this index built (a dispatcher passed in stays the caller's). */
  async close(): Promise<void> {
    const own = this.own;
    this.own = undefined;
    await (await own?.catch(() => undefined))?.close();
  }
}
