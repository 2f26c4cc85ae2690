/**
 * Zip archives (PKWARE APPNOTE 6.3): the end-of-central-directory record (and its zip64
 * form), the central directory, and a member's bytes when a parser needs them. PyTorch's
 * `torch.save` archive (`ARCHIVE/data.pkl`, `ARCHIVE/version`, stored uncompressed) and Keras 3's
 * `.keras` (`config.json`, `metadata.json`, `model.weights.h5`) are zips.
 */
import { inflateRawSync } from 'node:zlib';
import { scanPickle } from './pickle';
import { BoundedReader, BudgetExceeded, Cursor, MAX_HEADER_BUDGET, type ByteSource, ibytes } from './reader';
import type { HeaderSummary } from './types';

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

const MAX_ENTRIES = 200_000;

export function isZip(head: Buffer): boolean {
  return head.length >= 4 && head.readUInt32LE(0) === 0x04034b50;
}

/** The central directory's entries. */
export async function zipEntries(r: BoundedReader): Promise<ZipEntry[]> {
  const tailLen = Math.min(r.size, 22 + 65535);
  const tail = await r.copy(r.size - tailLen, tailLen);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw r.malformed('no zip end-of-central-directory record: the archive is truncated or not a zip');
  let count = tail.readUInt16LE(eocd + 10);
  let cdSize = tail.readUInt32LE(eocd + 12);
  let cdOffset = tail.readUInt32LE(eocd + 16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || tail.readUInt32LE(loc) !== 0x07064b50) throw r.malformed('a zip64 archive without its zip64 locator');
    const at = tail.readBigUInt64LE(loc + 8);
    if (at > BigInt(r.size - 56)) throw r.malformed('the zip64 end-of-central-directory record points past the end of the file');
    const rec = await r.copy(Number(at), 56);
    if (rec.readUInt32LE(0) !== 0x06064b50) throw r.malformed('no zip64 end-of-central-directory record where its locator points');
    const big = (o: number): number => {
      const v = rec.readBigUInt64LE(o);
      return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
    };
    count = big(32);
    cdSize = big(40);
    cdOffset = big(48);
  }
  if (cdOffset + cdSize > r.size) throw r.malformed(`the zip central directory (${cdSize} bytes at ${cdOffset}) lies past the end of the file`);
  if (count > MAX_ENTRIES || count * 46 > cdSize) throw r.malformed(`the zip says it holds ${count} entries, more than its ${cdSize}-byte central directory can`);
  const c = new Cursor(r, cdOffset, cdOffset + cdSize);
  const out: ZipEntry[] = [];
  for (let i = 0; i < count; i++) {
    const h = Buffer.from(await c.take(46, 'a zip central directory entry'));
    if (h.readUInt32LE(0) !== 0x02014b50) throw r.malformed(`zip central directory entry ${i} has no signature`);
    const nameLen = h.readUInt16LE(28);
    const extraLen = h.readUInt16LE(30);
    const commentLen = h.readUInt16LE(32);
    const name = (await c.take(nameLen, 'a zip entry name')).toString('utf8');
    const extra = Buffer.from(await c.take(extraLen, 'a zip extra field'));
    c.passOver(commentLen, 'a zip entry comment');
    let size = h.readUInt32LE(24);
    let compressedSize = h.readUInt32LE(20);
    let localOffset = h.readUInt32LE(42);
    // zip64 extended information: the 0xffffffff fields, in this order.
    for (let o = 0; o + 4 <= extra.length; ) {
      const id = extra.readUInt16LE(o);
      const len = extra.readUInt16LE(o + 2);
      if (id === 0x0001) {
        let p = o + 4;
        const next = (): number => {
          if (p + 8 > o + 4 + len) throw r.malformed(`zip entry "${name.slice(0, 80)}" has a short zip64 field`);
          const v = extra.readBigUInt64LE(p);
          p += 8;
          return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
        };
        if (size === 0xffffffff) size = next();
        if (compressedSize === 0xffffffff) compressedSize = next();
        if (localOffset === 0xffffffff) localOffset = next();
      }
      o += 4 + len;
    }
    out.push({ name, method: h.readUInt16LE(10), compressedSize, size, localOffset });
  }
  return out;
}

/** Where a member's bytes begin (after its local header). */
async function dataStart(r: BoundedReader, e: ZipEntry): Promise<number> {
  const h = await r.bytes(e.localOffset, 30);
  if (h.readUInt32LE(0) !== 0x04034b50) throw r.malformed(`zip member "${e.name.slice(0, 80)}" has no local header where the directory says`);
  const start = e.localOffset + 30 + h.readUInt16LE(26) + h.readUInt16LE(28);
  if (start + e.compressedSize > r.size) throw r.malformed(`zip member "${e.name.slice(0, 80)}" runs past the end of the file`);
  return start;
}

