/**
 * A client of the OCI distribution API: one registry (RegistryClient) and its repositories
 * (RegistryRepository, the Repository contract the transfer engine talks to). Requests,
 * auth and error translation live in http.ts; this file knows the API's paths and rules.
 */
import { Readable, Transform, pipeline } from 'node:stream';
import type { Dispatcher } from 'undici';
import { OmlmdError, throwIfAborted, toOmlmdError } from '../errors';
import type { Credentials } from './auth';
import { assertDigest, Digester, isDigest, sha256 } from './digest';
import {
  discard, headerValue, isRetryable, networkError, readCapped, redactUrl, RegistryHttp,
  type HttpResponse, type ProxySettings, type RequestContext, type RetryEvent, type RetryPolicy, type TlsSettings,
} from './http';
import { INDEX_MEDIA_TYPES, MANIFEST_ACCEPT, MANIFEST_MEDIA_TYPES } from './mediatypes';
import { isLoopbackHost, isValidRepository, isValidTag } from './reference';
import type { BlobInput, BlobRef, CallOptions, OpenBlobOptions, PutBlobOptions, Repository, RepositoryLister, RepositoryPage, UploadSessionStore } from './store';
import { parseDescriptor, parseManifestBytes, type Descriptor, type FetchedManifest } from './types';

export type { Credentials, CredentialsProvider } from './auth';
export type { ProxySettings, RetryEvent, RetryPolicy, TlsSettings } from './http';

export interface RegistryOptions {
  /**
   * Default: plain HTTP for loopback hosts (as docker and oras do) unless TLS settings are
   * given for it (a CA file, a client certificate, insecure), else HTTPS.
   */
  plainHttp?: boolean;
  /**
   * The transport: the VS Code extension passes one that honours its proxy settings. When
   * absent, one is built from `tls` and the timeouts that honours HTTP(S)_PROXY and NO_PROXY.
   */
  dispatcher?: Dispatcher;
  userAgent?: string;
  /** Asked only when the registry challenges, so anonymous pulls need no credential helper. */
  credentials?: (registry: string) => Promise<Credentials | undefined>;
  tls?: TlsSettings;
  /** Proxies (the extension passes VS Code's http.proxy); by default HTTP(S)_PROXY and NO_PROXY. */
  proxy?: ProxySettings;
  connectTimeoutMs?: number;
  /** Silence from the registry after which a request fails (default 300 s). */
  readTimeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /**
   * The most bytes one upload request carries (default 256 MiB): a larger blob goes in
   * chunks, each resumable, so no single PUT exceeds a registry's cap (Quay: 20 GB).
   */
  chunkSize?: number;
  onWarning?: (message: string) => void;
  onRetry?: (e: RetryEvent) => void;
}

export const DEFAULT_CHUNK_SIZE = 256 * 1024 * 1024;

/** The spec's minimum a registry must accept, with slack for registries that allow a little more. */
export const MAX_MANIFEST_SIZE = 4 * 1024 * 1024 + 256 * 1024;
const MAX_LIST_BODY = 32 * 1024 * 1024;
const MAX_PAGES = 10_000;
const KNOWN_MANIFEST_TYPES: readonly string[] = [...MANIFEST_MEDIA_TYPES, ...INDEX_MEDIA_TYPES];

/** Docker Hub's API does not live at the name people write. */
function endpointOf(registry: string): string {
  return registry === 'docker.io' || registry === 'index.docker.io' ? 'registry-1.docker.io' : registry;
}

