import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, rename, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import picomatch from 'picomatch';
import type * as Tar from 'tar';
import { openLayer, recipientCount, type DecryptionKey, type OpenedLayer } from '../crypt';
import { OmlmdError, toOmlmdError } from '../errors';
import { viewArtifact, type ArtifactFile } from '../model/artifact';
import { servedPath } from '../model/served';
import type { Repository } from '../oci/store';
import type { Descriptor, ImageManifest, Platform } from '../oci/types';
import type { TransferCache } from './cache';
import { createDownloadContext, downloadBlob, sideStem, type DownloadMode } from './download';
import { HashPool } from './hashpool';
import { decryptingDownload } from './decrypt';
import { checkTitle, safeOutputPath } from './paths';
import { mapLimit } from '../util/limit';
import { DEFAULT_CONCURRENCY, type TransferOptions } from './progress';
import { fetchImageManifest } from './resolve';
import { isZstdMagic, zstdDecompress } from './zstd';

export interface PullOptions extends TransferOptions {
  /** Only layers of these media types (omlmd 0.1.x `-m`). */
  mediaTypes?: string[];
  /** Only files whose path matches one of these globs (`*.onnx`, `tokenizer/**`). */
  include?: string[];
  /** Leave out files whose path matches one of these globs. */
  exclude?: string[];
  /**
   * Unpack the single gzip tar layer omlmd 0.1.x wrote for a directory (titled with the folder
   * name, no extension) into that folder. Default true; false writes the tar as a file, as 0.1.x does.
   */
  unpack?: boolean;
  platform?: Platform;
  /** How long to wait for another pull writing the same file into the same place, ms (default 10 minutes; then CONFLICT). */
  lockWaitMs?: number;
  /**
   * `auto` (the default) and `stream` download every blob in one stream hashed as it arrives
   * (large ones written around the page cache); `parallel` fetches large blobs in ranged parts over parallel
   * connections, written around the page cache and hashed by a worker thread.
   */
  download?: DownloadMode;
  /**
   * Private keys for encrypted layers (ocicrypt, JWE). An artifact with encrypted files and
   * no key that opens them is refused before anything is written.
   */
  decryptionKeys?: DecryptionKey[];
  /**
   * A folder of the artifact whose files are written at `outDir`'s root (`my-model/config.json`
   * lands as `config.json`): the served root of model/served.ts. Files outside it keep their paths.
   */
  root?: string;
}

export interface PulledFile {
  /** Absolute path written (for an unpacked directory: the directory). */
  path: string;
  title: string;
  digest: string;
  size: number;
  /** The file was already there with the same content, so nothing moved. */
  existed: boolean;
  unpacked?: boolean;
}

export interface PullResult {
  descriptor: Descriptor;
  manifest: ImageManifest;
  files: PulledFile[];
}

/** A file a pull writes, and where under the output directory (its path, or under `root` without it). */
export interface SelectedFile extends ArtifactFile {
  place: string;
}

