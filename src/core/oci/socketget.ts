/**
 * A GET on a connection of its own whose response body the kernel reads straight into the
 * caller's buffers (net.Socket's `onread`): no socket chunk is allocated, parsed by
 * undici's llhttp (a copy into its WebAssembly memory), pushed through streams and copied
 * again into the caller's aligned, shared segments (V8 copies into a SharedArrayBuffer
 * with its race-safe memmove, several times slower than memcpy). Receiving 2 GiB on loopback measured 0.34 s of
 * CPU this way against 1.44 s through undici and a copy (docs/benchmarks.md).
 *
 * Only the transfer of a large blob's bytes comes this way (RegistryHttp picks it for a
 * request marked `direct`, and only when it built the transport itself and no proxy is
 * set). Everything else about the request stays in http.ts: the answer is handed back as
 * status, headers and a body stream, so that a 401, a redirect, an error body or an HTTPS
 * server behind the plain endpoint take the same path as ever. A body of known length can
 * instead be read `into` a {@link BodyTarget}. One request per connection
 * (`connection: close`): the request is for many megabytes, a handshake costs nothing next
 * to them.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { Readable } from 'node:stream';

/** Where a body's bytes go, in order. */
export interface BodyTarget {
  /** Where the next bytes go: a view the kernel reads into (at least one byte long). */
  buffer(): Buffer;
  /**
   * `n` bytes landed at the start of the last buffer(). A promise: read no more until it
   * settles; its rejection ends the response with that error.
   */
  got(n: number): Promise<void> | undefined;
}

/**
 * How RegistryHttp's own transport connects, for the sockets made here. Plain HTTP only:
 * over TLS (tls.connect with `onread`) a body that the server ends with its close came
 * short here (the socket's end arrived before the last decrypted bytes were read into the
 * target; test/integration/auth-tls.test.ts caught it), so HTTPS bodies go through undici.
 */
export interface DirectConnector {
  connectTimeoutMs: number;
  readTimeoutMs: number;
}

export type SocketHeaders = Record<string, string | string[]>;

export interface SocketResponse {
  statusCode: number;
  headers: SocketHeaders;
  /** The body as a stream (an error body, or one without a length); `dump()` drops it. */
  body: Readable & { dump(): Promise<void> };
  /**
   * For a body of known length: reads up to `limit` bytes of it into `target` (never more
   * than it asked for: each read is bounded by what is left); resolves once they are there.
   * Then the connection is closed.
   */
  into?: (target: BodyTarget, limit: number) => Promise<void>;
}

/** Bytes read per turn when they are not read into a target: a head, an error body, the first read after the head. */
const SCRATCH = 64 * 1024;
/** A response head longer than this is refused (undici's default is 16 KiB; registries send a few hundred bytes). */
const MAX_HEAD = 64 * 1024;

/** A transport failure shaped as undici's (its `code`), which networkError() reads. */
export function failure(code: string, message: string, cause?: unknown): Error {
  return Object.assign(new Error(message, cause === undefined ? undefined : { cause }), { code });
}

