import { randomBytes } from 'node:crypto';
import { writeFileAtomic } from '../util/atomic';
import { acquireLock, LockBusy } from '../util/lockfile';
import { mkdir, open, readFile, readdir, rename, rm, stat, unlink, utimes, writeFile, type FileHandle } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { addAbortSignal, Readable } from 'node:stream';
import { cancelled, OmlmdError, throwIfAborted, toOmlmdError } from '../errors';
import { assertDigest, Digester, digestHex, isDigest, sha256 } from './digest';
import { Annotation, INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES, MediaType } from './mediatypes';
import { isValidRepository, isValidTag } from './reference';
import type { BlobInput, BlobRef, CallOptions, OpenBlobOptions, PutBlobOptions, Repository, RepositoryLister, RepositoryPage } from './store';
import { parseManifestBytes, type Descriptor, type FetchedManifest } from './types';

/**
 * An OCI image layout on disk (image-spec `image-layout.md`), written so that skopeo
 * (`oci:PATH:TAG`), umoci and oras read it and we read what they write.
 *
 * One layout serves two uses: a user's layout, whose tags are the plain
 * `org.opencontainers.image.ref.name` values, and the embedded local store, one layout
 * shared by many repositories (blobs deduplicated across them) where repository
 * `models/mnist` keeps tag `v1` as ref.name `models/mnist:v1`.
 */

/** Index annotation that keeps an untagged manifest attributable to its repository in a shared layout. */
export const REPOSITORY_ANNOTATION = 'dev.omlmd.repository';

const LAYOUT_VERSION = '1.0.0';
const EMPTY_INDEX = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
/** distribution's own limit; a larger "manifest" is not read into memory. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const READ_CHUNK = 1024 * 1024;
const DEFAULT_LOCK_TIMEOUT_MS = 10_000;
const DEFAULT_STALE_LOCK_MS = 60_000;
const DEFAULT_GC_GRACE_MS = 60 * 60 * 1000;
/** The ref.name grammar of image-spec annotations.md; skopeo refuses references outside it. */
const REF_NAME_RE = /^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:\/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$/;
const MANIFEST_TYPES: readonly string[] = MANIFEST_MEDIA_TYPES;
const INDEX_TYPES: readonly string[] = INDEX_MEDIA_TYPES;

export interface OpenLayoutOptions {
  /** Create the directory, `oci-layout` and an empty `index.json` when missing. */
  create?: boolean;
  /** How long to wait for another process's `index.json.lock` before giving up. */
  lockTimeoutMs?: number;
  /** A lock older than this is left over by a process that died, and is broken. */
  staleLockMs?: number;
}

export interface RepositoryOptions {
  /** How messages name the repository; default `oci:PATH`, or `PREFIX (local store)` for a prefixed one. */
  description?: string;
}

export interface GcOptions extends CallOptions {
  /**
   * Blobs and ingest files modified more recently than this are kept, because a push in
   * progress writes its blobs before the manifest that makes them reachable. Default 1 hour.
   */
  graceMs?: number;
}

export interface GcResult {
  /** Digests of the blobs removed, sorted. */
  blobs: string[];
  /** Leftover temp files removed from `ingest/`. */
  tempFiles: number;
  /** Bytes freed, blobs and temp files together. */
  bytes: number;
}

type IndexEntry = Record<string, unknown>;

interface IndexDoc {
  schemaVersion: number;
  manifests: IndexEntry[];
  [key: string]: unknown;
}

function entryAnnotations(e: IndexEntry): Record<string, unknown> | undefined {
  const a = e.annotations;
  return typeof a === 'object' && a !== null && !Array.isArray(a) ? (a as Record<string, unknown>) : undefined;
}

function entryRefName(e: IndexEntry): string | undefined {
  const v = entryAnnotations(e)?.[Annotation.refName];
  return typeof v === 'string' ? v : undefined;
}

function entryRepository(e: IndexEntry): string | undefined {
  const v = entryAnnotations(e)?.[REPOSITORY_ANNOTATION];
  return typeof v === 'string' ? v : undefined;
}