function checkRegistry(registry: string): void {
  let ok = /^[^/\s?#@]+$/.test(registry);
  if (ok) {
    try {
      ok = new URL(`http://${registry}/`).pathname === '/';
    } catch {
      ok = false;
    }
  }
  if (!ok) throw new OmlmdError('INVALID_REFERENCE', `${JSON.stringify(registry)} is not a registry host[:port]`);
}

/** A tag or digest, checked before it goes into a URL path. */
function checkReference(reference: string, where: string): string {
  if (reference.includes(':')) return assertDigest(reference, where);
  if (!isValidTag(reference)) {
    throw new OmlmdError('INVALID_REFERENCE', `${where}: ${JSON.stringify(reference)} is neither a tag nor a sha256 digest`);
  }
  return reference;
}

function contentLength(res: HttpResponse): number | undefined {
  const v = headerValue(res.headers, 'content-length');
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

/** The media type from Content-Type when it is a manifest type; '' lets the parser decide from the bytes. */
function manifestMediaType(res: HttpResponse): string {
  const ct = headerValue(res.headers, 'content-type')?.split(';')[0]?.trim() ?? '';
  return KNOWN_MANIFEST_TYPES.includes(ct) ? ct : '';
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

async function readJson(res: HttpResponse, what: string): Promise<Record<string, unknown>> {
  const bytes = await readCapped(res.body, MAX_LIST_BODY, () => new OmlmdError('HTTP', `${what}: the answer is larger than ${MAX_LIST_BODY} bytes`));
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new OmlmdError('HTTP', `${what}: the answer is not JSON`, { cause: e });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new OmlmdError('HTTP', `${what}: the answer is not a JSON object`);
  return doc as Record<string, unknown>;
}

function stringArray(v: unknown, what: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw new OmlmdError('HTTP', `${what}: expected a list of names`);
  return v as string[];
}

/**
 * Progress over attempts: when bytes are sent again (after a 401, a resume, a restart), only
 * bytes beyond what was already reported count, so the total never exceeds the blob's size.
 */
class Progress {
  private reported = 0;
  count = 0;
  constructor(private readonly onBytes?: (n: number) => void) {}
  restart(at = 0): void {
    this.count = at;
  }
  /** Bytes an earlier run sent: counted as done, never reported as sent now. */
  resumedAt(at: number): void {
    this.count = at;
    this.reported = Math.max(this.reported, at);
  }
  add(n: number): void {
    this.count += n;
    if (this.count > this.reported) {
      const delta = this.count - this.reported;
      this.reported = this.count;
      this.onBytes?.(delta);
    }
  }
}

/** One blob upload in progress: what every step of putBlob needs. */
interface Upload {
  input: BlobInput;
  size: number;
  known?: string;
  action: string;
  ctx: RequestContext;
  progress: Progress;
  signal?: AbortSignal;
  session?: UploadSessionStore;
  onResumed?: (n: number) => void;
}

/** The registry refused the first PATCH: chunked uploads are not for it. */
class ChunkedRefused extends Error {}

function isChunkRefusal(e: unknown): boolean {
  return e instanceof OmlmdError && e.status !== undefined && (e.status === 405 || e.status === 501 || e.status === 400 || e.code === 'UNSUPPORTED');
}

/**
 * The number of bytes an upload's `Range: 0-LAST` header says the registry holds. LAST is
 * inclusive, so `0-0` reads as 1 (distribution also says it for nothing at all).
 */
function rangeEnd(header: string | undefined): number | undefined {
  const m = /^(?:bytes=)?0-(\d+)$/.exec(header?.trim() ?? '');
  return m ? Number(m[1]) + 1 : undefined;
}

/**
 * The source of a chunked upload, read once front to back and cut into chunks, hashed as it
 * goes. After a broken chunk it is opened again and read (hashed, not sent) up to the offset
 * the registry holds, so a source that can only be streamed from the start still resumes. A
 * source that hashes itself (`openHashing`) does both off the main thread.
 */
class SourceReader {
  private stream?: Readable;
  private iterator?: AsyncIterator<unknown>;
  private leftover?: Buffer;
  private digester = new Digester();
  private hashed?: Promise<string>;
  /** Bumped by every reopen, so that a chunk stream of an abandoned request reads nothing more. */
  private generation = 0;

  constructor(
    private readonly input: BlobInput,
    private readonly action: string,
    private readonly progress: Progress,
  ) {}

  async openAt(offset: number): Promise<void> {
    this.close();
    const generation = ++this.generation;
    let src: Readable;
    this.hashed = undefined;
    try {
      if (this.input.openHashing) {
        const opened = await this.input.openHashing(offset);
        src = opened.stream;
        this.hashed = opened.digest;
      } else src = await this.input.open();
    } catch (e) {
      throw toOmlmdError(e, `cannot ${this.action}: cannot open the source`);
    }
    this.stream = src;
    this.iterator = (src as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    this.leftover = undefined;
    this.digester = new Digester();
    // The source skipped and hashed the first `offset` bytes itself.
    let skipped = this.hashed ? offset : 0;
    while (skipped < offset) {
      const b = await this.read(offset - skipped, generation);
      if (!b) throw new OmlmdError('SIZE_MISMATCH', `cannot ${this.action}: the source ended after ${skipped} bytes`);
      skipped += b.length;
    }
    this.progress.restart(offset);
  }

  /** Up to `max` bytes, hashed; undefined at the end of the source or once reopened. */
  private async read(max: number, generation: number): Promise<Buffer | undefined> {
    let b = this.leftover;
    this.leftover = undefined;
    if (!b) {
      const it = this.iterator;
      if (!it) return undefined;
      let r: IteratorResult<unknown>;
      try {
        r = await it.next();
      } catch (e) {
        if (generation !== this.generation) return undefined;
        throw toOmlmdError(e, `cannot ${this.action}: cannot read the source`);
      }
      if (generation !== this.generation || r.done) return undefined;
      b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
    }
    if (b.length > max) {
      this.leftover = b.subarray(max);
      b = b.subarray(0, max);
    }
    if (!this.hashed) this.digester.update(b);
    return b;
  }

  /** The next `len` bytes as a stream (shorter if the source ends: the Content-Length check catches it). */
  take(len: number): Readable {
    const generation = this.generation;
    const next = (max: number): Promise<Buffer | undefined> => this.read(max, generation);
    const progress = this.progress;
    return Readable.from(
      (async function* () {
        let left = len;
        while (left > 0) {
          const b = await next(left);
          if (!b) return;
          left -= b.length;
          progress.add(b.length);
          yield b;
        }
      })(),
      { objectMode: false },
    );
  }

  async atEnd(): Promise<boolean> {
    if (this.leftover && this.leftover.length > 0) return false;
    const it = this.iterator;
    if (!it) return true;
    for (;;) {
      const r = await it.next();
      if (r.done) return true;
      if ((r.value as Uint8Array).length > 0) return false;
    }
  }

  async digest(): Promise<string> {
    return this.hashed ? await this.hashed : this.digester.digest();
  }

  close(): void {
    this.stream?.destroy();
    this.stream = undefined;
    this.iterator = undefined;
    this.leftover = undefined;
  }
}

export class RegistryClient implements RepositoryLister {
  private readonly http: RegistryHttp;
  private readonly chunkSize: number;

  constructor(
    readonly registry: string,
    options: RegistryOptions = {},
  ) {
    checkRegistry(registry);
    const tls = options.tls ?? {};
    const wantsTls = Boolean(tls.caFile || tls.certFile || tls.insecure);
    this.http = new RegistryHttp(registry, endpointOf(registry), {
      ...options,
      plainHttp: options.plainHttp ?? (isLoopbackHost(registry) && !wantsTls),
    });
    const chunk = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    if (!Number.isSafeInteger(chunk) || chunk < 1) throw new OmlmdError('USAGE', `the upload chunk size must be a positive number of bytes, not ${chunk}`);
    this.chunkSize = chunk;
  }

  /** The scheme and host requests go to (`https://quay.io/`). */
  get baseUrl(): string {
    return this.http.base.toString();
  }

  /** Whether the registry asked for credentials since this client was made (after ping: whether it needs any). */
  get authRequested(): boolean {
    return this.http.authRequested;
  }

  repository(name: string): RegistryRepository {
    if (!isValidRepository(name)) {
      throw new OmlmdError('INVALID_REFERENCE', `${JSON.stringify(name)} is not a valid repository name (lowercase letters, digits and . _ - separators, parts joined by /)`);
    }
    return new RegistryRepository(this.http, name, this.chunkSize);
  }

  /** Checks that the registry answers the API (and, with credentials, that they work). */
  async ping(opts: CallOptions = {}): Promise<void> {
    const res = await this.http.request(
      { method: 'GET', url: this.http.url('/v2/'), scope: '', signal: opts.signal },
      { action: `reach ${this.registry}`, notFound: { code: 'NOT_FOUND', message: `${this.registry} does not serve the OCI distribution API (GET /v2/ answered 404)` } },
    );
    await discard(res.body);
  }

  async listRepositories(opts: CallOptions & { last?: string; n?: number } = {}): Promise<RepositoryPage> {
    const url = this.http.url('/v2/_catalog');
    if (opts.n !== undefined) url.searchParams.set('n', String(opts.n));
    if (opts.last !== undefined) url.searchParams.set('last', opts.last);
    const ctx: RequestContext = {
      action: `list the repositories of ${this.registry}`,
      notFound: { code: 'UNSUPPORTED', message: `${this.registry} does not list its repositories (no /v2/_catalog)` },
    };
    const res = await this.http.request({ method: 'GET', url, scope: 'registry:catalog:*', signal: opts.signal }, ctx);
    const link = nextLink(res.headers.link, res.url);
    const doc = await this.read(res, ctx.action, opts.signal);
    const repositories = stringArray(doc.repositories, `cannot ${ctx.action}`);
    const page: RepositoryPage = { repositories };
    if (link && repositories.length > 0) page.next = link.searchParams.get('last') ?? repositories[repositories.length - 1];
    return page;
  }

  private async read(res: HttpResponse, action: string, signal?: AbortSignal): Promise<Record<string, unknown>> {
    try {
      return await readJson(res, `cannot ${action}`);
    } catch (e) {
      throw networkError(e, action, res.url, signal);
    }
  }
}

export class RegistryRepository implements Repository {
  readonly description: string;
  private readonly pull: string;
  private readonly push: string;

  /** Use RegistryClient.repository(name), which checks the name. */
  constructor(
    private readonly http: RegistryHttp,
    readonly name: string,
    private readonly chunkSize = DEFAULT_CHUNK_SIZE,
  ) {
    this.description = `${http.registry}/${name}`;
    this.pull = `repository:${name}:pull`;
    this.push = `repository:${name}:pull,push`;
  }

  private url(path: string): URL {
    return this.http.url(`/v2/${this.name}/${path}`);
  }

  private ctx(action: string, notFound?: RequestContext['notFound'], write = false): RequestContext {
    return { action, target: this.description, notFound, write };
  }

  // ---- blobs -------------------------------------------------------------------------

  async statBlob(digest: string, opts: CallOptions = {}): Promise<number | undefined> {
    assertDigest(digest, 'blob digest');
    const res = await this.http.request(
      { method: 'HEAD', url: this.url(`blobs/${digest}`), scope: this.pull, signal: opts.signal, allow: [404] },
      this.ctx(`check blob ${digest} in ${this.description}`),
    );
    await discard(res.body);
    if (res.status === 404) return undefined;
    const size = contentLength(res);
    if (size === undefined) {
      throw new OmlmdError('HTTP', `cannot check blob ${digest} in ${this.description}: the registry sent no Content-Length`, { status: res.status, url: redactUrl(res.url) });
    }
    return size;
  }

  /** true once the registry answered a Range with 206, false once it sent a whole blob instead. */
  get partialReads(): boolean | undefined {
    return this.http.rangeHonoured;
  }

  get locator(): { registry: string; repository: string } {
    return { registry: this.http.registry, repository: this.name };
  }

  async openBlob(desc: Descriptor, opts: OpenBlobOptions = {}): Promise<Readable> {
    const digest = assertDigest(desc.digest, 'blob digest');
    const offset = opts.offset ?? 0;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > desc.size) {
      throw new OmlmdError('USAGE', `cannot read blob ${digest} from offset ${offset}: it is ${desc.size} bytes`);
    }
    const length = opts.length ?? desc.size - offset;
    if (!Number.isSafeInteger(length) || length < 0 || offset + length > desc.size) {
      throw new OmlmdError('USAGE', `cannot read ${length} bytes of blob ${digest} from offset ${offset}: it is ${desc.size} bytes`);
    }
    // An empty range is unsatisfiable (416): nothing is left to read anyway.
    if (offset > 0 && length === 0) return Readable.from([]);
    const end = offset + length;
    const first = await this.openBlobAt(desc, offset, end, opts.signal);
    return this.resumable(first, desc, offset, end, opts.signal);
  }

  /**
   * A GET of bytes [offset, end); the body really covers [start, until): the whole blob when
   * the server ignored Range.
   */
  private async openBlobAt(desc: Descriptor, offset: number, end: number, signal?: AbortSignal): Promise<{ body: Readable; start: number; until: number }> {
    const action = `fetch blob ${desc.digest} from ${this.description}`;
    const headers: Record<string, string> = {};
    const ranged = offset > 0 || end < desc.size;
    if (ranged) headers.range = end < desc.size ? `bytes=${offset}-${end - 1}` : `bytes=${offset}-`;
    const res = await this.http.request(
      { method: 'GET', url: this.url(`blobs/${desc.digest}`), headers, scope: this.pull, signal },
      this.ctx(action, { code: 'BLOB_UNKNOWN', message: `blob ${desc.digest} not found in ${this.description}` }),
    );
    if (res.status === 206) {
      const start = /^bytes\s+(\d+)-/.exec(headerValue(res.headers, 'content-range') ?? '')?.[1];
      if (start === undefined || Number(start) !== offset) {
        res.body.destroy();
        throw new OmlmdError('HTTP', `cannot ${action}: asked for bytes from ${offset}, the server sent a different range`, { status: 206, url: redactUrl(res.url) });
      }
      if (ranged) this.http.rangeHonoured = true;
      return { body: res.body, start: offset, until: end };
    }
    if (ranged) this.http.rangeHonoured = false;
    return { body: res.body, start: 0, until: desc.size };
  }

  /**
   * Bytes [offset, end) of the blob as one stream that survives a broken connection: when the
   * body breaks off, the rest is asked for again with Range from the first byte not yet
   * delivered. A server that ignores Range sends more than was asked: what lies outside the
   * range is dropped here. The consumer verifies the digest of the whole, as always.
   */
  private resumable(first: { body: Readable; start: number; until: number }, desc: Descriptor, offset: number, end: number, signal?: AbortSignal): Readable {
    const action = `fetch blob ${desc.digest} from ${this.description}`;
    const url = this.url(`blobs/${desc.digest}`);
    let current = first;
    // Chunks go on as they come ('data' and push, paced by pause/resume): iterating a Readable
    // would concatenate what it buffered, a copy of every byte at multi-GB scale.
    const out = new Readable({
      highWaterMark: 256 * 1024,
      read: () => current.body.resume(),
      destroy: (err, cb) => {
        current.body.destroy();
        cb(err);
      },
    });
    let delivered = offset;
    /** Feeds one response body into `out`; resolves when it ends (or was cut at `end`). */
    const drain = (body: { body: Readable; start: number; until: number }): Promise<void> =>
      new Promise<void>((resolve, reject) => {
        let position = body.start;
        body.body.on('data', (chunk: Buffer) => {
          const chunkStart = position;
          position += chunk.length;
          if (position <= delivered || out.destroyed) return;
          const piece = chunkStart >= delivered && position <= end ? chunk : chunk.subarray(Math.max(0, delivered - chunkStart), Math.min(chunk.length, end - chunkStart));
          delivered += piece.length;
          if (piece.length > 0 && !out.push(piece)) body.body.pause();
          // Cut short only a body that would go on (Range ignored): ending one early costs its connection.
          if (delivered >= end && body.until > position) {
            body.body.destroy();
            resolve();
          }
        });
        body.body.once('end', resolve);
        body.body.once('error', reject);
        // Closed with neither an end nor an error: a connection that went away, worth resuming.
        body.body.once('close', () => (out.destroyed ? resolve() : reject(Object.assign(new Error('the connection closed before the body ended'), { code: 'ECONNRESET' }))));
      });
    const pump = async (): Promise<void> => {
      for (let attempt = 1; ; ) {
        try {
          await drain(current);
          if (!out.destroyed) out.push(null);
          return;
        } catch (e) {
          if (out.destroyed) return;
          const err = networkError(e, action, url, signal);
          // A broken body is worth resuming; a retry that makes progress does not use up an attempt.
          if (delivered >= end || !(await this.http.backoff(attempt, err, action, signal))) throw err;
          attempt = delivered > offset ? 1 : attempt + 1;
          offset = delivered;
          current = await this.openBlobAt(desc, delivered, end, signal);
          if (out.destroyed) current.body.destroy();
        }
      }
    };
    pump().catch((e: unknown) => out.destroy(e instanceof Error ? e : new Error(String(e))));
    return out;
  }

  /**
   * Cross-repository mount (POST ?mount=&from=): the registry links a blob it holds in
   * another repository. 201 is done; 202 means it opened an ordinary upload instead (the
   * blob is not there, or no pull access to `from`), which is cancelled so the caller sends
   * the blob itself.
   */
  async mountBlob(desc: Descriptor, from: Repository | string, opts: CallOptions = {}): Promise<boolean> {
    const digest = assertDigest(desc.digest, 'blob digest');
    const source = typeof from === 'string' ? from : from instanceof RegistryRepository && from.http === this.http ? from.name : undefined;
    if (source === undefined || source === this.name || !isValidRepository(source)) return false;
    const url = this.url('blobs/uploads/');
    url.searchParams.set('mount', digest);
    url.searchParams.set('from', source);
    const action = `mount blob ${digest} from ${this.http.registry}/${source} into ${this.description}`;
    let res: HttpResponse;
    try {
      res = await this.http.request(
        { method: 'POST', url, headers: { 'content-length': '0' }, scope: this.push, signal: opts.signal, idempotent: true, allow: [400, 401, 403, 404, 405] },
        this.ctx(action, undefined, true),
      );
    } catch (e) {
      if (OmlmdError.is(e, 'CANCELLED')) throw e;
      return false;
    }
    await discard(res.body);
    if (res.status === 201) {
      const got = headerValue(res.headers, 'docker-content-digest');
      return got === undefined || got === digest;
    }
    if (res.status === 202 && headerValue(res.headers, 'location')) await this.cancelUpload(this.location(res, action));
    return false;
  }

  async putBlob(input: BlobInput, opts: PutBlobOptions = {}): Promise<BlobRef> {
    const { signal } = opts;
    throwIfAborted(signal);
    const size = input.size;
    if (!Number.isSafeInteger(size) || size < 0) throw new OmlmdError('USAGE', `blob size must be a non-negative integer, not ${size}`);
    const known = input.digest === undefined ? undefined : assertDigest(input.digest, 'blob digest');
    if (known !== undefined) {
      const have = await this.statBlob(known, { signal });
      if (have === size) return { digest: known, size };
      if (have !== undefined) {
        throw new OmlmdError('SIZE_MISMATCH', `blob ${known} in ${this.description} is ${have} bytes, but ${size} were expected`);
      }
    }
    const action = `push blob ${known ?? `of ${size} bytes`} to ${this.description}`;
    const ctx = this.ctx(action, { code: 'BLOB_UPLOAD_UNKNOWN', message: `the registry lost the upload of ${known ? `blob ${known}` : 'a blob'} to ${this.description}` }, true);
    const up: Upload = { input, size, known, action, ctx, progress: new Progress(opts.onBytes), signal, session: opts.session, onResumed: opts.onResumed };

    for (let attempt = 1; ; attempt++) {
      try {
        // Small blobs whose digest is known go in one request; the rest in resumable chunks.
        if (this.http.chunkedRefused || (known !== undefined && size <= this.chunkSize)) return await this.putMonolithic(up);
        return await this.putChunked(up);
      } catch (e) {
        if (e instanceof ChunkedRefused) {
          // Google Artifact Registry and others refuse PATCH: one PUT, for this blob and the next ones.
          this.http.chunkedRefused = true;
          attempt--;
          continue;
        }
        if (signal?.aborted) throw e;
        // The answer to a PUT that committed may be what got lost.
        if (known !== undefined && isRetryable(e) && (await this.statBlob(known, { signal }).catch(() => undefined)) === size) return { digest: known, size };
        if (!(await this.http.backoff(attempt, e, action, signal))) throw e;
      }
    }
  }

  /** Opens an upload session; opening a second one after a lost answer does no harm. */
  private async startUpload(up: Upload): Promise<URL> {
    const res = await this.http.request(
      { method: 'POST', url: this.url('blobs/uploads/'), headers: { 'content-length': '0' }, scope: this.push, signal: up.signal, idempotent: true },
      up.ctx,
    );
    await discard(res.body);
    if (res.status === 201) {
      // Already committed (a mount) is meaningless for a plain POST: do not trust it.
      throw new OmlmdError('HTTP', `cannot ${up.action}: the registry answered 201 to an upload without a digest`, { status: 201, url: redactUrl(res.url) });
    }
    return this.location(res, up.action);
  }

  /** POST, then one PUT with the whole blob and its digest (hashed first when unknown). */
  private async putMonolithic(up: Upload): Promise<BlobRef> {
    const digest = up.known ?? (await this.hashSource(up));
    const location = await this.startUpload(up);
    try {
      const url = new URL(location);
      url.searchParams.append('digest', digest);
      const res = await this.http.request(
        {
          method: 'PUT',
          url,
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(up.size) },
          body: () => this.openSource(up.input, up.progress, undefined, up.action),
          scope: this.push,
          signal: up.signal,
        },
        up.ctx,
      );
      await discard(res.body);
      this.checkCommitted(res, digest, up.action);
      if (up.progress.count !== up.size) {
        throw new OmlmdError('SIZE_MISMATCH', `cannot ${up.action}: the source gave ${up.progress.count} bytes, not ${up.size}`);
      }
      return { digest, size: up.size };
    } catch (e) {
      if (!up.signal?.aborted) await this.cancelUpload(location);
      throw e;
    }
  }

  private async hashSource(up: Upload): Promise<string> {
    const digester = new Digester();
    const src = await this.openSource(up.input, new Progress(), digester, up.action);
    try {
      for await (const chunk of src as AsyncIterable<Buffer>) void chunk;
    } catch (e) {
      throw toOmlmdError(e, `cannot ${up.action}: cannot read the source`);
    }
    if (digester.size !== up.size) throw new OmlmdError('SIZE_MISMATCH', `cannot ${up.action}: the source gave ${digester.size} bytes, not ${up.size}`);
    return digester.digest();
  }

  /**
   * POST, PATCH chunks of at most chunkSize bytes, then PUT ?digest=. After a broken chunk the
   * registry is asked how much it holds (GET on the upload's Location → Range) and the upload
   * goes on from there; a registry that lost the session (distribution, whose `_state` no
   * longer matches after a broken PATCH) makes the caller start over.
   */
  private async putChunked(up: Upload): Promise<BlobRef> {
    const resumed = await this.resumeSession(up);
    let location = resumed?.location ?? (await this.startUpload(up));
    const reader = new SourceReader(up.input, up.action, up.progress);
    let committed = false;
    let failure: unknown;
    try {
      let offset = resumed?.offset ?? 0;
      if (offset > 0) {
        up.progress.resumedAt(offset);
        up.onResumed?.(offset);
      }
      await reader.openAt(offset);
      let sentAny = offset > 0;
      let resumes = 0;
      while (offset < up.size || !sentAny) {
        const start = offset;
        const len = Math.min(this.chunkSize, up.size - start);
        let opened = false;
        try {
          const res = await this.http.request(
            {
              method: 'PATCH',
              url: location,
              headers: {
                'content-type': 'application/octet-stream',
                'content-length': String(len),
                ...(len > 0 ? { 'content-range': `${start}-${start + len - 1}` } : {}),
              },
              body: async () => {
                // Sent again after a 401: the registry took none of it, so read it anew from `start`.
                if (opened) await reader.openAt(start);
                opened = true;
                return reader.take(len);
              },
              scope: this.push,
              signal: up.signal,
            },
            up.ctx,
          );
          await discard(res.body);
          // ECR answers 201 here; the upload is still open and needs its PUT.
          if (headerValue(res.headers, 'location')) location = this.location(res, up.action);
          sentAny = true;
          const held = rangeEnd(headerValue(res.headers, 'range'));
          offset = start + len;
          if (held !== undefined && held !== offset && !(held === 1 && offset === 0)) {
            if (held > offset) throw new OmlmdError('SIZE_MISMATCH', `cannot ${up.action}: the registry says it holds ${held} bytes after ${offset} were sent`);
            // It kept less than was sent: go on from what it has.
            if (++resumes > this.http.retryPolicy.retries) throw new OmlmdError('HTTP', `cannot ${up.action}: the registry keeps fewer bytes than it is sent`, { url: redactUrl(location) });
            offset = held;
            await reader.openAt(offset);
          }
          // The newest Location (distribution's `_state` changes with every PATCH) and what it holds: a later run goes on from here.
          if (offset < up.size) await up.session?.save({ location: location.href, offset });
        } catch (e) {
          if (!sentAny && start === 0 && isChunkRefusal(e)) throw new ChunkedRefused();
          if (up.signal?.aborted || !isRetryable(e)) throw e;
          if (!(await this.http.backoff(++resumes, e, up.action, up.signal))) throw e;
          const status = await this.uploadStatus(location, up);
          // The session is gone: the error stays retryable, and putBlob starts over.
          if (status === undefined) throw e;
          location = status.location;
          offset = status.offset;
          sentAny = offset > 0;
          await reader.openAt(offset);
        }
      }
      if (!(await reader.atEnd())) throw new OmlmdError('SIZE_MISMATCH', `cannot ${up.action}: the source gave more than ${up.size} bytes`);
      const digest = await reader.digest();
      if (up.known !== undefined && digest !== up.known) {
        throw new OmlmdError('DIGEST_MISMATCH', `cannot ${up.action}: the source's bytes hash to ${digest}`);
      }
      await this.commit(location, digest, up);
      committed = true;
      await up.session?.clear();
      return { digest, size: up.size };
    } catch (e) {
      failure = e;
      throw e;
    } finally {
      reader.close();
      // A cancelled upload, or one a network failure broke, stays open for the next run when
      // its session is kept; anything else is deleted rather than left to linger.
      const keep = up.signal?.aborted || (up.session !== undefined && isRetryable(failure));
      if (!committed && !keep) {
        await this.cancelUpload(location);
        await up.session?.clear();
      }
    }
  }

  /**
   * The session an earlier, interrupted run left open for this blob, if the registry still
   * has it: its newest Location and the offset the registry reports (it may hold less than
   * was saved, never trust the saved offset alone).
   */
  private async resumeSession(up: Upload): Promise<{ location: URL; offset: number } | undefined> {
    const saved = await up.session?.load().catch(() => undefined);
    if (!saved) return undefined;
    let url: URL | undefined;
    try {
      url = new URL(saved.location);
    } catch {
      url = undefined;
    }
    // Only to the registry itself: a session file is not trusted to send bytes elsewhere.
    const status = url && url.origin === this.http.base.origin ? await this.uploadStatus(url, up) : undefined;
    if (!status || status.offset > up.size) {
      await up.session?.clear();
      return undefined;
    }
    return status;
  }

  /** Where a broken upload stands: the registry's byte count and newest Location, or undefined when it lost the session. */
  private async uploadStatus(location: URL, up: Upload): Promise<{ offset: number; location: URL } | undefined> {
    let res: HttpResponse;
    try {
      res = await this.http.request(
        { method: 'GET', url: location, scope: this.push, signal: up.signal, allow: [400, 404] },
        this.ctx(`ask ${this.description} how much of an upload it holds`),
      );
    } catch (e) {
      if (OmlmdError.is(e, 'CANCELLED')) throw e;
      return undefined;
    }
    await discard(res.body);
    if (res.status !== 204 && res.status !== 200) return undefined;
    const held = rangeEnd(headerValue(res.headers, 'range'));
    // `0-0` is both "nothing" and "one byte" in distribution's answer: start over to be sure.
    if (held === undefined || held === 1) return undefined;
    return { offset: held, location: headerValue(res.headers, 'location') ? this.location(res, up.action) : location };
  }

  /** PUT ?digest= on the last Location; when its answer is lost, the blob's presence decides. */
  private async commit(location: URL, digest: string, up: Upload): Promise<void> {
    const url = new URL(location);
    url.searchParams.append('digest', digest);
    const ctx = this.ctx(`commit blob ${digest} to ${this.description}`, up.ctx.notFound, true);
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await this.http.request({ method: 'PUT', url, headers: { 'content-length': '0' }, body: '', scope: this.push, signal: up.signal }, ctx);
        await discard(res.body);
        this.checkCommitted(res, digest, up.action);
        return;
      } catch (e) {
        if (up.signal?.aborted) throw e;
        if ((isRetryable(e) || OmlmdError.is(e, 'BLOB_UPLOAD_UNKNOWN')) && (await this.statBlob(digest, { signal: up.signal }).catch(() => undefined)) === up.size) return;
        if (!(await this.http.backoff(attempt, e, ctx.action, up.signal))) throw e;
      }
    }
  }

  private location(res: HttpResponse, action: string): URL {
    const loc = headerValue(res.headers, 'location');
    if (!loc) throw new OmlmdError('HTTP', `cannot ${action}: the registry answered ${res.status} without a Location`, { status: res.status, url: redactUrl(res.url) });
    // Relative or absolute, with query parameters of its own: always resolve, never rebuild.
    return new URL(loc, res.url);
  }

  private checkCommitted(res: HttpResponse, digest: string, action: string): void {
    const got = headerValue(res.headers, 'docker-content-digest');
    if (got !== undefined && isDigest(got) && got !== digest) {
      throw new OmlmdError('DIGEST_MISMATCH', `cannot ${action}: the registry stored ${got} instead of ${digest}`, { status: res.status, url: redactUrl(res.url) });
    }
  }

  private async openSource(input: BlobInput, progress: Progress, digester: Digester | undefined, action: string): Promise<Readable> {
    let src: Readable;
    try {
      src = await input.open();
    } catch (e) {
      throw toOmlmdError(e, `cannot ${action}: cannot open the source`);
    }
    progress.restart();
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        digester?.update(chunk);
        progress.add(chunk.length);
        cb(null, chunk);
      },
    });
    return pipeline(src, counter, () => undefined);
  }

  /** Best effort: a failed upload otherwise lingers on the registry until it purges it. */
  private async cancelUpload(location: URL): Promise<void> {
    try {
      const res = await this.http.request(
        { method: 'DELETE', url: location, scope: this.push, signal: AbortSignal.timeout(5000), allow: [400, 404, 405] },
        this.ctx(`cancel an upload to ${this.description}`),
      );
      await discard(res.body);
    } catch {
      // the upload failed already; that error is the one to report
    }
  }

  // ---- manifests ---------------------------------------------------------------------

  async fetchManifest(reference: string, opts: CallOptions = {}): Promise<FetchedManifest> {
    const ref = checkReference(reference, 'manifest reference');
    const action = `fetch manifest ${ref} from ${this.description}`;
    const res = await this.http.request(
      { method: 'GET', url: this.url(`manifests/${ref}`), headers: { accept: MANIFEST_ACCEPT }, scope: this.pull, signal: opts.signal },
      this.ctx(action, { code: 'MANIFEST_UNKNOWN', message: `manifest ${ref} not found in ${this.description}` }),
    );
    const tooLarge = (): OmlmdError =>
      new OmlmdError('INVALID_MANIFEST', `manifest ${ref} in ${this.description} is larger than ${MAX_MANIFEST_SIZE} bytes`, { url: redactUrl(res.url) });
    const declared = contentLength(res);
    if (declared !== undefined && declared > MAX_MANIFEST_SIZE) {
      res.body.destroy();
      throw tooLarge();
    }
    let bytes: Buffer;
    try {
      bytes = await readCapped(res.body, MAX_MANIFEST_SIZE, tooLarge);
    } catch (e) {
      throw networkError(e, action, res.url, opts.signal);
    }
    const digest = sha256(bytes);
    if (isDigest(ref) && digest !== ref) {
      throw new OmlmdError('DIGEST_MISMATCH', `manifest ${ref} from ${this.description}: the registry sent bytes whose digest is ${digest}`, { url: redactUrl(res.url) });
    }
    const claimed = headerValue(res.headers, 'docker-content-digest');
    if (claimed !== undefined && claimed.startsWith('sha256:') && claimed !== digest) {
      throw new OmlmdError('DIGEST_MISMATCH', `manifest ${ref} from ${this.description}: the registry says its digest is ${claimed}, the bytes hash to ${digest}`, { url: redactUrl(res.url) });
    }
    return parseManifestBytes(bytes, { mediaType: manifestMediaType(res), digest, size: bytes.length }, `manifest ${ref} from ${this.description}`);
  }

  async resolve(reference: string, opts: CallOptions = {}): Promise<Descriptor> {
    const ref = checkReference(reference, 'manifest reference');
    const res = await this.http.request(
      { method: 'HEAD', url: this.url(`manifests/${ref}`), headers: { accept: MANIFEST_ACCEPT }, scope: this.pull, signal: opts.signal },
      this.ctx(`resolve ${ref} in ${this.description}`, { code: 'MANIFEST_UNKNOWN', message: `manifest ${ref} not found in ${this.description}` }),
    );
    await discard(res.body);
    const digest = headerValue(res.headers, 'docker-content-digest');
    const size = contentLength(res);
    const mediaType = manifestMediaType(res);
    if (digest === undefined || !isDigest(digest) || size === undefined || mediaType === '') {
      // Not every registry says it on HEAD; the bytes say it for sure.
      return (await this.fetchManifest(ref, opts)).descriptor;
    }
    if (isDigest(ref) && digest !== ref) {
      throw new OmlmdError('DIGEST_MISMATCH', `manifest ${ref} in ${this.description}: the registry says its digest is ${digest}`, { url: redactUrl(res.url) });
    }
    return { mediaType, digest, size };
  }

  async putManifest(bytes: Buffer, mediaType: string, tag?: string, opts: CallOptions = {}): Promise<Descriptor> {
    const digest = sha256(bytes);
    const ref = tag === undefined ? digest : checkReference(tag, 'tag');
    const action = `push manifest ${ref} to ${this.description}`;
    let res: HttpResponse;
    try {
      res = await this.http.request(
        { method: 'PUT', url: this.url(`manifests/${ref}`), headers: { 'content-type': mediaType }, body: bytes, scope: this.push, signal: opts.signal, idempotent: true },
        this.ctx(action, undefined, true),
      );
    } catch (e) {
      if (OmlmdError.is(e, 'MANIFEST_INVALID') && bytes.length > 4 * 1024 * 1024) {
        throw new OmlmdError(e.code, e.message, { cause: e, status: e.status, url: e.url, registryErrors: e.registryErrors, hint: 'the manifest is over 4 MiB, more than many registries accept' });
      }
      throw e;
    }
    await discard(res.body);
    this.checkCommitted(res, digest, action);
    return { mediaType, digest, size: bytes.length };
  }

  async listTags(opts: CallOptions = {}): Promise<string[]> {
    const tags = new Set<string>();
    for await (const page of this.tagPages(opts)) for (const t of page) tags.add(t);
    // Registries return tags in storage order (distribution: unsorted).
    return [...tags].sort();
  }

  /** The tags one page at a time, as the registry sends them (`Link: rel="next"`), for a caller that works as they come. */
  async *tagPages(opts: CallOptions = {}): AsyncGenerator<string[]> {
    const action = `list the tags of ${this.description}`;
    let url: URL | undefined = this.url('tags/list');
    const seen = new Set<string>();
    for (let page = 0; url !== undefined; page++) {
      if (page >= MAX_PAGES || seen.has(url.href)) throw new OmlmdError('HTTP', `cannot ${action}: the registry's pages do not end`);
      seen.add(url.href);
      const res: HttpResponse = await this.http.request(
        { method: 'GET', url, scope: this.pull, signal: opts.signal },
        this.ctx(action, { code: 'NAME_UNKNOWN', message: `repository ${this.description} not found` }),
      );
      const next = nextLink(res.headers.link, res.url);
      let doc: Record<string, unknown>;
      try {
        doc = await readJson(res, `cannot ${action}`);
      } catch (e) {
        throw networkError(e, action, res.url, opts.signal);
      }
      yield stringArray(doc.tags, `cannot ${action}`);
      url = next;
    }
  }

  async deleteManifest(digest: string, opts: CallOptions = {}): Promise<void> {
    assertDigest(digest, 'manifest digest');
    const action = `delete manifest ${digest} from ${this.description}`;
    try {
      const res = await this.http.request(
        { method: 'DELETE', url: this.url(`manifests/${digest}`), scope: `repository:${this.name}:delete`, signal: opts.signal },
        this.ctx(action, { code: 'MANIFEST_UNKNOWN', message: `manifest ${digest} not found in ${this.description}` }, true),
      );
      await discard(res.body);
    } catch (e) {
      if (OmlmdError.is(e) && (e.status === 405 || (e.code === 'UNSUPPORTED' && e.status !== undefined))) {
        throw new OmlmdError('UNSUPPORTED', `cannot ${action}: the registry does not allow deletes`, {
          cause: e,
          status: e.status,
          url: e.url,
          registryErrors: e.registryErrors,
          hint: 'enable storage.delete on the registry',
        });
      }
      throw e;
    }
  }

  async deleteTag(tag: string, opts: CallOptions = {}): Promise<void> {
    const ref = checkReference(tag, 'tag');
    if (isDigest(ref)) throw new OmlmdError('USAGE', `${ref} is a digest, not a tag: delete the manifest instead`);
    const action = `delete tag ${ref} from ${this.description}`;
    try {
      const res = await this.http.request(
        { method: 'DELETE', url: this.url(`manifests/${ref}`), scope: `repository:${this.name}:delete`, signal: opts.signal },
        this.ctx(action, { code: 'MANIFEST_UNKNOWN', message: `tag ${ref} not found in ${this.description}` }, true),
      );
      await discard(res.body);
    } catch (e) {
      // distribution answers 400 DIGEST_INVALID (it parses the tag as a digest); others 405 or UNSUPPORTED.
      if (OmlmdError.is(e) && (e.status === 400 || e.status === 405 || (e.code === 'UNSUPPORTED' && e.status !== undefined))) {
        let digest: string | undefined;
        try {
          digest = (await this.resolve(ref, opts)).digest;
        } catch {
          digest = undefined;
        }
        const target = digest ? `${this.description}@${digest}` : 'the manifest by digest';
        throw new OmlmdError(
          'UNSUPPORTED',
          `cannot ${action}: the registry cannot delete a tag alone, only a manifest by digest, and deleting the manifest removes every tag on it`,
          { cause: e, status: e.status, url: e.url, registryErrors: e.registryErrors, hint: `to remove the manifest with all its tags, delete ${target}` },
        );
      }
      throw e;
    }
  }

  // ---- referrers (OCI 1.1) -----------------------------------------------------------

  /**
   * The referrers of manifest `digest` through the registry's referrers API (every page), or
   * undefined when the registry has no such API: it answers 404 there (distribution, GHCR,
   * GitLab), which a registry with the API never does. The answer itself is the probe; an
   * `OCI-Subject` header on a manifest PUT is not trusted alone. `filtered` says whether the
   * registry applied `artifactType` (`OCI-Filters-Applied`); if not, the caller filters.
   */
  async referrersApi(digest: string, opts: CallOptions & { artifactType?: string } = {}): Promise<{ manifests: Descriptor[]; filtered: boolean } | undefined> {
    assertDigest(digest, 'subject digest');
    const action = `list the referrers of ${digest} in ${this.description}`;
    let url: URL | undefined = this.url(`referrers/${digest}`);
    if (opts.artifactType !== undefined) url.searchParams.set('artifactType', opts.artifactType);
    const manifests: Descriptor[] = [];
    let filtered = opts.artifactType !== undefined;
    const seen = new Set<string>();
    for (let page = 0; url !== undefined; page++) {
      if (page >= MAX_PAGES || seen.has(url.href)) throw new OmlmdError('HTTP', `cannot ${action}: the registry's pages do not end`);
      seen.add(url.href);
      const res: HttpResponse = await this.http.request(
        { method: 'GET', url, headers: { accept: INDEX_MEDIA_TYPES[0] }, scope: this.pull, signal: opts.signal, allow: [404, 405, 501] },
        this.ctx(action),
      );
      if (res.status === 404 || res.status === 405 || res.status === 501) {
        await discard(res.body);
        if (page === 0) return undefined;
        throw new OmlmdError('HTTP', `cannot ${action}: page ${page + 1} answered ${res.status}`, { status: res.status, url: redactUrl(res.url) });
      }
      const next = nextLink(res.headers.link, res.url);
      if (opts.artifactType !== undefined && !(headerValue(res.headers, 'oci-filters-applied') ?? '').split(',').map((s) => s.trim()).includes('artifactType')) filtered = false;
      const doc = await this.readReferrers(res, action, opts.signal);
      manifests.push(...doc);
      url = next;
    }
    return { manifests, filtered };
  }

  private async readReferrers(res: HttpResponse, action: string, signal?: AbortSignal): Promise<Descriptor[]> {
    let doc: Record<string, unknown>;
    try {
      doc = await readJson(res, `cannot ${action}`);
    } catch (e) {
      throw networkError(e, action, res.url, signal);
    }
    if (!Array.isArray(doc.manifests)) throw new OmlmdError('HTTP', `cannot ${action}: the answer is not an image index`, { url: redactUrl(res.url) });
    return doc.manifests.map((d, i) => parseDescriptor(d, `referrers of ${this.description} manifests[${i}]`));
  }

  /**
   * Stores manifest bytes under `tag` only if the tag still names `ifMatch` (a digest), or
   * names nothing when `ifMatch` is null: `If-Match` / `If-None-Match: *` with the digest as
   * the ETag. A registry that honours them answers 412, thrown as CONFLICT; distribution
   * ignores both, which is why callers verify after writing as well.
   */
  async putManifestIfMatch(bytes: Buffer, mediaType: string, tag: string, ifMatch: string | null, opts: CallOptions = {}): Promise<Descriptor> {
    const digest = sha256(bytes);
    const ref = checkReference(tag, 'tag');
    const action = `push manifest ${ref} to ${this.description}`;
    const condition: Record<string, string> = ifMatch === null ? { 'if-none-match': '*' } : { 'if-match': `"${assertDigest(ifMatch, 'expected digest')}"` };
    const res = await this.http.request(
      { method: 'PUT', url: this.url(`manifests/${ref}`), headers: { 'content-type': mediaType, ...condition }, body: bytes, scope: this.push, signal: opts.signal, idempotent: true, allow: [412] },
      this.ctx(action, undefined, true),
    );
    await discard(res.body);
    if (res.status === 412) throw new OmlmdError('CONFLICT', `cannot ${action}: it changed since it was read`, { status: 412, url: redactUrl(res.url) });
    this.checkCommitted(res, digest, action);
    return { mediaType, digest, size: bytes.length };
  }
}
