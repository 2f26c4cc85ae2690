import { createHash } from 'node:crypto';
import { open, readdir, readFile, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { OmlmdError, throwIfAborted, toOmlmdError } from '../errors';
import { digestHex } from '../oci/digest';
import type { Repository } from '../oci/store';
import type { Descriptor } from '../oci/types';
import { Semaphore } from '../util/limit';
import { acquireLock, LockBusy } from '../util/lockfile';
import { directFlag, sharedSegments, type SegmentPool } from './directio';
import type { HashPool } from './hashpool';
import { bytesMoved } from './memory';
import { parallelStrategy } from './parallel';
import { DEFAULT_PART_SIZE } from './progress';
import { RangeSet, type Range } from './ranges';
import { streamStrategy } from './stream';

/**
 * Downloads one blob to a file: the data goes to a partial file beside the target, its digest
 * and size are checked, then it gets its final name (an atomic rename). How the bytes come
 * is a strategy, chosen in one place (chooseStrategy): the default (stream.ts: one GET,
 * hashed as it arrives) or, when asked for, parts (parallel.ts: ranged parts in parallel,
 * direct I/O, hashed by a worker thread).
 *
 * An interrupted download (a killed process, a dropped connection, a cancel) leaves its data
 * under a name derived from the target and the digest, with a small state file listing the
 * byte ranges written, so that the next run finds it, hashes what is there and fetches only
 * what is missing. The state lists a range only once its write has completed.
 */

/** Blobs up to this size take the reference path and are not resumed: a worker, a state file would cost more than they save. */
const SMALL_BLOB = 4 * 1024 * 1024;
/** How often the state file follows the writes; a kill loses at most this much progress. */
const STATE_INTERVAL_MS = 1000;
const STATE_VERSION = 1;


/**
 * `auto` (the default) and `stream`: one GET per blob, hashed on this thread as it arrives
 * (large blobs written around the page cache, directio.ts);
 * `parallel`: large blobs in ranged parts over parallel connections, written around the page
 * cache and hashed by a worker (for registries that are slow per connection).
 */
export type DownloadMode = 'auto' | 'stream' | 'parallel';

/** What the downloads of one transfer share. */
export interface DownloadContext {
  pool: HashPool;
  connections: Semaphore;
  /** Part size for parallel ranged GETs; a blob under twice this size goes in one stream. */
  partSize: number;
  mode: DownloadMode;
  /** The O_DIRECT flag for large blobs (directFlag()), or undefined for buffered writes only. */
  direct?: number;
  /** Aligned staging buffers for direct writes, shared by the parts of a transfer. */
  segments: SegmentPool;
  /** How long to wait for another transfer writing the same file (default {@link LOCK_WAIT_MS}). */
  lockWaitMs: number;
}

/** The context for the downloads of one transfer; direct I/O as the environment allows (OMLMD_DIRECT_IO). */
export function createDownloadContext(o: { pool: HashPool; concurrency: number; partSize?: number; mode?: DownloadMode; lockWaitMs?: number }): DownloadContext {
  return { pool: o.pool, connections: new Semaphore(o.concurrency), partSize: o.partSize ?? DEFAULT_PART_SIZE, mode: o.mode ?? 'auto', direct: directFlag(), segments: sharedSegments, lockWaitMs: o.lockWaitMs ?? LOCK_WAIT_MS };
}

/** One blob being downloaded, as a strategy sees it. */
export interface DownloadJob {
  repo: Repository;
  desc: Descriptor;
  finalPath: string;
  /** The partial file, open for reading and writing, and its path. */
  file: FileHandle;
  dataPath: string;
  /** What the partial file holds; grows through `written`. */
  held: RangeSet;
  /** Call once [at, at + n) is in the file: records it (and reports the bytes). */
  written(at: number, n: number): void;
  signal?: AbortSignal;
  what: string;
}

/** How the bytes of a blob get into its partial file. */
export interface DownloadStrategy {
  readonly name: string;
  /** Resumes from any ranges an earlier run wrote; otherwise only from their prefix. */
  readonly fillsGaps: boolean;
  /**
   * Fetches what `job.held` lacks into `job.file`. Resolves with the digest of the whole
   * file, or undefined when bytes are missing (the caller says which); rejects on a failure
   * or a cancel.
   */
  fetch(job: DownloadJob, ctx: DownloadContext): Promise<string | undefined>;
}

/**
 * The one place the path is chosen. One stream per blob unless the caller asks for parts:
 * measured on loopback (1 GiB, docs/benchmarks.md), one stream hashed on this thread and
 * written around the page cache spends no more CPU than the parts, takes less time, and
 * needs no worker reading the file back (a V8 isolate: about 25 MB less peak RSS).
 */
export function chooseStrategy(desc: Descriptor, ctx: Pick<DownloadContext, 'mode'>): DownloadStrategy {
  if (ctx.mode === 'parallel' && desc.size > SMALL_BLOB) return parallelStrategy;
  return streamStrategy;
}

export interface DownloadOptions {
  signal?: AbortSignal;
  /** Bytes received now. */
  onBytes?: (n: number) => void;
  /** Bytes an interrupted run left in the partial file. */
  onResumed?: (n: number) => void;
  /** Names the blob in messages: `model.bin (sha256:…) from host/repo`. */
  what: string;
  /**
   * Runs on the verified blob before it takes its final name (an encrypted layer is
   * decrypted there, in place); when it throws, the partial file is dropped.
   */
  beforeRename?: (dataPath: string) => Promise<void>;
  /** How the bytes get into the partial file, instead of chooseStrategy's (an encrypted layer's decrypting download). */
  strategy?: DownloadStrategy;
}

/** File names are at most this many bytes (ext4, XFS, APFS, NTFS: 255). */
const NAME_MAX = 255;
/** What the partial's name adds to the file's: `.`, `.<16 hex>.omlmd-partial.state`. */
const PARTIAL_EXTRA = 1 + 1 + 16 + '.omlmd-partial.state'.length;

/**
 * The part of a side file's name (partial, state, lock, a folder tar) that stands for the
 * file: its name, or when that would push the side file past NAME_MAX, a digest of it (a
 * 219-255 byte name pushed but could not be pulled: ENAMETOOLONG on the partial).
 */
export function sideStem(name: string): string {
  return Buffer.byteLength(name) + PARTIAL_EXTRA <= NAME_MAX ? name : `~${createHash('sha256').update(name).digest('hex').slice(0, 40)}`;
}

/** Where a download into `finalPath` keeps its data, its state and its lock until it is verified. */
export function partialPaths(finalPath: string, digest: string): { data: string; state: string; lock: string } {
  const data = join(dirname(finalPath), `.${sideStem(basename(finalPath))}.${digestHex(digest).slice(0, 16)}.omlmd-partial`);
  return { data, state: `${data}.state`, lock: `${data}.lock` };
}

/**
 * Two pulls into the same place must not write one partial file: the second could write
 * unverified bytes into the file the first has just verified and renamed. The lock is
 * util/lockfile's: a lock left by a process that is gone is broken at once.
 */
async function lockPartial(lock: string, what: string, waitMs: number, signal?: AbortSignal): Promise<{ unlock: () => Promise<void>; waited: boolean }> {
  const busy = (e: LockBusy): OmlmdError => {
    const pid = e.holder.pid && e.holder.pid !== process.pid ? ` (process ${e.holder.pid})` : '';
    return new OmlmdError('CONFLICT', `cannot download ${what}: another omlmd transfer${pid} has been writing it into the same place for all the ${Math.round(waitMs / 1000)} s this one waited`, {
      remedies: [{ kind: 'say', text: 'wait for it to finish' }, { kind: 'remove-stale-lock', path: lock }],
    });
  };
  try {
    return { unlock: await acquireLock(lock), waited: false };
  } catch (e) {
    if (!(e instanceof LockBusy)) throw toOmlmdError(e, `cannot download ${what}`);
  }
  // Another pull is writing this file: wait for it (two pulls of one model into one folder
  // each held one file and refused the other's, so neither finished), then use its result.
  try {
    return { unlock: await acquireLock(lock, { waitMs, signal }), waited: true };
  } catch (e) {
    if (e instanceof LockBusy) throw busy(e);
    throwIfAborted(signal);
    throw toOmlmdError(e, `cannot download ${what}`);
  }
}

interface StateDoc {
  v: number;
  digest: string;
  size: number;
  done: [number, number][];
}

/** The ranges an earlier run wrote, or undefined when there is nothing trustworthy to resume. */
async function loadState(paths: { data: string; state: string }, desc: Descriptor): Promise<RangeSet | undefined> {
  const st = await stat(paths.data).catch(() => undefined);
  if (!st?.isFile()) return undefined;
  let doc: StateDoc;
  try {
    doc = JSON.parse(await readFile(paths.state, 'utf8')) as StateDoc;
  } catch {
    return undefined;
  }
  if (doc.v !== STATE_VERSION || doc.digest !== desc.digest || doc.size !== desc.size || !Array.isArray(doc.done)) return undefined;
  const ranges: Range[] = [];
  for (const r of doc.done) {
    if (!Array.isArray(r) || !Number.isSafeInteger(r[0]) || !Number.isSafeInteger(r[1]) || r[0] < 0) return undefined;
    ranges.push([r[0], r[1]]);
  }
  // Nothing past the end of the data file can be there, whatever the state says.
  return new RangeSet(ranges).clamp(Math.min(desc.size, st.size));
}

async function saveState(path: string, desc: Descriptor, held: RangeSet): Promise<void> {
  const doc: StateDoc = { v: STATE_VERSION, digest: desc.digest, size: desc.size, done: held.toJSON() };
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, JSON.stringify(doc));
    await rename(tmp, path);
  } catch {
    // Without a state file the next run starts over: slower, never wrong.
    await rm(tmp, { force: true }).catch(() => undefined);
  }
}

