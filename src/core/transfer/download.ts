import { open, readdir, readFile, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { cancelled, OmlmdError, throwIfAborted, toOmlmdError } from '../errors';
import { Digester, digestHex } from '../oci/digest';
import type { Repository } from '../oci/store';
import type { Descriptor } from '../oci/types';
import type { FollowHash, HashPool } from './hashpool';
import { DIRECT_MIN_SIZE, isAligned, openDirectForWrite, refusedDirect, type SegmentPool } from './directio';
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
  /** The O_DIRECT flag for large blobs (directFlag()), or undefined for buffered writes only. */
  direct?: number;
  /** Aligned staging buffers for direct writes, shared by the parts of a transfer. */
  segments: SegmentPool;
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

/**
 * Where the bytes of one part go, in order from the part's start. `write` returns a promise
 * when the caller should wait (writes in flight are at their limit) before giving more.
 */
interface PartSink {
  /** Bytes taken so far. */
  readonly received: number;
  write(chunk: Buffer): Promise<void> | undefined;
  /** Writes what is left and waits for every write. */
  finish(): Promise<void>;
  /** Waits for writes in flight, whatever their outcome (after a failure). */
  settle(): Promise<void>;
}

type Written = (at: number, n: number) => void;

/** Through the page cache: chunks collected by reference, one positional writev per batch, one batch in flight. */
class BufferedSink implements PartSink {
  received = 0;
  private batch: Buffer[] = [];
  private batchBytes = 0;
  private pos: number;
  private writing: Promise<void> | undefined;
  private inFlight = false;

  constructor(
    private readonly fh: FileHandle,
    start: number,
    private readonly written: Written,
  ) {
    this.pos = start;
  }

  write(chunk: Buffer): Promise<void> | undefined {
    this.received += chunk.length;
    this.batch.push(chunk);
    this.batchBytes += chunk.length;
    if (this.batchBytes < WRITE_BATCH && this.batch.length < WRITE_BATCH_BUFFERS) return undefined;
    if (!this.inFlight || !this.writing) {
      // A failure shows up at the next wait or at finish().
      this.flush().catch(() => undefined);
      return undefined;
    }
    return this.writing.then(() => this.flush());
  }

  private flush(): Promise<void> {
    const bufs = this.batch;
    const at = this.pos;
    const n = this.batchBytes;
    this.batch = [];
    this.batchBytes = 0;
    this.pos += n;
    this.inFlight = true;
    const w = writeAll(this.fh, bufs, at).then(() => {
      this.inFlight = false;
      this.written(at, n);
    });
    this.writing = w;
    return w;
  }

  async finish(): Promise<void> {
    await this.writing;
    if (this.batchBytes > 0) await this.flush();
  }

  async settle(): Promise<void> {
    await this.writing?.catch(() => undefined);
  }
}

/** Writes in flight per part on the direct path: one segment fills while these go to disk. */
const DIRECT_IN_FLIGHT = 2;

/**
 * Around the page cache: chunks are copied into aligned segments, each written with one
 * direct positional write when full. A segment that cannot go direct (an odd offset or
 * length, at the end of a blob or after an interrupted run) goes through the page cache, and
 * a file system that refuses a direct write gets the rest of the blob buffered.
 * @internal exported for the tests
 */
export class DirectSink implements PartSink {
  received = 0;
  private seg: Buffer | undefined;
  private fill = 0;
  private pos: number;
  private readonly pending = new Set<Promise<void>>();
  private error: { e: unknown } | undefined;

  constructor(
    private readonly fh: FileHandle,
    private readonly direct: FileHandle,
    private readonly segments: SegmentPool,
    start: number,
    private readonly written: Written,
  ) {
    this.pos = start;
  }

  write(chunk: Buffer): Promise<void> | undefined {
    if (this.error) return Promise.reject(this.error.e);
    this.received += chunk.length;
    const size = this.segments.segmentSize;
    for (let off = 0; off < chunk.length; ) {
      this.seg ??= this.segments.take();
      const n = Math.min(chunk.length - off, size - this.fill);
      chunk.copy(this.seg, this.fill, off, off + n);
      this.fill += n;
      off += n;
      if (this.fill === size) this.flush();
    }
    return this.pending.size >= DIRECT_IN_FLIGHT ? this.oneDone() : undefined;
  }

  /** Resolves when a write in flight ends; rejects with the first failure. */
  private oneDone(): Promise<void> {
    return Promise.race(this.pending).then(() => {
      if (this.error) throw this.error.e;
    });
  }

  private flush(): void {
    const seg = this.seg!;
    const at = this.pos;
    const n = this.fill;
    this.seg = undefined;
    this.fill = 0;
    this.pos += n;
    const w = this.writeSegment(seg, at, n)
      .then(
        () => this.written(at, n),
        (e: unknown) => {
          this.error ??= { e };
        },
      )
      .finally(() => {
        this.segments.give(seg);
        this.pending.delete(w);
      });
    this.pending.add(w);
  }

  private async writeSegment(seg: Buffer, at: number, n: number): Promise<void> {
    if (isAligned(at, n) && !directRefused.has(this.direct)) {
      try {
        let done = 0;
        while (done < n) done += (await this.direct.write(seg, done, n - done, at + done)).bytesWritten;
        return;
      } catch (e) {
        if (!refusedDirect(e)) throw e;
        directRefused.add(this.direct);
      }
    }
    await writeAll(this.fh, [seg.subarray(0, n)], at);
  }

  async finish(): Promise<void> {
    if (this.fill > 0) this.flush();
    while (this.pending.size > 0) await Promise.allSettled(this.pending);
    if (this.error) throw this.error.e;
  }

  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled(this.pending);
    if (this.seg) {
      this.segments.give(this.seg);
      this.seg = undefined;
    }
  }
}

/** Direct handles whose file system turned a direct write down: the rest goes buffered. */
const directRefused = new WeakSet<FileHandle>();

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

  // Large blobs bypass the page cache where the file system allows (directio.ts).
  const direct = !inline && size >= DIRECT_MIN_SIZE ? await openDirectForWrite(paths.data, ctx.direct) : undefined;
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
      follower = ctx.pool.follow(paths.data, size, what, direct ? ctx.direct : undefined);
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
      const sink = direct ? new DirectSink(fh, direct, ctx.segments, start, written) : new BufferedSink(fh, start, written);
      try {
        body = await repo.openBlob(desc, { offset: start, length: end - start, signal: inner.signal });
        onOpened?.();
        const stream = body;
        // Chunks as they arrive ('data' events): iterating would concatenate what the stream
        // buffered. The sink says when to wait for its writes.
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
            if (sink.received + chunk.length > end - start) return fail(new OmlmdError('SIZE_MISMATCH', `${what}: the registry sent more bytes than the ${end - start} asked for`));
            const wait = sink.write(chunk);
            if (!wait) return;
            stream.pause();
            wait.then(() => stream.resume(), fail);
          });
          stream.once('end', () => void sink.finish().then(resolve, fail));
          stream.once('error', fail);
        });
        if (start + sink.received !== end) throw new OmlmdError('SIZE_MISMATCH', `${what}: received ${sink.received} of the ${end - start} bytes asked for from offset ${start}; nothing was written to ${finalPath}`);
      } finally {
        body?.destroy();
        await sink.settle();
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
    await direct?.close();
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
    await direct?.close().catch(() => undefined);
    await fh.close().catch(() => undefined);
    if (ok || !keepPartial) await discard(paths);
    else if (inline) await discard(paths);
    else await saveState(paths.state, desc, held);
  }
}