/** Splits a local-store ref.name `repo:tag`; undefined for a plain tag someone else wrote. */
function splitStoreRef(refName: string): { repository: string; tag: string } | undefined {
  const colon = refName.lastIndexOf(':');
  if (colon <= 0) return undefined;
  const repository = refName.slice(0, colon);
  const tag = refName.slice(colon + 1);
  return isValidRepository(repository) && isValidTag(tag) ? { repository, tag } : undefined;
}

function isNodeError(e: unknown, ...codes: string[]): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && codes.includes(code);
}

function uniqueName(base: string): string {
  return `${base}.${process.pid}.${randomBytes(6).toString('hex')}`;
}

async function removeQuietly(path: string): Promise<void> {
  await rm(path, { force: true }).catch(() => undefined);
}


function sortStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export class OciLayout implements RepositoryLister {
  /** Absolute path of the layout directory. */
  readonly root: string;
  /** The path as the user wrote it, for messages. */
  readonly path: string;
  private readonly lockTimeoutMs: number;
  private readonly staleLockMs: number;

  private constructor(path: string, opts: OpenLayoutOptions) {
    this.path = path;
    this.root = resolvePath(path);
    this.lockTimeoutMs = opts.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
    this.staleLockMs = opts.staleLockMs ?? DEFAULT_STALE_LOCK_MS;
  }

  static async open(path: string, opts: OpenLayoutOptions = {}): Promise<OciLayout> {
    const layout = new OciLayout(path, opts);
    if (opts.create) await layout.create();
    await layout.check();
    return layout;
  }

  get description(): string {
    return `oci:${this.path}`;
  }

  /** A repository of this layout: all of it (no prefix), or one repository of a shared store. */
  repository(prefix?: string, opts: RepositoryOptions = {}): LayoutRepository {
    if (prefix !== undefined && !isValidRepository(prefix)) {
      throw new OmlmdError('NAME_INVALID', `${JSON.stringify(prefix)} is not a valid repository name (lowercase letters, digits and . _ - separators, parts joined by /)`);
    }
    const description = opts.description ?? (prefix === undefined ? this.description : `${prefix} (local store)`);
    return new LayoutRepository(this, prefix, description);
  }

  async listRepositories(opts: CallOptions & { last?: string; n?: number } = {}): Promise<RepositoryPage> {
    throwIfAborted(opts.signal);
    const index = await this.readIndex();
    const names = new Set<string>();
    for (const e of index.manifests) {
      const ref = entryRefName(e);
      const split = ref === undefined ? undefined : splitStoreRef(ref);
      if (split) names.add(split.repository);
      const repo = entryRepository(e);
      if (ref === undefined && repo !== undefined && isValidRepository(repo)) names.add(repo);
    }
    let all = [...names].sort(sortStrings);
    if (opts.last !== undefined) {
      const last = opts.last;
      all = all.filter((r) => r > last);
    }
    if (opts.n === undefined || all.length <= opts.n) return { repositories: all };
    const page = all.slice(0, Math.max(0, opts.n));
    const next = page[page.length - 1];
    return next === undefined ? { repositories: [] } : { repositories: page, next };
  }

  /**
   * Removes blobs that nothing in index.json reaches (through manifests, indexes, configs and
   * layers; a `subject` does not keep its target alive) and stale temp files under ingest/.
   */
  async gc(opts: GcOptions = {}): Promise<GcResult> {
    const graceMs = opts.graceMs ?? DEFAULT_GC_GRACE_MS;
    // Under the index lock: a manifest put between the walk and the deletes would otherwise
    // lose blobs it has just checked are present.
    return this.withIndexLock(async (index) => {
      const reachable = await this.reachableBlobs(index.manifests, opts.signal);
      const cutoff = Date.now() - graceMs;
      const result: GcResult = { blobs: [], tempFiles: 0, bytes: 0 };
      const blobDir = join(this.root, 'blobs', 'sha256');
      let names: string[] = [];
      try {
        names = await readdir(blobDir);
      } catch (e) {
        if (!isNodeError(e, 'ENOENT')) throw toOmlmdError(e, `gc of ${this.description}`);
      }
      for (const name of names) {
        throwIfAborted(opts.signal);
        const digest = `sha256:${name}`;
        // Anything that is not a sha256 file name is not ours to judge.
        if (!isDigest(digest) || reachable.has(digest)) continue;
        const file = join(blobDir, name);
        const st = await stat(file).catch(() => undefined);
        if (!st?.isFile() || st.mtimeMs > cutoff) continue;
        await unlink(file).catch((e: unknown) => {
          if (!isNodeError(e, 'ENOENT')) throw toOmlmdError(e, `gc of ${this.description}`);
        });
        result.blobs.push(digest);
        result.bytes += st.size;
      }
      const ingest = join(this.root, 'ingest');
      for (const name of await readdir(ingest).catch(() => [] as string[])) {
        const file = join(ingest, name);
        const st = await stat(file).catch(() => undefined);
        if (!st?.isFile() || st.mtimeMs > cutoff) continue;
        await removeQuietly(file);
        result.tempFiles++;
        result.bytes += st.size;
      }
      result.blobs.sort(sortStrings);
      return { result };
    }, opts.signal);
  }

  // ---- internals shared with LayoutRepository ----

  /** @internal */
  blobPath(digest: string): string {
    return join(this.root, 'blobs', 'sha256', digestHex(digest));
  }

  /** @internal */
  async ingestDir(): Promise<string> {
    const dir = join(this.root, 'ingest');
    await mkdir(dir, { recursive: true });
    return dir;
  }

  /** @internal */
  async readIndex(): Promise<IndexDoc> {
    const file = join(this.root, 'index.json');
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if (isNodeError(e, 'ENOENT')) throw this.notALayout('it has no index.json');
      throw toOmlmdError(e, `reading ${this.description}`);
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new OmlmdError('INVALID_MANIFEST', `${file} is not valid JSON: the layout ${this.description} is corrupt`, { cause: e });
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc) || !Array.isArray((doc as IndexDoc).manifests)) {
      throw new OmlmdError('INVALID_MANIFEST', `${file} is not an image index (no manifests array): the layout ${this.description} is corrupt`);
    }
    const index = doc as IndexDoc;
    // Entries stay as written, even ones we cannot use (other digest algorithms), so a
    // rewrite of index.json keeps what another tool put there; only non-objects, which no
    // tool can use, are dropped.
    index.manifests = index.manifests.filter((e): e is IndexEntry => typeof e === 'object' && e !== null && !Array.isArray(e));
    return index;
  }

  /**
   * Read-modify-write of index.json under an exclusive lock file, because two processes
   * (two CLI pushes to the local store) may update it at once. The new index is written to
   * a temp file, synced and renamed, so readers never see a partial index.json.
   * `mutate` says whether it changed the index: when not, the file (and its formatting, as
   * skopeo wrote it) is left alone.
   * @internal
   */
  async withIndexLock<T>(mutate: (index: IndexDoc) => Promise<{ result: T; changed?: boolean }> | { result: T; changed?: boolean }, signal?: AbortSignal): Promise<T> {
    const release = await this.lock(signal);
    try {
      const index = await this.readIndex();
      const { result, changed } = await mutate(index);
      if (changed) await this.writeIndex(index);
      return result;
    } finally {
      await release();
    }
  }

  private async writeIndex(index: IndexDoc): Promise<void> {
    try {
      // The temporary file goes to ingest/, which gc sweeps, not among the files other tools read.
      await writeFileAtomic(join(this.root, 'index.json'), JSON.stringify(index), { tempDir: await this.ingestDir() });
    } catch (e) {
      throw toOmlmdError(e, `writing index.json of ${this.description}`);
    }
  }

  /**
   * util/lockfile's scheme: stale when its process is gone or older than `staleLockMs`
   * (a process that died on another host, or a lock written by another tool), broken by
   * renaming it aside so a fresh lock is never removed.
   */
  private async lock(signal?: AbortSignal): Promise<() => Promise<void>> {
    const lockFile = join(this.root, 'index.json.lock');
    try {
      return await acquireLock(lockFile, { waitMs: this.lockTimeoutMs, staleMs: this.staleLockMs, signal });
    } catch (e) {
      if (e instanceof LockBusy) {
        throw new OmlmdError('CONFLICT', `${this.description} is busy: another process holds ${lockFile}`, {
          remedies: [{ kind: 'remove-stale-lock', path: lockFile }],
        });
      }
      throw toOmlmdError(e, `locking index.json of ${this.description}`);
    }
  }

  /** Every blob digest reachable from the index entries. */
  private async reachableBlobs(roots: IndexEntry[], signal?: AbortSignal): Promise<Set<string>> {
    const seen = new Set<string>();
    const queue: { digest: string; mediaType: string }[] = [];
    const visit = (d: unknown): void => {
      if (typeof d !== 'object' || d === null) return;
      const { digest, mediaType } = d as Record<string, unknown>;
      if (typeof digest !== 'string' || !isDigest(digest) || seen.has(digest)) return;
      seen.add(digest);
      if (typeof mediaType === 'string' && (MANIFEST_TYPES.includes(mediaType) || INDEX_TYPES.includes(mediaType))) {
        queue.push({ digest, mediaType });
      }
    };
    roots.forEach(visit);
    for (let item = queue.shift(); item; item = queue.shift()) {
      throwIfAborted(signal);
      const file = this.blobPath(item.digest);
      const st = await stat(file).catch(() => undefined);
      if (!st) continue; // a dangling entry references nothing further
      if (st.size > MAX_MANIFEST_BYTES) {
        throw new OmlmdError('INVALID_MANIFEST', `gc stopped: ${file} is listed as a manifest but is ${st.size} bytes; nothing was removed`);
      }
      let bytes: Buffer;
      try {
        bytes = await readFile(file);
      } catch (e) {
        throw toOmlmdError(e, `gc of ${this.description}`);
      }
      // A manifest we cannot parse may reference anything: stop rather than delete blind.
      const fetched = parseManifestBytes(bytes, { mediaType: item.mediaType, digest: item.digest, size: bytes.length }, `gc stopped (nothing was removed): ${file}`);
      if (fetched.kind === 'index') fetched.index.manifests.forEach(visit);
      else [fetched.manifest.config, ...fetched.manifest.layers].forEach(visit);
    }
    return seen;
  }

  private notALayout(why: string): OmlmdError {
    return new OmlmdError('NOT_FOUND', `${this.path} is not an OCI image layout: ${why}`, {
      remedies: [{ kind: 'check-file', path: this.path, setting: 'layout' }],
    });
  }

  private async create(): Promise<void> {
    try {
      await mkdir(join(this.root, 'blobs', 'sha256'), { recursive: true });
      // 'wx': never clobber what a concurrent creator or another tool already wrote.
      await writeFile(join(this.root, 'oci-layout'), JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION }), { flag: 'wx' }).catch((e: unknown) => {
        if (!isNodeError(e, 'EEXIST')) throw e;
      });
      await writeFile(join(this.root, 'index.json'), JSON.stringify(EMPTY_INDEX), { flag: 'wx' }).catch((e: unknown) => {
        if (!isNodeError(e, 'EEXIST')) throw e;
      });
    } catch (e) {
      if (isNodeError(e, 'ENOTDIR', 'EEXIST')) throw this.notALayout('a file is in the way of its directory');
      throw toOmlmdError(e, `creating ${this.description}`);
    }
  }

  private async check(): Promise<void> {
    let text: string;
    try {
      text = await readFile(join(this.root, 'oci-layout'), 'utf8');
    } catch (e) {
      if (isNodeError(e, 'ENOENT', 'ENOTDIR')) throw this.notALayout('it has no oci-layout file');
      throw toOmlmdError(e, `opening ${this.description}`);
    }
    let version: unknown;
    try {
      version = (JSON.parse(text) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
    } catch {
      throw this.notALayout('its oci-layout file is not JSON');
    }
    if (typeof version !== 'string') throw this.notALayout('its oci-layout file has no imageLayoutVersion');
    if (version !== LAYOUT_VERSION) {
      throw new OmlmdError('UNSUPPORTED', `${this.path} is an OCI image layout version ${version}; only ${LAYOUT_VERSION} is supported`);
    }
    await this.readIndex();
  }
}

