import { cancelled, throwIfAborted } from '../errors';
import { DIRECT_MIN_SIZE, openDirectForWrite } from './directio';
import type { DownloadStrategy } from './download';
import { BufferedSink, DirectSink, fetchPart } from './parts';
import { planPieces, RangeSet, type Range } from './ranges';

/** How far the contiguous prefix grows before the hashing worker is told (and woken). */
const ADVANCE_STEP = 16 * 1024 * 1024;

/**
 * The fast path: a large blob in parts over parallel ranged GETs (when the registry honours
 * Range), each part written at its offset, around the page cache where the file system
 * allows (directio.ts), while a worker thread of the hashing pool hashes the file front to
 * back behind the writes. Fills whatever gaps an earlier run left, in any order.
 */
export const parallelStrategy: DownloadStrategy = {
  name: 'parallel',
  fillsGaps: true,
  async fetch(job, ctx) {
    const { repo, desc, held } = job;
    const size = desc.size;
    const direct = size >= DIRECT_MIN_SIZE ? await openDirectForWrite(job.dataPath, ctx.direct) : undefined;
    const follower = ctx.pool.follow(job.dataPath, size, job.what, direct ? ctx.direct : undefined);
    // Parts of this blob: the first failure aborts the others.
    const inner = new AbortController();
    const onAbort = (): void => inner.abort(job.signal?.reason);
    job.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      // The prefix an earlier run wrote is hashed now, while the rest downloads.
      let told = held.prefix();
      follower.advance(told);
      const written = (at: number, n: number): void => {
        job.written(at, n);
        // Waking the worker costs a cross-thread signal: tell it in steps, and at the end.
        const prefix = held.prefix();
        if (prefix - told >= ADVANCE_STEP || prefix === size) {
          told = prefix;
          follower.advance(prefix);
        }
      };
      const runPart = (range: Range, onOpened?: () => void): Promise<void> => {
        const sink = direct ? new DirectSink(job.file, direct, ctx.segments, range[0], written) : new BufferedSink(job.file, range[0], written);
        return fetchPart(job, ctx, range, sink, inner.signal, { onOpened });
      };

      const missing = held.missing(size);
      const splittable = size >= 2 * ctx.partSize && repo.partialReads !== false;
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
      if (job.signal?.aborted) throw cancelled(job.signal);
      if (cause) throw cause.e;
      // A cancel that comes after the last byte still means: do not put the file in place.
      throwIfAborted(job.signal);
      // The worker hashes only what was written: with bytes missing, its digest never comes.
      if (held.prefix() !== size) return undefined;
      await direct?.close();
      return await follower.digest;
    } finally {
      job.signal?.removeEventListener('abort', onAbort);
      follower.cancel();
      await direct?.close().catch(() => undefined);
    }
  },
};
