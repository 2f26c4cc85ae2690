/**
 * Model files written by code, for the header tests and bench/headers.ts: safetensors and
 * GGUF as their specs define them, a minimal ONNX ModelProto in protobuf wire format,
 * pickles by hand, and zip archives (stored or deflated, optionally zip64-free only).
 */
import { deflateRawSync } from 'node:zlib';

// ---- safetensors

export interface SafeTensor {
  dtype: string;
  shape: number[];
}

const DTYPE_BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

/** The header (8-byte length + JSON) and the size of the data that follows it. */
export function safetensorsHeader(tensors: Record<string, SafeTensor>, metadata?: Record<string, string>): { header: Buffer; dataSize: number } {
  const doc: Record<string, unknown> = {};
  if (metadata) doc.__metadata__ = metadata;
  let off = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const n = t.shape.reduce((a, b) => a * b, 1) * (DTYPE_BYTES[t.dtype] ?? 1);
    doc[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + n] };
    off += n;
  }
  let json = Buffer.from(JSON.stringify(doc));
  // The spec pads the header with spaces to an 8-byte boundary.
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return { header: Buffer.concat([len, json]), dataSize: off };
}

// ---- GGUF

export type GgufValue = { t: 'u32'; v: number } | { t: 'f32'; v: number } | { t: 'str'; v: string } | { t: 'bool'; v: boolean } | { t: 'strs'; v: string[] } | { t: 'i32s'; v: number[] } | { t: 'u64'; v: bigint };

export interface GgufTensor {
  name: string;
  shape: number[];
  /** ggml type: 0 F32, 1 F16, 12 Q4_K, 14 Q6_K, 30 BF16 */
  type: number;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}
function u64(n: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}
function gstr(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([u64(b.length), b]);
}

function gvalue(v: GgufValue): Buffer {
  switch (v.t) {
    case 'u32': return Buffer.concat([u32(4), u32(v.v)]);
    case 'u64': return Buffer.concat([u32(10), u64(v.v)]);
    case 'f32': { const b = Buffer.alloc(4); b.writeFloatLE(v.v); return Buffer.concat([u32(6), b]); }
    case 'bool': return Buffer.concat([u32(7), Buffer.from([v.v ? 1 : 0])]);
    case 'str': return Buffer.concat([u32(8), gstr(v.v)]);
    case 'strs': return Buffer.concat([u32(9), u32(8), u64(v.v.length), ...v.v.map(gstr)]);
    case 'i32s': return Buffer.concat([u32(9), u32(5), u64(v.v.length), ...v.v.map((n) => { const b = Buffer.alloc(4); b.writeInt32LE(n); return b; })]);
  }
}

/** A GGUF v3 header (padded to 32 bytes) and the data size its tensors need. */
export function ggufHeader(kv: Record<string, GgufValue>, tensors: GgufTensor[], opts: { kvCount?: bigint; tensorCount?: bigint } = {}): { header: Buffer; dataSize: number } {
  const parts: Buffer[] = [Buffer.from('GGUF'), u32(3), u64(opts.tensorCount ?? BigInt(tensors.length)), u64(opts.kvCount ?? BigInt(Object.keys(kv).length))];
  for (const [k, v] of Object.entries(kv)) parts.push(gstr(k), gvalue(v));
  let off = 0;
  const sizes: Record<number, number> = { 0: 4, 1: 2, 30: 2 };
  for (const t of tensors) {
    parts.push(gstr(t.name), u32(t.shape.length), ...t.shape.map((d) => u64(d)), u32(t.type), u64(off));
    const n = t.shape.reduce((a, b) => a * b, 1);
    off += Math.ceil((n * (sizes[t.type] ?? 1)) / 32) * 32;
  }
  let header = Buffer.concat(parts);
  header = Buffer.concat([header, Buffer.alloc((32 - (header.length % 32)) % 32)]);
  return { header, dataSize: off };
}

// ---- protobuf / ONNX

export function varint(n: number | bigint): Buffer {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return Buffer.from(out);
}
export function pbVarint(field: number, n: number | bigint): Buffer {
  return Buffer.concat([varint(field << 3), varint(n)]);
}
export function pbBytes(field: number, b: Buffer | string): Buffer {
  const buf = typeof b === 'string' ? Buffer.from(b) : b;
  return Buffer.concat([varint((field << 3) | 2), varint(buf.length), buf]);
}

