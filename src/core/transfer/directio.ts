import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

/**
 * Direct I/O (O_DIRECT) for the large files a pull writes: the bytes go from our buffers to
 * the disk without passing through the page cache.
 *
 * Why: a multi-GB model written through the page cache costs one new cache page per 4 KiB,
 * evicts what the user was working with, and on virtual machines that hand freed memory back
 * to the host (free page reporting, as on the Firecracker VMs this project is benchmarked on)
 * every one of those pages is a fault into the hypervisor: writing 2 GiB there takes 5–6 s of
 * kernel time through the cache and 0.4 s direct (docs/benchmarks.md). The hashing worker
 * reads the file back the same way.
 *
 * Direct I/O wants the file offset, the length and the memory address aligned to the
 * device's block size. Offsets and lengths we align ourselves (4 KiB covers every block
 * size in use); memory comes from WebAssembly.Memory, whose buffers start on a page
 * boundary, where a Buffer from Buffer.alloc does not. Whatever is not aligned (the tail of a
 * file, a range an interrupted run left at an odd offset) goes through the page cache, and a
 * file system that refuses O_DIRECT (tmpfs, some network and FUSE file systems) gets
 * buffered I/O throughout. `OMLMD_DIRECT_IO=0` turns it off.
 */

/** Offsets and lengths of direct reads and writes are multiples of this. */
export const DIRECT_ALIGN = 4096;
/** Blobs from this size on are written directly: below it the page cache costs little. */
export const DIRECT_MIN_SIZE = 16 * 1024 * 1024;
/**
 * One staging buffer: what a part collects before one direct write (and one hand-over to the
 * hashing worker). 2 MiB, measured on this machine against 1 MiB (loopback, 6 interleaved
 * runs each, medians): one 2 GiB file pulled in 2.05 s with 2.20 s of CPU against 2.21 s and
 * 2.41 s, 16 files of 128 MiB in 1.89 s and 2.22 s against 2.00 s and 2.48 s; peak RSS 73 and
 * 87 MB against 72 and 82. 4 MiB was a little faster still but held 120 MB at the peak.
 */
export const SEGMENT_SIZE = 2 * 1024 * 1024;
/**
 * Segments the pool lends before a part keeps one write in flight rather than two: a blob
 * alone fills one segment while two are written (6 MiB), four at once one each (16 MiB, where
 * two each held 24 MiB and peaked 93-94 MB against 87-89 for 16 files, no faster).
 */
export const SEGMENT_CAP = 4;
/** A pool unused this long lets its segments go: a long-lived process (the extension host) does not keep 16-32 MiB after a pull. */
export const SEGMENT_IDLE_MS = 30_000;

const WASM_PAGE = 64 * 1024;
// Node's types declare WebAssembly only as a namespace of types (no DOM lib here).
const WasmMemory = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number; maximum: number; shared?: boolean }) => { buffer: ArrayBuffer | SharedArrayBuffer } } }).WebAssembly.Memory;

/** The O_DIRECT flag where direct I/O is available and not turned off, else undefined. */
export function directFlag(env: NodeJS.ProcessEnv = process.env): number | undefined {
  if (process.platform !== 'linux') return undefined;
  const setting = (env.OMLMD_DIRECT_IO ?? '').trim().toLowerCase();
  if (['0', 'false', 'no', 'off'].includes(setting)) return undefined;
  const flag = (constants as Record<string, number | undefined>).O_DIRECT;
  return typeof flag === 'number' && flag > 0 ? flag : undefined;
}

export function isAligned(offset: number, length: number): boolean {
  return offset % DIRECT_ALIGN === 0 && length % DIRECT_ALIGN === 0;
}

/**
 * `bytes` (a multiple of 64 KiB) of page-aligned memory; `shared`: a SharedArrayBuffer's, so
 * that the hashing worker reads what a download writes without a copy (HashPool.feed).
 */
export function alignedBuffer(bytes: number, shared = false): Buffer {
  const pages = Math.ceil(bytes / WASM_PAGE);
  const mem = new WasmMemory({ initial: pages, maximum: pages, shared });
  return Buffer.from(mem.buffer, 0, bytes);
}

/**
 * Aligned staging buffers (shared memory, which the hashing worker can read), reused across parts and downloads: they are taken and given back
 * at the pace of the writes, so the process touches the same few megabytes all along.
 *
 * The cap is soft: take() never refuses (a socket's read needs a buffer at once), but a part
 * that already has a write in flight waits for it rather than take a segment past the cap
 * (DirectSink).
 */
export class SegmentPool {
  private free: Buffer[] = [];
  private readonly perBlock: number;
  private lent = 0;
  private idle: NodeJS.Timeout | undefined;

  constructor(
    readonly segmentSize = SEGMENT_SIZE,
    /** Segments carved from one WebAssembly.Memory at a time. */
    perBlock = 8,
    /** Segments lent at once beyond which spare() says no. */
    readonly cap = SEGMENT_CAP,
    /** With nothing lent for this long, the pool lets its memory go (0: never). */
    private readonly idleMs = SEGMENT_IDLE_MS,
  ) {
    this.perBlock = perBlock;
  }

  take(): Buffer {
    clearTimeout(this.idle);
    this.idle = undefined;
    this.lent++;
    const b = this.free.pop();
    if (b) return b;
    const block = alignedBuffer(this.segmentSize * this.perBlock, true);
    for (let i = 1; i < this.perBlock; i++) this.free.push(block.subarray(i * this.segmentSize, (i + 1) * this.segmentSize));
    return block.subarray(0, this.segmentSize);
  }

  give(b: Buffer): void {
    this.lent--;
    this.free.push(b);
    if (this.lent > 0 || this.idleMs <= 0 || this.idle) return;
    // The next garbage collection frees the blocks (the hashing worker's views of them go with its own).
    this.idle = setTimeout(() => {
      this.idle = undefined;
      this.free = [];
    }, this.idleMs);
    this.idle.unref();
  }

  /** Whether one more segment may be taken within the cap. */
  spare(): boolean {
    return this.lent < this.cap;
  }
}

/** One pool for the process: transfers one after the other reuse the same memory. */
export const sharedSegments = new SegmentPool();

/**
 * Opens `path` (which exists) for direct writes with `flag` (directFlag()), or undefined when
 * there is no flag (direct I/O off) or the file system refuses.
 */
export async function openDirectForWrite(path: string, flag: number | undefined): Promise<FileHandle | undefined> {
  if (flag === undefined) return undefined;
  try {
    return await open(path, constants.O_WRONLY | flag);
  } catch {
    return undefined;
  }
}

/** Errors that mean "not this way" for a direct write: retried through the page cache. */
export function refusedDirect(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EINVAL' || code === 'EOPNOTSUPP' || code === 'ENOTSUP';
}
