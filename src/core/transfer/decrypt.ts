import type { OpenedLayer } from '../crypt';
import { cancelled, throwIfAborted } from '../errors';
import { Digester } from '../oci/digest';
import { DIRECT_MIN_SIZE, openDirectForWrite } from './directio';
import type { DownloadStrategy } from './download';
import type { FollowHash } from './hashpool';
import { BufferedSink, DirectSink, fetchPart, type PartSink } from './parts';

/** How far the plaintext prefix grows before the hashing worker is told (as parallel.ts). */
const ADVANCE_STEP = 16 * 1024 * 1024;
/** Bytes read per turn when a resumed download's prefix is encrypted again. */
const PREFIX_READ = 1024 * 1024;

/**
 * The download of an encrypted layer, decrypted as it arrives: one GET, each chunk of
 * ciphertext deciphered on this thread and the plaintext written (around the page cache for
 * large files, as parallel.ts does), while a worker of the hashing pool follows the file,
 * hashes the plaintext and encrypts it again (AES-CTR: the same keystream) to hash the
 * ciphertext and compute its HMAC, off the main thread. One pass over the file, as a plain
 * pull: decrypting a downloaded ciphertext in place read and wrote every byte a second time
 * (twice the disk traffic; 1.4-2.2× a plain pull, measured). Small files are hashed, MACed
 * and deciphered here. Resumable: what an interrupted run wrote is plaintext, which the
 * worker (or, for a small file, this thread) encrypts again.
 *
 * The strategy returns the ciphertext's digest, which the download compares with the
 * descriptor's as for any blob; `verify()` (before the file takes its name) then fails with
 * DECRYPTION_FAILED unless the HMAC and the plaintext digest are what the layer says.
 */
export function decryptingDownload(layer: OpenedLayer): { strategy: DownloadStrategy; verify(): void } {
  let outcome: { check: () => void } | undefined;
  const strategy: DownloadStrategy = {
    name: 'decrypt',
    fillsGaps: false,
    async fetch(job, ctx) {
      outcome = undefined;
      const size = job.desc.size;
      const large = size >= DIRECT_MIN_SIZE;
      const direct = large ? await openDirectForWrite(job.dataPath, ctx.direct) : undefined;
      // Large files: this thread only deciphers; a worker hashes the plaintext and encrypts it
      // again for the ciphertext's digest and HMAC. Small ones: everything here.
      const d = layer.stream(!large, !large);
      const follower: FollowHash | undefined = large ? ctx.pool.follow(job.dataPath, size, job.what, direct ? ctx.direct : undefined, d.keyMaterial()) : undefined;
      const digester = large ? undefined : new Digester();
      try {
        const from = job.held.prefix();
        if (!large) {
          for (let at = 0; at < from; ) {
            throwIfAborted(job.signal);
            const buf = Buffer.allocUnsafe(Math.min(PREFIX_READ, from - at));
            const { bytesRead } = await job.file.read(buf, 0, buf.length, at);
            if (bytesRead === 0) return undefined;
            digester!.update(d.updatePlain(buf.subarray(0, bytesRead)));
            at += bytesRead;
          }
        } else {
          // The worker reads the prefix an earlier run wrote, as the rest: the keystream goes on.
          d.advanceKeystream(from);
        }
        let told = from;
        follower?.advance(told);
        const written = (at: number, n: number): void => {
          job.written(at, n);
          const prefix = job.held.prefix();
          if (prefix - told >= ADVANCE_STEP || prefix === size) {
            told = prefix;
            follower?.advance(prefix);
          }
        };
        if (from < size) {
          const inner: PartSink = direct ? new DirectSink(job.file, direct, ctx.segments, from, written) : new BufferedSink(job.file, from, written);
          const sink: PartSink = {
            get received() {
              return inner.received;
            },
            write(chunk) {
              digester?.update(chunk);
              return inner.write(d.update(chunk));
            },
            finish: () => inner.finish(),
            settle: () => inner.settle(),
          };
          try {
            await fetchPart(job, ctx, [from, size], sink, job.signal);
          } catch (e) {
            if (job.signal?.aborted) throw cancelled(job.signal);
            throw e;
          }
        }
        throwIfAborted(job.signal);
        if (job.held.prefix() !== size) return undefined;
        await direct?.close();
        if (!follower) {
          outcome = { check: () => d.finish() };
          return digester!.digest();
        }
        const plainDigest = await follower.digest;
        const again = (await follower.reencrypted)!;
        outcome = {
          check: () => {
            d.checkHmac(Buffer.from(again.hmac, 'base64'));
            layer.checkDigest(plainDigest);
          },
        };
        return again.cipherDigest;
      } finally {
        follower?.cancel();
        await direct?.close().catch(() => undefined);
      }
    },
  };
  return {
    strategy,
    verify() {
      if (!outcome) throw new Error('the layer was not downloaded');
      outcome.check();
    },
  };
}