function onnxValueInfo(name: string, elem: number, dims: (number | string)[]): Buffer {
  const shape = Buffer.concat(dims.map((d) => pbBytes(1, typeof d === 'number' ? pbVarint(1, d) : pbBytes(2, d))));
  const tensorType = Buffer.concat([pbVarint(1, elem), pbBytes(2, shape)]);
  return Buffer.concat([pbBytes(1, name), pbBytes(2, pbBytes(1, tensorType))]);
}

/** A ModelProto with one MatMul, one float initializer of `dims` (raw_data of its real size), an input and an output. */
export function onnxModel(opts: { dims: number[]; producer?: string; opset?: number; initializerBytes?: Buffer }): Buffer {
  const n = opts.dims.reduce((a, b) => a * b, 1);
  const raw = opts.initializerBytes ?? Buffer.alloc(n * 4, 1);
  const init = Buffer.concat([...opts.dims.map((d) => pbVarint(1, d)), pbVarint(2, 1), pbBytes(8, 'W'), pbBytes(9, raw)]);
  const node = Buffer.concat([pbBytes(1, 'X'), pbBytes(1, 'W'), pbBytes(2, 'Y'), pbBytes(4, 'MatMul')]);
  const graph = Buffer.concat([pbBytes(1, node), pbBytes(2, 'g'), pbBytes(5, init), pbBytes(11, onnxValueInfo('X', 1, ['batch', opts.dims[0]!])), pbBytes(11, onnxValueInfo('W', 1, opts.dims)), pbBytes(12, onnxValueInfo('Y', 1, ['batch', opts.dims[1] ?? 1]))]);
  return Buffer.concat([pbVarint(1, 9), pbBytes(2, opts.producer ?? 'pytorch'), pbBytes(3, '2.3.0'), pbBytes(7, graph), pbBytes(8, Buffer.concat([pbBytes(1, ''), pbVarint(2, opts.opset ?? 17)]))]);
}

// ---- pickle

/** Protocol 2, by hand: `os.system('echo pwned')` as the object to rebuild (GLOBAL + REDUCE). */
export function evilPickle(): Buffer {
  return Buffer.concat([Buffer.from([0x80, 0x02]), Buffer.from('cos\nsystem\n'), Buffer.from([0x58]), u32(10), Buffer.from('echo pwned'), Buffer.from([0x85, 0x52, 0x2e])]);
}

/** Protocol 4 with STACK_GLOBAL and memoized strings: `collections.OrderedDict()` then `builtins.eval` from memo. */
export function stackGlobalPickle(): Buffer {
  const sbu = (s: string): Buffer => Buffer.concat([Buffer.from([0x8c, s.length]), Buffer.from(s)]);
  return Buffer.concat([
    Buffer.from([0x80, 0x04]),
    sbu('collections'), Buffer.from([0x94]), sbu('OrderedDict'), Buffer.from([0x94, 0x93, 0x94, 0x29, 0x52, 0x94]),
    sbu('builtins'), Buffer.from([0x94]), sbu('eval'), Buffer.from([0x94, 0x30, 0x30]), Buffer.from([0x68, 4, 0x68, 5, 0x93, 0x94]),
    Buffer.from([0x30, 0x2e]),
  ]);
}

// ---- zip

export interface ZipMember {
  name: string;
  data: Buffer;
  deflate?: boolean;
}

/** A plain zip (no zip64): local headers, data, central directory, end record. */
export function zipArchive(members: ZipMember[]): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const m of members) {
    const name = Buffer.from(m.name);
    const data = m.deflate ? deflateRawSync(m.data) : m.data;
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(20, 4);
    lh.writeUInt16LE(m.deflate ? 8 : 0, 8);
    lh.writeUInt32LE(data.length, 18);
    lh.writeUInt32LE(m.data.length, 22);
    lh.writeUInt16LE(name.length, 26);
    locals.push(lh, name, data);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE(20, 4);
    ch.writeUInt16LE(20, 6);
    ch.writeUInt16LE(m.deflate ? 8 : 0, 10);
    ch.writeUInt32LE(data.length, 20);
    ch.writeUInt32LE(m.data.length, 24);
    ch.writeUInt16LE(name.length, 28);
    ch.writeUInt32LE(offset, 42);
    central.push(ch, name);
    offset += 30 + name.length + data.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(members.length, 8);
  end.writeUInt16LE(members.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}
