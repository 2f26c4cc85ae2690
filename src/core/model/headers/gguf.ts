/**
 * GGUF (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md): magic, version, tensor
 * and key/value counts, the key/values, then one info record per tensor (name, shape, type,
 * offset). Ours rather than @huggingface/gguf's: that parser reads a local file in 2 MB
 * chunks (the first read alone passes a 1 MiB budget) up to 50 MB, and throws plain
 * Errors; this one reads through the bounded reader and stops at its budget with what it
 * has. Counts are checked against what the file can hold before any loop runs.
 */
import { BudgetExceeded, Cursor, type BoundedReader, ibytes } from './reader';
import type { HeaderSummary } from './types';

const MAX_KV = 1_000_000;
const MAX_TENSORS = 10_000_000;
const MAX_DIMS = 8;
const MAX_ARRAY_DEPTH = 4;

/** ggml tensor types (ggml.h `enum ggml_type`). */
const GGML_TYPES: Record<number, string> = {
  0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 6: 'Q5_0', 7: 'Q5_1', 8: 'Q8_0', 9: 'Q8_1', 10: 'Q2_K', 11: 'Q3_K', 12: 'Q4_K',
  13: 'Q5_K', 14: 'Q6_K', 15: 'Q8_K', 16: 'IQ2_XXS', 17: 'IQ2_XS', 18: 'IQ3_XXS', 19: 'IQ1_S', 20: 'IQ4_NL', 21: 'IQ3_S',
  22: 'IQ2_S', 23: 'IQ4_XS', 24: 'I8', 25: 'I16', 26: 'I32', 27: 'I64', 28: 'F64', 29: 'IQ1_M', 30: 'BF16', 34: 'TQ1_0',
  35: 'TQ2_0', 39: 'MXFP4',
};

/** `general.file_type` (llama.h `enum llama_ftype`). */
const FILE_TYPES: Record<number, string> = {
  0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 7: 'Q8_0', 8: 'Q5_0', 9: 'Q5_1', 10: 'Q2_K', 11: 'Q3_K_S', 12: 'Q3_K_M', 13: 'Q3_K_L',
  14: 'Q4_K_S', 15: 'Q4_K_M', 16: 'Q5_K_S', 17: 'Q5_K_M', 18: 'Q6_K', 19: 'IQ2_XXS', 20: 'IQ2_XS', 21: 'Q2_K_S', 22: 'IQ3_XS',
  23: 'IQ3_XXS', 24: 'IQ1_S', 25: 'IQ4_NL', 26: 'IQ3_S', 27: 'IQ3_M', 28: 'IQ2_S', 29: 'IQ2_M', 30: 'IQ4_XS', 31: 'IQ1_M',
  32: 'BF16', 36: 'TQ1_0', 37: 'TQ2_0', 38: 'MXFP4_MOE',
};

/** Sizes of the fixed-size value types; 8 (string) and 9 (array) are variable. */
const FIXED: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

type Scalar = number | bigint | boolean | string;

class GgufCursor extends Cursor {
  le = true;
  /** GGUF v1 wrote counts and lengths as u32, later versions as u64. */
  wide = true;

  async u32(): Promise<number> {
    const b = await this.take(4);
    return this.le ? b.readUInt32LE(0) : b.readUInt32BE(0);
  }

  async u64(): Promise<bigint> {
    const b = await this.take(8);
    return this.le ? b.readBigUInt64LE(0) : b.readBigUInt64BE(0);
  }

  /** A count or length: checked against what is left of the file before it is used. */
  async count(what: string, unit: number): Promise<number> {
    const n = this.wide ? await this.u64() : BigInt(await this.u32());
    if (n * BigInt(unit) > BigInt(this.left)) throw this.r.malformed(`the GGUF header says ${what} is ${n}, more than the ${ibytes(this.left)} left in the file can hold`);
    return Number(n);
  }

  async str(keep = 1024): Promise<string | undefined> {
    const n = await this.count('a string length', 1);
    if (n > keep) {
      this.passOver(n, 'a string');
      return undefined;
    }
    return (await this.take(n, 'a string')).toString('utf8');
  }

