import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { OmlmdError } from '../errors';
import type { BodyTarget } from '../oci/socketget';
import { isAligned, refusedDirect, type SegmentPool } from './directio';
import type { DownloadContext, DownloadJob } from './download';
import type { FeedHash } from './hashpool';
import type { Range } from './ranges';

/**
 * One ranged GET of a download, and the sinks its bytes go to: through the page cache
 * (BufferedSink) or around it into aligned segments (DirectSink, the parallel strategy's).
 */

/** Bytes collected before one positional write: few system calls, little memory per part. */
const WRITE_BATCH = 1024 * 1024;
const WRITE_BATCH_BUFFERS = 256;

/** Direct handles whose file system turned a direct write down: the rest goes buffered. */
const directRefused = new WeakSet<FileHandle>();

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
export interface PartSink {
  /** Bytes taken so far. */
  readonly received: number;
  write(chunk: Buffer): Promise<void> | undefined;
  /** Writes what is left and waits for every write. */
  finish(): Promise<void>;
  /** Waits for writes in flight, whatever their outcome (after a failure). */
  settle(): Promise<void>;
}

export type Written = (at: number, n: number) => void;

/** Through the page cache: chunks collected by reference, one positional writev per batch, one batch in flight. */
export class BufferedSink implements PartSink {
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
export class DirectSink implements PartSink, BodyTarget {
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
    /** Writes in flight before the caller waits: more for a blob that comes in one stream. */
    private readonly inFlight = DIRECT_IN_FLIGHT,
    /** Where each segment is hashed (a worker), in order, while it is written; the segment is reused once both are done. */
    private readonly hash?: FeedHash,
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
    return this.mustWait() ? this.oneDone() : undefined;
  }

  /** Its writes in flight are at their limit, or one is and the pool is at its cap (other parts are filling too). */
  private mustWait(): boolean {
    return this.pending.size >= this.inFlight || (this.pending.size > 0 && !this.seg && !this.segments.spare());
  }

  /** Where the socket reads next (a body read into buffers, Repository.readBlobInto): the free end of the segment being filled. */
  buffer(): Buffer {
    this.seg ??= this.segments.take();
    return this.seg.subarray(this.fill);
  }

  /** `n` bytes landed at the start of the last buffer(): no copy. */
  got(n: number): Promise<void> | undefined {
    if (this.error) return Promise.reject(this.error.e);
    this.received += n;
    this.fill += n;
    if (this.fill === this.segments.segmentSize) this.flush();
    if (this.mustWait()) return this.oneDone();
    // Taken now, not at the next read, so that the pool's count includes it when other parts ask.
    this.seg ??= this.segments.take();
    return undefined;
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
    const hashed = this.hash?.bytes(seg.subarray(0, n));
    const w = Promise.all([this.writeSegment(seg, at, n), hashed])
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

/**
 * Fetches [start, end) of the job's blob into `sink`, holding one of the transfer's
 * connections meanwhile. `onChunk` sees each chunk before it is written (the stream strategy
 * hashes there); `onOpened` is told once the registry answered.
 */
export async function fetchPart(
  job: DownloadJob,
  ctx: Pick<DownloadContext, 'connections'>,
  [start, end]: Range,
  sink: PartSink,
  signal: AbortSignal | undefined,
  hooks: { onChunk?: (chunk: Buffer) => void; onOpened?: () => void } = {},
): Promise<void> {
  const { what } = job;
  const release = await ctx.connections.acquire(signal);
  let body: Readable | undefined;
  try {
    if (sink instanceof DirectSink && !hooks.onChunk && job.repo.readBlobInto) {
      // The kernel reads the body straight into the segments (no chunk, no copy).
      await job.repo.readBlobInto(job.desc, { offset: start, length: end - start, signal, onOpened: hooks.onOpened }, sink);
      await sink.finish();
      if (start + sink.received !== end) throw new OmlmdError('SIZE_MISMATCH', `${what}: received ${sink.received} of the ${end - start} bytes asked for from offset ${start}; nothing was written to ${job.finalPath}`);
      return;
    }
    body = await job.repo.openBlob(job.desc, { offset: start, length: end - start, signal });
    hooks.onOpened?.();
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
        hooks.onChunk?.(chunk);
        if (sink.received + chunk.length > end - start) return fail(new OmlmdError('SIZE_MISMATCH', `${what}: the registry sent more bytes than the ${end - start} asked for`));
        const wait = sink.write(chunk);
        if (!wait) return;
        stream.pause();
        wait.then(() => stream.resume(), fail);
      });
      stream.once('end', () => void sink.finish().then(resolve, fail));
      stream.once('error', fail);
    });
    if (start + sink.received !== end) throw new OmlmdError('SIZE_MISMATCH', `${what}: received ${sink.received} of the ${end - start} bytes asked for from offset ${start}; nothing was written to ${job.finalPath}`);
  } finally {
    body?.destroy();
    await sink.settle();
    release();
  }
}
