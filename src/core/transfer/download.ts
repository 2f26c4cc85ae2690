import { open, readdir, readFile, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { cancelled, OmlmdError, throwIfAborted, toOmlmdError } from '../errors';
import { Digester, digestHex } from '../oci/digest';
import type { Repository } from '../oci/store';
import type { Descriptor } from '../oci/types';
import type { FollowHash, HashPool } from './hashpool';
import { planPieces, RangeSet, type Range } from './ranges';

/**
 * Downloads one blob to a file: in parts over parallel ranged GETs when it is large and the
 * registry honours Range, each part written at its offset while a worker thread hashes the
 * file front to back behind the writes; the digest and size are checked before the file gets
 * its final name.
 *
 * An interrupted download (a killed process, a dropped connection, a cancel) leaves its data
 * under a name derived from the target and the digest, with a small state file listing the
 * byte ranges written, so that the next run finds it, hashes what is there and fetches only
 * what is missing. The state lists a range only once its write has completed.
 */

/** Blobs up to this size are hashed on the main thread as they arrive: a worker would cost more than it saves. */
const INLINE_HASH_LIMIT = 4 * 1024 * 1024;
/** Bytes collected before one positional write: few system calls, little memory per part. */
const WRITE_BATCH = 1024 * 1024;
/** How far the contiguous prefix grows before the hashing worker is told (and woken). */
const ADVANCE_STEP = 16 * 1024 * 1024;
const WRITE_BATCH_BUFFERS = 256;
/** How often the state file follows the writes; a kill loses at most this much progress. */
const STATE_INTERVAL_MS = 1000;
const STATE_VERSION = 1;

/** Limits how many downloads stream at once across all the blobs of a transfer. */
export class Semaphore {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly size: number) {
    this.free = size;
  }

  async acquire(signal?: AbortSignal): Promise<() => void> {
    throwIfAborted(signal);
    if (this.free > 0) this.free--;
    else {
      await new Promise<void>((resolve, reject) => {
        const grant = (): void => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = (): void => {
          const i = this.waiting.indexOf(grant);
          if (i >= 0) this.waiting.splice(i, 1);
          reject(cancelled(signal));
        };
        this.waiting.push(grant);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}

export interface DownloadContext {
  pool: HashPool;
  connections: Semaphore;
  /** Part size for parallel ranged GETs; a blob under twice this size goes in one stream. */
  partSize: number;
}

export interface DownloadOptions {
  signal?: AbortSignal;
  /** Bytes received now. */
  onBytes?: (n: number) => void;
  /** Bytes an interrupted run left in the partial file. */
  onResumed?: (n: number) => void;
  /** Names the blob in messages: `model.bin (sha256:…) from host/repo`. */
  what: string;
}

/** Where a download into `finalPath` keeps its data, its state and its lock until it is verified. */
export function partialPaths(finalPath: string, digest: string): { data: string; state: string; lock: string } {
  const data = join(dirname(finalPath), `.${basename(finalPath)}.${digestHex(digest).slice(0, 16)}.omlmd-partial`);
  return { data, state: `${data}.state`, lock: `${data}.lock` };
}

const heldLocks = new Set<string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Two pulls into the same place must not write one partial file: the second could write
 * unverified bytes into the file the first has just verified and renamed.
 */
async function lockPartial(lock: string, what: string): Promise<() => Promise<void>> {
  for (let attempt = 0; ; attempt++) {
    try {
      if (heldLocks.has(lock)) throw Object.assign(new Error('held'), { code: 'EEXIST' });
      await writeFile(lock, String(process.pid), { flag: 'wx' });
      heldLocks.add(lock);
      return async () => {
        heldLocks.delete(lock);
        await rm(lock, { force: true }).catch(() => undefined);
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw toOmlmdError(e, `cannot download ${what}`);
      const pid = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
      const busy = heldLocks.has(lock) || (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && alive(pid));
      if (busy || attempt > 0) {
        throw new OmlmdError('CONFLICT', `cannot download ${what}: another omlmd transfer${pid && pid !== process.pid ? ` (process ${pid})` : ''} is writing it into the same place`, {
          hint: `wait for it to finish; if none is running, delete ${lock}`,
        });
      }
      // Left by a process that is gone.
      await rm(lock, { force: true }).catch(() => undefined);
    }
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
  const prefix = `.${basename(finalPath)}.`;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.startsWith(prefix) || !/\.omlmd-partial(\.state)?$/.test(name)) continue;
    const data = join(dir, name.replace(/\.state$/, ''));
    if (data === keep) continue;
    if (await stat(`${data}.lock`).catch(() => undefined)) continue;
    await rm(join(dir, name), { force: true }).catch(() => undefined);
  }
}

async function writeAll(fh: FileHandle, bufs: Buffer[], at: number): Promise<void> {
  const total = bufs.reduce((n, b) => n + b.length, 0);
  let done = (await fh.writev(bufs, at)).bytesWritten;
  // A short write (rare: a signal, a full pipe of iovecs) goes on from where it stopped.
  if (done < total) {
    const rest = Buffer.concat(bufs).subarray(done);
    while (done < total) done += (await fh.write(rest, done - (total - rest.length), total - done, at + done)).bytesWritten;
  }
}

class StalePartial extends Error {}

/**
 * Downloads `desc` from `repo` to `finalPath`, resuming what an earlier run left. Resolves
 * once the file is in place, verified.
 */
export async function downloadBlob(repo: Repository, desc: Descriptor, finalPath: string, ctx: DownloadContext, opts: DownloadOptions): Promise<void> {
  const paths = partialPaths(finalPath, desc.digest);
  const unlock = await lockPartial(paths.lock, opts.what);
  try {
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
  const inline = size <= INLINE_HASH_LIMIT;
  const earlier = inline || !mayResume ? undefined : await loadState(paths, desc);
  const held = earlier ?? new RangeSet();
  const resumed = held.total();
  let fh: FileHandle;
  try {
    fh = await open(paths.data, earlier ? 'r+' : 'w+');
  } catch (e) {
    throw toOmlmdError(e, `cannot download ${what}`);
  }
  if (!earlier) await rm(paths.state, { force: true }).catch(() => undefined);
  if (resumed > 0) opts.onResumed?.(resumed);

  const digester = inline ? new Digester() : undefined;
  let follower: FollowHash | undefined;
  const inner = new AbortController();
  const onAbort = (): void => inner.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  let stateTimer: NodeJS.Timeout | undefined;
  let stateDirty = false;
  let ok = false;
  let keepPartial = true;
  try {
    if (!inline) {
      follower = ctx.pool.follow(paths.data, size, what);
      // The prefix an earlier run wrote is hashed now, while the rest downloads.
      follower.advance(held.prefix());
    }
    let told = held.prefix();
    const written = (at: number, n: number): void => {
      held.add(at, at + n);
      // Waking the worker costs a cross-thread signal: tell it in steps, and at the end.
      const prefix = held.prefix();
      if (prefix - told >= ADVANCE_STEP || prefix === size) {
        told = prefix;
        follower?.advance(prefix);
      }
      opts.onBytes?.(n);
      if (!stateDirty && !inline) {
        stateDirty = true;
        stateTimer = setTimeout(() => {
          stateDirty = false;
          void saveState(paths.state, desc, held);
        }, STATE_INTERVAL_MS);
        stateTimer.unref();
      }
    };

    const runPart = async ([start, end]: Range, onOpened?: () => void): Promise<void> => {
      const release = await ctx.connections.acquire(inner.signal);
      let body: Readable | undefined;
      let batch: Buffer[] = [];
      let batchBytes = 0;
      let pos = start;
      let writing: Promise<void> | undefined;
      let inFlight = false;
      /** Writes what is collected at its offset; the chunks are referenced, not copied. */
      const startWrite = (): Promise<void> => {
        const bufs = batch;
        const at = pos;
        const n = batchBytes;
        batch = [];
        batchBytes = 0;
        pos += n;
        inFlight = true;
        const w = writeAll(fh, bufs, at).then(() => {
          inFlight = false;
          written(at, n);
        });
        writing = w;
        return w;
      };
      try {
        body = await repo.openBlob(desc, { offset: start, length: end - start, signal: inner.signal });
        onOpened?.();
        const stream = body;
        // Chunks as they arrive ('data' events): iterating would concatenate what the stream
        // buffered. At most one write in flight per part while the next batch fills.
        await new Promise<void>((resolve, reject) => {
          let failed = false;
          const fail = (e: unknown): void => {
            if (failed) return;
            failed = true;
            stream.destroy();
            reject(e);
          };
          stream.on('data', (chunk: Buffer) => {
            if (failed) return;
            digester?.update(chunk);
            batch.push(chunk);
            batchBytes += chunk.length;
            if (pos + batchBytes > end) return fail(new OmlmdError('SIZE_MISMATCH', `${what}: the registry sent more bytes than the ${end - start} asked for`));
            if (batchBytes < WRITE_BATCH && batch.length < WRITE_BATCH_BUFFERS) return;
            if (!inFlight || !writing) {
              startWrite().catch(fail);
              return;
            }
            stream.pause();
            writing.then(() => {
              startWrite().catch(fail);
              stream.resume();
            }, fail);
          });
          stream.once('end', () => {
            void (async () => {
              await writing;
              if (batchBytes > 0) await startWrite();
              resolve();
            })().catch(fail);
          });
          stream.once('error', fail);
        });
        if (pos !== end) throw new OmlmdError('SIZE_MISMATCH', `${what}: received ${pos - start} of the ${end - start} bytes asked for from offset ${start}; nothing was written to ${finalPath}`);
      } finally {
        body?.destroy();
        await writing?.catch(() => undefined);
        release();
      }
    };

    const missing = held.missing(size);
    const splittable = !inline && size >= 2 * ctx.partSize && repo.partialReads !== false;
    let queue: Range[] = splittable ? planPieces(missing, ctx.partSize) : [...missing];
    const tasks: Promise<void>[] = [];
    // The first failure is the cause; the parts it aborts fail with a cancel after it.
    let cause: { e: unknown } | undefined;
    const fail = (e: unknown): void => {
      cause ??= { e };
      inner.abort(e);
    };
    const worker = async (): Promise<void> => {
      for (let r = queue.shift(); r !== undefined; r = queue.shift()) {
        throwIfAborted(inner.signal);
        await runPart(r);
      }
    };
    const first = queue[0];
    if (splittable && repo.partialReads === undefined && first !== undefined && queue.length > 1) {
      // The first ranged answer says whether parts are worth it: a registry that ignores
      // Range would send the whole blob for each part.
      queue.shift();
      let opened!: () => void;
      const openedOrFailed = new Promise<void>((resolve) => (opened = resolve));
      const task = runPart(first, opened).catch((e: unknown) => (fail(e), Promise.reject(e)));
      tasks.push(task);
      await Promise.race([openedOrFailed, task.catch(() => undefined)]);
      if (repo.partialReads === false) queue = new RangeSet(queue).toJSON();
    }
    const parallel = Math.max(1, Math.min(queue.length, ctx.connections.size));
    for (let i = 0; i < parallel; i++) tasks.push(worker().catch((e: unknown) => (fail(e), Promise.reject(e))));
    await Promise.allSettled(tasks);
    if (opts.signal?.aborted) throw cancelled(opts.signal);
    if (cause) throw cause.e;

    // A cancel that comes after the last byte still means: do not put the file in place.
    throwIfAborted(opts.signal);
    if (held.prefix() !== size) throw new OmlmdError('SIZE_MISMATCH', `${what}: received ${held.total()} bytes, the manifest says ${size}; nothing was written to ${finalPath}`);
    await fh.close();
    const got = digester ? digester.digest() : await follower!.digest;
    if (got !== desc.digest) {
      keepPartial = false;
      if (resumed > 0) throw new StalePartial();
      throw new OmlmdError('DIGEST_MISMATCH', `${what}: content does not match its digest (expected ${desc.digest}, got ${got}); nothing was written to ${finalPath}`);
    }
    try {
      await rename(paths.data, finalPath);
    } catch (e) {
      throw toOmlmdError(e, `cannot write ${finalPath}`);
    }
    ok = true;
  } catch (e) {
    const err = e instanceof StalePartial ? e : toOmlmdError(e, `cannot download ${what}`);
    // Bytes that are wrong, or a blob that is not what the manifest says, are not worth keeping.
    if (OmlmdError.is(err, 'DIGEST_MISMATCH', 'SIZE_MISMATCH')) keepPartial = false;
    throw err;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    if (stateTimer) clearTimeout(stateTimer);
    follower?.cancel();
    await fh.close().catch(() => undefined);
    if (ok || !keepPartial) await discard(paths);
    else if (inline) await discard(paths);
    else await saveState(paths.state, desc, held);
  }
}

