/**
 * `omlmd serve`: the search API over an index, kept fresh by the registry's notifications
 * (a push of a model is indexed at once, a delete removed) and repaired by periodic full
 * re-crawls. Routes are fastify's, each with request and response JSON Schemas
 * (./schemas.ts) from which /openapi.json is generated. fastify is loaded when the server
 * starts, so the CLI's other commands do not pay for it.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { OmlmdClient } from '../core/client';
import { OmlmdError } from '../core/errors';
import type { Descriptor } from '../core/oci/types';
import { INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES } from '../core/oci/mediatypes';
import { isValidRepository, isValidTag } from '../core/oci/reference';
import { isDigest } from '../core/oci/digest';
import type { WritableIndex } from '../core/search/backend';
import { crawlToIndex, indexTag, type CrawlReport } from '../core/search/crawler';
import { QueryError } from '../core/search/jsonpath';
import { query, type QueryOptions } from '../core/search/query';
import { EventBus, silentLogger, type ActionContext, type Logger, type NotificationAction, type RegistryEvent } from './events';
import { MAX_LIMIT, NOTIFICATION_MEDIA_TYPE, ROUTE_SCHEMAS, SHARED_SCHEMAS } from './schemas';

/**
 * The waits between looks at a pushed tag (ms). The tag is usually linked within
 * milliseconds of the event, sometimes tens of milliseconds later on a loaded machine: looks
 * every 5 ms, then every 10 ms for the first second (a HEAD costs the registry about 2 ms of
 * CPU), then backing off. With a doubling from 10 ms, a tag linked just after the fifth look
 * waited until the sixth, 310 ms after the event: the loaded run's p99 after the push returned
 * was 313 ms (docs/benchmarks.md's history).
 */
const SETTLE_WAITS: readonly number[] = [0, ...Array<number>(20).fill(5), ...Array<number>(90).fill(10), 160, 320, 640, 1280];

export interface SearchServerOptions {
  index: WritableIndex;
  /** Fetches manifests and configs; its credentials and TLS settings reach the registries. */
  client: OmlmdClient;
  /** Registries (host[:port]) this server indexes: notifications from others are ignored. */
  registries: string[];
  /** Repositories to re-crawl when a registry refuses its catalog. */
  repositories?: string[];
  /**
   * Bearer token of the search API (everything but /healthz, /openapi.json and
   * /notifications). Without it the server is refused unless `allowAnonymous`.
   */
  token?: string;
  /**
   * Bearer token of /notifications, which the registry sends (distribution:
   * `notifications.endpoints[].headers`). Never the search token: a search client cannot
   * send events. Without it /notifications refuses every event, unless `allowAnonymous`.
   */
  notifyToken?: string;
  /** Serve what has no token to anyone: the search API without `token`, /notifications without `notifyToken`. */
  allowAnonymous?: boolean;
  /**
   * Host header names answered besides loopback names and the bound address (with a
   * wildcard bind, any IP address too); `*`: any. Others get 421, which stops DNS rebinding.
   */
  allowedHosts?: string[];
  /** Full re-crawl period, ms; 0 or absent: none beyond `crawlOnStart`. */
  recrawlIntervalMs?: number;
  /**
   * A crawl of one registry stops after this long (default: the re-crawl period, else 1 h),
   * so a catalog that never ends cannot hold every later re-crawl back.
   */
  crawlBudgetMs?: number;
  crawlOnStart?: boolean;
  actions?: NotificationAction[];
  log?: Logger;
  version?: string;
  /** Slowloris guards: the whole header block, and the whole request, must arrive within these (default 60 s and 5 min). */
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
}