async function discard(paths: { data: string; state: string }): Promise<void> {
  await rm(paths.state, { force: true }).catch(() => undefined);
  await rm(paths.data, { force: true }).catch(() => undefined);
}

/** The partials of other versions of the same file, abandoned: they would only fill the disk. */
async function removeStaleSiblings(finalPath: string, keep: string): Promise<void> {
  const dir = dirname(finalPath);
  const prefix = `.${sideStem(basename(finalPath))}.`;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.startsWith(prefix) || !/\.omlmd-partial(\.state)?$/.test(name)) continue;
    const data = join(dir, name.replace(/\.state$/, ''));
    if (data === keep) continue;
    if (await stat(`${data}.lock`).catch(() => undefined)) continue;
    await rm(join(dir, name), { force: true }).catch(() => undefined);
  }
}

class StalePartial extends Error {}

/** ENOSPC (or EDQUOT), however deep in the causes. */
function noSpace(e: unknown): boolean {
  for (let c: unknown = e, i = 0; c && i < 5; c = (c as { cause?: unknown }).cause, i++) {
    const code = (c as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') return true;
  }
  return false;
}

/** A full disk, said with where the partial is, how big, and how to drop it (a hidden 50 MB partial kept a 50 MB disk full). */
function diskFull(what: string, data: string, bytes: number, kept: boolean, cause: unknown): OmlmdError {
  const where = dirname(data);
  if (!kept || bytes === 0) return new OmlmdError('IO', `cannot download ${what}: the disk holding ${where} is full; nothing was kept`, { cause, remedies: [{ kind: 'say', text: `free space on the disk holding ${where}, then pull again` }] });
  return new OmlmdError('IO', `cannot download ${what}: the disk holding ${where} is full; the partial download ${data} keeps the ${bytes} bytes received, to go on from`, {
    cause,
    remedies: [{ kind: 'say', text: `free space and pull again to go on from it, or delete ${data} (and its .state file) to free its ${bytes} bytes` }],
  });
}

/** How long a download waits for another transfer writing the same file (then CONFLICT). */
export const LOCK_WAIT_MS = 10 * 60_000;

async function holds(path: string, desc: Descriptor, ctx: DownloadContext, signal?: AbortSignal): Promise<boolean> {
  const st = await stat(path).catch(() => undefined);
  if (!st?.isFile() || st.size !== desc.size) return false;
  return (await ctx.pool.hashFile(path, desc.size, signal).catch(() => undefined)) === desc.digest;
}

/**
 * Downloads `desc` from `repo` to `finalPath`, resuming what an earlier run left. Resolves
 * once the file is in place, verified.
 */
export async function downloadBlob(repo: Repository, desc: Descriptor, finalPath: string, ctx: DownloadContext, opts: DownloadOptions): Promise<void> {
  const paths = partialPaths(finalPath, desc.digest);
  const { unlock, waited } = await lockPartial(paths.lock, opts.what, ctx.lockWaitMs, opts.signal);
  try {
    // The transfer we waited for may have put these very bytes in place.
    if (waited && (await holds(finalPath, desc, ctx, opts.signal))) return;
    for (let attempt = 0; ; attempt++) {
      try {
        await downloadOnce(repo, desc, finalPath, paths, ctx, opts, attempt === 0);
        break;
      } catch (e) {
        // Data from an earlier run did not add up to the blob: drop it and fetch everything, once.
        if (!(e instanceof StalePartial) || attempt > 0) throw e;
        await discard(paths);
      }
    }
  } finally {
    await unlock();
  }
  await removeStaleSiblings(finalPath, paths.data);
}

async function downloadOnce(
  repo: Repository,
  desc: Descriptor,
  finalPath: string,
  paths: { data: string; state: string },
  ctx: DownloadContext,
  opts: DownloadOptions,
  mayResume: boolean,
): Promise<void> {
  const { what } = opts;
  const size = desc.size;
  const strategy = opts.strategy ?? chooseStrategy(desc, ctx);
  const resumable = size > SMALL_BLOB;
  const earlier = resumable && mayResume ? await loadState(paths, desc) : undefined;
  const held = !earlier ? new RangeSet() : strategy.fillsGaps ? earlier : new RangeSet([[0, earlier.prefix()]]);
  const resumed = held.total();
  let fh: FileHandle;
  try {
    fh = await open(paths.data, earlier ? 'r+' : 'w+');
  } catch (e) {
    throw toOmlmdError(e, `cannot download ${what}`);
  }
  if (!earlier) await rm(paths.state, { force: true }).catch(() => undefined);
  if (resumed > 0) opts.onResumed?.(resumed);

  let stateTimer: NodeJS.Timeout | undefined;
  let stateDirty = false;
  let ok = false;
  let keepPartial = true;
  try {
    const written = (at: number, n: number): void => {
      held.add(at, at + n);
      bytesMoved('download', n);
      opts.onBytes?.(n);
      if (!stateDirty && resumable) {
        stateDirty = true;
        stateTimer = setTimeout(() => {
          stateDirty = false;
          void saveState(paths.state, desc, held);
        }, STATE_INTERVAL_MS);
        stateTimer.unref();
      }
    };
    const got = await strategy.fetch({ repo, desc, finalPath, file: fh, dataPath: paths.data, held, written, signal: opts.signal, what }, ctx);
    throwIfAborted(opts.signal);
    if (got === undefined || held.prefix() !== size) throw new OmlmdError('SIZE_MISMATCH', `${what}: received ${held.total()} bytes, the manifest says ${size}; nothing was written to ${finalPath}`);
    await fh.close();
    if (got !== desc.digest) {
      keepPartial = false;
      if (resumed > 0) throw new StalePartial();
      throw new OmlmdError('DIGEST_MISMATCH', `${what}: content does not match its digest (expected ${desc.digest}, got ${got}); nothing was written to ${finalPath}`);
    }
    if (opts.beforeRename) {
      try {
        await opts.beforeRename(paths.data);
      } catch (e) {
        keepPartial = false;
        throw e;
      }
    }
    try {
      await rename(paths.data, finalPath);
    } catch (e) {
      throw toOmlmdError(e, `cannot write ${finalPath}`);
    }
    ok = true;
  } catch (e) {
    if (noSpace(e)) throw diskFull(what, paths.data, held.total(), resumable && keepPartial, e);
    const err = e instanceof StalePartial ? e : toOmlmdError(e, `cannot download ${what}`);
    // Bytes that are wrong, or a blob that is not what the manifest says, are not worth keeping.
    if (OmlmdError.is(err, 'DIGEST_MISMATCH', 'SIZE_MISMATCH', 'DECRYPTION_FAILED')) keepPartial = false;
    throw err;
  } finally {
    if (stateTimer) clearTimeout(stateTimer);
    await fh.close().catch(() => undefined);
    if (ok || !keepPartial || !resumable) await discard(paths);
    else await saveState(paths.state, desc, held);
  }
}