/** Files of an artifact that a pull with these options writes (in manifest order). */
export function selectFiles(manifest: ImageManifest, opts: Pick<PullOptions, 'mediaTypes' | 'include' | 'exclude' | 'root'>): SelectedFile[] {
  const view = viewArtifact(manifest);
  const inc = opts.include?.length ? picomatch(opts.include, { dot: true }) : undefined;
  const exc = opts.exclude?.length ? picomatch(opts.exclude, { dot: true }) : undefined;
  const seen = new Map<string, string>();
  const out: SelectedFile[] = [];
  for (const f of view.files) {
    // An encrypted layer is selected by what it was (`application/x-mlmodel+encrypted` is a model file).
    if (opts.mediaTypes?.length && !opts.mediaTypes.includes(f.descriptor.mediaType) && !(f.encrypted && opts.mediaTypes.includes(f.descriptor.mediaType.replace(/\+encrypted$/, '')))) continue;
    if (inc && !inc(f.path) && !inc(f.path.split('/').pop()!)) continue;
    if (exc && (exc(f.path) || exc(f.path.split('/').pop()!))) continue;
    // Titles are compared as they land on disk: `./x.bin` is `x.bin`.
    const key = f.titled ? checkTitle(servedPath(checkTitle(f.path), opts.root)) : f.path;
    const other = seen.get(key);
    if (other !== undefined) {
      // omlmd 0.1.x pushes the config blob twice (config and JSON layer) but under one title only once.
      throw duplicateTitles(other, f.path);
    }
    seen.set(key, f.path);
    out.push({ ...f, place: key });
  }
  // A title that is another's folder (`x` and `x/y`) cannot both be written.
  for (const key of seen.keys()) {
    const parts = key.split('/');
    for (let i = 1; i < parts.length; i++) {
      const up = seen.get(parts.slice(0, i).join('/'));
      if (up !== undefined) throw new OmlmdError('INVALID_MANIFEST', `the artifact has a file titled ${JSON.stringify(up)} and another under it, ${JSON.stringify(seen.get(key))}: both cannot be written`, { remedies: [{ kind: 'pull-one-of', paths: [up, seen.get(key)!] }] });
    }
  }
  return out;
}

function duplicateTitles(a: string, b: string): OmlmdError {
  const same = a === b ? `both titled ${JSON.stringify(a)}` : `titled ${JSON.stringify(a)} and ${JSON.stringify(b)}, which name one file`;
  return new OmlmdError('INVALID_MANIFEST', `two layers of the artifact are ${same}; which one would win is chance`, { remedies: [{ kind: 'pull-one-of', paths: [a, b] }] });
}

/** Whether names in `dir` differ by case only in name (macOS, Windows): probed with a file of its own. */
async function caseInsensitive(dir: string): Promise<boolean> {
  const name = `.omlmd-case-${process.pid}-${Date.now().toString(36)}`;
  const probe = join(dir, name);
  try {
    await writeFile(probe, '', { flag: 'wx' });
    return (await stat(join(dir, name.toUpperCase())).catch(() => undefined)) !== undefined;
  } catch {
    return false;
  } finally {
    await rm(probe, { force: true }).catch(() => undefined);
  }
}

/**
 * True when a file at `path` already holds exactly these bytes: from the digest cache when
 * the file is as it was when its digest was recorded, else hashed (off the main thread).
 */
async function hasContent(path: string, desc: Descriptor, pool: HashPool, cache: TransferCache | undefined, signal?: AbortSignal): Promise<boolean> {
  const st = await stat(path, { bigint: true }).catch(() => undefined);
  if (!st?.isFile() || Number(st.size) !== desc.size) return false;
  const known = await cache?.digestOf(path, st);
  if (known !== undefined) return known === desc.digest;
  let digest: string;
  try {
    digest = await pool.hashFile(path, desc.size, signal);
  } catch (e) {
    if (OmlmdError.is(e, 'CANCELLED')) throw e;
    return false;
  }
  await cache?.recordDigest(path, st, digest);
  return digest === desc.digest;
}

/** What the file at `path`, just verified and renamed into place, holds: the next pull or push need not read it. */
async function remember(cache: TransferCache | undefined, path: string, digest: string): Promise<void> {
  if (!cache) return;
  const st = await stat(path, { bigint: true }).catch(() => undefined);
  if (st?.isFile()) await cache.recordDigest(path, st, digest, { wait: true });
}

async function isZstdFile(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const { bytesRead, buffer } = await fh.read(Buffer.alloc(4), 0, 4, 0);
    return bytesRead === 4 && isZstdMagic(buffer);
  } finally {
    await fh.close();
  }
}

