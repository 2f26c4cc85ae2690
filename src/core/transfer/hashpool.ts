import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { cancelled, OmlmdError, throwIfAborted, toOmlmdError } from '../errors';
import { deferred } from '../util/deferred';
import type { FromWorker, ToWorker } from './hashworker';

/**
 * sha256 off the main thread. Hashing runs near 1 GB/s on one core, as fast as loopback
 * delivers bytes: done on the thread that parses HTTP and writes files it halves a
 * transfer's speed, and in VS Code it would freeze the extension host. Workers read files
 * themselves with one reused buffer (2–4× faster than createReadStream).
 *
 * Two kinds of job:
 * - follow: hash a file front to back while another party writes it, up to a limit that
 *   grows (a download advances it as its contiguous prefix grows);
 * - read: read a file once, hash all of it and hand the bytes from an offset to the main
 *   thread (transferred, not copied), paced by credits so at most a few chunks are in flight.
 */

/**
 * The worker's code is hashworker.ts. Bundled, it is dist/hashworker.js beside the bundle that
 * runs (core.js, extension.js) or in the folder above it (the CLI's split chunks in dist/cli/); from source (tests through tsx) the worker loads the
 * TypeScript file through tsx's require hook, as the importing process does.
 */
/**
 * A worker's heap holds a few small objects per job (its buffers are outside it): a small
 * young generation keeps the isolate's footprint down (a 1 GiB push peaked 4-5 MB lower with
 * it, measured), the old generation's cap only bounds a runaway. The tsx path (tests) compiles
 * TypeScript in the worker and keeps the defaults.
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 64 };
function startWorker(): Worker {
  if (!__filename.endsWith('.ts')) {
    const beside = join(__dirname, 'hashworker.js');
    return new Worker(existsSync(beside) ? beside : join(__dirname, '..', 'hashworker.js'), { resourceLimits: WORKER_LIMITS });
  }
  // A variable, so that no bundler follows it: tsx exists only where the sources run.
  const tsx = 'tsx/cjs/api';
  const boot = `require(${JSON.stringify(require.resolve(tsx))}).register(); require(${JSON.stringify(join(__dirname, 'hashworker.ts'))});`;
  return new Worker(boot, { eval: true });
}

/**
 * Bytes handed over per message on a read job. Each is a buffer the worker's allocator made
 * and the main thread frees at a garbage collection: the worker's malloc arena holds as many
 * as are alive at once, so smaller chunks hold less. 128 KiB, measured on this machine with
 * uploads through Node's http client (5 runs each, interleaved): 16 × 128 MiB peaked at
 * 91-98 MB (median 95) against 93-100 (98) with 256 KiB, in the same time; one 2 GiB file at
 * 83-89 MB either way. (Through undici, a 1 GiB push: 256 KiB 97-100 MB, 1 MiB 104-106.)
 */
const READ_CHUNK = 1 << 17;
/** Read jobs (uploads) one worker serves at once. */
const READS_PER_WORKER = 2;
/** Chunks a read job may have in flight before the consumer asks for more (one: the upload is slower than the read, and each is a MiB of peak memory). */
const READ_CREDITS = 1;
/** Downloads one worker hashes at once (HashPool.feed). */
const FEEDS_PER_WORKER = 4;
/** Chunks the stream holds before the worker waits for its consumer. */
const READ_BUFFERED = 1;

interface JobHandler {
  onMessage(m: FromWorker): void;
  onCrash(e: Error): void;
}

class PoolWorker {
  readonly worker: Worker;
  /** Jobs running on it; at most one follows a file (it owns the worker's read-ahead buffers). */
  readonly jobs = new Map<number, { handler: JobHandler; follow: boolean; feed?: boolean }>();
  constructor(onExit: (w: PoolWorker) => void) {
    this.worker = startWorker();
    this.worker.unref();
    this.worker.on('message', (m: FromWorker) => this.jobs.get(m.id)?.handler.onMessage(m));
    const crash = (e: Error): void => {
      const jobs = [...this.jobs.values()];
      this.jobs.clear();
      for (const j of jobs) j.handler.onCrash(e);
      onExit(this);
    };
    this.worker.on('error', crash);
    this.worker.on('exit', (code) => crash(new Error(`the hashing worker exited (${code})`)));
  }