export class LayoutRepository implements Repository {
  readonly description: string;
  readonly layout: OciLayout;
  /** The repository name inside a shared layout; undefined for the whole layout. */
  readonly prefix: string | undefined;

  /** @internal Use `OciLayout.repository()`. */
  constructor(layout: OciLayout, prefix: string | undefined, description: string) {
    this.layout = layout;
    this.prefix = prefix;
    this.description = description;
  }

  async statBlob(digest: string, opts: CallOptions = {}): Promise<number | undefined> {
    throwIfAborted(opts.signal);
    const st = await stat(this.layout.blobPath(digest)).catch((e: unknown) => {
      if (isNodeError(e, 'ENOENT', 'ENOTDIR')) return undefined;
      throw toOmlmdError(e, `checking blob ${digest} in ${this.description}`);
    });
    return st?.isFile() ? st.size : undefined;
  }

  /** A file reads any part of itself at the cost of that part. */
  readonly partialReads = true;

  async openBlob(desc: Descriptor, opts: OpenBlobOptions = {}): Promise<Readable> {
    throwIfAborted(opts.signal);
    const offset = opts.offset ?? 0;
    if (!Number.isSafeInteger(offset) || offset < 0) throw new OmlmdError('SIZE_INVALID', `offset ${offset} is not a non-negative integer`);
    const length = opts.length;
    if (length !== undefined && (!Number.isSafeInteger(length) || length < 0)) throw new OmlmdError('SIZE_INVALID', `length ${length} is not a non-negative integer`);
    const file = this.layout.blobPath(desc.digest);
    let fh: FileHandle;
    try {
      fh = await open(file, 'r');
    } catch (e) {
      if (isNodeError(e, 'ENOENT', 'ENOTDIR')) throw new OmlmdError('BLOB_UNKNOWN', `blob ${desc.digest} not found in ${this.description}`);
      throw toOmlmdError(e, `opening blob ${desc.digest} in ${this.description}`);
    }
    try {
      const { size } = await fh.stat();
      if (offset > size) throw new OmlmdError('SIZE_INVALID', `cannot read blob ${desc.digest} from offset ${offset}: it has ${size} bytes`);
    } catch (e) {
      await fh.close().catch(() => undefined);
      throw toOmlmdError(e, `opening blob ${desc.digest} in ${this.description}`);
    }
    if (length === 0) {
      await fh.close().catch(() => undefined);
      return Readable.from([]);
    }
    const stream = fh.createReadStream({ start: offset, end: length === undefined ? undefined : offset + length - 1, highWaterMark: READ_CHUNK });
    return opts.signal ? addAbortSignal(opts.signal, stream) : stream;
  }

