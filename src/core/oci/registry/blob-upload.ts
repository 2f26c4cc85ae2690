/**
 * Sending blobs: cross-repository mount, monolithic upload (POST, PUT ?digest=) for small
 * blobs of known digest, chunked upload (POST, PATCH…, PUT ?digest=) for the rest, resumed
 * after a broken chunk from the offset the registry holds and across runs from a saved
 * session. One retry budget per putBlob: every step (HEAD, POST, PATCH, the status GET,
 * the commit PUT, a fresh start) draws from it, so a failure is retried at most
 * `policy.retries` times in all.
 */
import { Readable, Transform, pipeline } from 'node:stream';
import { OmlmdError, throwIfAborted, toOmlmdError, type Operation } from '../../errors';
import { assertDigest, Digester } from '../digest';
import { discard, headerValue, redactUrl, type HttpResponse, type RequestContext } from '../http';
import { isValidRepository } from '../reference';
import { isRetryable, type RetryBudget } from '../retry';
import type { BlobInput, BlobRef, CallOptions, PutBlobOptions, UploadSessionStore } from '../store';
import { LentBody, splitLent, type LentChunk, type LentSource } from '../lent';
import type { Descriptor } from '../types';
import { statBlob } from './blob-read';
import { checkCommitted, location, type RepoContext } from './common';

/**
 * Progress over attempts: when bytes are sent again (after a 401, a resume, a restart), only
 * bytes beyond what was already reported count, so the total never exceeds the blob's size.
 */
export class Progress {
  private reported = 0;
  count = 0;
  constructor(private readonly onBytes?: (n: number) => void) {}
  restart(at = 0): void {
    this.count = at;
  }
  /** Bytes an earlier run sent: counted as done, never reported as sent now. */
  resumedAt(at: number): void {
    this.count = at;
    this.reported = Math.max(this.reported, at);
  }
  add(n: number): void {
    this.count += n;
    if (this.count > this.reported) {
      const delta = this.count - this.reported;
      this.reported = this.count;
      this.onBytes?.(delta);
    }
  }
}

/** One blob upload in progress: what every step of putBlob needs. */
interface Upload {
  repo: RepoContext;
  input: BlobInput;
  size: number;
  known?: string;
  operation: Operation;
  ctx: RequestContext;
  budget: RetryBudget;
  progress: Progress;
  signal?: AbortSignal;
  session?: UploadSessionStore;
  onResumed?: (n: number) => void;
}

/** The registry refused the first PATCH: chunked uploads are not for it. */
class ChunkedRefused extends Error {}

/** The registry lost the session after a failure already retried (its attempt taken): begin a new upload. */
class StartOver extends Error {
  constructor(readonly failure: unknown) {
    super('start the upload over');
  }
}

function isChunkRefusal(e: unknown): boolean {
  return e instanceof OmlmdError && e.status !== undefined && (e.status === 405 || e.status === 501 || e.status === 400 || e.code === 'UNSUPPORTED');
}

/**
 * The number of bytes an upload's `Range: 0-LAST` header says the registry holds. LAST is
 * inclusive, so `0-0` reads as 1 (distribution also says it for nothing at all).
 */
function rangeEnd(header: string | undefined): number | undefined {
  const m = /^(?:bytes=)?0-(\d+)$/.exec(header?.trim() ?? '');
  return m ? Number(m[1]) + 1 : undefined;
}

/**
 * The source of a chunked upload, read once front to back and cut into chunks, hashed as it
 * goes. After a broken chunk it is opened again and read (hashed, not sent) up to the offset
 * the registry holds, so a source that can only be streamed from the start still resumes. A
 * source that hashes itself (`openHashing`) does both off the main thread.
 */
