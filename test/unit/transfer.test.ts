import assert from 'node:assert/strict';
import { tempDir } from '../helpers/tmp';
import { createHash, randomBytes } from 'node:crypto';
import { constants, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ProgressBars } from '../../src/cli/output';
import { OmlmdError } from '../../src/core/errors';
import { sha256 } from '../../src/core/oci/digest';
import { TransferCache } from '../../src/core/transfer/cache';
import { alignedBuffer, directFlag, SegmentPool, SEGMENT_SIZE } from '../../src/core/transfer/directio';
import { DirectSink } from '../../src/core/transfer/parts';
import { HashPool } from '../../src/core/transfer/hashpool';
import { planPieces, RangeSet } from '../../src/core/transfer/ranges';

const MiB = 1024 * 1024;

describe('byte ranges of a download', () => {
  test('ranges merge; the prefix is what can be hashed; missing is the rest, in order', () => {
    const r = new RangeSet();
    r.add(10, 20);
    r.add(30, 40);
    assert.equal(r.prefix(), 0);
    assert.deepEqual(r.missing(50), [[0, 10], [20, 30], [40, 50]]);
    r.add(0, 10);
    assert.equal(r.prefix(), 20);
    r.add(15, 35);
    assert.deepEqual(r.toJSON(), [[0, 40]]);
    assert.equal(r.total(), 40);
    assert.deepEqual(r.missing(40), []);
    assert.deepEqual(new RangeSet([[0, 100]]).clamp(60).toJSON(), [[0, 60]]);
  });

  test('parts cover what is missing, in file order, none larger than asked', () => {
    assert.deepEqual(planPieces([[0, 10], [20, 45]], 10), [[0, 10], [20, 30], [30, 40], [40, 45]]);
  });
});

describe('digest cache', () => {
  const dir = tempDir('omlmd-cache-');
  const cache = new TransferCache(join(dir, 'cache'));
  const old = new Date(Date.now() - 60_000);

  async function fresh(name: string, bytes: Buffer): Promise<string> {
    const file = join(dir, name);
    writeFileSync(file, bytes);
    utimesSync(file, old, old);
    return file;
  }

  test('a recorded digest is given back while the file is unchanged', async () => {
    const file = await fresh('a.bin', Buffer.from('model'));
    assert.ok(await cache.recordDigest(file, await stat(file, { bigint: true }), sha256('model')));
    assert.equal(await cache.digestOf(file, await stat(file, { bigint: true })), sha256('model'));
  });

  test('a write, even of the same size with the mtime put back, a new inode, or a new size: no digest', async () => {
    const file = await fresh('b.bin', Buffer.from('12345'));
    await cache.recordDigest(file, await stat(file, { bigint: true }), sha256('12345'));
    writeFileSync(file, Buffer.from('54321'));
    utimesSync(file, old, old);
    assert.equal(await cache.digestOf(file, await stat(file, { bigint: true })), undefined, 'ctime moved');

    const c = await fresh('c.bin', Buffer.from('same'));
    await cache.recordDigest(c, await stat(c, { bigint: true }), sha256('same'));
    const other = await fresh('c2.bin', Buffer.from('same'));
    renameSync(other, c);
    utimesSync(c, old, old);
    assert.equal(await cache.digestOf(c, await stat(c, { bigint: true })), undefined, 'another inode');

    const d = await fresh('d.bin', Buffer.from('abc'));
    await cache.recordDigest(d, await stat(d, { bigint: true }), sha256('abc'));
    truncateSync(d, 2);
    assert.equal(await cache.digestOf(d, await stat(d, { bigint: true })), undefined, 'another size');
  });

  test('a file written a moment ago is not recorded: a second write in the same clock tick would go unseen', async () => {
    const file = join(dir, 'racy.bin');
    writeFileSync(file, 'now');
    assert.equal(await cache.recordDigest(file, await stat(file, { bigint: true }), sha256('now')), false);
    // A pull that just wrote the file waits the window out once, then records it.
    assert.equal(await cache.recordDigest(file, await stat(file, { bigint: true }), sha256('now'), { wait: true }), true);
  });

  test('a file that changed between the read and the record is not recorded', async () => {
    const file = await fresh('e.bin', Buffer.from('before'));
    const before = await stat(file, { bigint: true });
    writeFileSync(file, Buffer.from('after!'));
    utimesSync(file, old, old);
    assert.equal(await cache.recordDigest(file, before, sha256('before')), false);
    assert.equal(await cache.digestOf(file, await stat(file, { bigint: true })), undefined);
  });

  test('where blobs are: most recent repository first, each once', async () => {
    await cache.addLocation('r:5000', sha256('x'), 'a');
    await cache.addLocation('r:5000', sha256('x'), 'b');
    await cache.addLocation('r:5000', sha256('x'), 'a');
    assert.deepEqual(await cache.locations('r:5000', sha256('x')), ['a', 'b']);
    assert.deepEqual(await cache.locations('other:5000', sha256('x')), []);
  });
});