export interface SearchServer {
  readonly events: EventBus;
  /** The node:http server, once listening. */
  readonly http: Server | undefined;
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
const MANIFEST_TYPES: readonly string[] = [...MANIFEST_MEDIA_TYPES, ...INDEX_MEDIA_TYPES];
/** Node 20's own defaults, which the plain node:http server had; fastify would turn the request timeout off. */
const HEADERS_TIMEOUT_MS = 60_000;
const REQUEST_TIMEOUT_MS = 300_000;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function digestOf(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** The name in a Host header or an allowed-host entry: lower case, without port, brackets or a final dot. */
export function hostName(v: string): string {
  const s = v.trim().toLowerCase();
  const name = s.startsWith('[') ? s.slice(1, s.indexOf(']') < 0 ? undefined : s.indexOf(']')) : s.split(':').length === 2 ? s.split(':')[0]! : s;
  return name.replace(/\.$/, '');
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1'];
const WILDCARD_ADDRESSES = ['0.0.0.0', '::'];

/** What a failed request answers: the same JSON error bodies and status codes as before fastify. */
function errorReply(e: unknown, req: FastifyRequest, log: Logger): { status: number; body: unknown } {
  if (e instanceof HttpError) return { status: e.status, body: { error: { code: e.code, message: e.message } } };
  if (e instanceof QueryError) return { status: 400, body: { error: { code: e.code, message: e.message, position: e.position, query: e.query } } };
  if (OmlmdError.is(e, 'USAGE', 'INVALID_QUERY')) return { status: 400, body: { error: { code: e.code, message: e.message } } };
  if (!OmlmdError.is(e)) {
    const fe = e as Partial<FastifyError>;
    if (fe.validation) return { status: 400, body: { error: { code: 'USAGE', message: validationMessage(fe as FastifyError) } } };
    switch (fe.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return { status: 413, body: { error: { code: 'TOO_LARGE', message: `the body is larger than ${MAX_BODY} bytes` } } };
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return { status: 400, body: { error: { code: 'USAGE', message: 'the body is not JSON' } } };
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return { status: 415, body: { error: { code: 'UNSUPPORTED', message: `expected Content-Type ${NOTIFICATION_MEDIA_TYPE} or application/json` } } };
      default:
        break;
    }
  }
  log.error(`${req.method} ${req.url}: ${(e as Error)?.stack ?? String(e)}`);
  return { status: 500, body: { error: { code: OmlmdError.is(e) ? e.code : 'INTERNAL', message: OmlmdError.is(e) ? e.message : 'internal error' } } };
}

/** A schema violation in the words the hand-written checks used. */
function validationMessage(e: FastifyError): string {
  const first = e.validation?.[0];
  const field = first?.instancePath.replace(/^\//, '').split('/')[0] ?? '';
  if (e.validationContext === 'body' && field === '' && first?.keyword === 'type') return 'the body must be a JSON object';
  if (e.validationContext === 'body' && (field === 'events' || (first?.params as { missingProperty?: string } | undefined)?.missingProperty === 'events')) return 'expected {"events": [...]}';
  switch (field) {
    case 'limit':
      return `limit must be a whole number from 0 to ${MAX_LIMIT}`;
    case 'offset':
      return `offset must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER}`;
    case 'order':
      return 'order must be asc or desc';
    default:
      return `${field || e.validationContext || 'the request'} ${first?.message ?? 'is invalid'}`;
  }
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

export function createSearchServer(opts: SearchServerOptions): SearchServer {
  const log = opts.log ?? silentLogger;
  const events = new EventBus(log);
  const closing = new AbortController();
  const queue = new WorkQueue(4);
  const registries = [...new Set(opts.registries)];
  const tokenDigest = opts.token ? digestOf(opts.token) : undefined;
  const notifyDigest = opts.notifyToken ? digestOf(opts.notifyToken) : undefined;
  if (!tokenDigest && !opts.allowAnonymous) throw new OmlmdError('USAGE', 'the search server needs a token for its search API, or allowAnonymous to serve it to anyone');
  if (tokenDigest && notifyDigest && timingSafeEqual(tokenDigest, notifyDigest)) throw new OmlmdError('USAGE', 'the notification token must differ from the search token: a search client could send events');
  let allowedHost: (name: string) => boolean = () => true;
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

  /** Throttled warnings: one line per key a minute, with how many were held back. */
  const warned = new Map<string, { at: number; held: number }>();
  const warnOnce = (key: string, message: string): void => {
    const now = Date.now();
    const w = warned.get(key);
    if (w && now - w.at < 60_000) {
      w.held++;
      return;
    }
    if (warned.size > 1000) warned.clear();
    warned.set(key, { at: now, held: 0 });
    log.warn(`${message}${w?.held ? ` (and ${w.held} more in the last minute)` : ''}`);
  };

  /**
   * Each face takes its own token: the search API the clients', /notifications the
   * registry's. The other face's token is refused with 403; no or a wrong token with 401.
   */
  const authorize = (face: 'search' | 'notifications', req: IncomingMessage): void => {
    const mine = face === 'search' ? tokenDigest : notifyDigest;
    const other = face === 'search' ? notifyDigest : tokenDigest;
    if (!mine) {
      if (opts.allowAnonymous) return;
      throw new HttpError(403, 'DENIED', 'this server takes no notifications: it has no notification token');
    }
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!m) throw new HttpError(401, 'UNAUTHORIZED', 'a bearer token is required');
    const d = digestOf(m[1]!);
    if (timingSafeEqual(d, mine)) return;
    if (other && timingSafeEqual(d, other)) {
      throw new HttpError(403, 'DENIED', face === 'notifications' ? 'the search token cannot send notifications' : 'the notification token cannot search');
    }
    throw new HttpError(401, 'UNAUTHORIZED', 'the bearer token is wrong');
  };
  const authorized = (face: 'search' | 'notifications', req: IncomingMessage): void => {
    try {
      authorize(face, req);
    } catch (e) {
      if (face === 'notifications') warnOnce(`refused-notification`, `refused a notification from ${req.socket.remoteAddress ?? 'unknown'}: ${(e as Error).message}`);
      throw e;
    }
  };
  const hostAllowed = (req: IncomingMessage): void => {
    const host = req.headers.host;
    // No Host at all (HTTP/1.0) is no browser's request: rebinding needs a browser.
    if (host === undefined || allowedHost(hostName(host))) return;
    warnOnce(`host ${hostName(host).slice(0, 100)}`, `refused a request for Host ${JSON.stringify(host.slice(0, 100))}: not a name of this server`);
    throw new HttpError(421, 'MISDIRECTED', `Host ${host.slice(0, 100)} is not a name of this server`);
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
        await sleep(500 * 2 ** attempt, undefined, { signal: closing.signal }).catch(() => undefined);
      }
    }
  };

  /** What a tag or digest names in the registry now; undefined when the registry answers 404 (no such tag, manifest or repository). */
  const current = async (registry: string, repository: string, reference: string): Promise<Descriptor | undefined> => {
    const repo = await opts.client.repository({ kind: 'registry', registry, repository });
    try {
      return await repo.resolve(reference, { signal: closing.signal });
    } catch (e) {
      if (OmlmdError.is(e) && e.status === 404) return undefined;
      throw e;
    }
  };

  /**
   * What a pushed tag names, waiting a little for a tag not there yet: distribution sends a
   * push event when it has stored the manifest, before it links the tag (its manifest
   * handler tags afterwards), so the first look can answer 404 for a real push.
   */
  const settled = async (registry: string, repository: string, tag: string): Promise<Descriptor | undefined> => {
    for (const wait of SETTLE_WAITS) {
      if (wait) await sleep(wait, undefined, { signal: closing.signal }).catch(() => undefined);
      if (closing.signal.aborted) return undefined;
      const now = await current(registry, repository, tag);
      if (now) return now;
    }
    return undefined;
  };

  const ignore = (registry: string, ev: RegistryEvent, reason: string): void => {
    log.warn(`ignored a ${ev.action} event: ${reason}`);
    events.emit({ type: 'event-ignored', registry, event: ev, reason });
  };

  /**
   * A push is never taken on the event's word: the tag is resolved in the registry, and what
   * it names now is indexed. Actions run only when that is the digest the event names.
   */
  const onPush = (registry: string, ev: RegistryEvent): void => {
    const { repository, tag, digest } = ev.target;
    if (!repository || !tag || !digest || !isValidRepository(repository) || !isValidTag(tag) || !isDigest(digest)) return;
    const reference = `${registry}/${repository}:${tag}`;
    queue.push(reference, async () => {
      try {
        await withRetries(`index ${reference}`, async () => {
          const now = await settled(registry, repository, tag);
          if (!now) return ignore(registry, ev, `the registry has no ${reference}`);
          const res = await indexTag(opts.client, opts.index, registry, repository, tag, now.digest, { signal: closing.signal });
          for (const w of res.warnings) log.warn(w);
          if (now.digest !== digest) {
            return ignore(registry, ev, `${reference} names ${now.digest} in the registry, not ${digest}${res.document ? `; indexed ${now.digest}` : ''}`);
          }
          if (res.document) {
            log.info(`indexed ${res.document.reference} (${digest})`);
            events.emit({ type: 'model-pushed', registry, repository, tag, digest, reference: res.document.reference, document: res.document, event: ev });
          }
        });
      } catch (e) {
        log.error(`cannot index ${reference}: ${(e as Error).message}`);
        events.emit({ type: 'index-failed', registry, repository, tag, digest, error: e as Error });
      }
    });
  };

  /** A delete removes only what the registry answers 404 for. */
  const onDelete = (registry: string, ev: RegistryEvent): void => {
    const { repository, digest, tag } = ev.target;
    if (!repository || !isValidRepository(repository)) return;
    const byDigest = digest !== undefined && isDigest(digest);
    if (!byDigest && !(tag && isValidTag(tag))) return;
    const reference = byDigest ? `${registry}/${repository}@${digest}` : `${registry}/${repository}:${tag!}`;
    queue.push(`${registry}/${repository}`, async () => {
      try {
        await withRetries(`remove ${reference}`, async () => {
          if (await current(registry, repository, byDigest ? digest : tag!)) return ignore(registry, ev, `the registry still has ${reference}`);
          if (byDigest) {
            const documents = await opts.index.removeDigest(registry, repository, digest);
            if (documents.length) {
              log.info(`removed ${documents.map((d) => d.reference).join(', ')}`);
              events.emit({ type: 'model-deleted', registry, repository, digest, documents, event: ev });
            }
          } else {
            await opts.index.removeTags(registry, repository, [tag!]);
          }
        });
      } catch (e) {
        log.error(`cannot remove ${reference}: ${(e as Error).message}`);
      }
    });
  };

  /** The notification envelope (its shape already checked by the route's schema). */
  const notifications = (envelope: { events: unknown[] }): { accepted: number } => {
    let accepted = 0;
    for (const raw of envelope.events) {
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
    // Answered at once: distribution holds later events back until this one is delivered.
    return { accepted };
  };

  const recrawl = (): Promise<CrawlReport[]> => {
    crawling ??= (async () => {
      lastCrawl = { started: new Date().toISOString(), reports: [] };
      const reports: CrawlReport[] = [];
      const budgetMs = opts.crawlBudgetMs ?? (opts.recrawlIntervalMs && opts.recrawlIntervalMs > 0 ? opts.recrawlIntervalMs : 3_600_000);
      for (const registry of registries) {
        const budget = AbortSignal.timeout(budgetMs);
        try {
          const report = await crawlToIndex(opts.client, opts.index, [registry], { repositories: opts.repositories, signal: AbortSignal.any([closing.signal, budget]) });
          for (const p of report.problems) log.warn(`crawl: ${p.target}: ${p.message}`);
          log.info(`crawled ${registry}: ${report.indexed} indexed, ${report.unchanged} unchanged, ${report.removed} removed, ${report.problems.length} problems`);
          reports.push(report);
          events.emit({ type: 'crawl-finished', registry, report });
        } catch (e) {
          if (closing.signal.aborted) continue;
          if (budget.aborted) log.error(`crawl of ${registry} stopped after its time budget (${Math.round(budgetMs / 1000)} s); the index keeps what it had`);
          else log.error(`crawl of ${registry} failed: ${(e as Error).message}`);
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

  const search = async (p: SearchParams): Promise<unknown> => {
    const q: QueryOptions = { sort: p.sort || undefined, desc: p.order === 'desc', limit: p.limit ?? 100, offset: p.offset ?? 0 };
    return query(opts.index, p.q ?? p.query ?? '$[*]', q);
  };

  const handlers: Handlers = {
    health: async () => ({ status: 'ok', index: opts.index.description, documents: await opts.index.count(), version }),
    authorized,
    hostAllowed,
    search,
    artifact: async (reference) => {
      const doc = await opts.index.get(reference);
      if (!doc) throw new HttpError(404, 'NOT_FOUND', `${reference} is not indexed`);
      return doc;
    },
    startCrawl: () => {
      void recrawl();
      return { started: lastCrawl?.started };
    },
    crawlStatus: () => lastCrawl ?? {},
    notifications,
    log,
  };

  let app: FastifyInstance | undefined;
  let timer: NodeJS.Timeout | undefined;

  return {
    events,
    get http() {
      return app?.server;
    },
    get url() {
      return url;
    },
    async listen(port = 0, host = '127.0.0.1') {
      app = await buildApp(handlers, { version, headersTimeoutMs: opts.headersTimeoutMs ?? HEADERS_TIMEOUT_MS, requestTimeoutMs: opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS });
      await app.listen({ port, host });
      const a = app.server.address() as AddressInfo;
      url = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
      const names = new Set([...LOOPBACK_NAMES, hostName(a.family === 'IPv6' ? `[${a.address}]` : a.address), ...(opts.allowedHosts ?? []).map(hostName)]);
      const wildcard = WILDCARD_ADDRESSES.includes(a.address);
      allowedHost = names.has('*') ? () => true : (name) => names.has(name) || (wildcard && isIP(name) !== 0);
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
      // forceCloseConnections: open keep-alive connections are ended, as closeAllConnections() did.
      await app?.close();
      await crawling?.catch(() => undefined);
      await queue.idle();
      await events.idle();
    },
  };
}

interface SearchParams {
  q?: string;
  query?: string;
  sort?: string;
  order?: 'asc' | 'desc';
  limit?: number;
  offset?: number;
}

/** What the routes call: the server's state stays in createSearchServer. */
interface Handlers {
  health(): Promise<unknown>;
  /** Throws the 401 or 403 when the request lacks the face's token. */
  authorized(face: 'search' | 'notifications', req: IncomingMessage): void;
  /** Throws the 421 when the Host header names no name of this server. */
  hostAllowed(req: IncomingMessage): void;
  search(p: SearchParams): Promise<unknown>;
  artifact(reference: string): Promise<unknown>;
  startCrawl(): unknown;
  crawlStatus(): unknown;
  notifications(envelope: { events: unknown[] }): { accepted: number };
  log: Logger;
}

const PUBLIC_PATHS = new Set(['/healthz', '/openapi.json']);

/** The fastify app: every route with its schemas; /openapi.json is generated from them. */
async function buildApp(h: Handlers, o: { version: string; headersTimeoutMs: number; requestTimeoutMs: number }): Promise<FastifyInstance> {
  const { fastify, swagger } = await import('./http-deps');
  const app = fastify({
    logger: false,
    bodyLimit: MAX_BODY,
    requestTimeout: o.requestTimeoutMs,
    // How often node checks the two timeouts; its default (30 s) would let a test's short timeout run long.
    http: { headersTimeout: o.headersTimeoutMs, connectionsCheckingInterval: Math.min(30_000, Math.max(100, o.headersTimeoutMs / 2)) },
    forceCloseConnections: true,
    exposeHeadRoutes: false,
    return503OnClosing: false,
    // A bad percent-encoding in the path is a usage error, in the same words as before.
    frameworkErrors: (e, _req, reply) => {
      const bad = (e as FastifyError).code === 'FST_ERR_BAD_URL';
      void (reply as FastifyReply).code(400).type('application/json; charset=utf-8').header('cache-control', 'no-store').send({ error: { code: 'USAGE', message: bad ? 'the reference in the path is not valid percent-encoding' : e.message } });
    },
  });
  // Responses are plain JSON.stringify, as before: fast-json-stringify would reorder a
  // document's fields and coerce metadata fields whose JSON types vary between artifacts.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  for (const schema of SHARED_SCHEMAS) app.addSchema(schema);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'omlmd search server',
        version: o.version,
        description: "Finds model artifacts by their metadata. The index is kept fresh from the registry's notifications and repaired by periodic re-crawls.",
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: "The search clients' token: every endpoint but /healthz, /openapi.json and /notifications needs it (unless the server runs anonymous)." },
          notify: { type: 'http', scheme: 'bearer', description: "The registry's own token, for /notifications only; the search token is refused there (403)." },
        },
      },
      security: [{ bearer: [] }],
    },
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    // The one-document route takes the rest of the path (a reference keeps its slashes): named `reference` in the description.
    transform: ({ schema, url }) => {
      if (url !== '/api/v1/artifacts/*') return { schema, url };
      const params = { type: 'object', required: ['reference'], properties: { reference: ROUTE_SCHEMAS.artifact.params.properties['*'] } };
      return { schema: { ...schema, params }, url: '/api/v1/artifacts/{reference}' };
    },
  });
  // The search body and the notifications are JSON whatever their Content-Type says; the
  // notifications route checks its type itself. An empty body is {}.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    const text = (body as string).trim();
    try {
      done(null, text === '' ? {} : JSON.parse(text));
    } catch {
      done(new HttpError(400, 'USAGE', 'the body is not JSON'), undefined);
    }
  });

