/**
 * A client of the OCI distribution API: one registry (RegistryClient) and its repositories
 * (RegistryRepository, the Repository contract the transfer engine talks to). The work is
 * done by one module per protocol resource beside this file (blob reads, blob uploads,
 * manifests, tags, referrers, pagination); requests, auth, retries and error translation
 * live in ../http.ts. This file checks names and delegates.
 */
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { OmlmdError } from '../../errors';
import type { Credentials } from '../auth';
import { discard, RegistryHttp, type ProxySettings, type RequestContext, type TlsSettings } from '../http';
import { isLoopbackHost, isValidRepository } from '../reference';
import type { RetryEvent, RetryPolicy } from '../retry';
import { apiHost } from '../../util/host';
import type {
  BlobInput, BlobRef, CallOptions, ConditionalManifestWriter, OpenBlobOptions, PutBlobOptions, ReferrersLister, ReferrersListing, ReferrersQuery,
  Repository, RepositoryLister, RepositoryPage,
} from '../store';
import type { BodyTarget } from '../socketget';
import type { Descriptor, FetchedManifest } from '../types';
import * as blobRead from './blob-read';
import * as blobUpload from './blob-upload';
import { DEFAULT_CHUNK_SIZE, readJson, RepoContext, stringArray } from './common';
import * as manifests from './manifests';
import { linkPages } from './pagination';
import * as referrers from './referrers';
import * as tags from './tags';

export interface RegistryOptions {
  /**
   * `true`: plain HTTP; `false`: HTTPS. Default: HTTPS, except for a loopback host with no
   * TLS settings (a CA file, a client certificate, insecure): plain HTTP first (as docker
   * and oras do), switching to HTTPS for good if the registry answers as an HTTPS server.
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
  /** false in a host that patches `node:http` (DispatcherOptions.nodeHttpClient says why). */
  nodeHttpClient?: boolean;
  retry?: Partial<RetryPolicy>;
  /**
   * The most bytes one upload request carries (default 256 MiB): a larger blob goes in
   * chunks, each resumable, so no single PUT exceeds a registry's cap (Quay: 20 GB).
   */
  chunkSize?: number;
  onWarning?: (message: string) => void;
  onRetry?: (e: RetryEvent) => void;
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
    this.http = new RegistryHttp(registry, apiHost(registry), {
      ...options,
      plainHttp: options.plainHttp ?? (isLoopbackHost(registry) && !wantsTls ? 'auto' : false),
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
      { operation: { verb: 'ping', target: this.registry }, notFound: { code: 'NOT_FOUND', problem: 'it does not serve the OCI distribution API (GET /v2/ answered 404)' } },
    );
    await discard(res.body);
  }

  /** One page of the catalog; `next` (from the Link header's `last`) asks for the following one. */
  async listRepositories(opts: CallOptions & { last?: string; n?: number } = {}): Promise<RepositoryPage> {
    const url = this.http.url('/v2/_catalog');
    if (opts.n !== undefined) url.searchParams.set('n', String(opts.n));
    if (opts.last !== undefined) url.searchParams.set('last', opts.last);
    const ctx: RequestContext = {
      operation: { verb: 'list-repositories', target: this.registry },
      notFound: { code: 'UNSUPPORTED', problem: 'the registry does not list its repositories (no /v2/_catalog)' },
    };
    for await (const { res, next } of linkPages(this.http, url, (u) => ({ method: 'GET', url: u, scope: 'registry:catalog:*', signal: opts.signal }), ctx)) {
      const doc = await readJson(res, ctx.operation, opts.signal);
      const repositories = stringArray(doc.repositories, ctx.operation);
      const page: RepositoryPage = { repositories };
      if (next && repositories.length > 0) page.next = next.searchParams.get('last') ?? repositories[repositories.length - 1];
      return page;
    }
    return { repositories: [] };
  }
}

/** A repository of a registry: the Repository contract, listing referrers and writing conditionally besides. */
export class RegistryRepository implements Repository, ReferrersLister, ConditionalManifestWriter {
  private readonly repo: RepoContext;

  /** Use RegistryClient.repository(name), which checks the name. */
  constructor(http: RegistryHttp, readonly name: string, chunkSize = DEFAULT_CHUNK_SIZE) {
    this.repo = new RepoContext(http, name, chunkSize);
  }

  get description(): string {
    return this.repo.description;
  }

  /** true once the registry answered a Range with 206, false once it sent a whole blob instead. */
  get partialReads(): boolean | undefined {
    return this.repo.http.rangeHonoured;
  }

  get locator(): { registry: string; repository: string } {
    return { registry: this.repo.http.registry, repository: this.name };
  }

  // ---- blobs

  statBlob(digest: string, opts: CallOptions = {}): Promise<number | undefined> {
    return blobRead.statBlob(this.repo, digest, opts);
  }

  openBlob(desc: Descriptor, opts: OpenBlobOptions = {}): Promise<Readable> {
    return blobRead.openBlob(this.repo, desc, opts);
  }

  readBlobInto(desc: Descriptor, opts: OpenBlobOptions & { onOpened?: () => void }, target: BodyTarget): Promise<void> {
    return blobRead.readBlobInto(this.repo, desc, opts, target);
  }

  /** `from` is a repository of this same client's registry, or its name there; anything else cannot be mounted. */
  async mountBlob(desc: Descriptor, from: Repository | string, opts: CallOptions = {}): Promise<boolean> {
    const source = typeof from === 'string' ? from : from instanceof RegistryRepository && from.repo.http === this.repo.http ? from.name : undefined;
    return source !== undefined && blobUpload.mountBlob(this.repo, desc, source, opts);
  }

  putBlob(input: BlobInput, opts: PutBlobOptions = {}): Promise<BlobRef> {
    return blobUpload.putBlob(this.repo, input, opts);
  }

  // ---- manifests

  fetchManifest(reference: string, opts: CallOptions = {}): Promise<FetchedManifest> {
    return manifests.fetchManifest(this.repo, reference, opts);
  }

  resolve(reference: string, opts: CallOptions = {}): Promise<Descriptor> {
    return manifests.resolve(this.repo, reference, opts);
  }

  putManifest(bytes: Buffer, mediaType: string, tag?: string, opts: CallOptions = {}): Promise<Descriptor> {
    return manifests.putManifest(this.repo, bytes, mediaType, tag, opts);
  }

  putManifestIfMatch(bytes: Buffer, mediaType: string, tag: string, ifMatch: string | null, opts: CallOptions = {}): Promise<Descriptor> {
    return manifests.putManifestIfMatch(this.repo, bytes, mediaType, tag, ifMatch, opts);
  }

  deleteManifest(digest: string, opts: CallOptions = {}): Promise<void> {
    return manifests.deleteManifest(this.repo, digest, opts);
  }

  // ---- tags

  listTags(opts: CallOptions = {}): Promise<string[]> {
    return tags.listTags(this.repo, opts);
  }

  tagPages(opts: CallOptions = {}): AsyncGenerator<string[]> {
    return tags.tagPages(this.repo, opts);
  }

  deleteTag(tag: string, opts: CallOptions = {}): Promise<void> {
    return tags.deleteTag(this.repo, tag, opts);
  }

  // ---- referrers (OCI 1.1)

  listReferrers(digest: string, opts: ReferrersQuery = {}): Promise<ReferrersListing | undefined> {
    return referrers.listReferrers(this.repo, digest, opts);
  }
}
