/**
 * The socket transport of large blob bodies (src/core/oci/socketget.ts) against a
 * fault-injecting server: a raw TCP server that answers with exactly the bytes a test
 * gives, so that malformed, chunked, interim, close-delimited and short answers can be
 * sent (no registry sends these on purpose). The real registry's answers are in
 * test/integration/transfers.test.ts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { socketGet, type BodyTarget, type DirectConnector } from '../../src/core/oci/socketget';

const connector: DirectConnector = { connectTimeoutMs: 5000, readTimeoutMs: 5000 };

/** What the server answers: raw bytes in pieces (each written after a short pause), then it closes, or stays silent. */
let answer: { pieces: Buffer[]; close: boolean } = { pieces: [], close: true };
let lastRequest = '';
let server: Server;
let base: string;
const sockets = new Set<Socket>();

before(async () => {
  server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let req = '';
    s.on('data', (b: Buffer) => {
      req += b.toString('latin1');
      if (!req.includes('\r\n\r\n')) return;
      lastRequest = req;
      const { pieces, close } = answer;
      void (async () => {
        for (const p of pieces) {
          if (s.destroyed) return;
          s.write(p);
          await new Promise((r) => setTimeout(r, 5));
        }
        if (close) s.end();
      })();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

/** A target of `size` bytes handed out `step` at a time, waiting on every third write as a disk would. */
function target(size: number, step = 1000): BodyTarget & { bytes: () => Buffer } {
  const buf = Buffer.alloc(size);
  let at = 0;
  let calls = 0;
  return {
    buffer: () => buf.subarray(at, Math.min(size, at + step)),
    got: (n) => {
      at += n;
      return ++calls % 3 === 0 ? new Promise((r) => setTimeout(r, 1)) : undefined;
    },
    bytes: () => buf.subarray(0, at),
  };
}

async function text(body: AsyncIterable<Buffer | string>): Promise<string> {
  let s = '';
  for await (const c of body) s += c.toString();
  return s;
}

describe('a GET whose body the kernel reads into our buffers (fault-injecting raw server)', () => {
  test('a body of known length goes into the target, bounded by it, whatever the reads; the request is well formed', async () => {
    const data = randomBytes(200_000);
    const head = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${data.length}\r\nX-Two: a\r\nX-Two: b\r\n\r\n`);
    // The head and the first body bytes in one write, the rest in odd pieces.
    answer = { pieces: [Buffer.concat([head, data.subarray(0, 777)]), data.subarray(777, 70_001), data.subarray(70_001)], close: true };
    const res = await socketGet(new URL(`${base}/v2/x/blobs/sha256:abc?q=1`), { authorization: 'Bearer t', range: 'bytes=0-' }, connector);
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.headers['x-two'], ['a', 'b']);
    assert.ok(res.into);
    const t = target(data.length);
    await res.into(t, data.length);
    assert.ok(t.bytes().equals(data));
    assert.match(lastRequest, /^GET \/v2\/x\/blobs\/sha256:abc\?q=1 HTTP\/1\.1\r\n/);
    assert.match(lastRequest, /\r\nauthorization: Bearer t\r\n/);
    assert.match(lastRequest, /\r\nconnection: close\r\n/);
  });

  test('into() takes no more than the limit asked, even when the server declares and sends more', async () => {
    const data = randomBytes(50_000);
    answer = { pieces: [Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${data.length}\r\n\r\n`), data], close: true };
    const res = await socketGet(new URL(`${base}/b`), {}, connector);
    const t = target(10_000);
    await res.into!(t, 10_000);
    assert.ok(t.bytes().equals(data.subarray(0, 10_000)));
  });

  test('an error body, a chunked body and a body that runs to the close come as a stream, framing undone', async () => {
    answer = { pieces: [Buffer.from('HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{"errors":[]}\n\n\n\nEXTRA')], close: true };
    let res = await socketGet(new URL(`${base}/a`), {}, connector);
    assert.equal(res.statusCode, 404);
    assert.equal(await text(res.body), '{"errors":[]}\n\n\n\n');

    answer = { pieces: [Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel'), Buffer.from('lo\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n')], close: false };
    res = await socketGet(new URL(`${base}/c`), {}, connector);
    assert.equal(res.into, undefined, 'no length: no reading into buffers');
    assert.equal(await text(res.body), 'hello world');

    answer = { pieces: [Buffer.from('HTTP/1.1 200 OK\r\n\r\nuntil'), Buffer.from(' the close')], close: true };
    res = await socketGet(new URL(`${base}/d`), {}, connector);
    assert.equal(await text(res.body), 'until the close');
  });

  test('an interim 100 answer is skipped; a 204 has no body', async () => {
    answer = { pieces: [Buffer.from('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc')], close: true };
    let res = await socketGet(new URL(`${base}/e`), {}, connector);
    assert.equal(res.statusCode, 200);
    const t = target(3);
    await res.into!(t, 3);
    assert.equal(t.bytes().toString(), 'abc');
    answer = { pieces: [Buffer.from('HTTP/1.1 204 No Content\r\n\r\n')], close: false };
    res = await socketGet(new URL(`${base}/f`), {}, connector);
    assert.equal(await text(res.body), '');
  });

  test('a connection that closes before the declared length is a broken connection (UND_ERR_SOCKET), retried by the caller', async () => {
    answer = { pieces: [Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n'), randomBytes(5000)], close: true };
    const res = await socketGet(new URL(`${base}/g`), {}, connector);
    await assert.rejects(res.into!(target(100_000), 100_000), (e: NodeJS.ErrnoException) => e.code === 'UND_ERR_SOCKET');
  });

  test('what is not HTTP, a malformed header, a bad chunk and a head without end are refused with a reason', async () => {
    answer = { pieces: [Buffer.from('SSH-2.0-OpenSSH\r\n\r\n')], close: true };
    await assert.rejects(socketGet(new URL(`${base}/h`), {}, connector), /not HTTP\/1\.1/);
    answer = { pieces: [Buffer.from('HTTP/1.1 200 OK\r\nno colon here\r\n\r\n')], close: true };
    await assert.rejects(socketGet(new URL(`${base}/i`), {}, connector), /malformed header/);
    answer = { pieces: [Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n')], close: true };
    const res = await socketGet(new URL(`${base}/j`), {}, connector);
    await assert.rejects(text(res.body), /malformed chunked/);
    answer = { pieces: [Buffer.from(`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(70_000)}`)], close: false };
    await assert.rejects(socketGet(new URL(`${base}/k`), {}, connector), (e: NodeJS.ErrnoException) => e.code === 'UND_ERR_HEADERS_OVERFLOW');
  });

  test('silence is a timeout (headers, then body), a cancel ends it, a header with a line break is refused before sending', async () => {
    const quick = { ...connector, readTimeoutMs: 200 };
    answer = { pieces: [], close: false };
    await assert.rejects(socketGet(new URL(`${base}/l`), {}, quick), (e: NodeJS.ErrnoException) => e.code === 'UND_ERR_HEADERS_TIMEOUT');
    answer = { pieces: [Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab')], close: false };
    const res = await socketGet(new URL(`${base}/m`), {}, quick);
    await assert.rejects(res.into!(target(10), 10), (e: NodeJS.ErrnoException) => e.code === 'UND_ERR_BODY_TIMEOUT');
    const ac = new AbortController();
    answer = { pieces: [Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab')], close: false };
    const r2 = await socketGet(new URL(`${base}/n`), {}, connector, { signal: ac.signal });
    const pending = r2.into!(target(10), 10);
    ac.abort();
    await assert.rejects(pending, /abort/i);
    await assert.rejects(socketGet(new URL(`${base}/o`), { 'x-evil': 'a\r\nb: c' }, connector), /invalid header/);
  });

  test('a target that fails ends the response with its error', async () => {
    answer = { pieces: [Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n'), randomBytes(100_000)], close: true };
    const res = await socketGet(new URL(`${base}/p`), {}, connector);
    const buf = Buffer.alloc(100_000);
    const disk = Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    await assert.rejects(res.into!({ buffer: () => buf, got: () => Promise.reject(disk) }, 100_000), (e) => e === disk);
  });
});
