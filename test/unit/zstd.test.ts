/**
 * The streaming zstd reader (src/core/transfer/zstd.ts): what Debian's `zstd` writes comes back
 * byte for byte (one frame, several, skippable frames, checksums, small chunks); hostile frames
 * are refused before fzstd allocates (a 1 GiB window, a 2^40-byte single segment, a dictionary);
 * RLE blocks come out in bounded slices; broken streams are refused with a message.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { OmlmdError } from '../../src/core/errors';
import { MAX_ZSTD_WINDOW, zstdDecompress } from '../../src/core/transfer/zstd';

const zstd = (input: Buffer, args: string[] = []): Buffer => execFileSync('zstd', ['-q', '-c', ...args], { input, maxBuffer: 1 << 30 });

async function* chunks(b: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}
async function inflate(b: Buffer, size = 65536): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of zstdDecompress(chunks(b, size))) out.push(c);
  return Buffer.concat(out);
}
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A frame header: magic, descriptor, then the window descriptor / dictionary id / content size bytes given. */
const frame = (fhd: number, rest: number[]): Buffer => Buffer.from([0x28, 0xb5, 0x2f, 0xfd, fhd, ...rest]);
/** A block header: last flag, type (0 raw, 1 RLE, 2 compressed), size. */
const block = (last: boolean, type: number, size: number): Buffer => {
  const v = (size << 3) | (type << 1) | (last ? 1 : 0);
  return Buffer.from([v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff]);
};

test('what the zstd CLI writes comes back byte for byte: levels, checksums, several frames, skippable frames, 1-byte chunks', async () => {
  const text = Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(50_000));
  const random = randomBytes(3 * 1024 * 1024 + 11);
  assert.equal(sha(await inflate(zstd(random))), sha(random));
  assert.equal(sha(await inflate(zstd(text, ['-19', '--check']))), sha(text));
  assert.equal(sha(await inflate(zstd(text, ['--no-check']), 7)), sha(text), 'small chunks: headers and blocks split anywhere');
  const two = Buffer.concat([zstd(text), zstd(random)]);
  assert.equal(sha(await inflate(two)), sha(Buffer.concat([text, random])), 'frames one after the other');
  const skippable = Buffer.concat([Buffer.from([0x50, 0x2a, 0x4d, 0x18, 5, 0, 0, 0]), Buffer.from('hello'), zstd(text)]);
  assert.equal(sha(await inflate(skippable, 3)), sha(text), 'a skippable frame is passed over');
  const tiny = Buffer.from('x');
  assert.equal((await inflate(zstd(tiny), 1)).toString(), 'x');
  const empty = Buffer.alloc(0);
  assert.equal((await inflate(zstd(empty))).length, 0);
});

test('hostile frames: a 1 GiB window, a 2^40-byte single segment, a dictionary: refused before decoding', async () => {
  const refused = async (b: Buffer, re: RegExp, code: string) => {
    await assert.rejects(inflate(b), (e: unknown) => OmlmdError.is(e, code as never) && re.test((e as Error).message));
  };
  // Window descriptor exponent 20: 2^30 bytes.
  await refused(Buffer.concat([frame(0x00, [20 << 3]), block(true, 0, 0)]), new RegExp(`${2 ** 30}-byte window, over the ${MAX_ZSTD_WINDOW}`), 'UNSAFE_PATH');
  // Single segment (0x20), 8-byte content size (0xc0): 2^40.
  await refused(Buffer.concat([frame(0xe0, [0, 0, 0, 0, 0, 1, 0, 0]), block(true, 0, 0)]), /-byte window, over the/, 'UNSAFE_PATH');
  // A 1-byte dictionary id (flag 1).
  await refused(Buffer.concat([frame(0x01, [10 << 3, 7]), block(true, 0, 0)]), /dictionary 7/, 'INVALID_MANIFEST');
  // A block larger than the 128 KiB a block may be.
  await refused(Buffer.concat([frame(0x00, [10 << 3]), block(true, 0, 200_000)]), /a block of 200000 bytes/, 'INVALID_MANIFEST');
  await refused(Buffer.from('PK\u0003\u0004 not zstd at all'), /does not start with zstd's magic/, 'INVALID_MANIFEST');
  await refused(Buffer.alloc(0), /empty/, 'INVALID_MANIFEST');
  const whole = zstd(randomBytes(100_000));
  await refused(whole.subarray(0, whole.length - 10), /cut short/, 'INVALID_MANIFEST');
  await refused(Buffer.concat([whole, Buffer.from('trailing garbage')]), /after the last frame/, 'INVALID_MANIFEST');
});

test('RLE blocks (64 KiB of input that would make 2 GiB) come out in slices of about 1 MiB, so a caller can stop at its limit', async () => {
  const blocks = 16_384;
  const bomb = Buffer.concat([frame(0x00, [7 << 3]), ...Array.from({ length: blocks }, (_, i) => Buffer.concat([block(i === blocks - 1, 1, 128 * 1024), Buffer.from([0])]))]);
  assert.ok(bomb.length < 70_000);
  let total = 0;
  let largest = 0;
  const before = process.memoryUsage().arrayBuffers;
  let held = 0;
  for await (const c of zstdDecompress(chunks(bomb, bomb.length))) {
    // What the decoder made before handing over its first piece is all still held here.
    if (total === 0) held = process.memoryUsage().arrayBuffers - before;
    total += c.length;
    largest = Math.max(largest, c.length);
    if (total > 64 * 1024 * 1024) break;
  }
  assert.ok(total > 64 * 1024 * 1024);
  assert.ok(largest <= 128 * 1024, `the largest piece was ${largest} bytes`);
  // One call into the decoder for the whole input would hold 2 GiB here.
  assert.ok(held < 16 * 1024 * 1024, `${held} bytes were decoded before the first piece came out`);
});