export class SourceReader {
  private stream?: Readable;
  private iterator?: AsyncIterator<unknown>;
  private leftover?: Buffer;
  /** Lent mode (input.openLent, a transport that writes lent chunks): the source and a chunk cut at a request's end. */
  private lent?: LentSource;
  private lentLeft?: LentChunk;
  private digester = new Digester();
  private hashed?: Promise<string>;
  /** Bumped by every reopen, so that a chunk stream of an abandoned request reads nothing more. */
  private generation = 0;

  constructor(
    private readonly input: BlobInput,
    private readonly operation: Operation,
    private readonly progress: Progress,
    /** Whether the transport writes lent chunks as they are (RegistryHttp.lendsBodies). */
    private readonly lends = false,
  ) {}

  async openAt(offset: number): Promise<void> {
    this.close();
    const generation = ++this.generation;
    let src: Readable;
    this.hashed = undefined;
    if (this.lends && this.input.openLent) {
      // The source skips (hashing) the first `offset` bytes itself.
      try {
        const opened = this.input.openLent(offset);
        this.lent = opened.source;
        this.hashed = opened.digest;
      } catch (e) {
        throw sourceError(e, this.operation, 'open');
      }
      this.progress.restart(offset);
      return;
    }
    try {
      if (this.input.openHashing) {
        const opened = await this.input.openHashing(offset);
        src = opened.stream;
        this.hashed = opened.digest;
      } else src = await this.input.open();
    } catch (e) {
      throw sourceError(e, this.operation, 'open');
    }
    this.stream = src;
    this.iterator = (src as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    this.leftover = undefined;
    this.digester = new Digester();
    // The source skipped and hashed the first `offset` bytes itself.
    let skipped = this.hashed ? offset : 0;
    while (skipped < offset) {
      const b = await this.read(offset - skipped, generation);
      if (!b) throw new OmlmdError('SIZE_MISMATCH', `the source ended after ${skipped} bytes`, { operation: this.operation });
      skipped += b.length;
    }
    this.progress.restart(offset);
  }

  /** Up to `max` bytes, hashed; undefined at the end of the source or once reopened. */
  private async read(max: number, generation: number): Promise<Buffer | undefined> {
    let b = this.leftover;
    this.leftover = undefined;
    if (!b) {
      const it = this.iterator;
      if (!it) return undefined;
      let r: IteratorResult<unknown>;
      try {
        r = await it.next();
      } catch (e) {
        if (generation !== this.generation) return undefined;
        throw sourceError(e, this.operation, 'read');
      }
      if (generation !== this.generation || r.done) return undefined;
      b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
    }
    if (b.length > max) {
      this.leftover = b.subarray(max);
      b = b.subarray(0, max);
    }
    if (!this.hashed) this.digester.update(b);
    return b;
  }

  /** Up to `max` lent bytes; undefined at the end of the source or once reopened. */
  private async readLent(max: number, generation: number): Promise<LentChunk | undefined> {
    let c = this.lentLeft;
    this.lentLeft = undefined;
    if (!c) {
      const src = this.lent;
      if (!src) return undefined;
      try {
        c = await src.next();
      } catch (e) {
        if (generation !== this.generation) return undefined;
        throw sourceError(e, this.operation, 'read');
      }
      if (generation !== this.generation) {
        c?.done();
        return undefined;
      }
      if (!c) return undefined;
    }
    if (c.buf.length > max) [c, this.lentLeft] = splitLent(c, max);
    return c;
  }

  /** The next `len` bytes as a stream (shorter if the source ends: the Content-Length check catches it). */
  take(len: number): Readable {
    const generation = this.generation;
    if (this.lent) {
      let left = len;
      const progress = this.progress;
      return new LentBody({
        next: async () => {
          if (left <= 0) return undefined;
          const c = await this.readLent(left, generation);
          if (!c) return undefined;
          left -= c.buf.length;
          progress.add(c.buf.length);
          return c;
        },
        // The reader goes on with the next request; only this body is over.
        close: () => undefined,
      });
    }
    const next = (max: number): Promise<Buffer | undefined> => this.read(max, generation);
    const progress = this.progress;
    return Readable.from(
      (async function* () {
        let left = len;
        while (left > 0) {
          const b = await next(left);
          if (!b) return;
          left -= b.length;
          progress.add(b.length);
          yield b;
        }
      })(),
      { objectMode: false },
    );
  }

  async atEnd(): Promise<boolean> {
    if (this.lent) {
      if (this.lentLeft && this.lentLeft.buf.length > 0) return false;
      const c = await this.readLent(Number.MAX_SAFE_INTEGER, this.generation);
      c?.done();
      return !c || c.buf.length === 0;
    }
    if (this.leftover && this.leftover.length > 0) return false;
    const it = this.iterator;
    if (!it) return true;
    for (;;) {
      const r = await it.next();
      if (r.done) return true;
      if ((r.value as Uint8Array).length > 0) return false;
    }
  }

  async digest(): Promise<string> {
    return this.hashed ? await this.hashed : this.digester.digest();
  }

  close(): void {
    this.stream?.destroy();
    this.stream = undefined;
    this.iterator = undefined;
    this.leftover = undefined;
    this.lentLeft?.done();
    this.lentLeft = undefined;
    this.lent?.close();
    this.lent = undefined;
  }
}

/** A source that cannot be opened or read: the local error (ENOENT, EACCES, …) under the push's operation. */
function sourceError(e: unknown, operation: Operation, what: 'open' | 'read'): OmlmdError {
  if (e instanceof OmlmdError) return e;
  const err = toOmlmdError(e, operation);
  if (err.code === 'CANCELLED') return err;
  return new OmlmdError(err.code, `cannot ${what} the source: ${err.problem}`, { cause: err.cause ?? e, operation, remedies: [...err.remedies] });
}

/**
 * Cross-repository mount (POST ?mount=&from=): the registry links a blob it holds in
 * repository `source` of the same registry. 201 is done; 202 means it opened an ordinary
 * upload instead (the blob is not there, or no pull access to `source`), which is cancelled
 * so the caller sends the blob itself.
 */
export async function mountBlob(repo: RepoContext, desc: Descriptor, source: string, opts: CallOptions = {}): Promise<boolean> {
  const digest = assertDigest(desc.digest, 'blob digest');
  if (source === repo.name || !isValidRepository(source)) return false;
  const url = repo.url('blobs/uploads/');
  url.searchParams.set('mount', digest);
  url.searchParams.set('from', source);
  const operation = repo.op('mount-blob', digest, `${repo.http.registry}/${source}`);
  let res: HttpResponse;
  try {
    res = await repo.http.request(
      { method: 'POST', url, headers: { 'content-length': '0' }, scope: repo.push, signal: opts.signal, idempotent: true, allow: [400, 401, 403, 404, 405] },
      repo.ctx(operation, undefined, true),
    );
  } catch (e) {
    if (OmlmdError.is(e, 'CANCELLED')) throw e;
    return false;
  }
  await discard(res.body);
  if (res.status === 201) {
    const got = headerValue(res.headers, 'docker-content-digest');
    return got === undefined || got === digest;
  }
  if (res.status === 202 && headerValue(res.headers, 'location')) await cancelUpload(repo, location(res, operation), operation);
  return false;
}

/** Stores a blob, verifying digest and size; a blob already present is not sent again. */
export async function putBlob(repo: RepoContext, input: BlobInput, opts: PutBlobOptions = {}): Promise<BlobRef> {
  const { signal } = opts;
  throwIfAborted(signal);
  const size = input.size;
  if (!Number.isSafeInteger(size) || size < 0) throw new OmlmdError('USAGE', `blob size must be a non-negative integer, not ${size}`);
  const known = input.digest === undefined ? undefined : assertDigest(input.digest, 'blob digest');
  const operation = repo.op('push-blob', known);
  const budget = repo.http.budget(operation);
  if (known !== undefined) {
    const have = await statBlob(repo, known, { signal, budget });
    if (have === size) return { digest: known, size };
    if (have !== undefined) {
      throw new OmlmdError('SIZE_MISMATCH', `blob ${known} in ${repo.description} is ${have} bytes, but ${size} were expected`, { operation });
    }
  }
  const ctx = repo.ctx(operation, { code: 'BLOB_UPLOAD_UNKNOWN', problem: `the registry lost the upload of ${known ? `blob ${known}` : 'a blob'}` }, true);
  const up: Upload = { repo, input, size, known, operation, ctx, budget, progress: new Progress(opts.onBytes), signal, session: opts.session, onResumed: opts.onResumed };

  for (;;) {
    try {
      // Small blobs whose digest is known go in one request; the rest in resumable chunks.
      if (repo.http.chunkedRefused || (known !== undefined && size <= repo.chunkSize)) return await putMonolithic(up);
      return await putChunked(up);
    } catch (e) {
      if (e instanceof ChunkedRefused) {
        // Google Artifact Registry and others refuse PATCH: one PUT, for this blob and the next ones.
        repo.http.chunkedRefused = true;
        continue;
      }
      // The failure that lost the session was retried already (its wait done, its attempt taken).
      if (e instanceof StartOver) continue;
      if (signal?.aborted) throw e;
      // The answer to a PUT that committed may be what got lost.
      if (known !== undefined && isRetryable(e) && (await statBlob(repo, known, { signal, budget }).catch(() => undefined)) === size) return { digest: known, size };
      if (!(await budget.retry(e, signal))) throw e;
    }
  }
}

/** Opens an upload session; opening a second one after a lost answer does no harm. */
async function startUpload(up: Upload): Promise<URL> {
  const { repo } = up;
  const res = await repo.http.request(
    { method: 'POST', url: repo.url('blobs/uploads/'), headers: { 'content-length': '0' }, scope: repo.push, signal: up.signal, idempotent: true, budget: up.budget },
    up.ctx,
  );
  await discard(res.body);
  if (res.status === 201) {
    // Already committed (a mount) is meaningless for a plain POST: do not trust it.
    throw new OmlmdError('HTTP', 'the registry answered 201 to an upload without a digest', { status: 201, url: redactUrl(res.url), operation: up.operation });
  }
  return location(res, up.operation);
}

/** POST, then one PUT with the whole blob and its digest (hashed first when unknown). */
async function putMonolithic(up: Upload): Promise<BlobRef> {
  const { repo } = up;
  const digest = up.known ?? (await hashSource(up));
  const at = await startUpload(up);
  try {
    const url = new URL(at);
    url.searchParams.append('digest', digest);
    const res = await repo.http.request(
      {
        method: 'PUT',
        url,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(up.size) },
        body: () => openSource(up.input, up.progress, undefined, up.operation),
        scope: repo.push,
        signal: up.signal,
        budget: up.budget,
      },
      up.ctx,
    );
    await discard(res.body);
    checkCommitted(res, digest, up.operation);
    if (up.progress.count !== up.size) {
      throw new OmlmdError('SIZE_MISMATCH', `the source gave ${up.progress.count} bytes, not ${up.size}`, { operation: up.operation });
    }
    return { digest, size: up.size };
  } catch (e) {
    if (!up.signal?.aborted) await cancelUpload(repo, at, up.operation);
    throw e;
  }
}

