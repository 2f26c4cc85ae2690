import type { Readable } from 'node:stream';
import type { Descriptor, FetchedManifest } from './types';
import type { BodyTarget } from './socketget';
import { OmlmdError, type ErrorCode } from '../errors';
import { sha256 } from './digest';
import type { LentSource } from './lent';

/**
 * The contract every place that holds artifacts implements: a repository of a registry,
 * an OCI image layout on disk, or a repository of the embedded local store. The transfer
 * engine (push, pull, copy) talks only to this interface, so any two can be combined.
 */

export interface CallOptions {
  signal?: AbortSignal;
}

export interface BlobInput {
  /** Opens the bytes from the start; may be called again when a step is retried. */
  open(): Readable | Promise<Readable>;
  /**
   * Opens the bytes from `offset` on while the source hashes all of them, from the start,
   * itself (off the main thread): the store then neither hashes nor reads the skipped part.
   * `digest` settles once the stream has ended. Optional; stores fall back to `open`.
   */
  openHashing?(offset: number): Promise<{ stream: Readable; digest: Promise<string> }>;
  /**
   * As openHashing, with the bytes lent in reused buffers (oci/lent.ts): preferred where the
   * transport writes lent chunks as they are (plain HTTP through Node's client). Optional.
   */
  openLent?(offset: number): { source: LentSource; digest: Promise<string> };
  size: number;
  /**
   * The digest, when known in advance: the store checks the bytes against it. When absent,
   * the store hashes while it writes (one read of the source) and returns the digest.
   */
  digest?: string;
  mediaType?: string;
}

export interface PutBlobOptions extends CallOptions {
  /** Called with each number of bytes written, for progress. */
  onBytes?: (n: number) => void;
  /** Bytes an earlier, interrupted upload had already sent (a resumed session): not sent again. */
  onResumed?: (n: number) => void;
  /**
   * Where to keep the upload session between runs, so that an interrupted push of a large
   * blob goes on from the offset the registry holds. Only registries use it.
   */
  session?: UploadSessionStore;
}

/** Keeps an upload session (its newest Location and the bytes acknowledged) across processes. */
export interface UploadSessionStore {
  load(): Promise<{ location: string; offset: number } | undefined>;
  save(s: { location: string; offset: number }): Promise<void>;
  clear(): Promise<void>;
}

export interface OpenBlobOptions extends CallOptions {
  /** First byte to read (default 0). */
  offset?: number;
  /** How many bytes to read from `offset` (default: to the end). */
  length?: number;
}

export interface BlobRef {
  digest: string;
  size: number;
}

export interface Repository {
  /** How a person names it in a message: `localhost:5000/models/mnist`, `oci:/tmp/layout`, `mnist (local store)`. */
  readonly description: string;

  /** The blob's size when the repository has it, else undefined. */
  statBlob(digest: string, opts?: CallOptions): Promise<number | undefined>;
  /**
   * Streams a blob's bytes, `length` of them (default: all) from `offset` (default 0). The
   * bytes are not verified here: the consumer hashes what it reads and compares with
   * `desc.digest`.
   */
  openBlob(desc: Descriptor, opts?: OpenBlobOptions): Promise<Readable>;
  /**
   * Reads the same bytes as openBlob into buffers the target hands out, resumed like
   * openBlob's stream; for a registry the kernel reads the body straight into them
   * (oci/socketget.ts). Absent where a stream costs nothing more (files). Resolves when
   * the body ended; the caller checks the count. `onOpened`: the registry answered.
   */
  readBlobInto?(desc: Descriptor, opts: OpenBlobOptions & { onOpened?: () => void }, target: BodyTarget): Promise<void>;
  /**
   * Whether reading part of a blob costs only that part: true for files, true for a
   * registry once it answered a Range with 206, false once it sent a whole blob instead
   * (then splitting a download into parts would cost more, not less); undefined until known.
   */
  readonly partialReads?: boolean;
  /**
   * Makes a blob that another repository of the same store holds part of this one, without
   * sending it (a registry's cross-repository mount). `from` is that repository, or its
   * name in the same registry. False when it cannot be done (another store, no access, the
   * registry opened an ordinary upload instead): then the blob has to be sent.
   */
  mountBlob?(desc: Descriptor, from: Repository | string, opts?: CallOptions): Promise<boolean>;
  /** For a repository of a registry: which, so that where blobs are can be remembered. */
  readonly locator?: { registry: string; repository: string };
  /** Stores a blob, verifying digest and size; a blob already present is not sent again. */
  putBlob(input: BlobInput, opts?: PutBlobOptions): Promise<BlobRef>;

  /** Fetches a manifest or index by tag or digest; the bytes are verified against a digest reference. */
  fetchManifest(reference: string, opts?: CallOptions): Promise<FetchedManifest>;
  /** Resolves a tag or digest to the descriptor of the manifest it names (HEAD where possible). */
  resolve(reference: string, opts?: CallOptions): Promise<Descriptor>;
  /** Stores manifest bytes exactly as given, under `tag` when one is given; returns its descriptor. */
  putManifest(bytes: Buffer, mediaType: string, tag?: string, opts?: CallOptions): Promise<Descriptor>;
  /** All tags, sorted. */
  listTags(opts?: CallOptions): Promise<string[]>;
  /** Removes a tag; the manifest stays reachable by digest where the store allows it. */
  deleteTag(tag: string, opts?: CallOptions): Promise<void>;
  /** Removes a manifest by digest (and, in a layout, every tag on it). */
  deleteManifest(digest: string, opts?: CallOptions): Promise<void>;
}

