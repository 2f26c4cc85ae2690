/**
 * Reading blobs: HEAD for presence and size, GET (with Range) for the bytes, and a stream
 * that survives a broken connection by asking for the rest with Range.
 */
import { Readable } from 'node:stream';
import { OmlmdError } from '../../errors';
import { assertDigest } from '../digest';
import { discard, headerValue, networkError, redactUrl } from '../http';
import { copyToTarget, type BodyTarget } from '../socketget';
import type { RetryBudget } from '../retry';
import type { CallOptions, OpenBlobOptions } from '../store';
import type { Descriptor } from '../types';
import { contentLength, type RepoContext } from './common';

/** The blob's size when the repository has it; `budget` when the check is a step of a larger operation. */
export async function statBlob(repo: RepoContext, digest: string, opts: CallOptions & { budget?: RetryBudget } = {}): Promise<number | undefined> {
  assertDigest(digest, 'blob digest');
  const operation = repo.op('stat-blob', digest);
  const res = await repo.http.request(
    { method: 'HEAD', url: repo.url(`blobs/${digest}`), scope: repo.pull, signal: opts.signal, allow: [404], budget: opts.budget },
    repo.ctx(operation),
  );
  await discard(res.body);
  if (res.status === 404) return undefined;
  const size = contentLength(res);
  if (size === undefined) throw new OmlmdError('HTTP', 'the registry sent no Content-Length', { status: res.status, url: redactUrl(res.url), operation });
  return size;
}

/** The range [offset, end) that `opts` asks of `desc`, checked. */
function blobRange(desc: Descriptor, opts: OpenBlobOptions): { digest: string; offset: number; end: number } {
  const digest = assertDigest(desc.digest, 'blob digest');
  const offset = opts.offset ?? 0;
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > desc.size) {
    throw new OmlmdError('USAGE', `cannot read blob ${digest} from offset ${offset}: it is ${desc.size} bytes`);
  }
  const length = opts.length ?? desc.size - offset;
  if (!Number.isSafeInteger(length) || length < 0 || offset + length > desc.size) {
    throw new OmlmdError('USAGE', `cannot read ${length} bytes of blob ${digest} from offset ${offset}: it is ${desc.size} bytes`);
  }
  return { digest, offset, end: offset + length };
}

/** `length` bytes of a blob (default: all) from `offset` (default 0), resumed with Range when the connection breaks. */
export async function openBlob(repo: RepoContext, desc: Descriptor, opts: OpenBlobOptions = {}): Promise<Readable> {
  const { digest, offset, end } = blobRange(desc, opts);
  // An empty range is unsatisfiable (416): nothing is left to read anyway.
  if (offset > 0 && end === offset) return Readable.from([]);
  const budget = repo.http.budget(repo.op('fetch-blob', digest));
  const first = await openBlobAt(repo, desc, offset, end, budget, opts.signal);
  return resumable(repo, first, desc, offset, end, budget, opts.signal);
}

interface Body {
  body: Readable;
  /** The body read into buffers of the caller's (a `direct` request's, HttpResponse.into). */
  into?: (target: BodyTarget, limit: number) => Promise<void>;
  /** The body really covers [start, until): the whole blob when the server ignored Range. */
  start: number;
  until: number;
}

/** A GET of bytes [offset, end). */
async function openBlobAt(repo: RepoContext, desc: Descriptor, offset: number, end: number, budget: RetryBudget, signal?: AbortSignal, direct?: boolean): Promise<Body> {
  const operation = budget.operation;
  const headers: Record<string, string> = {};
  const ranged = offset > 0 || end < desc.size;
  if (ranged) headers.range = end < desc.size ? `bytes=${offset}-${end - 1}` : `bytes=${offset}-`;
  const res = await repo.http.request(
    { method: 'GET', url: repo.url(`blobs/${desc.digest}`), headers, scope: repo.pull, signal, budget, direct },
    repo.ctx(operation, { code: 'BLOB_UNKNOWN', problem: `blob ${desc.digest} not found` }),
  );
  if (res.status === 206) {
    const start = /^bytes\s+(\d+)-/.exec(headerValue(res.headers, 'content-range') ?? '')?.[1];
    if (start === undefined || Number(start) !== offset) {
      res.body.destroy();
      throw new OmlmdError('HTTP', `asked for bytes from ${offset}, the server sent a different range`, { status: 206, url: redactUrl(res.url), operation });
    }
    if (ranged) repo.http.rangeHonoured = true;
    return { body: res.body, into: res.into, start: offset, until: end };
  }
  if (ranged) repo.http.rangeHonoured = false;
  return { body: res.body, into: res.into, start: 0, until: desc.size };
}

/**
 * Bytes [offset, end) of a blob read into `target`'s buffers, resumed with Range from the
 * first byte not yet delivered when the connection breaks (as openBlob's stream is). Where
 * the transport allows, the kernel reads the body straight into them (socketget.ts); else
 * the body's chunks are copied in. A server that ignores Range sends more than was asked:
 * what lies before the range is read into a scratch buffer and dropped. Resolves once the
 * body ended: the caller checks that all of the range came. A failure of the target's is
 * the error as it is (never retried); the bytes are not verified here.
 */