  async scalar(type: number): Promise<Scalar> {
    const b = await this.take(FIXED[type]!, 'a value');
    const le = this.le;
    switch (type) {
      case 0: return b.readUInt8(0);
      case 1: return b.readInt8(0);
      case 2: return le ? b.readUInt16LE(0) : b.readUInt16BE(0);
      case 3: return le ? b.readInt16LE(0) : b.readInt16BE(0);
      case 4: return le ? b.readUInt32LE(0) : b.readUInt32BE(0);
      case 5: return le ? b.readInt32LE(0) : b.readInt32BE(0);
      case 6: return le ? b.readFloatLE(0) : b.readFloatBE(0);
      case 7: return b[0] !== 0;
      case 10: return le ? b.readBigUInt64LE(0) : b.readBigUInt64BE(0);
      case 11: return le ? b.readBigInt64LE(0) : b.readBigInt64BE(0);
      default: return le ? b.readDoubleLE(0) : b.readDoubleBE(0);
    }
  }

  /** A value: scalars and short strings returned, arrays walked past (their length when asked). */
  async value(type: number, depth = 0): Promise<Scalar | { array: number } | undefined> {
    if (type in FIXED) return this.scalar(type);
    if (type === 8) return this.str();
    if (type !== 9) throw this.r.malformed(`GGUF value type ${type} at offset ${this.pos} is not one the format defines`);
    if (depth >= MAX_ARRAY_DEPTH) throw this.r.malformed(`GGUF arrays nest more than ${MAX_ARRAY_DEPTH} deep`);
    const elem = await this.u32();
    if (!(elem in FIXED) && elem !== 8 && elem !== 9) throw this.r.malformed(`GGUF array element type ${elem} is not one the format defines`);
    const n = await this.count('an array length', elem in FIXED ? FIXED[elem]! : this.wide ? 8 : 4);
    if (elem in FIXED) this.passOver(n * FIXED[elem]!, 'an array');
    else if (elem === 8) {
      for (let i = 0; i < n; i++) {
        // Tokenizer arrays hold 30k-250k strings: read their lengths from the window when it has them.
        const b = this.le && this.wide && this.left >= 8 ? this.r.cached(this.pos, 8) : undefined;
        if (b) {
          const len = b.readBigUInt64LE(0);
          if (len > BigInt(this.left - 8)) throw this.r.malformed(`the GGUF header says a string length is ${len}, more than the ${ibytes(this.left - 8)} left in the file can hold`);
          this.pos += 8;
          this.passOver(Number(len), 'a string');
        } else this.passOver(await this.count('a string length', 1), 'a string');
      }
    }
    else for (let i = 0; i < n; i++) await this.value(9, depth + 1);
    return { array: n };
  }
}

export function isGguf(head: Buffer): boolean {
  return head.length >= 4 && head.toString('latin1', 0, 4) === 'GGUF';
}