describe('cache housekeeping', () => {
  const DAY = 24 * 60 * 60 * 1000;

  test('prune drops changed or vanished files\' digests, old locations and uploads, unfinished temp files; keeps what still helps', async () => {
    const dir = tempDir('omlmd-prune-');
    const cache = new TransferCache(join(dir, 'cache'));
    const old = new Date(Date.now() - 60_000);
    const files: Record<string, string> = {};
    for (const name of ['kept', 'changed', 'gone']) {
      files[name] = join(dir, `${name}.bin`);
      writeFileSync(files[name]!, name);
      utimesSync(files[name]!, old, old);
      assert.ok(await cache.recordDigest(files[name]!, await stat(files[name]!, { bigint: true }), sha256(name)));
    }
    writeFileSync(files.changed!, 'changed again');
    rmSync(files.gone!);
    await cache.addLocation('r:5000', sha256('recent'), 'a');
    await cache.addLocation('r:5000', sha256('stale'), 'a');
    const session = cache.uploadSession('r:5000', 'a', files.kept!, await stat(files.kept!, { bigint: true }));
    await session.save({ location: 'http://r:5000/v2/a/blobs/uploads/x', offset: 10 });
    // Age what should go: a location unused for 40 days, an upload session of 8 days.
    const entries = (kind: string): string[] => readdirSync(join(dir, 'cache', kind), { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
    const staleLocation = entries('blobs').find((f) => readFileSync(f, 'utf8').includes('"a"') && f.includes(createHash('sha256').update(`r:5000\0${sha256('stale')}`).digest('hex')))!;
    utimesSync(staleLocation, new Date(Date.now() - 40 * DAY), new Date(Date.now() - 40 * DAY));
    const upload = entries('uploads')[0]!;
    utimesSync(upload, new Date(Date.now() - 8 * DAY), new Date(Date.now() - 8 * DAY));
    const stray = `${entries('digests')[0]!}.1234.abcd`;
    writeFileSync(stray, '{"v":1,"pa');
    utimesSync(stray, new Date(Date.now() - 2 * 60 * 60 * 1000), new Date(Date.now() - 2 * 60 * 60 * 1000));

    assert.deepEqual((await cache.usage()).entries, { digests: 4, blobs: 2, uploads: 1, encrypted: 0 });
    const r = await cache.prune();
    assert.deepEqual(r.removed, { digests: 2, blobs: 1, uploads: 1, encrypted: 0 });
    assert.equal(r.strays, 1);
    assert.equal(r.kept, 2);
    assert.equal(await cache.digestOf(files.kept!, await stat(files.kept!, { bigint: true })), sha256('kept'), 'the digest of the unchanged file stays');
    assert.deepEqual(await cache.locations('r:5000', sha256('recent')), ['a']);
    assert.deepEqual(await cache.locations('r:5000', sha256('stale')), []);
    assert.equal(await session.load(), undefined);
  });

  test('transfers prune on their own at most once a day', async () => {
    const dir = tempDir('omlmd-prune-');
    const cache = new TransferCache(join(dir, 'cache'));
    assert.equal(await cache.pruneIfDue(), undefined, 'no cache yet: nothing to do');
    await cache.addLocation('r:5000', sha256('x'), 'a');
    assert.ok(await cache.pruneIfDue(), 'never pruned: prunes');
    assert.equal(await cache.pruneIfDue(), undefined, 'pruned a moment ago: not again');
    assert.ok(await cache.pruneIfDue(Date.now() + DAY + 1000), 'a day later: again');
  });
});

describe('hashing worker threads', () => {
  const dir = tempDir('omlmd-hash-');
  const data = randomBytes(9 * MiB + 13);
  const file = join(dir, 'data.bin');
  writeFileSync(file, data);

  test('read: every byte hashed, the bytes from an offset handed over in order', async () => {
    const pool = new HashPool(2);
    try {
      const { stream, digest } = pool.read(file, data.length, 3 * MiB + 5);
      const chunks: Buffer[] = [];
      for await (const c of stream) chunks.push(c as Buffer);
      assert.ok(Buffer.concat(chunks).equals(data.subarray(3 * MiB + 5)));
      assert.equal(await digest, sha256(data));
    } finally {
      await pool.close();
    }
  });

  test('two reads share one worker, each with its own bytes and digest; a follow job gets a worker of its own', async () => {
    const pool = new HashPool(2);
    const other = join(dir, 'other.bin');
    const otherData = randomBytes(5 * MiB + 1);
    writeFileSync(other, otherData);
    const collect = async (s: AsyncIterable<unknown>): Promise<Buffer> => {
      const chunks: Buffer[] = [];
      for await (const c of s) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    };
    try {
      const a = pool.read(file, data.length);
      const b = pool.read(other, otherData.length);
      assert.equal(pool.workers, 1, 'one core hashes faster than an upload goes out: one worker for two');
      const followed = pool.follow(file, data.length);
      assert.equal(pool.workers, 2, 'a follow job does not share');
      followed.advance(data.length);
      const [gotA, gotB] = await Promise.all([collect(a.stream), collect(b.stream)]);
      assert.ok(gotA.equals(data));
      assert.ok(gotB.equals(otherData));
      assert.equal(await a.digest, sha256(data));
      assert.equal(await b.digest, sha256(otherData));
      assert.equal(await followed.digest, sha256(data));
    } finally {
      await pool.close();
    }
  });

  test('follow: hashes only as far as it is told, and finishes once told the end', async () => {
    const pool = new HashPool(1);
    try {
      const h = pool.follow(file, data.length);
      h.advance(MiB);
      let settled = false;
      void h.digest.then(() => (settled = true));
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(settled, false);
      h.advance(data.length);
      assert.equal(await h.digest, sha256(data));
    } finally {
      await pool.close();
    }
  });

  test('a file shorter or longer than announced is an integrity error, not a digest of something else', async () => {
    const pool = new HashPool(1);
    try {
      await assert.rejects(pool.hashFile(file, data.length + 1), (e: unknown) => OmlmdError.is(e, 'SIZE_MISMATCH'));
      const { stream, digest } = pool.read(file, data.length - 1);
      stream.on('error', () => undefined).resume();
      await assert.rejects(digest, (e: unknown) => OmlmdError.is(e, 'SIZE_MISMATCH'));
      await assert.rejects(pool.hashFile(join(dir, 'missing.bin'), 1), (e: unknown) => OmlmdError.is(e, 'NOT_FOUND'));
    } finally {
      await pool.close();
    }
  });

  test('feed: segments of shared memory hashed in order, two feeds at once on one worker, each its own digest', async () => {
    const pool = new HashPool(2);
    const segments = new SegmentPool(MiB, 4);
    const give = async (h: ReturnType<HashPool['feed']>, bytes: Buffer): Promise<string> => {
      const inFlight: Promise<void>[] = [];
      for (let at = 0; at < bytes.length; at += MiB) {
        const seg = segments.take();
        assert.ok(seg.buffer instanceof SharedArrayBuffer, 'a segment is shared memory: the worker reads it without a copy');
        const n = bytes.copy(seg, 0, at, Math.min(at + MiB, bytes.length));
        inFlight.push(h.bytes(seg.subarray(0, n)).then(() => segments.give(seg)));
      }
      await Promise.all(inFlight);
      return h.end();
    };
    try {
      const other = randomBytes(3 * MiB + 7);
      const [a, b] = await Promise.all([give(pool.feed('a'), data), give(pool.feed('b'), other)]);
      assert.equal(a, sha256(data));
      assert.equal(b, sha256(other));
      assert.equal(pool.workers, 1, 'feeds share a worker (one core hashes faster than downloads arrive), even under the maximum');
      const c = pool.feed('c');
      c.cancel();
      await assert.rejects(c.end(), (e: unknown) => OmlmdError.is(e, 'CANCELLED'));
      await assert.rejects(c.bytes(Buffer.from(new SharedArrayBuffer(8))), (e: unknown) => OmlmdError.is(e, 'CANCELLED'));
      assert.equal(await give(pool.feed('d'), other), sha256(other), 'the worker serves the next feed');
    } finally {
      await pool.close();
    }
  });

  test('a cancelled hash stops and frees its worker for the next job', async () => {
    const pool = new HashPool(1);
    try {
      const ac = new AbortController();
      const p = pool.hashFile(file, data.length, ac.signal);
      ac.abort();
      await assert.rejects(p, (e: unknown) => OmlmdError.is(e, 'CANCELLED'));
      assert.equal(await pool.hashFile(file, data.length), sha256(data));
    } finally {
      await pool.close();
    }
  });
});

describe('progress bars', () => {
  function drive(): { bars: ProgressBars; out: string[]; clock: { t: number } } {
    const out: string[] = [];
    const clock = { t: 0 };
    const bars = new ProgressBars('pull', { write: (s: string) => (out.push(s), true), columns: 200 }, () => clock.t);
    return { bars, out, clock };
  }

  test('a total line and one line per file in flight, with throughput and time left', () => {
    const { bars, clock } = drive();
    bars.onProgress({ type: 'plan', items: [{ title: 'a.bin', size: 100e6 }, { title: 'b.bin', size: 100e6 }, { title: 'c.json', size: 1000 }], totalBytes: 200e6 + 1000 });
    bars.onProgress({ type: 'skipped', title: 'c.json', size: 1000, reason: 'exists' });
    bars.onProgress({ type: 'bytes', title: 'a.bin', bytes: 1 });
    bars.onProgress({ type: 'resumed', title: 'b.bin', bytes: 50e6 });
    bars.onProgress({ type: 'bytes', title: 'b.bin', bytes: 1 });
    clock.t = 1000;
    bars.onProgress({ type: 'bytes', title: 'a.bin', bytes: 50e6 - 1 });
    bars.onProgress({ type: 'bytes', title: 'b.bin', bytes: 10e6 - 1 });
    const lines = bars.render();
    assert.equal(lines.length, 3);
    assert.match(lines[0]!, /^pull \[#+\.+\]\s+55%\s+1\/3 files\s+110\.0 MB \/ 200\.0 MB\s+60\.0 MB\/s\s+2 s left$/);
    assert.match(lines[1]!, /^ {2}a\.bin\s+\[#{8}\.{8}\]\s+50%\s+50\.0 MB \/ 100\.0 MB\s+50\.0 MB\/s\s+1 s$/);
    // Resumed bytes fill the bar but are not counted as speed.
    assert.match(lines[2]!, /^ {2}b\.bin\s+\[#+\.+\]\s+60%\s+60\.0 MB \/ 100\.0 MB\s+10\.0 MB\/s\s+4 s$/);
    bars.onProgress({ type: 'done', title: 'a.bin', digest: 'sha256:x', size: 100e6 });
    assert.equal(bars.render().length, 2, 'a finished file leaves the list');
  });

  test('redraws in place and erases itself at the end', () => {
    const { bars, out, clock } = drive();
    bars.onProgress({ type: 'plan', items: [{ title: 'a', size: 10 }, { title: 'b', size: 10 }], totalBytes: 20 });
    clock.t = 200;
    bars.onProgress({ type: 'bytes', title: 'a', bytes: 5 });
    clock.t = 400;
    bars.onProgress({ type: 'bytes', title: 'b', bytes: 5 });
    const last = out.at(-1)!;
    assert.ok(last.startsWith('\x1b[1A'), 'back up over the two lines drawn before');
    assert.equal(last.split('\n').length, 3, 'three lines now');
    bars.finish();
    assert.equal(out.at(-1), '\x1b[2A' + '\r\x1b[2K\n\r\x1b[2K\n\r\x1b[2K' + '\x1b[2A\r', 'up to the first line, three lines cleared, back up');
  });
});

describe('direct writes', () => {
  test('every segment handed out is aligned in memory, as a direct write wants; segments are reused, not reallocated', async (t) => {
    const pool = new SegmentPool(SEGMENT_SIZE, 4);
    // Two blocks' worth: every segment carved from a block, not only the first of each.
    const segs = Array.from({ length: 8 }, () => pool.take());
    for (const [i, seg] of segs.entries()) {
      assert.equal(seg.length, SEGMENT_SIZE);
      assert.equal(seg.byteOffset % 4096, 0, `segment ${i} starts ${seg.byteOffset % 4096} bytes off a block boundary of its memory`);
    }
    pool.give(segs[5]!);
    assert.equal(pool.take(), segs[5]);
    assert.equal(alignedBuffer(128 * 1024).length, 128 * 1024);

    // The kernel is the judge of the address itself: a direct write from memory that is not
    // aligned fails with EINVAL (shown by one from a byte past a segment's start).
    const flag = directFlag({});
    const dir = mkdtempSync(join(tmpdir(), 'omlmd-align-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'aligned.bin');
    writeFileSync(file, '');
    // This machine's kind (Linux, ext4 under the temporary directory) does direct I/O; a
    // machine that cannot fails here rather than passing without the kernel's check.
    assert.ok(flag !== undefined, 'O_DIRECT is not available here (not Linux, or OMLMD_DIRECT_IO=0)');
    const handle: FileHandle = await open(file, constants.O_WRONLY | flag);
    try {
      for (const [i, seg] of segs.entries()) {
        const written: number = (await handle.write(seg, 0, 4096, i * 4096)).bytesWritten;
        assert.equal(written, 4096, `segment ${i} written directly`);
      }
      await assert.rejects(handle.write(segs[0]!.subarray(1), 0, 4096, 0), (e: NodeJS.ErrnoException) => e.code === 'EINVAL');
    } finally {
      await handle.close();
    }
  });

  test('a direct write the file system refuses (EINVAL) goes through the page cache, and so does the rest', async () => {
    const dir = tempDir('omlmd-direct-');
    const file = join(dir, 'blob');
    const data = randomBytes(5 * 64 * 1024 + 123);
    const fh = await open(file, 'w+');
    let refusals = 0;
    // Fault injection: a direct handle whose every write fails as tmpfs-like file systems do.
    const refusing = { write: () => (refusals++, Promise.reject(Object.assign(new Error('Invalid argument'), { code: 'EINVAL' }))) } as unknown as FileHandle;
    const written: [number, number][] = [];
    const sink = new DirectSink(fh, refusing, new SegmentPool(64 * 1024, 2), 0, (at, n) => written.push([at, n]));
    try {
      for (let i = 0; i < data.length; i += 10_000) {
        const wait = sink.write(data.subarray(i, Math.min(data.length, i + 10_000)));
        if (wait) await wait;
      }
      await sink.finish();
    } finally {
      await sink.settle();
      await fh.close();
    }
    assert.ok((await readFile(file)).equals(data), 'byte-identical');
    // Six segments; only the writes already in flight when the first refusal came tried the handle.
    assert.ok(refusals >= 1 && refusals <= 2, `after a refusal the handle is not tried again (${refusals} tries)`);
    assert.equal(written.reduce((n, [, b]) => n + b, 0), data.length, 'every byte reported written once');
  });

  test('a pool with nothing lent for its idle time lets its memory go; one in use keeps it', async () => {
    const pool = new SegmentPool(64 * 1024, 2, 4, 30);
    const a = pool.take();
    const held = pool.take();
    pool.give(a);
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(pool.take(), a, 'a segment still lent keeps the pool from letting go');
    pool.give(a);
    pool.give(held);
    assert.equal(pool.take(), held, 'reused before the idle time is up');
    pool.give(held);
    await new Promise((r) => setTimeout(r, 80));
    const b = pool.take();
    assert.notEqual(b.buffer, a.buffer, 'after it, a new block');
    assert.equal(b.byteOffset % 4096, 0);
    pool.give(b);
  });

  test('the pool\'s cap: a part alone keeps two writes in flight, one when other parts hold the pool\'s segments (held writes: a fake direct handle)', async () => {
    const dir = tempDir('omlmd-direct-');
    const fh = await open(join(dir, 'blob'), 'w+');
    const seg = 64 * 1024;
    // Writes that end only when the test says so.
    const held: (() => void)[] = [];
    const handle = { write: (_b: Buffer, _o: number, n: number) => new Promise((resolve) => held.push(() => resolve({ bytesWritten: n }))) } as unknown as FileHandle;
    const fill = (sink: DirectSink): Promise<void> | undefined => {
      const b = sink.buffer();
      assert.equal(b.length, seg, 'a whole segment to read into');
      return sink.got(seg);
    };
    const pool = new SegmentPool(seg, 8, 2);
    const alone = new DirectSink(fh, handle, pool, 0, () => undefined, 2);
    const others: Buffer[] = [];
    let crowded: DirectSink | undefined;
    try {
      assert.equal(fill(alone), undefined, 'one write in flight: it goes on filling the next segment');
      const second = fill(alone);
      assert.ok(second, 'two in flight: it waits');
      assert.equal(held.length, 2, 'alone, two writes are in flight at once');
      held.shift()!();
      await second;
      held.shift()!();
      await alone.finish();

      // Two segments lent elsewhere (other parts filling): the pool is at its cap.
      others.push(pool.take(), pool.take());
      assert.equal(pool.spare(), false);
      crowded = new DirectSink(fh, handle, pool, 0, () => undefined, 2);
      const first = fill(crowded);
      assert.ok(first, 'with the pool at its cap, one write in flight is the limit');
      assert.equal(held.length, 1);
      held.shift()!();
      await first;
      for (const b of others.splice(0)) pool.give(b);
      assert.equal(pool.spare(), true, 'the segments came back');
      assert.equal(fill(crowded), undefined, 'below the cap again: a second write may be in flight');
      held.shift()!();
      await crowded.finish();
    } finally {
      for (const release of held.splice(0)) release();
      for (const b of others) pool.give(b);
      await alone.settle();
      await crowded?.settle();
      await fh.close();
    }
  });

  test('a write that fails for another reason fails the part', async () => {
    const dir = tempDir('omlmd-direct-');
    const fh = await open(join(dir, 'blob'), 'w+');
    const failing = { write: () => Promise.reject(Object.assign(new Error('No space left on device'), { code: 'ENOSPC' })) } as unknown as FileHandle;
    const sink = new DirectSink(fh, failing, new SegmentPool(64 * 1024, 2), 0, () => undefined);
    try {
      await assert.rejects(async () => {
        for (let i = 0; i < 8; i++) {
          const wait = sink.write(randomBytes(64 * 1024));
          if (wait) await wait;
        }
        await sink.finish();
      }, /No space left/);
    } finally {
      await sink.settle();
      await fh.close();
    }
  });
});
