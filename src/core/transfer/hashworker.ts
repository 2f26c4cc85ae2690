import { createCipheriv, createHash, createHmac, type Cipher, type Hash, type Hmac } from 'node:crypto';
import { closeSync, constants, openSync, read, readSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';

/**
 * The hashing worker (hashpool.ts runs it): a thread of its own that reads files with reused
 * buffers and hashes them. Built to dist/hashworker.js beside the bundles (esbuild.mjs);
 * from source (the tests, through tsx) hashpool.ts loads this file through tsx.
 *
 * Jobs by id: one follow job at most per worker (the pool sees to it: it owns the read-ahead
 * buffers), and read jobs, which share a worker (hashing outruns what a registry ingests).
 */

/** What the pool asks of a worker. */
export type ToWorker =
  /**
   * `reencrypt`: the file is the plaintext of an AES-256-CTR layer being decrypted as it
   * downloads; the worker encrypts it again (key and nonce base64) and also answers the
   * ciphertext's sha256 and HMAC-SHA256 (keyed with the layer key), so that neither is
   * computed on the main thread.
   */
  | { op: 'start'; id: number; mode: 'follow'; path: string; end: number; limit: number; direct?: number; reencrypt?: { key: string; nonce: string } }
  /** `encrypt`: the chunks handed over are the file encrypted (AES-256-CTR, from its start); `digest` is then the ciphertext's, `plainDigest` and `hmac` come too. */
  | { op: 'start'; id: number; mode: 'read'; path: string; end: number; from: number; chunk: number; credits: number; encrypt?: { key: string; nonce: string } }
  /**
   * `feed`: the bytes come from the main thread, in order, as views of shared memory (the
   * aligned segments a download writes from): `bytes` hashes [offset, offset + length) of
   * `memory` and answers `fed` with `seq`, after which the segment may be reused; `end`
   * answers the digest.
   */
  | { op: 'start'; id: number; mode: 'feed' }
  | { op: 'bytes'; id: number; memory: SharedArrayBuffer; offset: number; length: number; seq: number }
  | { op: 'end'; id: number }
  | { op: 'advance'; id: number; limit: number }
  | { op: 'credit'; id: number; n: number }
  | { op: 'cancel'; id: number };

/** What a worker answers: chunks of a read job, then its digest or an error. */
export interface FromWorker {
  id: number;
  type: 'chunk' | 'done' | 'error' | 'fed';
  /** `fed`: the `seq` of the bytes hashed. */
  seq?: number;
  buf?: ArrayBuffer;
  digest?: string;
  /** Follow with `reencrypt`: the ciphertext's digest; with it or read with `encrypt`, its HMAC (base64). */
  cipherDigest?: string;
  /** Read with `encrypt`: the plaintext's digest. */
  plainDigest?: string;
  hmac?: string;
  message?: string;
  code?: string;
  path?: string;
}

interface Job {
  id: number;
  mode: 'follow' | 'read';
  path: string;
  end: number;
  /** follow: how far the file is written and may be read. */
  limit: number;
  /** read: bytes before this are hashed only, from here on also handed over. */
  from: number;
  chunk: number;
  credits: number;
  fd: number;
  /** A descriptor opened with O_DIRECT, for follow jobs of files written around the page cache. */
  dfd: number | undefined;
  dfdRefused: boolean;
  pos: number;
  hash: Hash;
  re?: { cipher: Cipher; hash: Hash; hmac: Hmac };
  busy: boolean;
  running: boolean;
  flip: 0 | 1;
}

type ErrnoError = Error & { code?: string };

const port = parentPort!;
const READ = 1 << 20;
// Bytes per turn of the loop, so that a cancel or a new limit is seen soon.
const SLICE = 64 << 20;
const ALIGN = 4096;
const jobs = new Map<number, Job>();
const live = (j: Job): boolean => jobs.get(j.id) === j;
let scratch: Buffer | undefined;
const buffer = (): Buffer => (scratch ??= Buffer.allocUnsafeSlow(READ));

function eof(j: Job, pos = j.pos): ErrnoError {
  return Object.assign(new Error(`${j.path} ended after ${pos} bytes, ${j.end} were expected`), { code: 'SIZE_MISMATCH' });
}

function failure(e: unknown): { message: string; code: string | undefined } {
  const err = e as ErrnoError | undefined;
  return { message: String(err?.message ?? e), code: err?.code };
}

function closeAll(j: Job): void {
  try {
    closeSync(j.fd);
  } catch {
    // Already closed.
  }
  if (j.dfd === undefined) return;
  try {
    closeSync(j.dfd);
  } catch {
    // Already closed.
  }
}

function finish(j: Job, msg: Omit<FromWorker, 'id'>): void {
  if (live(j)) jobs.delete(j.id);
  // A follow job closes its files itself, once no read of it is in flight.
  if (j.mode !== 'follow') closeAll(j);
  port.postMessage({ id: j.id, ...msg } satisfies FromWorker);
}

function readInto(j: Job, buf: Buffer, len: number): void {
  let got = 0;
  while (got < len) {
    const n = readSync(j.fd, buf, got, len - got, j.pos + got);
    if (n === 0) throw eof(j);
    got += n;
  }
}

const refused = (e: unknown): boolean => {
  const code = (e as ErrnoError | undefined)?.code;
  return code === 'EINVAL' || code === 'EOPNOTSUPP' || code === 'ENOTSUP';
};

/**
 * One read of [pos, pos + len) into buf: through the direct descriptor where offset and length
 * are aligned (bytes a direct write put on disk are then not pulled into the page cache),
 * else through the cache; a short read goes on from where it stopped.
 */
function readAsync(j: Job, buf: Buffer, len: number, pos: number): Promise<number> {
  const aligned = j.dfd !== undefined && !j.dfdRefused && pos % ALIGN === 0;
  const head = len - (len % ALIGN);
  // The aligned blocks direct, only the odd end (the file's tail) through the cache.
  if (aligned && head > 0 && head < len) {
    return readAsync(j, buf, head, pos)
      .then(() => readAsync(j, buf.subarray(head), len - head, pos + head))
      .then((m) => head + m);
  }
  return new Promise((resolve, reject) => {
    const direct = aligned && len % ALIGN === 0;
    read(direct ? j.dfd! : j.fd, buf, 0, len, pos, (e, n) => {
      if (e && direct && refused(e)) {
        j.dfdRefused = true;
        readAsync(j, buf, len, pos).then(resolve, reject);
        return;
      }
      if (e) return reject(e);
      if (n === 0) return reject(eof(j, pos));
      if (n < len) {
        readAsync(j, buf.subarray(n), len - n, pos + n).then((m) => resolve(n + m), reject);
        return;
      }
      resolve(n);
    });
  });
}

// Two buffers, one hashed while the next read fills the other; page-aligned (WebAssembly
// memory starts on a page boundary) because direct reads need aligned memory.
const FOLLOW_READ = 4 << 20;
const WASM_PAGE = 64 * 1024;
// Node's types declare WebAssembly only as a namespace of types (no DOM lib here).
const WasmMemory = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number; maximum: number }) => { buffer: ArrayBuffer } } }).WebAssembly.Memory;
let followBufs: [Buffer, Buffer] | undefined;
const alignedRead = (): Buffer => Buffer.from(new WasmMemory({ initial: FOLLOW_READ / WASM_PAGE, maximum: FOLLOW_READ / WASM_PAGE }).buffer, 0, FOLLOW_READ);
const followBuffers = (): [Buffer, Buffer] => (followBufs ??= [alignedRead(), alignedRead()]);
// Settles once the reads of an earlier (cancelled) job have ended: its buffers are then free.
let quiet: Promise<unknown> = Promise.resolve();

