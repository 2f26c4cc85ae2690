/**
 * ONNX: a protobuf `ModelProto` (onnx/onnx.proto), read with a minimal wire reader of our
 * own (varints, length-delimited fields) rather than onnx-proto or protobufjs, which decode
 * a whole message into memory, weights included. Fields read: ir_version (1), producer
 * (2, 3), graph (7: inputs 11, outputs 12, initializer shapes 5), opset_import (8),
 * metadata_props (14). Everything else, and every initializer's data, is skipped by
 * seeking past its length, so the weights are never read.
 */
import { BudgetExceeded, Cursor, type BoundedReader, ibytes } from './reader';
import type { HeaderSummary, TensorPort } from './types';

/** TensorProto.DataType */
const DATA_TYPES: Record<number, string> = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string', 9: 'bool', 10: 'float16',
  11: 'float64', 12: 'uint32', 13: 'uint64', 14: 'complex64', 15: 'complex128', 16: 'bfloat16', 17: 'float8e4m3fn',
  18: 'float8e4m3fnuz', 19: 'float8e5m2', 20: 'float8e5m2fnuz', 21: 'uint4', 22: 'int4', 23: 'float4e2m1',
};

const MAX_DEPTH = 16;
const MAX_PORTS = 10_000;

class Pb extends Cursor {
  async varint(): Promise<bigint> {
    let v = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const b = await this.u8();
      v |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return v;
    }
    throw this.r.malformed(`a protobuf varint at offset ${this.pos} runs over 10 bytes: this is not an ONNX model`);
  }

  async num(): Promise<number> {
    const v = await this.varint();
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number(BigInt.asIntN(64, v)) : Number(v);
  }

  /** The next field's number and wire type, or undefined at the end. */
  async tag(): Promise<{ field: number; wire: number } | undefined> {
    if (this.left <= 0) return undefined;
    const t = await this.varint();
    const field = Number(t >> 3n);
    const wire = Number(t & 7n);
    if (field === 0 || wire === 6 || wire === 7) throw this.r.malformed(`protobuf tag ${t} at offset ${this.pos} is not valid: this is not an ONNX model`);
    return { field, wire };
  }

  /** A length-delimited field's extent, checked against the message it is in. */
  async len(): Promise<number> {
    const n = await this.varint();
    if (n > BigInt(this.left)) throw this.r.malformed(`a protobuf field at offset ${this.pos} says it is ${n} bytes, more than the ${ibytes(this.left)} left in its message`);
    return Number(n);
  }

  async str(max = 4096): Promise<string> {
    const n = await this.len();
    if (n > max) {
      this.passOver(n);
      return '';
    }
    return (await this.take(n)).toString('utf8');
  }

  sub(n: number): Pb {
    const p = new Pb(this.r, this.pos, this.pos + n);
    this.pos += n;
    return p;
  }

  async skipField(wire: number, depth = 0): Promise<void> {
    switch (wire) {
      case 0: await this.varint(); return;
      case 1: this.passOver(8); return;
      case 5: this.passOver(4); return;
      case 2: this.passOver(await this.len()); return;
      case 3: {
        // A deprecated group: walk to its end tag.
        if (depth > MAX_DEPTH) throw this.r.malformed('protobuf groups nest too deep');
        for (;;) {
          const t = await this.tag();
          if (!t) throw this.r.malformed('a protobuf group has no end');
          if (t.wire === 4) return;
          await this.skipField(t.wire, depth + 1);
        }
      }
      default:
        throw this.r.malformed(`protobuf wire type ${wire} at offset ${this.pos} is not valid: this is not an ONNX model`);
    }
  }

  /** Each field in turn; `on` reads the ones it wants and returns false to have it skipped. */
  async fields(on: (field: number, wire: number) => Promise<boolean>): Promise<void> {
    for (let t = await this.tag(); t; t = await this.tag()) {
      if (!(await on(t.field, t.wire))) await this.skipField(t.wire);
    }
  }
}

async function readOpset(p: Pb): Promise<[string, number]> {
  let domain = '';
  let version = 0;
  await p.fields(async (f, w) => {
    if (f === 1 && w === 2) domain = await p.str();
    else if (f === 2 && w === 0) version = await p.num();
    else return false;
    return true;
  });
  return [domain === '' ? 'ai.onnx' : domain, version];
}

async function readType(p: Pb, depth = 0): Promise<string> {
  if (depth > MAX_DEPTH) throw p.r.malformed('ONNX types nest too deep');
  let out = '?';
  await p.fields(async (f, w) => {
    if (w !== 2) return false;
    const sub = p.sub(await p.len());
    if (f === 1 || f === 8) {
      // tensor_type / sparse_tensor_type: elem_type (1), shape (2) of dims (1) with dim_value (1) or dim_param (2)
      let elem = 0;
      const dims: string[] = [];
      let shaped = false;
      await sub.fields(async (g, gw) => {
        if (g === 1 && gw === 0) elem = await sub.num();
        else if (g === 2 && gw === 2) {
          shaped = true;
          const shape = sub.sub(await sub.len());
          await shape.fields(async (h, hw) => {
            if (h !== 1 || hw !== 2) return false;
            const dim = shape.sub(await shape.len());
            let d = '?';
            await dim.fields(async (k, kw) => {
              if (k === 1 && kw === 0) d = String(await dim.num());
              else if (k === 2 && kw === 2) d = (await dim.str(256)) || '?';
              else return false;
              return true;
            });
            if (dims.length < 64) dims.push(d);
            return true;
          });
        } else return false;
        return true;
      });
      out = `${f === 8 ? 'sparse ' : ''}${DATA_TYPES[elem] ?? `type ${elem}`}${shaped ? `[${dims.join(',')}]` : ''}`;
    } else if (f === 4) out = `sequence<${await elementOf(sub, depth)}>`;
    else if (f === 5) out = 'map';
    else if (f === 9) out = `optional<${await elementOf(sub, depth)}>`;
    else sub.passOver(sub.left);
    return true;
  });
  return out;
}