async function hashSource(up: Upload): Promise<string> {
  const digester = new Digester();
  const src = await openSource(up.input, new Progress(), digester, up.operation);
  try {
    for await (const chunk of src as AsyncIterable<Buffer>) void chunk;
  } catch (e) {
    throw sourceError(e, up.operation, 'read');
  }
  if (digester.size !== up.size) throw new OmlmdError('SIZE_MISMATCH', `the source gave ${digester.size} bytes, not ${up.size}`, { operation: up.operation });
  return digester.digest();
}

/**
 * POST, PATCH chunks of at most chunkSize bytes, then PUT ?digest=. After a broken chunk the
 * registry is asked how much it holds (GET on the upload's Location → Range) and the upload
 * goes on from there; a registry that lost the session (distribution, whose `_state` no
 * longer matches after a broken PATCH) makes the caller start over.
 */
async function putChunked(up: Upload): Promise<BlobRef> {
  const { repo } = up;
  const resumed = await resumeSession(up);
  let at = resumed?.location ?? (await startUpload(up));
  const reader = new SourceReader(up.input, up.operation, up.progress, up.input.openLent !== undefined && (await repo.http.lendsBodies(at)));
  let committed = false;
  let failure: unknown;
  try {
    let offset = resumed?.offset ?? 0;
    if (offset > 0) {
      up.progress.resumedAt(offset);
      up.onResumed?.(offset);
    }
    await reader.openAt(offset);
    let sentAny = offset > 0;
    while (offset < up.size || !sentAny) {
      const start = offset;
      const len = Math.min(repo.chunkSize, up.size - start);
      let opened = false;
      try {
        const res = await repo.http.request(
          {
            method: 'PATCH',
            url: at,
            headers: {
              'content-type': 'application/octet-stream',
              'content-length': String(len),
              ...(len > 0 ? { 'content-range': `${start}-${start + len - 1}` } : {}),
            },
            body: async () => {
              // Sent again after a 401: the registry took none of it, so read it anew from `start`.
              if (opened) await reader.openAt(start);
              opened = true;
              return reader.take(len);
            },
            scope: repo.push,
            signal: up.signal,
            budget: up.budget,
          },
          up.ctx,
        );
        await discard(res.body);
        // ECR answers 201 here; the upload is still open and needs its PUT.
        if (headerValue(res.headers, 'location')) at = location(res, up.operation);
        sentAny = true;
        const held = rangeEnd(headerValue(res.headers, 'range'));
        offset = start + len;
        if (held !== undefined && held !== offset && !(held === 1 && offset === 0)) {
          if (held > offset) throw new OmlmdError('SIZE_MISMATCH', `the registry says it holds ${held} bytes after ${offset} were sent`, { operation: up.operation });
          // It kept less than was sent: go on from what it has, once per attempt the budget allows.
          if (!up.budget.take()) throw new OmlmdError('HTTP', 'the registry keeps fewer bytes than it is sent', { url: redactUrl(at), operation: up.operation });
          offset = held;
          await reader.openAt(offset);
        }
        // The newest Location (distribution's `_state` changes with every PATCH) and what it holds: a later run goes on from here.
        if (offset < up.size) await up.session?.save({ location: at.href, offset });
      } catch (e) {
        if (!sentAny && start === 0 && isChunkRefusal(e)) throw new ChunkedRefused();
        if (up.signal?.aborted || !isRetryable(e)) throw e;
        if (!(await up.budget.retry(e, up.signal))) throw e;
        const status = await uploadStatus(at, up);
        // The session is gone: start over, this failure's attempt already taken.
        if (status === undefined) throw new StartOver(e);
        at = status.location;
        offset = status.offset;
        sentAny = offset > 0;
        await reader.openAt(offset);
      }
    }
    if (!(await reader.atEnd())) throw new OmlmdError('SIZE_MISMATCH', `the source gave more than ${up.size} bytes`, { operation: up.operation });
    const digest = await reader.digest();
    if (up.known !== undefined && digest !== up.known) {
      throw new OmlmdError('DIGEST_MISMATCH', `the source's bytes hash to ${digest}`, { operation: up.operation });
    }
    await commit(at, digest, up);
    committed = true;
    await up.session?.clear();
    return { digest, size: up.size };
  } catch (e) {
    failure = e instanceof StartOver ? e.failure : e;
    throw e;
  } finally {
    reader.close();
    // A cancelled upload, or one a network failure broke, stays open for the next run when
    // its session is kept; anything else is deleted rather than left to linger.
    const keep = up.signal?.aborted || (up.session !== undefined && isRetryable(failure));
    if (!committed && !keep) {
      await cancelUpload(repo, at, up.operation);
      await up.session?.clear();
    }
  }
}