interface PendingRead {
  pos: number;
  len: number;
  buf: Buffer;
  p: Promise<number>;
}

async function follow(j: Job): Promise<void> {
  if (j.running) return;
  j.running = true;
  const bufs = followBuffers();
  let next: PendingRead | undefined;
  const issue = (pos: number, len: number): PendingRead => {
    j.flip = j.flip === 0 ? 1 : 0;
    const buf = bufs[j.flip];
    return { pos, len, buf, p: readAsync(j, buf, len, pos) };
  };
  try {
    await quiet;
    for (;;) {
      if (!live(j)) return;
      if (j.pos >= j.end) return finish(j, { type: 'done', digest: `sha256:${j.hash.digest('hex')}`, ...(j.re ? { cipherDigest: `sha256:${j.re.hash.digest('hex')}`, hmac: j.re.hmac.digest('base64') } : {}) });
      const stop = Math.min(j.limit, j.end);
      // Nothing more written yet: the next advance starts this again.
      if (j.pos >= stop) return;
      const cur = next ?? issue(j.pos, Math.min(FOLLOW_READ, stop - j.pos));
      next = undefined;
      const after = cur.pos + cur.len;
      if (after < stop) next = issue(after, Math.min(FOLLOW_READ, stop - after));
      await cur.p;
      if (!live(j)) return;
      const plain = cur.buf.subarray(0, cur.len);
      j.hash.update(plain);
      if (j.re) {
        const c = j.re.cipher.update(plain);
        j.re.hash.update(c);
        j.re.hmac.update(c);
        collectNow(c.length);
      }
      j.pos += cur.len;
    }
  } catch (e) {
    if (live(j)) finish(j, { type: 'error', ...failure(e) });
  } finally {
    j.running = false;
    const pending = next ? next.p.catch(() => undefined) : undefined;
    if (pending) quiet = pending;
    if (!live(j)) {
      if (pending) void pending.then(() => closeAll(j));
      else closeAll(j);
    }
  }
}