async function isGzipTar(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const { bytesRead, buffer } = await fh.read(Buffer.alloc(2), 0, 2, 0);
    return bytesRead === 2 && buffer[0] === 0x1f && buffer[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

/**
 * Pulls an artifact's files into `outDir`: every digest and size verified before a file
 * appears under its final name, titles that would escape `outDir` refused, layers without a
 * title named after their digest, an image index resolved to the model manifest. How each
 * blob comes is download.ts's choice (large ones in parallel ranged parts, hashed by worker
 * threads as they land); an interrupted pull leaves partial files that the next one goes on from.
 */
export async function pullModel(repo: Repository, reference: string, outDir: string, opts: PullOptions = {}): Promise<PullResult> {
  const { signal, onProgress } = opts;
  const { fetched } = await fetchImageManifest(repo, reference, { signal, platform: opts.platform });
  const { manifest } = fetched;
  const files = selectFiles(manifest, opts);
  // Every encrypted file's key is unwrapped first (annotations only): without a key that
  // opens it, nothing is written at all.
  const opened = new Map<ArtifactFile, OpenedLayer>();
  const encrypted = files.filter((f) => f.encrypted);
  if (encrypted.length && !opts.decryptionKeys?.length) {
    const names = encrypted.slice(0, 3).map((f) => f.path).join(', ') + (encrypted.length > 3 ? `, and ${encrypted.length - 3} more` : '');
    const n = Math.max(...encrypted.map((f) => recipientCount(f.descriptor)));
    throw new OmlmdError('DECRYPTION_KEY_NEEDED', `${encrypted.length === 1 ? `${names} is` : `${encrypted.length} files (${names}) are`} encrypted${n > 0 ? ` (for ${n} recipient${n === 1 ? '' : 's'})` : ''} and no decryption key was given; nothing was written`, { remedies: [{ kind: 'give-decryption-key' }] });
  }
  for (const f of encrypted) opened.set(f, await openLayer(f.descriptor, opts.decryptionKeys ?? [], `${f.path} (${f.descriptor.digest}) from ${repo.description}`));
  try {
    await mkdir(outDir, { recursive: true });
  } catch (e) {
    throw toOmlmdError(e, `cannot create output directory ${outDir}`);
  }
  if (files.length > 1 && (await caseInsensitive(outDir))) {
    const folded = new Map<string, string>();
    for (const f of files) {
      const key = f.place.normalize('NFC').toLowerCase();
      const other = folded.get(key);
      if (other !== undefined) throw duplicateTitles(other, f.path);
      folded.set(key, f.path);
    }
  }
  onProgress?.({ type: 'plan', items: files.map((f) => ({ title: f.path, size: f.descriptor.size })), totalBytes: files.reduce((n, f) => n + f.descriptor.size, 0) });

  const concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;
  const pool = new HashPool(concurrency);
  const ctx = createDownloadContext({ pool, concurrency, partSize: opts.partSize, mode: opts.download, lockWaitMs: opts.lockWaitMs });
  const written: { path: string; digest: string }[] = [];
  try {
    const pulled = await mapLimit(files, concurrency, async (f, sig): Promise<PulledFile> => {
      const layer = opened.get(f);
      // What lands on disk: the plaintext, when the layer is encrypted.
      const desc = layer ? layer.plain : f.descriptor;
      const target = await safeOutputPath(outDir, f.place);
      const archive = opts.unpack !== false ? archiveMode(f.descriptor.mediaType) : undefined;
      const legacyDir = archive !== undefined || (opts.unpack !== false && f.role === 'model' && f.titled && !f.path.includes('/') && extname(f.path) === '');
      if (!legacyDir && (await hasContent(target, desc, pool, opts.cache, sig))) {
        onProgress?.({ type: 'skipped', title: f.path, size: desc.size, reason: 'exists' });
        return { path: target, title: f.path, digest: desc.digest, size: desc.size, existed: true };
      }
      const what = `${f.path} (${desc.digest}) from ${repo.description}`;
      const tarPath = join(dirname(target), `.${sideStem(basename(target))}.omlmd-tar`);
      // An encrypted layer is decrypted as it arrives; its HMAC and plaintext digest are checked before it takes its name.
      const decrypting = layer ? decryptingDownload(layer) : undefined;
      await downloadBlob(repo, f.descriptor, legacyDir ? tarPath : target, ctx, {
        signal: sig,
        what,
        ...(decrypting ? { strategy: decrypting.strategy, beforeRename: () => Promise.resolve().then(() => decrypting.verify()) } : {}),
        onBytes: (n) => onProgress?.({ type: 'bytes', title: f.path, bytes: n }),
        onResumed: (n) => onProgress?.({ type: 'resumed', title: f.path, bytes: n }),
      });
      let unpacked = false;
      if (legacyDir) unpacked = await unpackLegacyDirectory(tarPath, target, outDir, f.path, archive);
      else written.push({ path: target, digest: desc.digest });
      onProgress?.({ type: 'done', title: f.path, digest: desc.digest, size: desc.size });
      return { path: target, title: f.path, digest: desc.digest, size: desc.size, existed: false, unpacked };
    }, signal);
    // All at once at the end: each may wait out the racy window of its timestamp, once.
    await Promise.all(written.map((w) => remember(opts.cache, w.path, w.digest)));
    return { descriptor: fetched.descriptor, manifest, files: pulled };
  } finally {
    await pool.close();
  }
}

/**
 * omlmd 0.1.x (through oras-py) pushed a directory as one gzip tar titled with the folder
 * name. When the verified blob is such a tar whose entries all sit under that folder, unpack
 * it there (entries: regular files and directories only, no links, nothing outside);
 * otherwise it is an ordinary file and keeps its name.
 */
/**
 * A 0.1.x directory tar inflates to at most this many times its size (and at least
 * {@link MIN_UNPACK_LIMIT}): model weights barely compress, a gzip bomb inflates 1000-fold.
 */
export const MAX_UNPACK_RATIO = 100;
export const MIN_UNPACK_LIMIT = 64 * 1024 * 1024;

/** What a 0.1.x directory tar holds, read as a stream (bounded memory whatever it inflates to). */
interface TarListing {
  /** Whether every entry is a regular file or directory under the folder (else it is an ordinary file). */
  ok: boolean;
  /** Bytes its files hold. */
  bytes: number;
}

const ARCHIVE_TYPES = /^application\/vnd\.(kitops\.modelkit\.(model|modelpart|dataset|code|docs)\.v1|cncf\.model\.(weight|weight\.config|doc|code|dataset)\.v1|docker\.ai\.(dir|vllm\.config))\.tar(\+gzip|\+zstd)?$/;

/** Whether a layer of this media type is an archive a pull unpacks (KitOps, ModelPack and Docker tar layers). */
export function isArchiveLayer(mediaType: string): boolean {
  return ARCHIVE_TYPES.test(mediaType);
}

/** How a KitOps or ModelPack tar layer unpacks (plain, gzip or zstd); undefined for any other layer. */
function archiveMode(mediaType: string): ArchiveMode | undefined {
  const m = ARCHIVE_TYPES.exec(mediaType);
  if (!m) return undefined;
  return { kind: 'archive', compression: m[5] === '+gzip' ? 'gzip' : m[5] === '+zstd' ? 'zstd' : 'none' };
}

type Compression = 'gzip' | 'zstd' | 'none';
const compressionOf = (mode: ArchiveMode): Compression => (mode.kind === 'legacy' ? 'gzip' : mode.compression);

/** Inflates `tarPath` chunk by chunk into `sink`, refusing past `limit` inflated bytes. */
async function inflateInto(tarPath: string, limit: number, title: string, sink: { write(b: Buffer): boolean; end(): void; once(ev: 'drain', f: () => void): unknown }, done: Promise<void>, compression: Compression = 'gzip'): Promise<void> {
  // `done` may reject (a strict parser's error) while the inflation still runs: handled here, awaited below.
  done.catch(() => undefined);
  let total = 0;
  let bomb: OmlmdError | undefined;
  // Node 20's pipeline can reject with the AbortError of the source it tears down instead of the refusal: keep the refusal.
  const feed = async (source: AsyncIterable<Buffer>): Promise<void> => {
    for await (const chunk of source) {
      total += chunk.length;
      if (total > limit) {
        throw bomb = new OmlmdError('UNSAFE_PATH', `refusing the folder layer ${JSON.stringify(title)}: it inflates to more than ${limit} bytes (${MAX_UNPACK_RATIO} times its size), as a ${compression === 'zstd' ? 'zstd' : 'gzip'} bomb does; nothing was unpacked`);
      }
      if (!sink.write(chunk)) await new Promise<void>((r) => sink.once('drain', r));
    }
    sink.end();
  };
  const inflated = compression === 'gzip' ? pipeline(createReadStream(tarPath), createGunzip(), feed)
    : compression === 'zstd' ? pipeline(createReadStream(tarPath), zstdDecompress, feed)
    : pipeline(createReadStream(tarPath), feed);
  await inflated.catch((e: unknown) => {
    throw bomb ?? e;
  });
  await done;
}

/**
 * How an archive layer is unpacked. `legacy`: omlmd 0.1.x's folder tar (gzip), whose entries
 * must all sit under the folder it is titled with, else it stays the file it is. `archive`: a
 * KitOps or ModelPack tar layer (plain, gzip or zstd), whose entries are paths relative to the
 * output folder; anything but files and folders is refused.
 */
/** tar (115 kB) loads when a folder layer is unpacked, not with every pull. */
const loadTar = (): Promise<typeof Tar> => import('tar');

type ArchiveMode = { kind: 'legacy' } | { kind: 'archive'; compression: Compression };

async function listLegacyTar(tarPath: string, title: string, limit: number, mode: ArchiveMode = { kind: 'legacy' }): Promise<TarListing> {
  const files = new Set<string>();
  const dirs = new Set<string>();
  let ok = true;
  let bytes = 0;
  let refused: OmlmdError | undefined;
  const tar = await loadTar();
  const parser = new tar.Parser({ strict: true });
  const done = new Promise<void>((resolve, reject) => {
    parser.on('end', () => resolve());
    parser.on('error', reject);
  });
  parser.on('entry', (e: Tar.ReadEntry) => {
    e.resume();
    if (refused || !ok) return;
    try {
      const p = e.path.replace(/\/+$/, '');
      const clean = p === '' ? '' : checkTitle(p);
      if (mode.kind === 'archive') {
        if (!(e.type === 'File' || e.type === 'Directory')) throw new OmlmdError('UNSAFE_PATH', `refusing the archive layer ${JSON.stringify(title)}: its entry ${JSON.stringify(p)} is a ${e.type}, not a file or folder`);
        if (clean === '') return;
      } else if (!(e.type === 'File' || e.type === 'Directory') || !(clean === title || clean.startsWith(`${title}/`))) {
        ok = false;
        return;
      }
      const parts = clean.split('/');
      for (let i = 1; i < parts.length; i++) {
        const up = parts.slice(0, i).join('/');
        if (files.has(up)) throw new OmlmdError('UNSAFE_PATH', `refusing the folder layer ${JSON.stringify(title)}: it holds ${up} as a file and as a folder (${clean})`);
      }
      if (e.type === 'Directory') {
        if (files.has(clean)) throw new OmlmdError('UNSAFE_PATH', `refusing the folder layer ${JSON.stringify(title)}: it holds ${clean} as a file and as a folder`);
        dirs.add(clean);
      } else {
        if (dirs.has(clean)) throw new OmlmdError('UNSAFE_PATH', `refusing the folder layer ${JSON.stringify(title)}: it holds ${clean} as a folder and as a file`);
        if (files.has(clean)) throw new OmlmdError('UNSAFE_PATH', `refusing the folder layer ${JSON.stringify(title)}: it holds ${clean} twice`);
        files.add(clean);
        bytes += e.size ?? 0;
      }
    } catch (err) {
      // Thrown here it would escape the parser's event and the pull's promise.
      refused = OmlmdError.is(err) ? new OmlmdError(err.code, err.message.replace(/^refusing layer title/, `refusing the folder layer ${JSON.stringify(title)}: its entry`)) : toOmlmdError(err, `cannot read ${title}`);
    }
  });
  try {
    await inflateInto(tarPath, limit, title, parser, done, compressionOf(mode));
  } catch (e) {
    if (OmlmdError.is(e, 'UNSAFE_PATH')) throw e;
    if (mode.kind === 'archive') throw new OmlmdError('INVALID_MANIFEST', `the archive layer ${JSON.stringify(title)} is not the tar its media type says: ${(e as Error).message}`, { cause: e });
    // Not a gzip tar after all (bad data, truncated): an ordinary file.
    return { ok: false, bytes };
  }
  if (refused) throw refused;
  return { ok: ok && files.size + dirs.size > 0, bytes };
}

async function unpackLegacyDirectory(tarPath: string, target: string, outDir: string, title: string, mode: ArchiveMode = { kind: 'legacy' }): Promise<boolean> {
  try {
    const size = (await stat(tarPath)).size;
    const limit = Math.max(MIN_UNPACK_LIMIT, size * MAX_UNPACK_RATIO);
    const compression = compressionOf(mode);
    if (mode.kind === 'archive' && compression === 'gzip' && !(await isGzipTar(tarPath))) throw new OmlmdError('INVALID_MANIFEST', `the archive layer ${JSON.stringify(title)} says it is gzip, and is not`);
    if (mode.kind === 'archive' && compression === 'zstd' && !(await isZstdFile(tarPath))) throw new OmlmdError('INVALID_MANIFEST', `the archive layer ${JSON.stringify(title)} says it is zstd, and is not`);
    const listing = mode.kind === 'archive' || (await isGzipTar(tarPath)) ? await listLegacyTar(tarPath, title, limit, mode) : { ok: false, bytes: 0 };
    if (!listing.ok) {
      await rename(tarPath, target);
      return false;
    }
    const fs = await statfs(outDir).catch(() => undefined);
    const free = fs ? fs.bavail * fs.bsize : Infinity;
    if (listing.bytes > free) {
      throw new OmlmdError('IO', `cannot unpack the folder layer ${JSON.stringify(title)}: its files hold ${listing.bytes} bytes and ${outDir} has ${free} free; nothing was unpacked`);
    }
    const staging = await mkdtemp(join(outDir, '.omlmd-unpack-'));
    try {
      const tar = await loadTar();
      const unpack = new tar.Unpack({ cwd: staging, strict: true, filter: (_p: string, e: unknown) => typeof e === 'object' && e !== null && 'type' in e && ((e as Tar.ReadEntry).type === 'File' || (e as Tar.ReadEntry).type === 'Directory') });
      const done = new Promise<void>((resolve, reject) => {
        unpack.on('close', () => resolve());
        unpack.on('error', reject);
      });
      await inflateInto(tarPath, limit, title, unpack, done, compression);
      // Move file by file so that files already in the output directory are replaced atomically.
      for (const rel of await listFiles(staging)) {
        const dest = await safeOutputPath(outDir, rel);
        await rename(join(staging, ...rel.split('/')), dest);
      }
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
    await rm(tarPath, { force: true });
    return true;
  } catch (e) {
    await rm(tarPath, { force: true });
    if (e instanceof OmlmdError) throw e;
    // node-tar's strict refusals (TAR_ENTRY_INVALID: a link path on a file entry, a bad header): the archive's fault.
    const code = (e as { code?: string }).code;
    if (typeof code === 'string' && code.startsWith('TAR_')) throw new OmlmdError('UNSAFE_PATH', `refusing the folder layer ${JSON.stringify(title)}: ${(e as Error).message}; nothing was unpacked`, { cause: e });
    throw toOmlmdError(e, `cannot unpack ${title}`);
  }
}

async function listFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) out.push(relative(root, join(e.parentPath, e.name)).split(sep).join('/'));
  }
  return out;
}