/** Sequence and optional types hold one TypeProto in field 1. */
async function elementOf(p: Pb, depth: number): Promise<string> {
  let t = '?';
  await p.fields(async (f, w) => {
    if (f !== 1 || w !== 2) return false;
    t = await readType(p.sub(await p.len()), depth + 1);
    return true;
  });
  return t;
}

async function readValueInfo(p: Pb): Promise<TensorPort> {
  let name = '';
  let type = '?';
  await p.fields(async (f, w) => {
    if (f === 1 && w === 2) name = await p.str();
    else if (f === 2 && w === 2) type = await readType(p.sub(await p.len()));
    else return false;
    return true;
  });
  return { name, type };
}

/** An initializer's element count and type, from dims (1) and data_type (2); its data is skipped. */
async function readInitializer(p: Pb): Promise<{ elements: number; type: number; name: string }> {
  let elements = 1;
  let type = 0;
  let name = '';
  await p.fields(async (f, w) => {
    if (f === 1 && w === 0) elements *= await p.num();
    else if (f === 1 && w === 2) {
      const packed = p.sub(await p.len());
      while (packed.left > 0) elements *= await packed.num();
    } else if (f === 2 && w === 0) type = await p.num();
    else if (f === 8 && w === 2) name = await p.str();
    else return false;
    return true;
  });
  return { elements: Number.isSafeInteger(elements) && elements >= 0 ? elements : 0, type, name };
}

export async function readOnnx(r: BoundedReader, out: HeaderSummary): Promise<void> {
  const top = new Pb(r, 0);
  out.framework = 'onnx';
  const inputs: TensorPort[] = [];
  const outputs: TensorPort[] = [];
  const initNames = new Set<string>();
  const opsets: Record<string, number> = {};
  const dtypes: Record<string, number> = {};
  const md: Record<string, string> = {};
  let params = 0;
  let tensors = 0;
  let producer = '';
  let producerVersion = '';
  let sawGraph = false;
  try {
    await top.fields(async (f, w) => {
      if (f === 1 && w === 0) out.formatVersion = String(await top.num());
      else if (f === 2 && w === 2) producer = await top.str();
      else if (f === 3 && w === 2) producerVersion = await top.str();
      else if (f === 8 && w === 2) {
        const [d, v] = await readOpset(top.sub(await top.len()));
        opsets[d] = v;
      } else if (f === 14 && w === 2) {
        const e = top.sub(await top.len());
        let k = '';
        let v = '';
        await e.fields(async (g, gw) => {
          if (g === 1 && gw === 2) k = await e.str();
          else if (g === 2 && gw === 2) v = await e.str();
          else return false;
          return true;
        });
        if (k && Object.keys(md).length < 64) md[k] = v;
      } else if (f === 7 && w === 2) {
        sawGraph = true;
        const g = top.sub(await top.len());
        await g.fields(async (h, hw) => {
          if (hw !== 2 || (h !== 5 && h !== 11 && h !== 12)) return false;
          const sub = g.sub(await g.len());
          if (h === 5) {
            const { elements, type, name: init } = await readInitializer(sub);
            if (initNames.size < MAX_PORTS) initNames.add(init);
            params += elements;
            tensors++;
            const name = DATA_TYPES[type] ?? `type ${type}`;
            dtypes[name] = (dtypes[name] ?? 0) + 1;
          } else {
            const port = await readValueInfo(sub);
            const list = h === 11 ? inputs : outputs;
            if (list.length < MAX_PORTS) list.push(port);
          }
          return true;
        });
      } else return false;
      return true;
    });
  } catch (e) {
    if (!(e instanceof BudgetExceeded)) throw e;
    out.complete = false;
    out.warnings.push(`the ONNX model's structure goes on past the ${ibytes(r.maxBytes)} read budget: what comes after was not read (a larger budget, up to 16 MiB, reads it)`);
  }
  if (out.complete && (!sawGraph || out.formatVersion === undefined)) throw r.malformed(`no ONNX ${sawGraph ? 'IR version' : 'graph'} in it: this is not an ONNX model`);
  // Older exporters list initializers among the inputs too; they are weights, not inputs.
  if (producer) out.metadata = { ...md, producer_name: producer, ...(producerVersion ? { producer_version: producerVersion } : {}) };
  else if (Object.keys(md).length) out.metadata = md;
  if (producer) {
    out.framework = producer;
    if (producerVersion) out.frameworkVersion = producerVersion;
  }
  out.opsets = opsets;
  out.inputs = inputs.filter((i) => !initNames.has(i.name));
  out.outputs = outputs;
  out.parameters = params;
  out.tensorCount = tensors;
  out.dtypes = dtypes;
}