function pump(j: Job): void {
  if (j.mode === 'follow') return void follow(j);
  if (j.busy) return;
  j.busy = true;
  let budget = SLICE;
  try {
    while (live(j) && budget > 0) {
      if (j.pos >= j.end) {
        // Longer than announced means changed since it was planned: not the bytes described.
        if (readSync(j.fd, buffer(), 0, 1, j.pos) > 0) {
          throw Object.assign(new Error(`${j.path} is longer than the ${j.end} bytes it had`), { code: 'SIZE_MISMATCH' });
        }
        if (j.re) finish(j, { type: 'done', digest: `sha256:${j.re.hash.digest('hex')}`, plainDigest: `sha256:${j.hash.digest('hex')}`, hmac: j.re.hmac.digest('base64') });
        else finish(j, { type: 'done', digest: `sha256:${j.hash.digest('hex')}` });
        return;
      }
      if (j.pos < j.from) {
        const len = Math.min(READ, j.from - j.pos);
        const buf = buffer();
        readInto(j, buf, len);
        j.hash.update(buf.subarray(0, len));
        if (j.re) encryptInPlace(j.re, buf.subarray(0, len));
        j.pos += len;
        budget -= len;
        continue;
      }
      if (j.credits <= 0) break;
      const len = Math.min(j.chunk, j.end - j.pos);
      const buf = Buffer.allocUnsafeSlow(len);
      readInto(j, buf, len);
      j.hash.update(buf);
      if (j.re) encryptInPlace(j.re, buf);
      j.pos += len;
      budget -= len;
      j.credits--;
      const ab = buf.buffer as ArrayBuffer;
      port.postMessage({ id: j.id, type: 'chunk', buf: ab } satisfies FromWorker, [ab]);
    }
  } catch (e) {
    if (live(j)) finish(j, { type: 'error', ...failure(e) });
    return;
  } finally {
    j.busy = false;
  }
  if (live(j) && budget <= 0) setImmediate(() => pump(j));
}

