/**
 * Plain-HTTP requests through Node's own `http` client (kept-alive connections, its native
 * llhttp parser). RegistryHttp sends every plain-HTTP request this way when it built the
 * transport itself, no proxy is set and the host leaves `node:http` alone (nodeHttpClient,
 * http.ts); a large blob's GET takes socketget.ts instead, and HTTPS, proxies, dispatchers
 * given from outside and hosts that patch `node:http` go through undici, which is loaded
 * only then. Measured on this machine (docs/benchmarks.md): four requests to a loopback registry
 * from a cold process take 57 ms this way against 81 ms with undici (17 ms to load it, its
 * WebAssembly parser compiled at the first connection), and a plain-HTTP command never
 * loads undici's half megabyte.
 *
 * The answer has the shape of undici's (status, headers with repeated names as arrays, a
 * body stream with `dump()`), and failures carry undici's codes (UND_ERR_CONNECT_TIMEOUT,
 * UND_ERR_HEADERS_TIMEOUT, UND_ERR_BODY_TIMEOUT, UND_ERR_SOCKET,
 * UND_ERR_REQ_CONTENT_LENGTH_MISMATCH) or the socket's errno, so that http.ts treats both
 * ways alike.
 */
import { Agent, request as httpRequest, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { LentBody } from './lent';
import { failure, type DirectConnector } from './socketget';

export interface PlainTransport extends DirectConnector {
  /** The transport's kept-alive connections; without it only a large blob's GET goes the plain way (socketget.ts). */
  agent?: Agent;
}

export interface PlainResponse {
  statusCode: number;
  headers: Record<string, string | string[]>;
  body: Readable & { dump(): Promise<void> };
}

/** A body of known length up to this size is read before the answer is handed back. */
const READ_AHEAD = 64 * 1024;

function withDump(r: Readable): Readable & { dump(): Promise<void> } {
  const body = r as Readable & { dump(): Promise<void> };
  body.dump = async () => void body.destroy();
  return body;
}

/** How long an idle connection is kept (undici's default keep-alive timeout too). */
const IDLE_MS = 4_000;

export function plainAgent(): Agent {
  // Node's agent destroys a free socket whose `timeout` fires. It also gives every new socket
  // that timeout from its creation: plainRequest replaces it with the connect timer while the
  // socket connects, and with the read timeout once it is connected.
  return new Agent({ keepAlive: true, timeout: IDLE_MS, scheduling: 'lifo' });
}

/** The body's reader is the one waiting: its buffer is full, or it paused a flowing body ('readable' readers are never paused). */
function readerWaits(res: IncomingMessage): boolean {
  return res.readableLength >= res.readableHighWaterMark || (res.readableFlowing === false && res.listenerCount('readable') === 0);
}

/**
 * Sends one request; resolves once the response head has arrived (its body waits to be
 * read or dumped). A stream body must give exactly the `content-length` it is sent with,
 * else the request fails with UND_ERR_REQ_CONTENT_LENGTH_MISMATCH.
 */
export function plainRequest(
  url: URL,
  opts: { method: string; headers: Record<string, string>; body?: Buffer | string | Readable; signal?: AbortSignal },
  transport: PlainTransport & { agent: Agent },
): Promise<PlainResponse> {
  return new Promise<PlainResponse>((resolve, reject) => {
    if (url.protocol !== 'http:') {
      reject(failure('UND_ERR_INVALID_ARG', `only plain HTTP goes this way, not ${url.protocol}`));
      return;
    }
    let settled = false;
    /** Whether all of the request, its body too, went out. */
    let sentAll = !(opts.body instanceof Readable);
    /** A write of the body waits for the socket to drain: the server is not reading. */
    let draining = false;
    /** Stops sending a stream body (set below when there is one). */
    let stopBody = (): void => undefined;
    let response: IncomingMessage | undefined;
    const req = httpRequest(url, { method: opts.method, headers: opts.headers, agent: transport.agent, signal: opts.signal });
    const fail = (e: unknown): void => {
      clearTimeout(connectTimer);
      if (settled) return;
      settled = true;
      if (opts.body instanceof Readable) opts.body.destroy();
      reject(e);
    };
    // Until it has a connected socket the request is timed by the connect timeout: an agent
    // that holds it without one (VS Code's, while it resolves a proxy) is bounded too.
    const connectTimer = setTimeout(() => {
      // A request without a socket reports nothing when destroyed: it is failed here.
      const e = failure('UND_ERR_CONNECT_TIMEOUT', 'connect timeout');
      req.destroy(e);
      fail(e);
    }, transport.connectTimeoutMs);
    req.on('socket', (socket: Socket) => {
      if (!socket.connecting) return clearTimeout(connectTimer);
      // The agent gives a new socket its idle timeout (IDLE_MS) from the start: a connect has its own.
      socket.setTimeout(0);
      socket.once('connect', () => clearTimeout(connectTimer));
    });
    // Silence from the server (Node sets this once connected): before the head a headers
    // timeout, after it a body timeout. As undici counts them, a silence of ours is none: a
    // body source that has nothing yet (the socket not waiting to drain), or a body its reader
    // does not read (its buffer full); the timer is set again and looks once more then.
    req.setTimeout(transport.readTimeoutMs, () => {
      const ours = response ? readerWaits(response) : !sentAll && !draining;
      if (ours) req.setTimeout(transport.readTimeoutMs);
      else if (response) response.destroy(failure('UND_ERR_BODY_TIMEOUT', 'body timeout'));
      else req.destroy(failure('UND_ERR_HEADERS_TIMEOUT', 'headers timeout'));
    });
    req.on('error', (e: NodeJS.ErrnoException) => {
      // Node's "socket hang up": the server closed before answering.
      if (e.code === 'ECONNRESET' && e.message === 'socket hang up') fail(failure('UND_ERR_SOCKET', 'other side closed', e));
      else fail(e);
    });
    req.on('response', (res: IncomingMessage) => {
      clearTimeout(connectTimer);
      response = res;
      // A response while the body is still going out (a 401, a 413): the rest of it is not
      // wanted, and the connection, its request unfinished, is closed once the answer is read.
      if (!sentAll) {
        stopBody();
        res.once('end', () => req.destroy());
      }
      if (settled) {
        res.destroy();
        return;
      }
      const headers: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(res.headersDistinct)) if (v) headers[k] = v.length === 1 ? v[0]! : v;
      const statusCode = res.statusCode ?? 0;
      const length = Number(res.headers['content-length'] ?? NaN);
      // Node frees a connection (and lets the process end) only at its body's end, which a body
      // nobody reads never reaches; undici reads small ones ahead. A small body is read here,
      // before the answer is handed back; a larger one is a stream the caller reads or dumps.
      const empty = opts.method === 'HEAD' || statusCode === 204 || statusCode === 304 || length === 0;
      if (empty) {
        // Answered as soon as the head is in: what may follow it is not this response's (Go's
        // plain-HTTP answer from an HTTPS server sends a text after a HEAD's 400, which Node's
        // parser then reports as an error of the request).
        settled = true;
        res.resume();
        res.on('error', () => undefined);
        resolve({ statusCode, headers, body: withDump(Readable.from([])) });
        return;
      }
      if (length <= READ_AHEAD) {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('error', fail);
        res.once('end', () => {
          if (settled) return;
          settled = true;
          resolve({ statusCode, headers, body: withDump(Readable.from(chunks.length > 0 ? [Buffer.concat(chunks)] : [])) });
        });
        return;
      }
      settled = true;
      const body = res as IncomingMessage & { dump(): Promise<void> };
      // Read to its end (what frees the connection), also when the parser has it all already.
      body.dump = () =>
        new Promise<void>((done) => {
          if (res.readableEnded || res.destroyed) return done();
          res.once('end', () => done());
          res.once('close', () => done());
          res.resume();
        });
      resolve({ statusCode, headers, body });
    });
    const body = opts.body;
    if (!(body instanceof Readable)) {
      req.end(body);
      return;
    }
    // The body's bytes are counted against its content-length, as undici does: a source that
    // gives fewer or more fails the request rather than leaving the server waiting or reading
    // the next request from the excess.
    const cl = opts.headers['content-length'];
    const declared = cl !== undefined ? Number(cl) : undefined;
    let sent = 0;
    const mismatch = (): void => {
      stopBody();
      req.destroy(failure('UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', `the request body gave ${sent} bytes where content-length says ${declared}`));
    };
    if (body instanceof LentBody) {
      // Each chunk's memory goes back to its source once Node has written it (the callback).
      let stopped = false;
      stopBody = () => {
        stopped = true;
      };
      const drained = (): Promise<void> =>
        new Promise<void>((resolve) => {
          const done = (): void => {
            req.off('drain', done);
            req.off('close', done);
            resolve();
          };
          req.once('drain', done);
          req.once('close', done);
        });
      void (async () => {
        for (;;) {
          const c = await body.nextLent();
          if (stopped || req.destroyed) {
            c?.done();
            return;
          }
          if (!c) break;
          sent += c.buf.length;
          if (declared !== undefined && sent > declared) {
            c.done();
            return mismatch();
          }
          if (!req.write(c.buf, () => c.done())) {
            draining = true;
            await drained();
            draining = false;
          }
        }
        if (declared !== undefined && sent !== declared) return mismatch();
        sentAll = true;
        req.end();
      })().catch((e: unknown) => req.destroy(e instanceof Error ? e : new Error(String(e))));
      return;
    }
    const onData = (chunk: Buffer): void => {
      sent += chunk.length;
      if (declared !== undefined && sent > declared) return mismatch();
      if (!req.write(chunk)) {
        draining = true;
        body.pause();
      }
    };
    const onEnd = (): void => {
      if (declared !== undefined && sent !== declared) return mismatch();
      sentAll = true;
      req.end();
    };
    const onError = (e: Error): void => void req.destroy(e);
    const onDrain = (): void => {
      draining = false;
      body.resume();
    };
    stopBody = () => {
      body.off('data', onData);
      body.off('end', onEnd);
      req.off('drain', onDrain);
      body.pause();
    };
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', onError);
    req.on('drain', onDrain);
  });
}