  /** Repositories of one layout share its blobs: one that another of them holds is here already. */
  async mountBlob(desc: Descriptor, from: Repository | string, opts: CallOptions = {}): Promise<boolean> {
    if (!(from instanceof LayoutRepository) || from.layout.root !== this.layout.root) return false;
    return (await this.statBlob(assertDigest(desc.digest, 'blob digest'), opts)) === desc.size;
  }

  async putBlob(input: BlobInput, opts: PutBlobOptions = {}): Promise<BlobRef> {
    const { signal } = opts;
    throwIfAborted(signal);
    if (!Number.isSafeInteger(input.size) || input.size < 0) throw new OmlmdError('SIZE_INVALID', `blob size ${input.size} is not a non-negative integer`);
    const expected = input.digest === undefined ? undefined : assertDigest(input.digest, 'blob digest');
    if (expected !== undefined) {
      const have = await this.statBlob(expected, opts);
      if (have === input.size) {
        await this.touch(expected);
        return { digest: expected, size: input.size };
      }
    }

    const tmp = join(await this.ingestDirFor(), uniqueName(expected ? digestHex(expected) : 'blob'));
    const digester = new Digester();
    let fh: FileHandle | undefined;
    try {
      fh = await open(tmp, 'wx');
      const size = input.size;
      const label = expected ?? 'blob';
      // A source that hashes itself does so off the main thread.
      const hashing = input.openHashing ? await input.openHashing(0) : undefined;
      const opened = hashing?.stream ?? (await input.open());
      // Aborting destroys the source, which ends the loop below with an AbortError.
      const source = signal ? addAbortSignal(signal, opened) : opened;
      let received = 0;
      for await (const c of source as AsyncIterable<Buffer | string>) {
        const chunk = typeof c === 'string' ? Buffer.from(c) : c;
        received += chunk.length;
        if (!hashing) digester.update(chunk);
        // Stop early instead of filling the disk with a source longer than announced.
        if (received > size) throw new OmlmdError('SIZE_MISMATCH', `${label}: got more than the expected ${size} bytes`);
        for (let off = 0; off < chunk.length; ) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
        opts.onBytes?.(chunk.length);
      }
      if (received !== size) throw new OmlmdError('SIZE_MISMATCH', `${label}: expected ${size} bytes, got ${received}`);
      const actual = hashing ? await hashing.digest : digester.digest();
      if (expected !== undefined && actual !== expected) {
        throw new OmlmdError('DIGEST_MISMATCH', `blob for ${this.description}: expected ${expected}, the bytes hash to ${actual}`);
      }
      await fh.sync();
      await fh.close();
      fh = undefined;
      const target = this.layout.blobPath(actual);
      const existing = await stat(target).catch(() => undefined);
      // A concurrent writer got there first with the same bytes; a wrong-sized file (left
      // by a crashed tool) is replaced.
      if (existing?.isFile() && existing.size === size) await removeQuietly(tmp);
      else {
        await mkdir(join(this.layout.root, 'blobs', 'sha256'), { recursive: true });
        await rename(tmp, target);
      }
      return { digest: actual, size };
    } catch (e) {
      await fh?.close().catch(() => undefined);
      await removeQuietly(tmp);
      if (signal?.aborted) throw cancelled(signal);
      throw toOmlmdError(e, `writing blob ${expected ?? ''} to ${this.description}`);
    }
  }