export async function readGguf(r: BoundedReader, out: HeaderSummary): Promise<void> {
  const c = new GgufCursor(r, 4);
  if (r.size < 16) throw r.malformed(`a GGUF file has at least a 16-byte header; this one is ${r.size} bytes`);
  const vb = await c.take(4);
  let version = vb.readUInt32LE(0);
  // A big-endian file: its version reads as a huge number little-endian.
  if (version > 0xffff) {
    c.le = false;
    version = vb.readUInt32BE(0);
  }
  if (version < 1 || version > 3) throw r.malformed(`GGUF version ${version} is not one this reader knows (1 to 3)`);
  c.wide = version >= 2;
  out.formatVersion = String(version);
  out.framework = 'gguf';
  const kvUnit = c.wide ? 8 + 4 + 1 : 4 + 4 + 1;
  const tensorUnit = c.wide ? 8 + 4 + 4 + 8 : 4 + 4 + 4 + 8;
  const tensorsRaw = c.wide ? await c.u64() : BigInt(await c.u32());
  const kvRaw = c.wide ? await c.u64() : BigInt(await c.u32());
  if (kvRaw > BigInt(MAX_KV) || kvRaw * BigInt(kvUnit) > BigInt(c.left)) throw r.malformed(`the GGUF header says it holds ${kvRaw} metadata keys, more than ${kvRaw > BigInt(MAX_KV) ? `any model has (at most ${MAX_KV} are read)` : `a file of ${ibytes(r.size)} can hold`}`);
  if (tensorsRaw > BigInt(MAX_TENSORS) || tensorsRaw * BigInt(tensorUnit) > BigInt(c.left)) throw r.malformed(`the GGUF header says it holds ${tensorsRaw} tensors, more than ${tensorsRaw > BigInt(MAX_TENSORS) ? `any model has (at most ${MAX_TENSORS} are read)` : `a file of ${ibytes(r.size)} can hold`}`);
  const kvCount = Number(kvRaw);
  const tensorCount = Number(tensorsRaw);
  out.tensorCount = tensorCount;

  const kv = new Map<string, Scalar>();
  const text: Record<string, string> = {};
  let stage = 'metadata';
  try {
    for (let i = 0; i < kvCount; i++) {
      const key = (await c.str(65536)) ?? '';
      const type = await c.u32();
      const v = await c.value(type);
      if (v === undefined || typeof v === 'object') continue;
      if (kv.size < 4096) kv.set(key, v);
      if (key.startsWith('general.') && Object.keys(text).length < 64) text[key] = typeof v === 'string' ? v : String(v);
    }
    stage = 'tensor infos';
    let params = 0;
    const dtypes: Record<string, number> = {};
    const elementsByType = new Map<string, number>();
    for (let i = 0; i < tensorCount; i++) {
      c.passOver(await c.count('a tensor name length', 1), 'a tensor name');
      const dims = await c.u32();
      if (dims > MAX_DIMS) throw r.malformed(`GGUF tensor ${i} has ${dims} dimensions (at most ${MAX_DIMS})`);
      let elements = 1;
      for (let d = 0; d < dims; d++) {
        const n = c.wide ? await c.u64() : BigInt(await c.u32());
        if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw r.malformed(`GGUF tensor ${i} has a dimension of ${n}`);
        elements *= Number(n);
      }
      if (!Number.isSafeInteger(elements) || !Number.isSafeInteger(params + elements)) throw r.malformed(`GGUF tensor ${i} has more elements than can be counted`);
      const t = await c.u32();
      await c.u64(); // offset into the data
      const name = GGML_TYPES[t] ?? `type ${t}`;
      params += elements;
      dtypes[name] = (dtypes[name] ?? 0) + 1;
      elementsByType.set(name, (elementsByType.get(name) ?? 0) + elements);
    }
    out.parameters = params;
    out.dtypes = dtypes;
    if (kv.get('general.file_type') === undefined && elementsByType.size) {
      out.quantization = [...elementsByType].sort((a, b) => b[1] - a[1])[0]![0];
    }
  } catch (e) {
    if (!(e instanceof BudgetExceeded)) throw e;
    out.complete = false;
    out.warnings.push(`the GGUF ${stage} go on past the ${ibytes(r.maxBytes)} read budget${stage === 'metadata' ? ': the parameter count and some keys were not read' : ': the parameter count was not read'} (a larger budget, up to 16 MiB, reads them)`);
  }
  const arch = kv.get('general.architecture');
  if (typeof arch === 'string') out.architecture = arch;
  const ft = kv.get('general.file_type');
  if (typeof ft === 'number' || typeof ft === 'bigint') out.quantization = FILE_TYPES[Number(ft)] ?? `file type ${ft}`;
  const ctx = typeof arch === 'string' ? kv.get(`${arch}.context_length`) : undefined;
  if (typeof ctx === 'number' || typeof ctx === 'bigint') out.contextLength = Number(ctx);
  if (Object.keys(text).length) out.metadata = text;
}