  get feeds(): number {
    let n = 0;
    for (const j of this.jobs.values()) if (j.feed) n++;
    return n;
  }

  get follows(): boolean {
    for (const j of this.jobs.values()) if (j.follow) return true;
    return false;
  }
}

/** A hash of bytes handed over in order (HashPool.feed). */
export interface FeedHash {
  /** Hashes `view` (of a SharedArrayBuffer) after what came before; resolves once it is read. */
  bytes(view: Buffer): Promise<void>;
  /** The digest of everything handed over. */
  end(): Promise<string>;
  cancel(): void;
}

/** A hash of a file that another party is writing front to back. */
export interface FollowHash {
  /** The first `limit` bytes are in the file and may be read. */
  advance(limit: number): void;
  readonly digest: Promise<string>;
  /** With `reencrypt`: the digest and HMAC of the file encrypted again, when `digest` settles. */
  readonly reencrypted: Promise<{ cipherDigest: string; hmac: string } | undefined>;
  cancel(): void;
}

function workerError(m: FromWorker, what: string): OmlmdError {
  if (m.code === 'SIZE_MISMATCH') return new OmlmdError('SIZE_MISMATCH', `${what}: ${m.message ?? ''}`);
  const e = Object.assign(new Error(m.message ?? 'read failed'), { code: m.code, path: m.path });
  return toOmlmdError(e, what);
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** One job's hold on a worker, which it may get later than it asked (all busy). */
class Lease {
  w?: PoolWorker;
  id = 0;
  ended = false;
  constructor(private readonly pool: HashPool) {}
  post(msg: DistributiveOmit<ToWorker, 'id'>): void {
    if (this.w && !this.ended) this.w.worker.postMessage({ ...msg, id: this.id });
  }
  /** Gives the worker back (telling it to drop the job if it still runs one). */
  end(cancel: boolean): void {
    if (this.ended) return;
    if (cancel) this.post({ op: 'cancel' });
    this.ended = true;
    if (this.w) this.pool.giveBack(this.w, this.id);
  }
}

/**
 * Worker threads for hashing, at most `max` (default: one per core, up to 4): more would
 * only share the same cores and cost memory (each is a V8 isolate). Jobs beyond that wait
 * for a worker; a download goes on meanwhile and its hash catches up from the file. A worker
 * keeps the process alive only while it has a job. Close the pool when the transfer ends.
 */
export class HashPool {
  private readonly idle: PoolWorker[] = [];
  private readonly all = new Set<PoolWorker>();
  private readonly waiting: ((w: PoolWorker) => void)[] = [];
  private nextId = 1;
  private closed = false;
  private readonly max: number;

  constructor(max = 4) {
    this.max = Math.max(1, Math.min(max, availableParallelism()));
  }

  /** How many workers run at once (extra ones only for reads that cannot wait). */
  get size(): number {
    return this.max;
  }

  /** Workers started and not yet ended. */
  get workers(): number {
    return this.all.size;
  }

  /**
   * Starts a job as soon as a worker is free: `start` posts its first message. A follow job
   * needs a worker of its own and may wait for one; a read job feeds an upload already open,
   * so it never waits: it shares a worker that runs only reads (one core hashes faster than
   * a registry takes bytes in), or gets a new one.
   */
  private lease(handler: JobHandler, start: (lease: Lease) => void, kind: 'follow' | 'read' | 'feed'): Lease {
    if (this.closed) throw new OmlmdError('CANCELLED', 'the transfer is over');
    const lease = new Lease(this);
    const run = (w: PoolWorker): void => {
      if (lease.ended || this.closed) {
        if (w.jobs.size === 0) this.park(w);
        return;
      }
      lease.w = w;
      lease.id = this.nextId++;
      w.jobs.set(lease.id, { handler, follow: kind === 'follow', feed: kind === 'feed' });
      w.worker.ref();
      start(lease);
    };
    let w: PoolWorker | undefined;
    if (kind === 'feed') {
      // Bytes are waiting in memory: never wait for a worker. One core hashes faster than
      // several downloads arrive (1.7 GB/s here), so feeds share a worker that already hashes
      // feeds (each more is a V8 isolate, about 8 MB); else an idle one, else a new one.
      w = [...this.all].find((x) => x.feeds > 0 && x.feeds < FEEDS_PER_WORKER) ?? this.idle.pop() ?? (this.all.size < this.max ? this.spawn() : [...this.all].sort((a, b) => a.jobs.size - b.jobs.size)[0]) ?? this.spawn();
    } else if (kind === 'read') {
      w = [...this.all].find((x) => x.jobs.size > 0 && x.jobs.size < READS_PER_WORKER && !x.follows) ?? this.idle.pop() ?? this.spawn();
    } else {
      w = this.idle.pop() ?? (this.all.size < this.max ? this.spawn() : undefined);
    }
    if (w) run(w);
    else this.waiting.push(run);
    return lease;
  }

  private spawn(): PoolWorker {
    const w = new PoolWorker((dead) => {
      this.all.delete(dead);
      const i = this.idle.indexOf(dead);
      if (i >= 0) this.idle.splice(i, 1);
      // A job still waiting gets a new worker in place of the dead one.
      const next = this.waiting.shift();
      if (next && !this.closed) next(this.spawn());
    });
    this.all.add(w);
    return w;
  }

  private park(w: PoolWorker): void {
    w.worker.unref();
    if (this.closed || !this.all.has(w)) return;
    const next = this.waiting.shift();
    if (next) next(w);
    else if (this.all.size > this.max) {
      // One of the extra workers an upload needed: not kept.
      this.all.delete(w);
      void w.worker.terminate();
    } else this.idle.push(w);
  }

  /** @internal */
  giveBack(w: PoolWorker, id: number): void {
    if (w.jobs.delete(id) && w.jobs.size === 0) this.park(w);
  }

  /**
   * Follows a file being written: the digest settles once `size` bytes are hashed. `direct`
   * (the O_DIRECT flag) reads aligned spans around the page cache, for a file written so.
   */
  follow(path: string, size: number, what = path, direct?: number, reencrypt?: { key: string; nonce: string }): FollowHash {
    const result = deferred<string>();
    const again = deferred<{ cipherDigest: string; hmac: string } | undefined>();
    void result.promise.catch((e: unknown) => again.reject(e));
    let limit = 0;
    const lease = this.lease(
      {
        onMessage: (m) => {
          lease.end(false);
          if (m.type === 'done' && m.digest) {
            again.resolve(m.cipherDigest && m.hmac ? { cipherDigest: m.cipherDigest, hmac: m.hmac } : undefined);
            result.resolve(m.digest);
          } else result.reject(workerError(m, what));
        },
        onCrash: (e) => {
          lease.ended = true;
          result.reject(toOmlmdError(e, what));
        },
      },
      (l) => l.post({ op: 'start', mode: 'follow', path, end: size, limit, direct, ...(reencrypt ? { reencrypt } : {}) }),
      'follow',
    );
    return {
      advance: (next) => {
        if (next <= limit) return;
        limit = next;
        lease.post({ op: 'advance', limit });
      },
      digest: result.promise,
      reencrypted: again.promise,
      cancel: () => {
        if (lease.ended) return;
        lease.end(true);
        result.reject(cancelled());
      },
    };
  }

  /**
   * Hashes bytes the caller hands over in order, off the main thread: each a view of shared
   * memory (a SharedArrayBuffer: nothing is copied), which the caller must not change until
   * its promise resolves. A download's aligned segments come this way (stream.ts).
   */
  feed(what: string): FeedHash {
    const result = deferred<string>();
    const waiting = new Map<number, () => void>();
    let seq = 0;
    let failed: unknown;
    const fail = (e: unknown): void => {
      failed ??= e;
      result.reject(failed);
      for (const done of waiting.values()) done();
      waiting.clear();
    };
    const lease = this.lease(
      {
        onMessage: (m) => {
          if (m.type === 'fed') {
            const done = waiting.get(m.seq!);
            waiting.delete(m.seq!);
            done?.();
            return;
          }
          lease.end(false);
          if (m.type === 'done' && m.digest) result.resolve(m.digest);
          else fail(workerError(m, what));
        },
        onCrash: (e) => {
          lease.ended = true;
          fail(toOmlmdError(e, what));
        },
      },
      (l) => l.post({ op: 'start', mode: 'feed' }),
      'feed',
    );
    return {
      bytes: (view) => {
        if (failed) return Promise.reject(failed);
        const n = seq++;
        return new Promise<void>((resolve) => {
          waiting.set(n, resolve);
          lease.post({ op: 'bytes', memory: view.buffer as SharedArrayBuffer, offset: view.byteOffset, length: view.length, seq: n });
        });
      },
      end: () => {
        if (!failed) lease.post({ op: 'end' });
        return result.promise;
      },
      cancel: () => {
        if (lease.ended) return;
        lease.end(true);
        fail(cancelled());
      },
    };
  }

  /** The digest of a whole file, read off the main thread. */
  async hashFile(path: string, size: number, signal?: AbortSignal, what = path): Promise<string> {
    throwIfAborted(signal);
    const h = this.follow(path, size, what);
    const onAbort = (): void => h.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      h.advance(size);
      return await h.digest;
    } catch (e) {
      if (signal?.aborted) throw cancelled(signal);
      throw e;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Reads a file of `size` bytes once: all of it is hashed, the bytes from `from` on come out
   * of the stream. The digest settles after the last byte, and fails if the file turns out
   * shorter or longer than `size`.
   */
  read(path: string, size: number, from = 0, what = path, encrypt?: { key: string; nonce: string }): { stream: Readable; digest: Promise<string>; encrypted: Promise<{ plainDigest: string; hmac: string } | undefined> } {
    const result = deferred<string>();
    const extra = deferred<{ plainDigest: string; hmac: string } | undefined>();
    void result.promise.catch((e: unknown) => extra.reject(e));
    let owed = 0;
    // One chunk per read(): in byte mode a consumer's read() would concatenate what is buffered.
    const stream = new Readable({
      objectMode: true,
      highWaterMark: READ_BUFFERED,
      read: () => {
        if (owed > 0) {
          lease.post({ op: 'credit', n: owed });
          owed = 0;
        }
      },
      destroy: (err, cb) => {
        if (!lease.ended) {
          lease.end(true);
          result.reject(err ?? cancelled());
        }
        cb(err);
      },
    });
    const lease = this.lease(
      {
        onMessage: (m) => {
          if (m.type === 'chunk' && m.buf) {
            if (stream.push(Buffer.from(m.buf))) lease.post({ op: 'credit', n: 1 });
            else owed++;
            return;
          }
          lease.end(false);
          if (m.type === 'done' && m.digest) {
            extra.resolve(m.plainDigest && m.hmac ? { plainDigest: m.plainDigest, hmac: m.hmac } : undefined);
            result.resolve(m.digest);
            stream.push(null);
          } else {
            const e = workerError(m, what);
            result.reject(e);
            stream.destroy(e);
          }
        },
        onCrash: (e) => {
          lease.ended = true;
          const err = toOmlmdError(e, what);
          result.reject(err);
          stream.destroy(err);
        },
      },
      (l) => l.post({ op: 'start', mode: 'read', path, end: size, from, chunk: READ_CHUNK, credits: READ_CREDITS, ...(encrypt ? { encrypt } : {}) }),
      'read',
    );
    return { stream, digest: result.promise, encrypted: extra.promise };
  }

  async close(): Promise<void> {
    this.closed = true;
    const workers = [...this.all];
    this.all.clear();
    this.idle.length = 0;
    this.waiting.length = 0;
    await Promise.all(workers.map((w) => w.worker.terminate().catch(() => undefined)));
  }
}