function parseHead(text: string): { statusCode: number; headers: SocketHeaders } {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0] ?? '');
  if (!m) throw failure('UND_ERR_SOCKET', `the server's answer is not HTTP/1.1: ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`);
  const headers: SocketHeaders = {};
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw failure('UND_ERR_SOCKET', `the server sent a malformed header line: ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const had = headers[name];
    headers[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
  }
  return { statusCode: Number(m[1]), headers };
}

function single(h: SocketHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/** A chunked body's framing, undone: what `write` is given comes out as the body's bytes. */
class Dechunker {
  private left = 0;
  private state: 'size' | 'data' | 'data-end' | 'trailer' | 'done' = 'size';
  private line = '';
  get done(): boolean {
    return this.state === 'done';
  }
  write(bytes: Buffer, out: (b: Buffer) => void): void {
    for (let i = 0; i < bytes.length && this.state !== 'done'; ) {
      if (this.state === 'data') {
        const n = Math.min(this.left, bytes.length - i);
        out(bytes.subarray(i, i + n));
        i += n;
        this.left -= n;
        if (this.left === 0) this.state = 'data-end';
        continue;
      }
      const nl = bytes.indexOf(0x0a, i);
      const end = nl < 0 ? bytes.length : nl;
      this.line += bytes.toString('latin1', i, end);
      if (this.line.length > 4096) throw failure('UND_ERR_SOCKET', 'the server sent a malformed chunked body');
      i = nl < 0 ? bytes.length : nl + 1;
      if (nl < 0) continue;
      const line = this.line.replace(/\r$/, '');
      this.line = '';
      if (this.state === 'size') {
        const size = /^([0-9a-fA-F]{1,12})(?:;.*)?$/.exec(line.trim());
        if (!size) throw failure('UND_ERR_SOCKET', 'the server sent a malformed chunked body');
        this.left = parseInt(size[1]!, 16);
        this.state = this.left === 0 ? 'trailer' : 'data';
      } else if (this.state === 'data-end') {
        if (line !== '') throw failure('UND_ERR_SOCKET', 'the server sent a malformed chunked body');
        this.state = 'size';
      } else if (line === '') this.state = 'done';
    }
  }
}

/**
 * Sends `GET url` with `headers` on a new connection; resolves with the response once its
 * head has arrived. The body waits (the socket paused) until it is read: through `body`, or
 * `into` a target. Rejects with errors shaped as undici's (`code` UND_ERR_SOCKET,
 * UND_ERR_CONNECT_TIMEOUT, UND_ERR_HEADERS_TIMEOUT, UND_ERR_BODY_TIMEOUT, or the socket's
 * own errno), so that networkError() says the same things about them.
 */
export async function socketGet(url: URL, headers: Record<string, string>, connector: DirectConnector, opts: { signal?: AbortSignal } = {}): Promise<SocketResponse> {
  if (url.protocol !== 'http:') throw failure('UND_ERR_INVALID_ARG', `only plain HTTP goes this way, not ${url.protocol}`);
  let request = `GET ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\nconnection: close\r\n`;
  for (const [k, v] of Object.entries(headers)) {
    if (/[\r\n]/.test(k) || /[\r\n]/.test(v)) throw failure('UND_ERR_INVALID_ARG', `invalid header ${k}`);
    if (k.toLowerCase() === 'host' || k.toLowerCase() === 'connection') continue;
    request += `${k}: ${v}\r\n`;
  }
  request += '\r\n';
  return new SocketGet(url, request, connector, opts).response;
}

/**
 * Copies `bytes` (at most `limit` of them) into the target's buffers, for bytes that landed
 * elsewhere: all of them are handed over before the target's waits (at most one read's or
 * chunk's worth ahead of its pace), which come back as one promise.
 */
export function copyToTarget(target: BodyTarget, bytes: Buffer, limit: number): { taken: number; wait?: Promise<void> } {
  const waits: Promise<void>[] = [];
  let off = 0;
  while (off < bytes.length && off < limit) {
    const b = target.buffer();
    const k = Math.min(b.length, bytes.length - off, limit - off);
    bytes.copy(b, 0, off, off + k);
    off += k;
    const w = target.got(k);
    if (w) waits.push(w);
  }
  return { taken: off, wait: waits.length === 0 ? undefined : waits.length === 1 ? waits[0] : Promise.all(waits).then(() => undefined) };
}

type Phase = 'head' | 'wait' | 'into' | 'stream' | 'done';

class SocketGet {
  readonly response: Promise<SocketResponse>;
  private resolveResponse!: (r: SocketResponse) => void;
  private rejectResponse!: (e: unknown) => void;
  private readonly socket: Socket;
  private readonly scratch = Buffer.allocUnsafe(SCRATCH);
  private head = Buffer.allocUnsafe(4096);
  private headLen = 0;
  private phase: Phase = 'head';
  /** Body bytes that came in the reads of the head. */
  private early: Buffer | undefined;
  private target: BodyTarget | undefined;
  private remaining = 0;
  private intoDone?: { resolve: () => void; reject: (e: unknown) => void };
  private body?: Readable & { dump(): Promise<void> };
  /** How a stream body ends: after `length` bytes, at a chunked body's end, or at the connection's close. */
  private framing: { kind: 'length'; left: number } | { kind: 'chunked'; d: Dechunker } | { kind: 'close' } = { kind: 'close' };
  private failed = false;
  /** Connected: a silence from here on is a read timeout. */
  private connected = false;
  private readonly readTimeoutMs: number;
  private readonly onAbort: () => void;

  constructor(
    url: URL,
    request: string,
    connector: DirectConnector,
    private readonly opts: { signal?: AbortSignal },
  ) {
    this.response = new Promise<SocketResponse>((resolve, reject) => {
      this.resolveResponse = resolve;
      this.rejectResponse = reject;
    });
    this.response.catch(() => undefined);
    this.readTimeoutMs = connector.readTimeoutMs;
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = Number(url.port || 80);
    const onread = { buffer: () => this.next(), callback: (n: number, buf: Uint8Array) => this.onRead(n, buf) };
    const sent = (): void => {
      this.connected = true;
      this.socket.setTimeout(this.readTimeoutMs);
      this.socket.write(request);
    };
    this.socket = netConnect({ host, port, onread }, sent);
    this.socket.setNoDelay(true);
    this.socket.setTimeout(connector.connectTimeoutMs);
    this.socket.on('timeout', () => {
      const connecting = !this.connected;
      const code = connecting ? 'UND_ERR_CONNECT_TIMEOUT' : this.phase === 'head' ? 'UND_ERR_HEADERS_TIMEOUT' : 'UND_ERR_BODY_TIMEOUT';
      this.fail(failure(code, connecting ? 'connect timeout' : this.phase === 'head' ? 'headers timeout' : 'body timeout'));
    });
    this.socket.on('error', (e) => this.fail(e));
    this.socket.on('end', () => this.ended());
    this.socket.on('close', () => this.ended());
    this.onAbort = () => this.fail(opts.signal?.reason ?? failure('ABORT_ERR', 'aborted'));
    if (opts.signal?.aborted) this.onAbort();
    else opts.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** The buffer the next read goes into. */
  private next(): Buffer {
    if (this.phase === 'head') {
      if (this.headLen === this.head.length) {
        const bigger = Buffer.allocUnsafe(Math.min(this.head.length * 4, MAX_HEAD));
        this.head.copy(bigger, 0, 0, this.headLen);
        this.head = bigger;
      }
      return this.head.subarray(this.headLen);
    }
    if (this.phase === 'into' && this.remaining > 0) {
      const b = this.target!.buffer();
      return b.length > this.remaining ? b.subarray(0, this.remaining) : b;
    }
    return this.scratch;
  }

  /** `n` bytes landed in `buf` (the last next()); false pauses the socket. */
  private onRead(n: number, buf: Uint8Array): boolean {
    if (this.failed) return false;
    try {
      switch (this.phase) {
        case 'head':
          return this.onHead(n);
        case 'into':
          if (buf === this.scratch) return this.copyInto(this.scratch.subarray(0, n));
          return this.delivered(n, this.target!.got(n));
        case 'stream':
          return this.onStream(this.scratch.subarray(0, n));
        default:
          // Bytes past the end (a server that sends more than it declared): not ours.
          return false;
      }
    } catch (e) {
      this.fail(e);
      return false;
    }
  }

  private onHead(n: number, from = Math.max(0, this.headLen - 3)): boolean {
    this.headLen += n;
    const end = this.head.subarray(0, this.headLen).indexOf('\r\n\r\n', from, 'latin1');
    if (end < 0) {
      if (this.headLen >= MAX_HEAD) throw failure('UND_ERR_HEADERS_OVERFLOW', 'the response head is too large');
      return true;
    }
    const { statusCode, headers } = parseHead(this.head.toString('latin1', 0, end));
    const rest = this.head.subarray(end + 4, this.headLen);
    if (statusCode >= 100 && statusCode < 200) {
      // An interim answer (100 Continue): the real one follows.
      this.headLen = rest.copy(this.head, 0);
      return this.headLen > 0 ? this.onHead(0, 0) : true;
    }
    this.early = rest.length > 0 ? Buffer.from(rest) : undefined;
    this.phase = 'wait';
    const te = single(headers, 'transfer-encoding');
    const cl = single(headers, 'content-length');
    const length = cl !== undefined && /^\d+$/.test(cl) ? Number(cl) : undefined;
    const empty = statusCode === 204 || statusCode === 304;
    if (te && !/^identity$/i.test(te)) this.framing = /(^|,)\s*chunked\s*$/i.test(te) ? { kind: 'chunked', d: new Dechunker() } : { kind: 'close' };
    else if (empty) this.framing = { kind: 'length', left: 0 };
    else if (length !== undefined) this.framing = { kind: 'length', left: length };
    const body = this.makeBody();
    const into = this.framing.kind === 'length' && !empty ? (target: BodyTarget, limit: number) => this.startInto(target, Math.min(limit, length!)) : undefined;
    this.resolveResponse({ statusCode, headers, body, into });
    return false;
  }

  private makeBody(): Readable & { dump(): Promise<void> } {
    const body = new Readable({
      highWaterMark: SCRATCH,
      read: () => this.readBody(),
      destroy: (err, cb) => {
        if (this.phase !== 'done') this.close();
        cb(err);
      },
    }) as Readable & { dump(): Promise<void> };
    // Nothing is reused after a response: dropping a body is closing its connection.
    body.dump = async () => {
      body.destroy();
    };
    this.body = body;
    return body;
  }

  /** The body stream wants bytes: the first time, those that came with the head. */
  private readBody(): void {
    if (this.phase === 'wait') {
      this.phase = 'stream';
      const early = this.early;
      this.early = undefined;
      if ((early && !this.onStream(early)) || this.phase !== 'stream') return;
      if (this.framing.kind === 'length' && this.framing.left === 0) return this.finishStream();
    }
    if (this.phase === 'stream') this.resume();
  }

  private onStream(bytes: Buffer): boolean {
    const body = this.body!;
    let more = true;
    const out = (b: Buffer): void => {
      if (b.length > 0 && !body.push(Buffer.from(b))) more = false;
    };
    const f = this.framing;
    if (f.kind === 'length') {
      const n = Math.min(f.left, bytes.length);
      out(bytes.subarray(0, n));
      f.left -= n;
      if (f.left === 0) {
        this.finishStream();
        return false;
      }
    } else if (f.kind === 'chunked') {
      f.d.write(bytes, out);
      if (f.d.done) {
        this.finishStream();
        return false;
      }
    } else out(bytes);
    if (!more) this.pause();
    return more;
  }

  private finishStream(): void {
    this.phase = 'done';
    this.body?.push(null);
    this.close();
  }

  private startInto(target: BodyTarget, limit: number): Promise<void> {
    if (this.phase !== 'wait') return Promise.reject(failure('UND_ERR_INVALID_ARG', 'the body was already read'));
    this.target = target;
    this.remaining = limit;
    this.phase = 'into';
    const done = new Promise<void>((resolve, reject) => (this.intoDone = { resolve, reject }));
    const early = this.early;
    this.early = undefined;
    if (this.remaining === 0) this.complete();
    else if (!early || this.copyInto(early)) this.resume();
    return done;
  }

  /** Bytes that landed elsewhere (the head's reads, the scratch buffer), copied into the target: at most one read's worth per response. */
  private copyInto(bytes: Buffer): boolean {
    const { taken, wait } = copyToTarget(this.target!, bytes, this.remaining);
    this.remaining -= taken;
    return this.delivered(0, wait);
  }

  /** After `n` more bytes reached the target (already counted when 0): finishes, or waits for `wait`. */
  private delivered(n: number, wait: Promise<void> | undefined): boolean {
    this.remaining -= n;
    if (this.remaining === 0) {
      if (wait) wait.then(() => this.complete(), (e: unknown) => this.fail(e));
      else this.complete();
      return false;
    }
    if (!wait) return true;
    this.pause();
    wait.then(
      () => this.resume(),
      (e: unknown) => this.fail(e),
    );
    return false;
  }

  private complete(): void {
    if (this.failed || this.phase === 'done') return;
    this.phase = 'done';
    this.close();
    this.intoDone?.resolve();
  }

  private pause(): void {
    this.socket.setTimeout(0);
    this.socket.pause();
  }

  private resume(): void {
    if (this.failed || this.phase === 'done') return;
    this.socket.setTimeout(this.readTimeoutMs);
    this.socket.resume();
  }

  private close(): void {
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    this.socket.destroy();
  }

  /** The connection ended: fine once the response is complete (or its body ran to the close), a failure before. */
  private ended(): void {
    if (this.failed || this.phase === 'done') return;
    if (this.phase === 'stream' && this.framing.kind === 'close') {
      this.finishStream();
      return;
    }
    if (this.phase === 'wait' && this.framing.kind === 'close') {
      // The body (to the close) arrived with the head; a stream read will hand it over.
      this.framing = { kind: 'length', left: this.early?.length ?? 0 };
      return;
    }
    this.fail(failure('UND_ERR_SOCKET', 'other side closed'));
  }

  private fail(e: unknown): void {
    if (this.failed || this.phase === 'done') return;
    const reading = this.phase === 'stream';
    this.failed = true;
    this.close();
    this.rejectResponse(e);
    this.intoDone?.reject(e);
    // The stream's reader hears of it; a body nobody reads (read `into`, or not yet) has no one to tell.
    if (this.body && !this.body.destroyed) this.body.destroy(reading ? (e instanceof Error ? e : new Error(String(e))) : undefined);
  }
}