  async fetchManifest(reference: string, opts: CallOptions = {}): Promise<FetchedManifest> {
    throwIfAborted(opts.signal);
    const desc = await this.findManifest(reference);
    const file = this.layout.blobPath(desc.digest);
    const bytes = await this.readManifestBlob(desc.digest, reference);
    const actual = sha256(bytes);
    if (actual !== desc.digest) {
      throw new OmlmdError('DIGEST_MISMATCH', `${file} hashes to ${actual}, not ${desc.digest}: the layout ${this.layout.description} is corrupt`);
    }
    if (desc.size >= 0 && bytes.length !== desc.size) {
      throw new OmlmdError('SIZE_MISMATCH', `index.json of ${this.layout.description} gives ${reference} ${desc.size} bytes, but ${file} has ${bytes.length}`);
    }
    return parseManifestBytes(bytes, { mediaType: desc.mediaType, digest: desc.digest, size: bytes.length }, `${this.description} ${reference}`);
  }

  async resolve(reference: string, opts: CallOptions = {}): Promise<Descriptor> {
    throwIfAborted(opts.signal);
    if (this.isDigestRef(reference)) return (await this.fetchManifest(reference, opts)).descriptor;
    const desc = await this.findManifest(reference);
    const size = await this.statBlob(desc.digest, opts);
    if (size === undefined) {
      throw new OmlmdError('MANIFEST_UNKNOWN', `tag ${reference} in ${this.description} names ${desc.digest}, whose blob is missing: the layout is incomplete`);
    }
    return { mediaType: desc.mediaType, digest: desc.digest, size };
  }