/** Feed jobs: a hash each, fed by the main thread (no file). */
const feeds = new Map<number, Hash>();

function start(m: Extract<ToWorker, { op: 'start' }>): void {
  if (m.mode === 'feed') {
    feeds.set(m.id, createHash('sha256'));
    return;
  }
  let fd: number;
  try {
    fd = openSync(m.path, 'r');
  } catch (e) {
    port.postMessage({ id: m.id, type: 'error', ...failure(e), path: m.path } satisfies FromWorker);
    return;
  }
  let dfd: number | undefined;
  if (m.mode === 'follow' && m.direct !== undefined) {
    try {
      dfd = openSync(m.path, constants.O_RDONLY | m.direct);
    } catch {
      // The file system refuses direct reads: the cache it is.
    }
  }
  const j: Job = {
    id: m.id,
    mode: m.mode,
    path: m.path,
    end: m.end,
    limit: m.mode === 'follow' ? m.limit : 0,
    from: m.mode === 'read' ? m.from : 0,
    chunk: m.mode === 'read' ? m.chunk : 0,
    credits: m.mode === 'read' ? m.credits : 0,
    fd,
    dfd,
    dfdRefused: false,
    pos: 0,
    hash: createHash('sha256'),
    ...(m.mode === 'follow' && m.reencrypt ? { re: reencryption(m.reencrypt) } : m.mode === 'read' && m.encrypt ? { re: reencryption(m.encrypt) } : {}),
    busy: false,
    running: false,
    flip: 0,
  };
  jobs.set(j.id, j);
  pump(j);
}

port.on('message', (m: ToWorker) => {
  if (m.op === 'start') return start(m);
  if (m.op === 'bytes') {
    const h = feeds.get(m.id);
    if (!h) return;
    h.update(new Uint8Array(m.memory, m.offset, m.length));
    port.postMessage({ id: m.id, type: 'fed', seq: m.seq } satisfies FromWorker);
    return;
  }
  if (m.op === 'end') {
    const h = feeds.get(m.id);
    if (!h) return;
    feeds.delete(m.id);
    port.postMessage({ id: m.id, type: 'done', digest: `sha256:${h.digest('hex')}` } satisfies FromWorker);
    return;
  }
  if (m.op === 'cancel' && feeds.delete(m.id)) return;
  const j = jobs.get(m.id);
  if (!j) return;
  if (m.op === 'advance') j.limit = Math.max(j.limit, m.limit);
  else if (m.op === 'credit') j.credits += m.n;
  else {
    jobs.delete(j.id);
    // A follow job with a read in flight closes its files when the read ends.
    if (!j.running) closeAll(j);
    return;
  }
  pump(j);
});

function reencryption(r: { key: string; nonce: string }): NonNullable<Job['re']> {
  const key = Buffer.from(r.key, 'base64');
  return { cipher: createCipheriv('aes-256-ctr', key, Buffer.from(r.nonce, 'base64')), hash: createHash('sha256'), hmac: createHmac('sha256', key) };
}

// Every re-encrypted buffer is new memory outside V8's heap that waits for a collection (as
// on the main thread, memory.ts): where the process exposed gc (the CLI), a young-generation
// collection every few MiB frees them at once.
const COLLECT_EVERY = 8 << 20;
let sinceCollect = 0;
function collectNow(n: number): void {
  const collect = (globalThis as { gc?: (o: { type: 'minor' }) => void }).gc;
  if (typeof collect !== 'function') return;
  sinceCollect += n;
  if (sinceCollect < COLLECT_EVERY) return;
  sinceCollect = 0;
  collect({ type: 'minor' });
}

/** Plaintext in `buf` becomes its ciphertext, hashed and MACed. */
function encryptInPlace(re: NonNullable<Job['re']>, buf: Buffer): void {
  const c = re.cipher.update(buf);
  re.hash.update(c);
  re.hmac.update(c);
  c.copy(buf);
  collectNow(c.length);
}
