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
import { discard, headerValue, networkError, readCapped, redactUrl, RegistryHttp, type HttpResponse, type RequestContext } from './http';
import { INDEX_MEDIA_TYPES, MANIFEST_ACCEPT, MANIFEST_MEDIA_TYPES } from './mediatypes';
import { isLoopbackHost, isValidRepository, isValidTag } from './reference';
import type { BlobInput, BlobRef, CallOptions, PutBlobOptions, Repository, RepositoryLister, RepositoryPage } from './store';
import { parseManifestBytes, type Descriptor, type FetchedManifest } from './types';

export type { Credentials, CredentialsProvider } from './auth';

export interface RegistryOptions {
  /** Default: plain HTTP for loopback hosts (as docker and oras do), else HTTPS. */
  plainHttp?: boolean;
  /** The transport: the VS Code extension passes one that honours its proxy settings. */
  dispatcher?: Dispatcher;
  userAgent?: string;
  /** Asked only when the registry challenges, so anonymous pulls need no credential helper. */
  credentials?: (registry: string) => Promise<Credentials | undefined>;
}

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
 * Progress over attempts: when a body is sent again after a 401, only bytes beyond what was
 * already reported count, so the total never exceeds the blob's size.
 */
class Progress {
  private reported = 0;
  count = 0;
  constructor(private readonly onBytes?: (n: number) => void) {}
  restart(): void {
    this.count = 0;
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

export class RegistryClient implements RepositoryLister {
  private readonly http: RegistryHttp;

  constructor(
    readonly registry: string,
    options: RegistryOptions = {},
  ) {
    checkRegistry(registry);
    this.http = new RegistryHttp(registry, endpointOf(registry), {
      ...options,
      plainHttp: options.plainHttp ?? isLoopbackHost(registry),
    });
  }

  repository(name: string): RegistryRepository {
    if (!isValidRepository(name)) {
      throw new OmlmdError('INVALID_REFERENCE', `${JSON.stringify(name)} is not a valid repository name (lowercase letters, digits and . _ - separators, parts joined by /)`);
    }
    return new RegistryRepository(this.http, name);
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

  async openBlob(desc: Descriptor, opts: CallOptions & { offset?: number } = {}): Promise<Readable> {
    const digest = assertDigest(desc.digest, 'blob digest');
    const offset = opts.offset ?? 0;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > desc.size) {
      throw new OmlmdError('USAGE', `cannot read blob ${digest} from offset ${offset}: it is ${desc.size} bytes`);
    }
    // `Range: bytes=SIZE-` is unsatisfiable (416): nothing is left to read anyway.
    if (offset > 0 && offset === desc.size) return Readable.from([]);
    const action = `fetch blob ${digest} from ${this.description}`;
    const headers: Record<string, string> = {};
    if (offset > 0) headers.range = `bytes=${offset}-`;
    const res = await this.http.request(
      { method: 'GET', url: this.url(`blobs/${digest}`), headers, scope: this.pull, signal: opts.signal },
      this.ctx(action, { code: 'BLOB_UNKNOWN', message: `blob ${digest} not found in ${this.description}` }),
    );
    if (offset === 0 || res.status === 206) {
      if (res.status === 206) {
        const start = /^bytes\s+(\d+)-/.exec(headerValue(res.headers, 'content-range') ?? '')?.[1];
        if (start === undefined || Number(start) !== offset) {
          res.body.destroy();
          throw new OmlmdError('HTTP', `cannot ${action}: asked for bytes from ${offset}, the server sent a different range`, { status: 206, url: redactUrl(res.url) });
        }
      }
      return res.body;
    }
    // The server ignored Range and sends the whole blob: drop what the caller already has.
    let toSkip = offset;
    const skipper = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        if (toSkip >= chunk.length) {
          toSkip -= chunk.length;
          cb();
          return;
        }
        const rest = toSkip > 0 ? chunk.subarray(toSkip) : chunk;
        toSkip = 0;
        cb(null, rest);
      },
    });
    // pipeline destroys the body when the consumer destroys the skipper, and vice versa.
    return pipeline(res.body, skipper, () => undefined);
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

    const started = await this.http.request(
      { method: 'POST', url: this.url('blobs/uploads/'), headers: { 'content-length': '0' }, scope: this.push, signal },
      ctx,
    );
    await discard(started.body);
    if (started.status === 201) {
      // Already committed (a mount): only meaningful when we named the digest.
      if (known !== undefined) return { digest: known, size };
      throw new OmlmdError('HTTP', `cannot ${action}: the registry answered 201 to an upload without a digest`, { status: 201, url: redactUrl(started.url) });
    }
    let location = this.location(started, action);
    const progress = new Progress(opts.onBytes);
    try {
      let digest: string;
      if (known !== undefined) {
        digest = known;
        const url = new URL(location);
        url.searchParams.append('digest', digest);
        const res = await this.http.request(
          {
            method: 'PUT',
            url,
            headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
            body: () => this.openSource(input, progress, undefined, action),
            scope: this.push,
            signal,
          },
          ctx,
        );
        await discard(res.body);
        this.checkCommitted(res, digest, action);
      } else {
        // One streaming PATCH, hashed on the way out: the source is read once.
        let digester = new Digester();
        const patched = await this.http.request(
          {
            method: 'PATCH',
            url: location,
            headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
            body: () => {
              digester = new Digester();
              return this.openSource(input, progress, digester, action);
            },
            scope: this.push,
            signal,
          },
          ctx,
        );
        await discard(patched.body);
        if (headerValue(patched.headers, 'location')) location = this.location(patched, action);
        if (digester.size !== size) {
          throw new OmlmdError('SIZE_MISMATCH', `cannot ${action}: the source gave ${digester.size} bytes, not ${size}`);
        }
        // Range is `0-LAST` inclusive; distribution answers `0-0` for an empty upload too.
        const range = /^(?:bytes=)?0-(\d+)$/.exec(headerValue(patched.headers, 'range') ?? '');
        if (range) {
          const last = Number(range[1]);
          if (last !== size - 1 && !(size === 0 && last === 0)) {
            throw new OmlmdError('SIZE_MISMATCH', `cannot ${action}: the registry received ${last + 1} bytes of ${size}`);
          }
        }
        digest = digester.digest();
        const url = new URL(location);
        url.searchParams.append('digest', digest);
        const res = await this.http.request(
          { method: 'PUT', url, headers: { 'content-length': '0' }, body: '', scope: this.push, signal },
          this.ctx(`commit blob ${digest} to ${this.description}`, ctx.notFound, true),
        );
        await discard(res.body);
        this.checkCommitted(res, digest, action);
      }
      if (progress.count !== size) {
        throw new OmlmdError('SIZE_MISMATCH', `cannot ${action}: the source gave ${progress.count} bytes, not ${size}`);
      }
      return { digest, size };
    } catch (e) {
      if (!signal?.aborted) await this.cancelUpload(location);
      throw e;
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
        { method: 'PUT', url: this.url(`manifests/${ref}`), headers: { 'content-type': mediaType }, body: bytes, scope: this.push, signal: opts.signal },
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
    const action = `list the tags of ${this.description}`;
    const tags = new Set<string>();
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
      for (const t of stringArray(doc.tags, `cannot ${action}`)) tags.add(t);
      url = next;
    }
    // Registries return tags in storage order (distribution: unsorted).
    return [...tags].sort();
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
}