function bufferSource(buf: Buffer): ByteSource {
  return { size: buf.length, blockSize: buf.length, read: async (o, n) => buf.subarray(o, o + n), close: async () => undefined };
}

/**
 * A member's bytes as a reader: a stored member is read in place (so a large data.pkl costs
 * only what the scan reads), a deflated one inflated into at most `limit` bytes.
 */
async function member(r: BoundedReader, e: ZipEntry, limit: number): Promise<{ reader: BoundedReader; start: number; end: number }> {
  const start = await dataStart(r, e);
  if (e.method === 0) return { reader: r, start, end: start + e.compressedSize };
  if (e.method !== 8) throw r.malformed(`zip member "${e.name.slice(0, 80)}" uses compression method ${e.method}, which this reader does not inflate`);
  if (e.compressedSize > r.remaining) throw new BudgetExceeded(r.maxBytes, start);
  const packed = await r.copy(start, e.compressedSize);
  let buf: Buffer;
  try {
    buf = inflateRawSync(packed, { maxOutputLength: limit });
  } catch (err) {
    throw r.malformed(`zip member "${e.name.slice(0, 80)}" does not inflate within ${ibytes(limit)}: ${(err as Error).message}`);
  }
  const inner = new BoundedReader(bufferSource(buf), buf.length, `${r.name}:${e.name}`);
  return { reader: inner, start: 0, end: buf.length };
}

async function memberText(r: BoundedReader, e: ZipEntry): Promise<string> {
  const m = await member(r, e, 1 << 20);
  return (await m.reader.bytes(m.start, m.end - m.start)).toString('utf8');
}

function parseJson(r: BoundedReader, text: string, what: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw r.malformed(`${what} is not a JSON object`);
}

export async function readZip(r: BoundedReader, out: HeaderSummary): Promise<void> {
  let entries: ZipEntry[];
  try {
    entries = await zipEntries(r);
  } catch (e) {
    if (!(e instanceof BudgetExceeded)) throw e;
    out.complete = false;
    out.warnings.push(`the zip central directory is larger than the ${ibytes(r.maxBytes)} read budget: not read (a larger budget, up to 16 MiB, reads it)`);
    out.format = 'zip';
    return;
  }
  const names = new Map(entries.map((e) => [e.name, e]));
  const pkl = entries.find((e) => /^([^/]+\/)?data\.pkl$/.test(e.name));
  if (pkl) {
    const prefix = pkl.name.slice(0, pkl.name.length - 'data.pkl'.length);
    out.format = 'pytorch';
    out.framework = 'pytorch';
    const version = names.get(`${prefix}version`) ?? names.get(`${prefix}.data/version`);
    if (version && version.size <= 64) out.formatVersion = (await memberText(r, version)).trim();
    if (names.has(`${prefix}constants.pkl`) || entries.some((e) => e.name.startsWith(`${prefix}code/`))) out.architecture = 'TorchScript';
    out.tensorCount = entries.filter((e) => e.name.startsWith(`${prefix}data/`)).length;
    const m = await member(r, pkl, MAX_HEADER_BUDGET);
    try {
      out.pickle = { ...(await scanPickle(new Cursor(m.reader, m.start, m.end), out.warnings)), member: pkl.name };
    } catch (e) {
      if (!(e instanceof BudgetExceeded)) throw e;
      out.complete = false;
      out.warnings.push(`${pkl.name} is larger than the read budget: not scanned`);
    }
    return;
  }
  const config = names.get('config.json');
  const meta = names.get('metadata.json');
  if (config && meta && (names.has('model.weights.h5') || names.has('model.weights.npz'))) {
    out.format = 'keras';
    out.framework = 'keras';
    if (meta.size <= 1 << 20) {
      const md = parseJson(r, await memberText(r, meta), 'metadata.json in the .keras archive');
      if (typeof md.keras_version === 'string') out.frameworkVersion = out.formatVersion = md.keras_version;
      const text: Record<string, string> = {};
      for (const [k, v] of Object.entries(md)) if (typeof v === 'string') text[k] = v;
      out.metadata = text;
    }
    if (config.size <= r.remaining && config.size <= 1 << 20) {
      const cfg = parseJson(r, await memberText(r, config), 'config.json in the .keras archive');
      if (typeof cfg.class_name === 'string') out.architecture = cfg.class_name;
    } else out.warnings.push('the Keras config.json is larger than the read budget: the model class was not read');
    return;
  }
  out.format = 'zip';
  if (entries.some((e) => e.name.endsWith('.npy'))) out.framework = 'numpy';
  const pickles = entries.filter((e) => /\.(pkl|pickle)$/.test(e.name));
  if (pickles.length) out.warnings.push(`the archive holds pickles (${pickles.slice(0, 5).map((e) => e.name).join(', ')}): loading them runs code`);
}
