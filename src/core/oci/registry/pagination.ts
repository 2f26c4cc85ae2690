/**
 * Link-header pagination (`Link: <url>; rel="next"`), the one way the distribution API pages
 * its lists: the catalog, a repository's tags, a manifest's referrers.
 */
import { OmlmdError } from '../../errors';
import type { HttpRequest, HttpResponse, RegistryHttp, RequestContext } from '../http';

const MAX_PAGES = 10_000;
/** The bodies of one listing's pages hold at most this much in all (each page is capped too): 30 MB tag pages reached 2.1 GB. */
export const MAX_LIST_TOTAL = 64 * 1024 * 1024;

/** What is left of a listing's byte allowance, shared by its pages. */
export interface ListBudget {
  left: number;
}

/** The target of `Link: <url>; rel="next"`, resolved against the request URL. */
export function nextLink(header: string | string[] | undefined, base: URL): URL | undefined {
  if (header === undefined) return undefined;
  for (const h of Array.isArray(header) ? header : [header]) {
    for (const m of h.matchAll(/<([^>]*)>((?:\s*;\s*[^;,]*)*)/g)) {
      const params = m[2] ?? '';
      const rel = /;\s*rel\s*=\s*"?([^";]*)"?/i.exec(params)?.[1] ?? '';
      if (rel.split(/\s+/).includes('next')) {
        try {
          return new URL(m[1] ?? '', base);
        } catch {
          return undefined;
        }
      }
    }
  }
  return undefined;
}

export interface Page {
  /** The answer; its body is the caller's to read or discard. */
  res: HttpResponse;
  /** 0 for the first page. */
  index: number;
  /** The next page's URL, when the registry named one. */
  next?: URL;
  /** Give to readJson: the listing's pages share it. */
  budget: ListBudget;
}

/**
 * The pages of a list from `first` on, one request each (`request(url)` says how), until
 * one names no next page. A chain that loops or never ends is an error, not a hang. The
 * caller must consume each page's body before asking for the next.
 */
export async function* linkPages(http: RegistryHttp, first: URL, request: (url: URL) => HttpRequest, ctx: RequestContext): AsyncGenerator<Page> {
  let url: URL | undefined = first;
  const seen = new Set<string>();
  const budget: ListBudget = { left: MAX_LIST_TOTAL };
  for (let index = 0; url !== undefined; index++) {
    if (index >= MAX_PAGES || seen.has(url.href)) throw new OmlmdError('HTTP', "the registry's pages do not end", { operation: ctx.operation });
    seen.add(url.href);
    const res = await http.request(request(url), ctx);
    const next = nextLink(res.headers.link, res.url);
    yield { res, index, next, budget };
    url = next;
  }
}
