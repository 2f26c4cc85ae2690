/**
 * Plain-HTTP requests through Node's http client (src/core/oci/plainhttp.ts) against a
 * fault-injecting server: a raw TCP server that answers with exactly the bytes a test gives
 * (silence, a close before the answer, an answer before the body is read, repeated
 * headers), counting connections and the bytes of each request. The real registry's
 * answers are in the integration tests, which go this way for every plain-HTTP request.
 */
import assert from 'node:assert/strict';
import { Agent as HttpAgent, type Agent } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { plainAgent, plainRequest, type PlainTransport } from '../../src/core/oci/plainhttp';

type Behaviour = (s: Socket, head: string, bodyBytes: () => number) => void;
let behave: Behaviour = () => undefined;
let server: Server;
let base: string;
let connections = 0;
const sockets = new Set<Socket>();

const ok = (body = '', extra = ''): string => `HTTP/1.1 200 OK\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

before(async () => {
  server = createServer((s) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    // Requests one after another on the connection: a head, then as many body bytes as its content-length says.
    let head: string | undefined;
    let want = 0;
    let body = 0;
    const take = (b: Buffer): void => {
      if (head !== undefined) {
        const n = Math.min(b.length, want - body);
        body += b.length;
        if (body < want || want === 0) return;
        head = undefined;
        if (b.length > n) take(b.subarray(n));
        return;
      }
      buf = Buffer.concat([buf, b]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const h = buf.toString('latin1', 0, end);
      const rest = buf.subarray(end + 4);
      buf = Buffer.alloc(0);
      head = h;
      want = Number(/content-length: (\d+)/i.exec(h)?.[1] ?? 0);
      body = 0;
      behave(s, h, () => body);
      if (want === 0) head = undefined;
      if (rest.length > 0) take(rest);
    };
    s.on('data', take);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

function transport(readTimeoutMs = 5000): PlainTransport & { agent: Agent } {
  return { connectTimeoutMs: 5000, readTimeoutMs, agent: plainAgent() };
}

function codeOf(e: unknown): string | undefined {
  return (e as { code?: string }).code;
}

describe('plain-HTTP requests (Node http, fault-injecting server)', () => {
  test('answers without a body, or with a small one, free their connection unread: HEADs, an empty 201 and a small 200 reuse one kept-alive connection', async () => {
    behave = (s, head) => s.write(head.startsWith('HEAD') ? 'HTTP/1.1 200 OK\r\ncontent-length: 1234\r\n\r\n' : head.startsWith('GET') ? ok('{}') : 'HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n');
    const t = transport();
    const before = connections;
    try {
      for (let i = 0; i < 3; i++) {
        const r = await plainRequest(new URL(`${base}/v2/x/blobs/sha256:${i}`), { method: 'HEAD', headers: {} }, t);
        assert.equal(r.statusCode, 200);
        assert.equal(r.headers['content-length'], '1234');
      }
      const put = await plainRequest(new URL(`${base}/v2/x/manifests/v1`), { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{}' }, t);
      assert.equal(put.statusCode, 201);
      for (let i = 0; i < 2; i++) assert.equal((await plainRequest(new URL(`${base}/v2/`), { method: 'GET', headers: {} }, t)).statusCode, 200);
      const read = await plainRequest(new URL(`${base}/v2/`), { method: 'GET', headers: {} }, t);
      const text: Buffer[] = [];
      for await (const c of read.body) text.push(c as Buffer);
      assert.equal(Buffer.concat(text).toString(), '{}');
      assert.equal(connections - before, 1, 'one connection for seven requests, four of whose answers were never read');
    } finally {
      t.agent.destroy();
    }
  });

  test('repeated header names come as arrays (two challenges stay two), single ones as strings', async () => {
    behave = (s) => s.write(ok('', 'www-authenticate: Bearer realm="a"\r\nwww-authenticate: Basic realm="b"\r\nx-one: 1\r\n'));
    const t = transport();
    try {
      const r = await plainRequest(new URL(`${base}/v2/`), { method: 'GET', headers: {} }, t);
      assert.deepEqual(r.headers['www-authenticate'], ['Bearer realm="a"', 'Basic realm="b"']);
      assert.equal(r.headers['x-one'], '1');
      await r.body.dump();
    } finally {
      t.agent.destroy();
    }
  });

  test('a stream body shorter than its content-length fails with the length mismatch, not a hang', async () => {
    let got = -1;
    behave = (_s, _h, bytes) => setTimeout(() => (got = bytes()), 100);
    const t = transport(2000);
    try {
      const body = Readable.from([Buffer.alloc(1000)]);
      await assert.rejects(plainRequest(new URL(`${base}/v2/x/blobs/uploads/u`), { method: 'PATCH', headers: { 'content-length': '5000' }, body }, t), (e) => codeOf(e) === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH');
      assert.ok(body.destroyed, 'the body stream is closed');
      const longer = Readable.from([Buffer.alloc(6000)]);
      await assert.rejects(plainRequest(new URL(`${base}/v2/x/blobs/uploads/u`), { method: 'PATCH', headers: { 'content-length': '5000' }, body: longer }, t), (e) => codeOf(e) === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH');
      await new Promise((r) => setTimeout(r, 150));
      assert.ok(got < 6000, `the server got ${got} bytes: never more than declared`);
    } finally {
      t.agent.destroy();
    }
  });

  test('a close before the answer is UND_ERR_SOCKET; silence before the head a headers timeout, after it a body timeout', async () => {
    const t = transport(300);
    try {
      behave = (s) => s.destroy();
      await assert.rejects(plainRequest(new URL(`${base}/a`), { method: 'GET', headers: {} }, t), (e) => codeOf(e) === 'UND_ERR_SOCKET');
      behave = () => undefined;
      await assert.rejects(plainRequest(new URL(`${base}/b`), { method: 'GET', headers: {} }, t), (e) => codeOf(e) === 'UND_ERR_HEADERS_TIMEOUT');
      // A small body is read before the answer is handed back: its silence fails the request.
      behave = (s) => s.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nfirst');
      await assert.rejects(plainRequest(new URL(`${base}/c`), { method: 'GET', headers: {} }, t), (e) => codeOf(e) === 'UND_ERR_BODY_TIMEOUT');
      // A larger one is a stream: its reader hears of it.
      behave = (s) => s.write('HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\nfirst');
      const r = await plainRequest(new URL(`${base}/d`), { method: 'GET', headers: {} }, t);
      await assert.rejects(
        (async () => {
          for await (const _ of r.body) void _;
        })(),
        (e) => codeOf(e) === 'UND_ERR_BODY_TIMEOUT',
      );
    } finally {
      t.agent.destroy();
    }
  });

  test('an answer that comes before the body is sent (a 401 to an upload) is the response, and the body stops', async () => {
    // Kept open by the server: only the client can know its request was cut short.
    behave = (s) => s.write('HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n');
    const t = transport();
    try {
      let produced = 0;
      const body = new Readable({
        read() {
          produced += 65536;
          this.push(produced > 64 * 1024 * 1024 ? null : Buffer.alloc(65536));
        },
      });
      const r = await plainRequest(new URL(`${base}/v2/x/blobs/uploads/u`), { method: 'PUT', headers: { 'content-length': String(64 * 1024 * 1024) }, body }, t);
      assert.equal(r.statusCode, 401);
      await r.body.dump();
      assert.ok(produced < 64 * 1024 * 1024, `${produced} bytes were read from the body`);
      // The connection, its request never finished, is not kept for another one.
      await new Promise((ok) => setTimeout(ok, 50));
      assert.deepEqual(Object.values(t.agent.sockets).flat().length + Object.values(t.agent.freeSockets).flat().length, 0);
    } finally {
      t.agent.destroy();
    }
  });

  test('a cancelled request rejects with the abort and closes its connection', async () => {
    behave = () => undefined;
    const t = transport();
    try {
      const ac = new AbortController();
      const p = plainRequest(new URL(`${base}/slow`), { method: 'GET', headers: {}, signal: ac.signal }, t);
      setTimeout(() => ac.abort(new Error('stop')), 50);
      await assert.rejects(p);
      assert.ok(ac.signal.aborted);
    } finally {
      t.agent.destroy();
    }
  });

  test('a chunked answer (no length) that is dumped is read to its end: its connection is kept and reused, and nothing holds the process', async () => {
    behave = (s) => s.write('HTTP/1.1 202 Accepted\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n');
    const t = transport();
    const before = connections;
    try {
      for (let i = 0; i < 3; i++) {
        const r = await plainRequest(new URL(`${base}/v2/x/blobs/uploads/`), { method: 'POST', headers: { 'content-length': '0' } }, t);
        assert.equal(r.statusCode, 202);
        await new Promise((ok) => setTimeout(ok, 20));
        await r.body.dump();
      }
      assert.equal(connections - before, 1, 'one connection for three dumped answers');
      assert.equal(Object.values(t.agent.freeSockets).flat().length, 1, 'the connection is free again');
    } finally {
      t.agent.destroy();
    }
  });

  test('silences of ours are no timeout: a body source with nothing yet, a body its reader pauses; the server\'s are', async () => {
    const t = transport(300);
    try {
      // The source waits longer than the read timeout between its chunks; the server answers once it has the body.
      behave = (s, _h, bytes) => {
        const check = setInterval(() => {
          if (bytes() < 2) return;
          clearInterval(check);
          s.write(ok('done'));
        }, 10);
      };
      let n = 0;
      const slow = new Readable({
        read() {
          n++;
          setTimeout(() => this.push(n <= 2 ? Buffer.from('x') : null), 500);
        },
      });
      const r = await plainRequest(new URL(`${base}/v2/x/blobs/uploads/u`), { method: 'PATCH', headers: { 'content-length': '2' }, body: slow }, t);
      assert.equal(r.statusCode, 200);
      // A large body (a stream) whose reader waits longer than the read timeout before reading on.
      const big = 'y'.repeat(200_000);
      behave = (s) => s.write(ok(big));
      const res = await plainRequest(new URL(`${base}/big`), { method: 'GET', headers: {} }, t);
      const chunks: Buffer[] = [];
      for await (const c of res.body) {
        chunks.push(c as Buffer);
        if (chunks.length === 1) await new Promise((w) => setTimeout(w, 700));
      }
      assert.equal(Buffer.concat(chunks).length, big.length);
    } finally {
      t.agent.destroy();
    }
  });

  test('a connect that hangs (a listener whose queue is full, python3) fails with the connect timeout, not the idle one of kept-alive sockets (4 s)', async () => {
    const { spawn } = await import('node:child_process');
    const holder = spawn('python3', ['-c', [
      'import socket, time',
      's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)',
      'fill = []',
      'for i in range(4):',
      '    c = socket.socket(); c.setblocking(False)',
      '    try: c.connect(s.getsockname())',
      '    except BlockingIOError: pass',
      '    fill.append(c)',
      'print(s.getsockname()[1], flush=True)',
      'time.sleep(30)',
    ].join('\n')], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const port = await new Promise<number>((ok) => holder.stdout.once('data', (b: Buffer) => ok(Number(b.toString().trim()))));
      const t: PlainTransport & { agent: Agent } = { connectTimeoutMs: 5000, readTimeoutMs: 60_000, agent: plainAgent() };
      const started = Date.now();
      try {
        await assert.rejects(plainRequest(new URL(`http://127.0.0.1:${port}/`), { method: 'GET', headers: {} }, t), (e) => codeOf(e) === 'UND_ERR_CONNECT_TIMEOUT');
        assert.ok(Date.now() - started >= 4900, `failed after ${Date.now() - started} ms`);
      } finally {
        t.agent.destroy();
      }
    } finally {
      holder.kill();
    }
  });

  test('a request an agent holds without a socket (a fake of VS Code\'s proxy-resolving agent that never resolves) fails at the connect timeout', { timeout: 10_000 }, async () => {
    // Node hands a request to its agent's addRequest (not in the types): this one never gives it a socket.
    const holding = Object.assign(new HttpAgent(), { addRequest: (): void => undefined });
    const t = { connectTimeoutMs: 300, readTimeoutMs: 60_000, agent: holding };
    await assert.rejects(plainRequest(new URL('http://127.0.0.1:9/'), { method: 'GET', headers: {} }, t), (e) => codeOf(e) === 'UND_ERR_CONNECT_TIMEOUT');
  });

  test('only plain HTTP goes this way', async () => {
    await assert.rejects(plainRequest(new URL('https://127.0.0.1:1/'), { method: 'GET', headers: {} }, transport()), (e) => codeOf(e) === 'UND_ERR_INVALID_ARG');
  });
});