  async putManifest(bytes: Buffer, mediaType: string, tag?: string, opts: CallOptions = {}): Promise<Descriptor> {
    throwIfAborted(opts.signal);
    // The rule reading has (below, and every registry): nothing is stored that cannot be read back.
    if (bytes.length > MAX_MANIFEST_BYTES) throw new OmlmdError('INVALID_MANIFEST', `cannot store a manifest of ${bytes.length} bytes in ${this.description}: manifests are at most ${MAX_MANIFEST_BYTES} bytes, here as in registries`);
    const refName = tag === undefined ? undefined : this.refNameFor(tag);
    const digest = sha256(bytes);
    const descriptor: Descriptor = { mediaType, digest, size: bytes.length };
    const parsed = parseManifestBytes(bytes, descriptor, `manifest for ${this.description}`);
    const declared = (JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown }).mediaType;
    if (typeof declared === 'string' && declared !== mediaType) {
      throw new OmlmdError('INVALID_MANIFEST', `manifest declares mediaType ${declared} but is being stored as ${mediaType}`);
    }
    // As a registry does: a manifest whose blobs are missing would leave a layout others cannot copy.
    const needed = parsed.kind === 'index' ? parsed.index.manifests : [parsed.manifest.config, ...parsed.manifest.layers.filter((l) => !l.urls?.length)];
    for (const d of needed) {
      if ((await this.statBlob(d.digest, opts)) === undefined) {
        throw new OmlmdError('MANIFEST_BLOB_UNKNOWN', `cannot store manifest ${digest} in ${this.description}: it references ${d.digest}, which is not there; push blobs (and child manifests) first`);
      }
    }
    await this.putBlob({ size: bytes.length, digest, open: () => Readable.from([bytes]) }, opts);