/**
 * The session an earlier, interrupted run left open for this blob, if the registry still
 * has it: its newest Location and the offset the registry reports (it may hold less than
 * was saved, never trust the saved offset alone).
 */
async function resumeSession(up: Upload): Promise<{ location: URL; offset: number } | undefined> {
  const saved = await up.session?.load().catch(() => undefined);
  if (!saved) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(saved.location);
  } catch {
    url = undefined;
  }
  // Only to the registry itself: a session file is not trusted to send bytes elsewhere.
  const status = url && url.origin === up.repo.http.base.origin ? await uploadStatus(url, up) : undefined;
  if (!status || status.offset > up.size) {
    await up.session?.clear();
    return undefined;
  }
  return status;
}

/** Where a broken upload stands: the registry's byte count and newest Location, or undefined when it lost the session. */
async function uploadStatus(at: URL, up: Upload): Promise<{ offset: number; location: URL } | undefined> {
  let res: HttpResponse;
  try {
    res = await up.repo.http.request({ method: 'GET', url: at, scope: up.repo.push, signal: up.signal, allow: [400, 404], budget: up.budget }, up.repo.ctx(up.operation));
  } catch (e) {
    if (OmlmdError.is(e, 'CANCELLED')) throw e;
    return undefined;
  }
  await discard(res.body);
  if (res.status !== 204 && res.status !== 200) return undefined;
  const held = rangeEnd(headerValue(res.headers, 'range'));
  // `0-0` is both "nothing" and "one byte" in distribution's answer: start over to be sure.
  if (held === undefined || held === 1) return undefined;
  return { offset: held, location: headerValue(res.headers, 'location') ? location(res, up.operation) : at };
}