export interface RepositoryPage {
  repositories: string[];
  /** Pass as `last` to get the next page; absent on the last page. */
  next?: string;
}

/** A place that holds many repositories: a registry (its catalog) or the local store. */
export interface RepositoryLister {
  listRepositories(opts?: CallOptions & { last?: string; n?: number }): Promise<RepositoryPage>;
}

// ---- optional capabilities ------------------------------------------------------------
// What only some stores can do, as small interfaces with type guards (as oras-go's
// ReferrerLister): a caller asks `canListReferrers(repo)`, never which class a store is.

export interface ReferrersQuery extends CallOptions {
  /** Only referrers of this artifact type (a store may ignore it: see `filtered`). */
  artifactType?: string;
}

export interface ReferrersListing {
  /** Descriptors of the manifests whose `subject` is the digest asked about. */
  manifests: Descriptor[];
  /** Whether `artifactType` was applied; when false the caller filters. */
  filtered: boolean;
}

/** A store that lists referrers itself (a registry's OCI 1.1 referrers API). */
export interface ReferrersLister {
  /**
   * The referrers of manifest `digest`, or undefined when this store turns out to have no
   * referrers API after all (a registry that answers 404): then the tag schema holds them.
   */
  listReferrers(digest: string, opts?: ReferrersQuery): Promise<ReferrersListing | undefined>;
}

export function canListReferrers(repo: Repository): repo is Repository & ReferrersLister {
  return typeof (repo as Partial<ReferrersLister>).listReferrers === 'function';
}

/** A store that can write a tag only if it still names what was read (`If-Match`, `If-None-Match: *`). */
export interface ConditionalManifestWriter {
  /**
   * Stores manifest bytes under `tag` only if the tag names `ifMatch` (a digest), or nothing
   * when `ifMatch` is null; CONFLICT when it names something else. A store may not enforce
   * the condition (distribution ignores it), so callers verify after writing as well.
   */
  putManifestIfMatch(bytes: Buffer, mediaType: string, tag: string, ifMatch: string | null, opts?: CallOptions): Promise<Descriptor>;
}

export function canPutManifestIfMatch(repo: Repository): repo is Repository & ConditionalManifestWriter {
  return typeof (repo as Partial<ConditionalManifestWriter>).putManifestIfMatch === 'function';
}

/** At most this many catalog pages are followed in one listing. */
export const MAX_CATALOG_PAGES = 10_000;
/** At most this many repositories in one listing (a catalog that grows without end is a hostile one). */
export const MAX_CATALOG_REPOSITORIES = 1_000_000;

/**
 * Every page of a catalog from `last` on, guarded as tag lists are: a page whose `next` does
 * not move past the previous one (catalogs are in lexical order, and `last` is the last
 * name given), a page seen before, or more than {@link MAX_CATALOG_PAGES} pages or
 * {@link MAX_CATALOG_REPOSITORIES} names is an error, not a loop: a hostile catalog sent
 * the same page 2,637 times in 60 s.
 */
export async function* repositoryPages(lister: RepositoryLister, opts: CallOptions & { last?: string; n?: number; target?: string } = {}): AsyncGenerator<RepositoryPage> {
  let last = opts.last;
  const seen = new Set<string>();
  let names = 0;
  const endless = (why: string) => new OmlmdError('HTTP', `the catalog's pages do not end: ${why}`, { operation: { verb: 'list-repositories', target: opts.target ?? 'the registry' } });
  for (let pages = 0; ; pages++) {
    if (pages >= MAX_CATALOG_PAGES) throw endless(`more than ${MAX_CATALOG_PAGES} pages`);
    const page = await lister.listRepositories({ signal: opts.signal, last, n: opts.n });
    names += page.repositories.length;
    if (names > MAX_CATALOG_REPOSITORIES) throw endless(`more than ${MAX_CATALOG_REPOSITORIES} repositories`);
    yield page;
    if (page.next === undefined) return;
    if (seen.has(page.next) || (last !== undefined && page.next <= last)) throw endless(`page ${pages + 1} sends back to ${JSON.stringify(page.next.slice(0, 100))}`);
    seen.add(page.next);
    last = page.next;
  }
}

/**
 * A small blob (a config, a bundle) read whole and checked against its digest and size:
 * refused above `max` bytes before reading, never more than its declared size read.
 */
export async function readSmallBlob(repo: Repository, desc: Descriptor, what: string, opts: CallOptions = {}, max = 4 << 20, tooLarge: ErrorCode = 'INVALID_MANIFEST'): Promise<Buffer> {
  if (desc.size > max) throw new OmlmdError(tooLarge, `${what} is ${desc.size} bytes, too large`);
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of await repo.openBlob(desc, opts)) {
    n += (c as Buffer).length;
    if (n > desc.size) break;
    chunks.push(c as Buffer);
  }
  const bytes = Buffer.concat(chunks);
  if (bytes.length !== desc.size || sha256(bytes) !== desc.digest) throw new OmlmdError('DIGEST_MISMATCH', `${what} does not match its digest ${desc.digest}`);
  return bytes;
}