export async function readBlobInto(repo: RepoContext, desc: Descriptor, opts: OpenBlobOptions & { onOpened?: () => void }, target: BodyTarget): Promise<void> {
  const { digest, offset, end } = blobRange(desc, opts);
  if (end === offset) return;
  const budget = repo.http.budget(repo.op('fetch-blob', digest));
  const url = repo.url(`blobs/${digest}`);
  let delivered = offset;
  let targetFailed: { e: unknown } | undefined;
  let scratch: Buffer | undefined;
  const signal = opts.signal;
  for (let opened = false; ; ) {
    let body: Body | undefined;
    try {
      body = await openBlobAt(repo, desc, delivered, end, budget, signal, true);
      if (!opened) {
        opened = true;
        opts.onOpened?.();
      }
      let skip = delivered - body.start;
      const t: BodyTarget = {
        buffer: () => (skip > 0 ? (scratch ??= Buffer.allocUnsafe(64 * 1024)).subarray(0, Math.min(skip, 64 * 1024)) : target.buffer()),
        got: (n) => {
          if (skip > 0) {
            skip -= n;
            return undefined;
          }
          delivered += n;
          try {
            return target.got(n)?.catch((e: unknown) => {
              targetFailed ??= { e };
              throw e;
            });
          } catch (e) {
            targetFailed ??= { e };
            throw e;
          }
        },
      };
      if (body.into) await body.into(t, end - body.start);
      else await copyInto(body.body, t, end - body.start);
      return;
    } catch (e) {
      body?.body.destroy();
      if (targetFailed) throw targetFailed.e;
      const err = networkError(e, budget.operation, url, signal);
      // A broken body is worth resuming; a retry that makes progress does not use up the budget.
      if (delivered > offset) budget.renew();
      if (delivered >= end || !(await budget.retry(err, signal))) throw err;
    }
  }
}

/**
 * A body stream's chunks copied into a target, `limit` bytes at most (a transport whose
 * bodies cannot be read into buffers: HTTPS, a proxy, a dispatcher from outside). Chunks as
 * they arrive ('data' events): iterating would concatenate what the stream buffered.
 */
function copyInto(body: Readable, target: BodyTarget, limit: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let left = limit;
    let last: Promise<void> | undefined;
    let ended = false;
    const finish = (): void => {
      ended = true;
      void (last ?? Promise.resolve()).then(resolve, reject);
    };
    body.on('data', (chunk: Buffer) => {
      if (ended) return;
      const { taken, wait } = copyToTarget(target, chunk, left);
      left -= taken;
      if (wait) last = wait;
      // Cut short only a body that would go on (Range ignored): the rest is not wanted.
      if (left === 0) {
        finish();
        body.destroy();
      } else if (wait) {
        body.pause();
        wait.then(
          () => body.resume(),
          (e: unknown) => {
            ended = true;
            body.destroy();
            reject(e);
          },
        );
      }
    });
    body.once('end', () => !ended && finish());
    // Once ended, the error a destroyed body emits (undici's "Request aborted") is ours.
    body.once('error', (e) => !ended && reject(e));
    // Closed with neither an end nor an error: a connection that went away, worth resuming.
    body.once('close', () => !ended && reject(Object.assign(new Error('the connection closed before the body ended'), { code: 'ECONNRESET' })));
  });
}

/**
 * Bytes [offset, end) of the blob as one stream that survives a broken connection: when the
 * body breaks off, the rest is asked for again with Range from the first byte not yet
 * delivered. A server that ignores Range sends more than was asked: what lies outside the
 * range is dropped here. The consumer verifies the digest of the whole, as always.
 */
function resumable(repo: RepoContext, first: Body, desc: Descriptor, offset: number, end: number, budget: RetryBudget, signal?: AbortSignal): Readable {
  const url = repo.url(`blobs/${desc.digest}`);
  let current = first;
  // Chunks go on as they come ('data' and push, paced by pause/resume): iterating a Readable
  // would concatenate what it buffered, a copy of every byte at multi-GB scale.
  const out = new Readable({
    highWaterMark: 256 * 1024,
    read: () => current.body.resume(),
    destroy: (err, cb) => {
      current.body.destroy();
      cb(err);
    },
  });
  let delivered = offset;
  /** Feeds one response body into `out`; resolves when it ends (or was cut at `end`). */
  const drain = (body: Body): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      let position = body.start;
      body.body.on('data', (chunk: Buffer) => {
        const chunkStart = position;
        position += chunk.length;
        if (position <= delivered || out.destroyed) return;
        const piece = chunkStart >= delivered && position <= end ? chunk : chunk.subarray(Math.max(0, delivered - chunkStart), Math.min(chunk.length, end - chunkStart));
        delivered += piece.length;
        if (piece.length > 0 && !out.push(piece)) body.body.pause();
        // Cut short only a body that would go on (Range ignored): ending one early costs its connection.
        if (delivered >= end && body.until > position) {
          body.body.destroy();
          resolve();
        }
      });
      body.body.once('end', resolve);
      body.body.once('error', reject);
      // Closed with neither an end nor an error: a connection that went away, worth resuming.
      body.body.once('close', () => (out.destroyed ? resolve() : reject(Object.assign(new Error('the connection closed before the body ended'), { code: 'ECONNRESET' }))));
    });
  const pump = async (): Promise<void> => {
    for (;;) {
      try {
        await drain(current);
        if (!out.destroyed) out.push(null);
        return;
      } catch (e) {
        if (out.destroyed) return;
        const err = networkError(e, budget.operation, url, signal);
        // A broken body is worth resuming; a retry that makes progress does not use up the budget.
        if (delivered > offset) budget.renew();
        if (delivered >= end || !(await budget.retry(err, signal))) throw err;
        offset = delivered;
        current = await openBlobAt(repo, desc, delivered, end, budget, signal);
        if (out.destroyed) current.body.destroy();
      }
    }
  };
  pump().catch((e: unknown) => out.destroy(e instanceof Error ? e : new Error(String(e))));
  return out;
}