/** PUT ?digest= on the last Location; when its answer is lost, the blob's presence decides. */
async function commit(at: URL, digest: string, up: Upload): Promise<void> {
  const { repo } = up;
  const url = new URL(at);
  url.searchParams.append('digest', digest);
  const operation = repo.op('push-blob', digest);
  const ctx = repo.ctx(operation, up.ctx.notFound, true);
  for (;;) {
    try {
      const res = await repo.http.request({ method: 'PUT', url, headers: { 'content-length': '0' }, body: '', scope: repo.push, signal: up.signal, budget: up.budget }, ctx);
      await discard(res.body);
      checkCommitted(res, digest, operation);
      return;
    } catch (e) {
      if (up.signal?.aborted) throw e;
      if ((isRetryable(e) || OmlmdError.is(e, 'BLOB_UPLOAD_UNKNOWN')) && (await statBlob(repo, digest, { signal: up.signal, budget: up.budget }).catch(() => undefined)) === up.size) return;
      if (!(await up.budget.retry(e, up.signal))) throw e;
    }
  }
}

async function openSource(input: BlobInput, progress: Progress, digester: Digester | undefined, operation: Operation): Promise<Readable> {
  let src: Readable;
  try {
    src = await input.open();
  } catch (e) {
    throw sourceError(e, operation, 'open');
  }
  progress.restart();
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      digester?.update(chunk);
      progress.add(chunk.length);
      cb(null, chunk);
    },
  });
  return pipeline(src, counter, () => undefined);
}

/** Best effort: a failed upload otherwise lingers on the registry until it purges it. */
async function cancelUpload(repo: RepoContext, at: URL, operation: Operation): Promise<void> {
  try {
    const res = await repo.http.request({ method: 'DELETE', url: at, scope: repo.push, signal: AbortSignal.timeout(5000), allow: [400, 404, 405] }, repo.ctx(operation));
    await discard(res.body);
  } catch {
    // the upload failed already; that error is the one to report
  }
}
