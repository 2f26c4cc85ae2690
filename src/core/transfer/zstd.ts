/**
 * zstd decompression as a stream, for KitOps' `….tar+zstd` layers (Node 20's zlib has no zstd):
 * fzstd (pure JS) decodes, and a frame scanner of ours walks the compressed bytes ahead of it,
 * so that what an untrusted layer can make it do is bounded:
 *
 * - each frame's window (what fzstd allocates for it) is read from the frame header before
 *   fzstd sees the header, and refused over {@link MAX_ZSTD_WINDOW} (libzstd's own default
 *   decoder limit, windowLog 27); dictionaries (which fzstd cannot use) are refused;
 * - fzstd is given whole blocks, cut so that one call regenerates at most about
 *   {@link OUTPUT_SLICE} bytes (a block's header says how much it can regenerate: 128 KiB at
 *   most), so 64 KiB of RLE blocks cannot make 2 GiB in one synchronous call;
 * - the caller counts what comes out and stops at its own limit (the gzip-bomb guard of pull.ts).
 *
 * Format: RFC 8878 (frame header §3.1.1.1, blocks §3.1.1.2, skippable frames §3.1.2).
 */
import { Decompress } from 'fzstd';
import { OmlmdError } from '../errors';

/** The largest window a frame may ask for: 128 MiB, libzstd's default decoder limit (ZSTD_WINDOWLOG_LIMIT_DEFAULT). */
export const MAX_ZSTD_WINDOW = 128 * 1024 * 1024;
/** About how many bytes one call into the decoder may regenerate. */
const OUTPUT_SLICE = 1024 * 1024;
const BLOCK_MAX = 128 * 1024;
const ZSTD_MAGIC = 0xfd2fb528;

export function isZstdMagic(b: Buffer): boolean {
  return b.length >= 4 && b.readUInt32LE(0) === ZSTD_MAGIC;
}

type State =
  | { kind: 'frame' } // at a frame's start: its magic and header next
  | { kind: 'skip'; left: number } // inside a skippable frame
  | { kind: 'block'; window: number; checksum: boolean } // at a block header
  | { kind: 'content'; left: number; last: boolean; window: number; checksum: boolean } // inside a block
  | { kind: 'checksum'; left: number };

/** The frame header's length when `b` (from a frame's start) holds enough of it to tell, else 0. */
function headerLength(b: Buffer): number {
  if (b.length < 5) return 0;
  const fhd = b[4]!;
  const single = (fhd >> 5) & 1;
  const fcsFlag = fhd >> 6;
  const did = [0, 1, 2, 4][fhd & 3]!;
  const fcs = fcsFlag === 0 ? single : 1 << fcsFlag;
  return 5 + (single ? 0 : 1) + did + fcs;
}

function invalid(why: string): OmlmdError {
  return new OmlmdError('INVALID_MANIFEST', `not a zstd stream omlmd reads: ${why}`);
}

/** Reads a frame header (complete in `h`): its window size, whether blocks are followed by a checksum. */
function readHeader(h: Buffer): { window: number; checksum: boolean } {
  const fhd = h[4]!;
  if (fhd & 0x08) throw invalid('a frame header sets its reserved bit');
  const single = (fhd >> 5) & 1;
  const fcsFlag = fhd >> 6;
  const didBytes = [0, 1, 2, 4][fhd & 3]!;
  let at = 5;
  let window = 0;
  if (!single) {
    const wd = h[at++]!;
    const base = 2 ** (10 + (wd >> 3));
    window = base + (base / 8) * (wd & 7);
  }
  let dict = 0;
  for (let i = 0; i < didBytes; i++) dict += h[at + i]! * 2 ** (8 * i);
  at += didBytes;
  if (dict !== 0) throw invalid(`a frame needs dictionary ${dict}, which omlmd does not have`);
  const fcsBytes = fcsFlag === 0 ? single : 1 << fcsFlag;
  let fcs = 0;
  for (let i = 0; i < fcsBytes; i++) fcs += h[at + i]! * 2 ** (8 * i);
  if (fcsBytes === 2) fcs += 256;
  // A single-segment frame's window is its whole content.
  if (single) window = fcs;
  if (window > MAX_ZSTD_WINDOW) {
    throw new OmlmdError('UNSAFE_PATH', `a zstd frame asks for a ${window}-byte window, over the ${MAX_ZSTD_WINDOW} omlmd allows (libzstd's own default limit); nothing was unpacked`);
  }
  return { window, checksum: ((fhd >> 2) & 1) === 1 };
}