  app.addHook('onRequest', async (req) => {
    h.hostAllowed(req.raw);
    const path = req.routeOptions.url ?? req.url.split('?')[0]!;
    if (PUBLIC_PATHS.has(path)) return;
    h.authorized(path === '/notifications' ? 'notifications' : 'search', req.raw);
  });
  app.addHook('onSend', async (_req, reply) => {
    void reply.header('cache-control', 'no-store');
  });
  // An empty query parameter means its default, as before (`?sort=&limit=`); so does an empty body.
  app.addHook('preValidation', async (req) => {
    const q = req.query as Record<string, unknown> | undefined;
    if (q && typeof q === 'object') for (const k of Object.keys(q)) if (q[k] === '') delete q[k];
    if (req.method === 'POST' && req.body === undefined) req.body = {};
  });
  app.setErrorHandler((e, req, reply) => {
    const { status, body } = errorReply(e, req, h.log);
    if (status === 401) void reply.header('www-authenticate', 'Bearer');
    void reply.code(status).type('application/json; charset=utf-8').send(body);
  });
  app.setNotFoundHandler((req) => {
    throw new HttpError(404, 'NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`);
  });

  app.get('/healthz', { schema: ROUTE_SCHEMAS.healthz, exposeHeadRoute: true }, () => h.health());
  app.get('/openapi.json', { schema: ROUTE_SCHEMAS.openapi }, () => app.swagger());
  app.get('/api/v1/search', { schema: ROUTE_SCHEMAS.searchGet }, (req) => h.search(req.query as SearchParams));
  app.post('/api/v1/search', { schema: ROUTE_SCHEMAS.searchPost }, (req) => h.search(req.body as SearchParams));
  app.get('/api/v1/artifacts/*', { schema: ROUTE_SCHEMAS.artifact }, (req) => h.artifact((req.params as { '*': string })['*']));
  app.post('/api/v1/crawl', { schema: ROUTE_SCHEMAS.crawlPost }, async (_req, reply) => reply.code(202).send(h.startCrawl()));
  app.get('/api/v1/crawl', { schema: ROUTE_SCHEMAS.crawlGet }, async () => h.crawlStatus());
  app.post('/notifications', {
    schema: ROUTE_SCHEMAS.notifications,
    // Before the body is read: the wrong Content-Type is refused as such.
    preParsing: async (req, _reply, payload) => {
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== NOTIFICATION_MEDIA_TYPE && type !== 'application/json') throw new HttpError(415, 'UNSUPPORTED', `expected Content-Type ${NOTIFICATION_MEDIA_TYPE}`);
      return payload;
    },
  }, async (req, reply) => reply.code(202).send(h.notifications(req.body as { events: unknown[] })));
  await app.ready();
  return app;
}

/** The OpenAPI 3.1 description of `omlmd serve`, generated from its routes' schemas (served at /openapi.json). */
export async function openApiDocument(version = '0.0.0'): Promise<Record<string, unknown>> {
  const never = (): never => {
    throw new Error('not serving');
  };
  const app = await buildApp({ health: never, authorized: () => undefined, hostAllowed: () => undefined, search: never, artifact: never, startCrawl: never, crawlStatus: never, notifications: never, log: silentLogger }, { version, headersTimeoutMs: HEADERS_TIMEOUT_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS });
  try {
    return app.swagger() as unknown as Record<string, unknown>;
  } finally {
    await app.close();
  }
}
