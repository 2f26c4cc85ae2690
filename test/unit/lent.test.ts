import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, Agent, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { LentBody, type LentChunk, type LentSource } from '../../src/core/oci/lent';
import { plainRequest } from '../../src/core/oci/plainhttp';
import { Progress, SourceReader } from '../../src/core/oci/registry/blob-upload';
import { HashPool } from '../../src/core/transfer/hashpool';
import { openLentFile } from '../../src/core/transfer/lent-file';
import { tempDir } from '../helpers/tmp';

const digestOf = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Every chunk `next` lends, copied and given back: the bytes, and the distinct memory they were lent in. */
async function drain(next: () => Promise<LentChunk | undefined>): Promise<{ bytes: Buffer; buffers: Set<ArrayBufferLike> }> {
  const parts: Buffer[] = [];
  const buffers = new Set<ArrayBufferLike>();
  for (let c: LentChunk | undefined; (c = await next()); ) {
    parts.push(Buffer.from(c.buf));
    buffers.add(c.buf.buffer);
    c.done();
  }
  return { bytes: Buffer.concat(parts), buffers };
}

describe('lent upload bodies', () => {
  test('a file read into a few reused buffers: every byte, in order, the digest of all of it, from an offset too', async (t) => {
    const dir = tempDir('omlmd-lent-');
    const pool = new HashPool(1);
    t.after(() => pool.close());
    const data = randomBytes(5 * 256 * 1024 + 777);
    const file = join(dir, 'model.bin');
    writeFileSync(file, data);

    const whole = openLentFile(file, data.length, 0, pool, 'model.bin');
    const got = await drain(() => whole.source.next());
    assert.ok(got.bytes.equals(data), 'byte-identical');
    assert.ok(got.buffers.size <= 3, `reused buffers, not one per chunk (${got.buffers.size} distinct)`);
    assert.equal(await whole.digest, digestOf(data));

    // A resumed upload: the first bytes are hashed, not handed out.
    const from = 256 * 1024 + 100;
    const rest = openLentFile(file, data.length, from, pool, 'model.bin');
    assert.ok((await drain(() => rest.source.next())).bytes.equals(data.subarray(from)), 'the bytes from the offset');
    assert.equal(await rest.digest, digestOf(data), 'the digest is of the whole file');
  });

  test('a file shorter or longer than planned fails the source and its digest', async (t) => {
    const dir = tempDir('omlmd-lent-');
    const pool = new HashPool(1);
    t.after(() => pool.close());
    const file = join(dir, 'model.bin');
    writeFileSync(file, randomBytes(300 * 1024));
    for (const [size, word] of [[400 * 1024, /shorter/], [200 * 1024, /longer/]] as const) {
      const opened = openLentFile(file, size, 0, pool, 'model.bin');
      await assert.rejects(drain(() => opened.source.next()), (e: Error & { code?: string }) => e.code === 'SIZE_MISMATCH' && word.test(e.message));
      await assert.rejects(opened.digest, word);
    }
  });

  test('a chunked upload\'s requests cut lent chunks where they end: exactly each request\'s bytes, byte-identical across the cuts', async (t) => {
    const dir = tempDir('omlmd-lent-');
    const pool = new HashPool(1);
    t.after(() => pool.close());
    const data = randomBytes(3 * 256 * 1024 + 5);
    const file = join(dir, 'model.bin');
    writeFileSync(file, data);
    const input = { size: data.length, open: () => { throw new Error('not this way'); }, openLent: (offset: number) => openLentFile(file, data.length, offset, pool, 'model.bin') };
    const reader = new SourceReader(input, { kind: 'push-blob', target: 'test' } as never, new Progress(), true);
    await reader.openAt(0);
    const parts: Buffer[] = [];
    // Requests of 100,000 bytes: none ends on a buffer's boundary.
    for (let at = 0; at < data.length; at += 100_000) {
      const body = reader.take(Math.min(100_000, data.length - at));
      assert.ok(body instanceof LentBody);
      const { bytes } = await drain(() => body.nextLent());
      assert.equal(bytes.length, Math.min(100_000, data.length - at), 'exactly the request\'s bytes');
      parts.push(bytes);
    }
    assert.equal(await reader.atEnd(), true);
    assert.ok(Buffer.concat(parts).equals(data), 'byte-identical across the cuts');
    assert.equal(await reader.digest(), digestOf(data));
    reader.close();
  });

  test('plain HTTP writes lent chunks as they are and gives each back once written; another consumer gets copies', async (t) => {
    const received: Buffer[] = [];
    const server = createServer((req: IncomingMessage, res) => {
      req.on('data', (c: Buffer) => received.push(c));
      req.on('end', () => res.writeHead(201, { 'content-length': '0' }).end());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const agent = new Agent({ keepAlive: true });
    t.after(() => {
      agent.destroy();
      server.close();
    });
    const data = randomBytes(1024 * 1024);
    let lent = 0;
    let back = 0;
    const source = (): LentSource => {
      let at = 0;
      return {
        next: async () => {
          if (at >= data.length) return undefined;
          const buf = data.subarray(at, at + 64 * 1024);
          at += buf.length;
          lent++;
          let given = false;
          return { buf, done: () => (assert.equal(given, false, 'given back once'), (given = true), back++) };
        },
        close: () => undefined,
      };
    };
    const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/upload`);
    const res = await plainRequest(url, { method: 'PATCH', headers: { 'content-length': String(data.length) }, body: new LentBody(source()) }, { agent, connectTimeoutMs: 5000, readTimeoutMs: 5000 });
    assert.equal(res.statusCode, 201);
    assert.ok(Buffer.concat(received).equals(data), 'the server got every byte');
    assert.equal(back, lent, 'every chunk given back');
    assert.equal(lent, 16);

    // As a plain stream (undici's way): copies, each chunk given back at once.
    lent = back = 0;
    const copies: Buffer[] = [];
    for await (const c of new LentBody(source())) copies.push(c as Buffer);
    assert.ok(Buffer.concat(copies).equals(data));
    assert.equal(back, lent);
    assert.ok(copies.every((c) => c.buffer !== data.buffer), 'copies, not the lent memory');

    // A body longer than its content-length fails the request, and what was lent comes back.
    lent = back = 0;
    await assert.rejects(plainRequest(url, { method: 'PATCH', headers: { 'content-length': String(data.length - 1) }, body: new LentBody(source()) }, { agent, connectTimeoutMs: 5000, readTimeoutMs: 5000 }), /content-length/);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(back, lent, 'every chunk given back after the failure');
  });
});