/**
 * Decompresses a zstd stream (one frame or more, skippable frames passed over) chunk by chunk.
 * Errors: INVALID_MANIFEST for data that is not zstd or is cut short, UNSAFE_PATH for a window
 * over the limit.
 */
export async function* zstdDecompress(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let out: Buffer[] = [];
  const decoder = new Decompress((data) => {
    if (data.length) out.push(Buffer.from(data.buffer, data.byteOffset, data.length));
  });
  const feed = (bytes: Buffer, final = false): Buffer[] => {
    try {
      decoder.push(bytes, final);
    } catch (e) {
      if (OmlmdError.is(e)) throw e;
      throw invalid((e as Error).message);
    }
    const got = out;
    out = [];
    return got;
  };
  let state = { kind: 'frame' } as State;
  let carry = Buffer.alloc(0);
  let frames = 0;
  for await (const piece of source) {
    const chunk = carry.length ? Buffer.concat([carry, piece]) : piece;
    carry = Buffer.alloc(0);
    let at = 0;
    let start = 0;
    let regenerated = 0;
    let held = false;
    while (at < chunk.length && !held) {
      const st: State = state;
      switch (st.kind) {
        case 'frame': {
          const rest = chunk.subarray(at);
          if (rest.length < 8) {
            held = true;
            break;
          }
          const magic = rest.readUInt32LE(0);
          if ((magic & 0xfffffff0) === 0x184d2a50) {
            state = { kind: 'skip', left: rest.readUInt32LE(4) };
            at += 8;
            break;
          }
          if (magic !== ZSTD_MAGIC) throw invalid(frames === 0 ? 'it does not start with zstd\'s magic number' : 'bytes after the last frame are not a frame');
          const n = headerLength(rest);
          if (rest.length < n) {
            held = true;
            break;
          }
          const h = readHeader(rest.subarray(0, n));
          frames++;
          state = { kind: 'block', ...h };
          at += n;
          break;
        }
        case 'skip': {
          const n = Math.min(st.left, chunk.length - at);
          at += n;
          state = st.left - n === 0 ? { kind: 'frame' } : { kind: 'skip', left: st.left - n };
          break;
        }
        case 'block': {
          if (chunk.length - at < 3) {
            held = true;
            break;
          }
          const bh = chunk[at]! | (chunk[at + 1]! << 8) | (chunk[at + 2]! << 16);
          const last = (bh & 1) === 1;
          const type = (bh >> 1) & 3;
          const size = bh >>> 3;
          if (type === 3) throw invalid('a block of the reserved type');
          const maxBlock = Math.min(st.window || BLOCK_MAX, BLOCK_MAX);
          if (size > maxBlock) throw invalid(`a block of ${size} bytes, over the ${maxBlock} its frame allows`);
          regenerated += type === 2 ? maxBlock : size;
          at += 3;
          const left = type === 1 ? 1 : size;
          state = left > 0 ? { kind: 'content', left, last, window: st.window, checksum: st.checksum }
            : last ? (st.checksum ? { kind: 'checksum', left: 4 } : { kind: 'frame' }) : { kind: 'block', window: st.window, checksum: st.checksum };
          break;
        }
        case 'content': {
          const n = Math.min(st.left, chunk.length - at);
          at += n;
          if (st.left - n > 0) {
            state = { ...st, left: st.left - n };
            break;
          }
          const { last, window, checksum } = st;
          state = last ? (checksum ? { kind: 'checksum', left: 4 } : { kind: 'frame' }) : { kind: 'block', window, checksum };
          // A whole block ends here: a place to cut, once enough would come out.
          if (regenerated >= OUTPUT_SLICE) {
            for (const b of feed(chunk.subarray(start, at))) yield b;
            start = at;
            regenerated = 0;
          }
          break;
        }
        case 'checksum': {
          const n = Math.min(st.left, chunk.length - at);
          at += n;
          state = st.left - n === 0 ? { kind: 'frame' } : { kind: 'checksum', left: st.left - n };
          break;
        }
      }
    }
    // A frame header not yet whole waits for the next chunk (so its window is checked first).
    if (held) carry = Buffer.from(chunk.subarray(at));
    if (at > start) for (const b of feed(chunk.subarray(start, at))) yield b;
  }
  if (carry.length || state.kind !== 'frame' || frames === 0) throw invalid(frames === 0 && !carry.length ? 'it is empty' : 'it is cut short');
  for (const b of feed(Buffer.alloc(0), true)) yield b;
}
