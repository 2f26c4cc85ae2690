/**
 * Bounded random access for header inspection: a file (or a registry blob) is read at
 * offsets, never as a whole, and never past a byte budget. Every parser reads through a
 * {@link BoundedReader}, so what it costs is counted in one place (`bytesRead`).
 */
import { open } from 'node:fs/promises';
import { OmlmdError, toOmlmdError } from '../../errors';

/** What a reader reads from: a size and reads at offsets. */
export interface ByteSource {
  readonly size: number;
  /** Bytes [offset, offset + length); the source may return fewer only at its end. */
  read(offset: number, length: number): Promise<Buffer>;
  /** How much to read ahead on a miss: small for files, larger where a read costs a round trip. */
  readonly blockSize: number;
  close(): Promise<void>;
}

/** Sizes in binary units, as budgets are given: `64 KiB`, `1 MiB`, `2 GiB`. */
export function ibytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 || Number.isInteger(v) ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

export const DEFAULT_HEADER_BUDGET = 1 << 20;
export const MAX_HEADER_BUDGET = 16 << 20;

/** A local file, read with positioned reads on one descriptor. */
export async function openFileSource(path: string): Promise<ByteSource> {
  let fh;
  try {
    fh = await open(path, 'r');
    const st = await fh.stat();
    if (!st.isFile()) throw new OmlmdError('USAGE', `${path} is not a file`);
    const handle = fh;
    return {
      size: st.size,
      blockSize: 16 * 1024,
      async read(offset, length) {
        const buf = Buffer.allocUnsafe(length);
        let got = 0;
        while (got < length) {
          const { bytesRead } = await handle.read(buf, got, length - got, offset + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        return got === length ? buf : buf.subarray(0, got);
      },
      close: () => handle.close(),
    };
  } catch (e) {
    await fh?.close().catch(() => undefined);
    throw toOmlmdError(e, { verb: 'read-file', target: path });
  }
}

/** Thrown inside the parsers when the next read would go past the budget; never leaves the headers module. */
export class BudgetExceeded extends Error {
  constructor(readonly budget: number, readonly at: number) {
    super(`the header goes on past the ${ibytes(budget)} read budget (at byte ${at})`);
  }
}

/**
 * Reads of a source through one window of read-ahead, counting what it fetches and
 * refusing a fetch that would pass `maxBytes`. Memory is the window: at most one read's
 * length or the block size, whichever is larger.
 */
export class BoundedReader {
  bytesRead = 0;
  reads = 0;
  private win: Buffer = Buffer.alloc(0);
  private winStart = 0;

  constructor(
    readonly source: ByteSource,
    readonly maxBytes: number,
    /** The file or blob being read, for messages. */
    readonly name: string,
  ) {}

  get size(): number {
    return this.source.size;
  }

  get remaining(): number {
    return this.maxBytes - this.bytesRead;
  }

  /** A malformed header: the error every parser throws, naming the file. */
  malformed(problem: string): OmlmdError {
    return new OmlmdError('INVALID_MODEL_FILE', problem, {
      operation: { verb: 'read-file', target: this.name },
      remedies: [{ kind: 'say', text: 'the file is damaged or not what its name says: check where it came from' }],
    });
  }

  /** Exactly bytes [offset, offset + length): a view of the window, valid until the next call. */
  async bytes(offset: number, length: number): Promise<Buffer> {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw this.malformed(`the header points past the end of the file (${length} bytes at offset ${offset}; the file is ${this.size} bytes)`);
    }
    if (offset >= this.winStart && offset + length <= this.winStart + this.win.length) {
      return this.win.subarray(offset - this.winStart, offset - this.winStart + length);
    }
    if (length > this.remaining) throw new BudgetExceeded(this.maxBytes, offset);
    const want = Math.min(Math.max(length, this.source.blockSize), this.size - offset, this.remaining);
    const buf = await this.source.read(offset, want);
    this.bytesRead += buf.length;
    this.reads++;
    if (buf.length < length) throw this.malformed(`the file ended early: ${length} bytes wanted at offset ${offset}, ${buf.length} there`);
    this.win = buf;
    this.winStart = offset;
    return buf.subarray(0, length);
  }

  /** The bytes when the window already holds them, without a read (a fast path for tight loops). */
  cached(offset: number, length: number): Buffer | undefined {
    if (offset >= this.winStart && offset + length <= this.winStart + this.win.length) return this.win.subarray(offset - this.winStart, offset - this.winStart + length);
    return undefined;
  }

  /** A copy, for bytes kept after the next read. */
  async copy(offset: number, length: number): Promise<Buffer> {
    return Buffer.from(await this.bytes(offset, length));
  }
}

/** A position in a reader, with an end it may not pass (a message's length, or the file's). */
export class Cursor {
  constructor(
    readonly r: BoundedReader,
    public pos: number,
    readonly end: number = r.size,
  ) {}

  get left(): number {
    return this.end - this.pos;
  }

  private need(n: number, what: string): void {
    if (n > this.end - this.pos) throw this.r.malformed(`${what} at offset ${this.pos} runs past the end (${n} bytes wanted, ${this.end - this.pos} left)`);
  }

  async take(n: number, what = 'a field'): Promise<Buffer> {
    this.need(n, what);
    const b = await this.r.bytes(this.pos, n);
    this.pos += n;
    return b;
  }

  passOver(n: number, what = 'a field'): void {
    this.need(n, what);
    this.pos += n;
  }

  async u8(): Promise<number> {
    return (await this.take(1)).readUInt8(0);
  }
}
