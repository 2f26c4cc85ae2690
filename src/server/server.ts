/**
 * `omlmd serve`: the search API over an index, kept fresh by the registry's notifications
 * (a push of a model is indexed at once, a delete removed) and repaired by periodic full
 * re-crawls. Plain node:http: a handful of routes need no framework.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { OmlmdClient } from '../core/client';
import { OmlmdError } from '../core/errors';
import { INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES } from '../core/oci/mediatypes';
import { isValidRepository, isValidTag } from '../core/oci/reference';
import { isDigest } from '../core/oci/digest';
import type { WritableIndex } from '../core/search/backend';
import { crawlToIndex, indexTag, type CrawlReport } from '../core/search/crawler';
import { QueryError } from '../core/search/jsonpath';
import { query, type QueryOptions } from '../core/search/query';
import { EventBus, silentLogger, type ActionContext, type Logger, type NotificationAction, type RegistryEvent } from './events';
import { NOTIFICATION_MEDIA_TYPE, openApiDocument } from './openapi';

export interface SearchServerOptions {
  index: WritableIndex;
  /** Fetches manifests and configs; its credentials and TLS settings reach the registries. */
  client: OmlmdClient;
  /** Registries (host[:port]) this server indexes: notifications from others are ignored. */
  registries: string[];
  /** Repositories to re-crawl when a registry refuses its catalog. */
  repositories?: string[];
  /** Bearer token for everything but /healthz and /openapi.json (and the registry's notifications). */
  token?: string;
  /** Full re-crawl period, ms; 0 or absent: none beyond `crawlOnStart`. */
  recrawlIntervalMs?: number;
  crawlOnStart?: boolean;
  actions?: NotificationAction[];
  log?: Logger;
  version?: string;
}

export interface SearchServer {
  readonly events: EventBus;
  readonly http: Server;
  /** `http://host:port` once listening. */
  readonly url: string;
  listen(port?: number, host?: string): Promise<string>;
  /** A full re-crawl of every configured registry, now (joins one already running). */
  recrawl(): Promise<CrawlReport[]>;
  /** Waits until queued notification work and listeners are done. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

const MAX_BODY = 1024 * 1024;
const MAX_LIMIT = 1000;
const MANIFEST_TYPES: readonly string[] = [...MANIFEST_MEDIA_TYPES, ...INDEX_MEDIA_TYPES];

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, 'TOO_LARGE', `the body is larger than ${MAX_BODY} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

function digestOf(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function intParam(v: unknown, name: string, dflt: number, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined || v === null || v === '') return dflt;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isInteger(n) || n < 0 || n > max) throw new HttpError(400, 'USAGE', `${name} must be a whole number from 0 to ${max}`);
  return n;
}

/** Runs jobs at most `n` at once, and jobs with the same key one after another, in arrival order. */
class WorkQueue {
  private readonly tails = new Map<string, Promise<void>>();
  private readonly all = new Set<Promise<void>>();
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly n: number) {}

  push(key: string, job: () => Promise<void>): void {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const p = prev.then(() => this.slot(job)).catch(() => undefined);
    this.tails.set(key, p);
    this.all.add(p);
    void p.finally(() => {
      this.all.delete(p);
      if (this.tails.get(key) === p) this.tails.delete(key);
    });
  }

  private async slot(job: () => Promise<void>): Promise<void> {
    if (this.active >= this.n) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      await job();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }

  async idle(): Promise<void> {
    while (this.all.size > 0) await Promise.all([...this.all]);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}

export function createSearchServer(opts: SearchServerOptions): SearchServer {
  const log = opts.log ?? silentLogger;
  const events = new EventBus(log);
  const closing = new AbortController();
  const queue = new WorkQueue(4);
  const registries = [...new Set(opts.registries)];
  const tokenDigest = opts.token ? digestOf(opts.token) : undefined;
  const version = opts.version ?? '0.0.0';
  let lastCrawl: { started: string; finished?: string; reports: CrawlReport[] } | undefined;
  let crawling: Promise<CrawlReport[]> | undefined;
  let url = '';

  const ctx: ActionContext = { client: opts.client, index: opts.index, log, signal: closing.signal };
  for (const a of opts.actions ?? []) {
    if (a.onModelPushed) events.on('model-pushed', (e) => a.onModelPushed!(e, ctx));
    if (a.onModelDeleted) events.on('model-deleted', (e) => a.onModelDeleted!(e, ctx));
    if (a.onRegistryEvent) events.on('registry-event', (e) => a.onRegistryEvent!(e, ctx));
  }

  const authorized = (req: IncomingMessage): boolean => {
    if (!tokenDigest) return true;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    return m !== null && timingSafeEqual(digestOf(m[1]!), tokenDigest);
  };

  /** Which configured registry an event is about: by its URL's host, the request's Host, or the only one. */
  const registryOf = (ev: RegistryEvent): string | undefined => {
    const hosts: string[] = [];
    try {
      if (ev.target.url) hosts.push(new URL(ev.target.url).host);
    } catch {
      // a malformed url names nothing
    }
    if (ev.request?.host) hosts.push(ev.request.host);
    for (const h of hosts) if (registries.includes(h)) return h;
    return registries.length === 1 ? registries[0] : undefined;
  };

  const withRetries = async (what: string, job: () => Promise<void>): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      try {
        await job();
        return;
      } catch (e) {
        const transient = OmlmdError.is(e, 'NETWORK', 'TOOMANYREQUESTS') || (OmlmdError.is(e) && (e.status ?? 0) >= 500);
        if (!transient || attempt >= 3 || closing.signal.aborted) throw e;
        log.warn(`${what}: ${(e as Error).message}; trying again`);
        await sleep(500 * 2 ** attempt, closing.signal);
      }
    }
  };

  const onPush = (registry: string, ev: RegistryEvent): void => {
    const { repository, tag, digest } = ev.target;
    if (!repository || !tag || !digest || !isValidRepository(repository) || !isValidTag(tag) || !isDigest(digest)) return;
    queue.push(`${registry}/${repository}:${tag}`, async () => {
      try {
        await withRetries(`index ${registry}/${repository}:${tag}`, async () => {
          const res = await indexTag(opts.client, opts.index, registry, repository, tag, digest, { signal: closing.signal });
          for (const w of res.warnings) log.warn(w);
          if (res.document) {
            log.info(`indexed ${res.document.reference} (${digest})`);
            events.emit({ type: 'model-pushed', registry, repository, tag, digest, reference: res.document.reference, document: res.document, event: ev });
          }
        });
      } catch (e) {
        log.error(`cannot index ${registry}/${repository}:${tag}: ${(e as Error).message}`);
        events.emit({ type: 'index-failed', registry, repository, tag, digest, error: e as Error });
      }
    });
  };

  const onDelete = (registry: string, ev: RegistryEvent): void => {
    const { repository, digest, tag } = ev.target;
    if (!repository || !isValidRepository(repository)) return;
    queue.push(`${registry}/${repository}`, async () => {
      try {
        if (digest && isDigest(digest)) {
          const documents = await opts.index.removeDigest(registry, repository, digest);
          if (documents.length) {
            log.info(`removed ${documents.map((d) => d.reference).join(', ')}`);
            events.emit({ type: 'model-deleted', registry, repository, digest, documents, event: ev });
          }
        } else if (tag && isValidTag(tag)) {
          await opts.index.removeTags(registry, repository, [tag]);
        }
      } catch (e) {
        log.error(`cannot remove ${registry}/${repository}@${digest ?? tag}: ${(e as Error).message}`);
      }
    });
  };

  const notifications = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== NOTIFICATION_MEDIA_TYPE && type !== 'application/json') {
      throw new HttpError(415, 'UNSUPPORTED', `expected Content-Type ${NOTIFICATION_MEDIA_TYPE}`);
    }
    let envelope: unknown;
    try {
      envelope = JSON.parse((await readBody(req)).toString('utf8'));
    } catch (e) {
      if (e instanceof HttpError) throw e;
      throw new HttpError(400, 'USAGE', 'the body is not JSON');
    }
    const list = (envelope as { events?: unknown })?.events;
    if (!Array.isArray(list)) throw new HttpError(400, 'USAGE', 'expected {"events": [...]}');
    let accepted = 0;
    for (const raw of list) {
      const ev = raw as RegistryEvent;
      if (typeof ev !== 'object' || ev === null || typeof ev.action !== 'string' || typeof ev.target !== 'object' || ev.target === null) continue;
      const registry = registryOf(ev);
      if (!registry) {
        log.warn(`ignored a ${ev.action} event from a registry this server does not index (${ev.request?.host ?? ev.target.url ?? 'unknown'})`);
        continue;
      }
      accepted++;
      events.emit({ type: 'registry-event', registry, event: ev });
      if (ev.action === 'push' && MANIFEST_TYPES.includes(ev.target.mediaType ?? '')) onPush(registry, ev);
      else if (ev.action === 'delete') onDelete(registry, ev);
    }
    // Answer at once: distribution holds later events back until this one is delivered.
    send(res, 202, { accepted });
  };

  const recrawl = (): Promise<CrawlReport[]> => {
    crawling ??= (async () => {
      lastCrawl = { started: new Date().toISOString(), reports: [] };
      const reports: CrawlReport[] = [];
      for (const registry of registries) {
        try {
          const report = await crawlToIndex(opts.client, opts.index, [registry], { repositories: opts.repositories, signal: closing.signal });
          for (const p of report.problems) log.warn(`crawl: ${p.target}: ${p.message}`);
          log.info(`crawled ${registry}: ${report.indexed} indexed, ${report.unchanged} unchanged, ${report.removed} removed, ${report.problems.length} problems`);
          reports.push(report);
          events.emit({ type: 'crawl-finished', registry, report });
        } catch (e) {
          if (!closing.signal.aborted) log.error(`crawl of ${registry} failed: ${(e as Error).message}`);
        }
      }
      lastCrawl.reports = reports;
      lastCrawl.finished = new Date().toISOString();
      return reports;
    })().finally(() => {
      crawling = undefined;
    });
    return crawling;
  };

  const search = async (res: ServerResponse, p: Record<string, unknown>): Promise<void> => {
    const order = p.order === undefined || p.order === '' ? 'asc' : String(p.order);
    if (order !== 'asc' && order !== 'desc') throw new HttpError(400, 'USAGE', 'order must be asc or desc');
    const q: QueryOptions = {
      sort: typeof p.sort === 'string' && p.sort !== '' ? p.sort : undefined,
      desc: order === 'desc',
      limit: intParam(p.limit, 'limit', 100, MAX_LIMIT),
      offset: intParam(p.offset, 'offset', 0),
    };
    const text = typeof p.q === 'string' ? p.q : typeof p.query === 'string' ? p.query : '$[*]';
    send(res, 200, await query(opts.index, text, q));
  };

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const u = new URL(req.url ?? '/', 'http://server');
    const path = u.pathname;
    const method = req.method ?? 'GET';
    if (path === '/healthz' && (method === 'GET' || method === 'HEAD')) {
      send(res, 200, { status: 'ok', index: opts.index.description, documents: await opts.index.count(), version });
      return;
    }
    if (path === '/openapi.json' && method === 'GET') {
      send(res, 200, openApiDocument(version));
      return;
    }
    if (!authorized(req)) throw new HttpError(401, 'UNAUTHORIZED', 'a bearer token is required', {});
    if (path === '/notifications' && method === 'POST') return notifications(req, res);
    if (path === '/api/v1/search') {
      if (method === 'GET') return search(res, Object.fromEntries(u.searchParams));
      if (method === 'POST') {
        let body: unknown;
        try {
          body = JSON.parse((await readBody(req)).toString('utf8') || '{}');
        } catch (e) {
          if (e instanceof HttpError) throw e;
          throw new HttpError(400, 'USAGE', 'the body is not JSON');
        }
        if (typeof body !== 'object' || body === null) throw new HttpError(400, 'USAGE', 'the body must be a JSON object');
        return search(res, body as Record<string, unknown>);
      }
    }
    if (path.startsWith('/api/v1/artifacts/') && method === 'GET') {
      let reference: string;
      try {
        reference = decodeURIComponent(path.slice('/api/v1/artifacts/'.length));
      } catch {
        throw new HttpError(400, 'USAGE', 'the reference in the path is not valid percent-encoding');
      }
      const doc = await opts.index.get(reference);
      if (!doc) throw new HttpError(404, 'NOT_FOUND', `${reference} is not indexed`);
      send(res, 200, doc);
      return;
    }
    if (path === '/api/v1/crawl') {
      if (method === 'POST') {
        void recrawl();
        send(res, 202, { started: lastCrawl?.started });
        return;
      }
      if (method === 'GET') {
        send(res, 200, lastCrawl ?? {});
        return;
      }
    }
    throw new HttpError(404, 'NOT_FOUND', `no route ${method} ${path}`);
  };

  const http = createServer((req, res) => {
    route(req, res).catch((e: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (e instanceof HttpError) {
        send(res, e.status, { error: { code: e.code, message: e.message, ...e.extra } }, e.status === 401 ? { 'www-authenticate': 'Bearer' } : {});
      } else if (e instanceof QueryError) {
        send(res, 400, { error: { code: e.code, message: e.message, position: e.position, query: e.query } });
      } else if (OmlmdError.is(e, 'USAGE', 'INVALID_QUERY')) {
        send(res, 400, { error: { code: e.code, message: e.message } });
      } else {
        log.error(`${req.method} ${req.url}: ${(e as Error)?.stack ?? String(e)}`);
        send(res, 500, { error: { code: OmlmdError.is(e) ? e.code : 'INTERNAL', message: OmlmdError.is(e) ? e.message : 'internal error' } });
      }
    });
  });

  let timer: NodeJS.Timeout | undefined;

  return {
    events,
    http,
    get url() {
      return url;
    },
    async listen(port = 0, host = '127.0.0.1') {
      await new Promise<void>((resolve, reject) => {
        http.once('error', reject);
        http.listen(port, host, () => {
          http.off('error', reject);
          resolve();
        });
      });
      const a = http.address() as AddressInfo;
      url = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
      if (opts.crawlOnStart) void recrawl();
      if (opts.recrawlIntervalMs && opts.recrawlIntervalMs > 0) {
        timer = setInterval(() => void recrawl(), opts.recrawlIntervalMs);
        timer.unref();
      }
      return url;
    },
    recrawl,
    async idle() {
      await queue.idle();
      await events.idle();
    },
    async close() {
      if (timer) clearInterval(timer);
      closing.abort();
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
      await crawling?.catch(() => undefined);
      await queue.idle();
      await events.idle();
    },
  };
}