    await this.layout.withIndexLock((index) => {
      const entry: IndexEntry = { mediaType, digest, size: bytes.length };
      if (refName !== undefined) {
        entry.annotations = { [Annotation.refName]: refName };
        const before = index.manifests.length;
        // An untagged entry for the same manifest in this repository is now redundant (an
        // unprefixed view leaves alone the ones a store repository keeps).
        index.manifests = index.manifests.filter((e) => !(e.digest === digest && entryRefName(e) === undefined && entryRepository(e) === this.prefix));
        let changed = index.manifests.length !== before;
        const at = index.manifests.findIndex((e) => entryRefName(e) === refName);
        const old = index.manifests[at];
        if (old === undefined) {
          index.manifests.push(entry);
          changed = true;
        } else if (old.digest !== digest || old.mediaType !== mediaType || old.size !== bytes.length) {
          index.manifests.splice(at, 1, entry);
          changed = true;
        }
        // Duplicates of the ref (left by a careless tool) would make the tag ambiguous.
        const deduped = index.manifests.filter((e, i) => i === at || at < 0 || entryRefName(e) !== refName);
        if (deduped.length !== index.manifests.length) {
          index.manifests = deduped;
          changed = true;
        }
        return { result: undefined, changed };
      }
      if (index.manifests.some((e) => e.digest === digest && this.owns(e))) return { result: undefined };
      if (this.prefix !== undefined) entry.annotations = { [REPOSITORY_ANNOTATION]: this.prefix };
      index.manifests.push(entry);
      return { result: undefined, changed: true };
    }, opts.signal);
    return descriptor;
  }

  async listTags(opts: CallOptions = {}): Promise<string[]> {
    throwIfAborted(opts.signal);
    const index = await this.layout.readIndex();
    const tags = new Set<string>();
    for (const e of index.manifests) {
      const tag = this.tagOf(e);
      if (tag !== undefined) tags.add(tag);
    }
    return [...tags].sort(sortStrings);
  }

  async deleteTag(tag: string, opts: CallOptions = {}): Promise<void> {
    throwIfAborted(opts.signal);
    const refName = this.refNameFor(tag);
    await this.layout.withIndexLock((index) => {
      const kept = index.manifests.filter((e) => entryRefName(e) !== refName);
      if (kept.length === index.manifests.length) throw new OmlmdError('NOT_FOUND', `tag ${tag} not found in ${this.description}`);
      index.manifests = kept;
      return { result: undefined, changed: true };
    }, opts.signal);
  }

  async deleteManifest(digest: string, opts: CallOptions = {}): Promise<void> {
    throwIfAborted(opts.signal);
    assertDigest(digest);
    await this.layout.withIndexLock((index) => {
      const kept = index.manifests.filter((e) => !(e.digest === digest && this.owns(e)));
      if (kept.length === index.manifests.length) throw new OmlmdError('MANIFEST_UNKNOWN', `manifest ${digest} is not listed in ${this.description}`);
      index.manifests = kept;
      return { result: undefined, changed: true };
    }, opts.signal);
  }

  // ---- internals ----

  private isDigestRef(reference: string): boolean {
    if (isDigest(reference)) return true;
    if (reference.startsWith('sha256:')) assertDigest(reference, 'manifest reference');
    return false;
  }

  /** The ref.name a tag is stored under, validated so skopeo can address it. */
  private refNameFor(tag: string): string {
    if (this.prefix !== undefined) {
      if (!isValidTag(tag)) throw new OmlmdError('INVALID_REFERENCE', `tag ${JSON.stringify(tag)} may only hold letters, digits, '_', '.' and '-' (at most 128, not starting with '.' or '-')`);
      return `${this.prefix}:${tag}`;
    }
    if (!REF_NAME_RE.test(tag)) {
      throw new OmlmdError('INVALID_REFERENCE', `${JSON.stringify(tag)} cannot be a tag in an OCI layout: a ref.name is letters and digits joined by - . _ : @ + or --, in parts joined by /`);
    }
    return tag;
  }

  /** The tag an index entry gives this repository, if it is one of ours. */
  private tagOf(e: IndexEntry): string | undefined {
    const ref = entryRefName(e);
    if (ref === undefined || this.prefix === undefined) return ref;
    if (!ref.startsWith(`${this.prefix}:`)) return undefined;
    const tag = ref.slice(this.prefix.length + 1);
    return isValidTag(tag) ? tag : undefined;
  }

  /** Whether an index entry belongs to this repository (every entry does in an unprefixed view). */
  private owns(e: IndexEntry): boolean {
    if (this.prefix === undefined) return true;
    if (entryRefName(e) === undefined) return entryRepository(e) === this.prefix;
    return this.tagOf(e) !== undefined;
  }

  private async findManifest(reference: string): Promise<Descriptor> {
    if (this.isDigestRef(reference)) {
      const index = await this.layout.readIndex();
      const entry = index.manifests.find((e) => e.digest === reference);
      const size = await this.statBlob(reference);
      if (size === undefined) throw new OmlmdError('MANIFEST_UNKNOWN', `manifest ${reference} not found in ${this.description}`);
      // A child manifest is not listed in index.json: its media type comes from its own bytes.
      const mediaType = typeof entry?.mediaType === 'string' ? entry.mediaType : '';
      return { mediaType, digest: reference, size };
    }
    const refName = this.prefix === undefined ? reference : `${this.prefix}:${reference}`;
    const index = await this.layout.readIndex();
    // The last entry wins if a tool left duplicates: it is the most recently added.
    const entry = index.manifests.findLast((e) => entryRefName(e) === refName);
    if (!entry) {
      const tags = index.manifests.map((e) => this.tagOf(e)).filter((t): t is string => t !== undefined);
      // A store repository with no tag is no repository at all: say that, not "it has no tags".
      if (tags.length === 0 && this.prefix !== undefined) {
        throw new OmlmdError('MANIFEST_UNKNOWN', `${this.description} does not exist: nothing was pushed to ${this.prefix}`, { remedies: [{ kind: 'say', text: 'push a model to it first, or list what there is' }] });
      }
      const text = tags.length === 0 ? 'it has no tags' : `its tags: ${[...new Set(tags)].sort(sortStrings).slice(0, 10).join(', ')}${tags.length > 10 ? ', …' : ''}`;
      throw new OmlmdError('MANIFEST_UNKNOWN', `tag ${reference} not found in ${this.description}`, { remedies: [{ kind: 'say', text }] });
    }
    const mediaType = typeof entry.mediaType === 'string' ? entry.mediaType : '';
    const digest = assertDigest(entry.digest, `index.json entry for ${reference} in ${this.layout.description}`);
    const size = typeof entry.size === 'number' ? entry.size : -1;
    return { mediaType, digest, size };
  }

  private async readManifestBlob(digest: string, reference: string): Promise<Buffer> {
    const file = this.layout.blobPath(digest);
    let fh: FileHandle;
    try {
      fh = await open(file, 'r');
    } catch (e) {
      if (isNodeError(e, 'ENOENT', 'ENOTDIR')) throw new OmlmdError('MANIFEST_UNKNOWN', `manifest ${digest} (${reference}) is listed but ${file} is missing: the layout ${this.layout.description} is incomplete`);
      throw toOmlmdError(e, `reading manifest ${reference} from ${this.description}`);
    }
    try {
      const { size } = await fh.stat();
      if (size > MAX_MANIFEST_BYTES) throw new OmlmdError('INVALID_MANIFEST', `${reference} in ${this.description} is ${size} bytes, too large for a manifest`);
      return await fh.readFile();
    } catch (e) {
      throw toOmlmdError(e, `reading manifest ${reference} from ${this.description}`);
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  /** Refreshes a reused blob's mtime so gc's grace period protects a push still in progress. */
  private async touch(digest: string): Promise<void> {
    const now = new Date();
    await utimes(this.layout.blobPath(digest), now, now).catch(() => undefined);
  }

  private async ingestDirFor(): Promise<string> {
    try {
      return await this.layout.ingestDir();
    } catch (e) {
      throw toOmlmdError(e, `writing to ${this.description}`);
    }
  }
}

