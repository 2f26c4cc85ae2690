import { cancelled, throwIfAborted } from '../errors';
import { Digester } from '../oci/digest';
import type { DownloadJob, DownloadStrategy } from './download';
import { DIRECT_MIN_SIZE, openDirectForWrite } from './directio';
import { BufferedSink, DirectSink, fetchPart } from './parts';

/** Direct writes (and hashes) in flight for a blob in one stream, a segment each: 2 was as fast as 4 and 8 on 1 GiB and on 16 files of 128 MiB, which then peaked 14 MB lower (4 streams at once). Many streams at once keep one each (SegmentPool's cap). */
const DIRECT_IN_FLIGHT = 2;
/** Bytes read per turn when an earlier run's prefix is hashed again. */
const REHASH_READ = 1024 * 1024;

/**
 * The default download: one GET from where the partial file ends, each chunk hashed on
 * this thread as it arrives (while it is still in the processor's cache) and written in order,
 * around the page cache from DIRECT_MIN_SIZE on where the file system allows (directio.ts:
 * under memory pressure, page-cache writes cost this VM more kernel time than anything
 * else: a bench run measured 4.8-5.2 s CPU per GiB through the cache, against 2.7-3.3
 * around it). The parallel path (parallel.ts) must give the same file.
 * A resumed run hashes the bytes an earlier run wrote from the file first.
 */
export const streamStrategy: DownloadStrategy = {
  name: 'stream',
  fillsGaps: false,
  async fetch(job, ctx) {
    const size = job.desc.size;
    const digester = new Digester();
    const from = job.held.prefix();
    if (from > 0) await hashPrefix(job, from, digester);
    if (from < size) {
      const direct = size >= DIRECT_MIN_SIZE ? await openDirectForWrite(job.dataPath, ctx.direct) : undefined;
      // A large blob from its start is hashed by a worker from the segments it is written from
      // (shared memory, no copy), in parallel with this thread's receiving: one core would
      // otherwise do both (0.48 s of 1.4 s per GiB here was sha256). A resumed one goes on
      // with the hash of its prefix here.
      const feed = direct && from === 0 ? ctx.pool.feed(job.what) : undefined;
      try {
        const sink = direct ? new DirectSink(job.file, direct, ctx.segments, from, job.written, DIRECT_IN_FLIGHT, feed) : new BufferedSink(job.file, from, job.written);
        await fetchPart(job, ctx, [from, size], sink, job.signal, feed ? {} : { onChunk: (c) => digester.update(c) });
        await direct?.close();
        if (feed) {
          throwIfAborted(job.signal);
          return await feed.end();
        }
      } catch (e) {
        feed?.cancel();
        // However the stream ended, a cancel is what happened.
        if (job.signal?.aborted) throw cancelled(job.signal);
        throw e;
      } finally {
        await direct?.close().catch(() => undefined);
      }
    }
    throwIfAborted(job.signal);
    return digester.digest();
  },
};

async function hashPrefix(job: DownloadJob, end: number, digester: Digester): Promise<void> {
  const buf = Buffer.allocUnsafe(Math.min(REHASH_READ, end));
  for (let at = 0; at < end; ) {
    throwIfAborted(job.signal);
    const { bytesRead } = await job.file.read(buf, 0, Math.min(buf.length, end - at), at);
    // Shorter than the state says: hashed as far as it goes, the digest then cannot match.
    if (bytesRead === 0) return;
    digester.update(buf.subarray(0, bytesRead));
    at += bytesRead;
  }
}
