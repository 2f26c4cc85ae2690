/**
 * Model files understood by their headers: what a file is, its tensors, dtypes and
 * parameters, its producer, opsets and ports, and whether loading it runs code, read from
 * its first bytes through a bounded reader (1 MiB by default, at most 16 MiB) and never
 * from its weights. A malformed or hostile header is an OmlmdError `INVALID_MODEL_FILE`;
 * a header larger than the budget gives what was read, `complete: false` and a warning.
 */
import { extname } from 'node:path';
import type { Readable } from 'node:stream';
import { constants as zlibConstants, gunzipSync, inflateSync } from 'node:zlib';
import { OmlmdError } from '../../errors';
import type { CallOptions, Repository } from '../../oci/store';
import type { Descriptor } from '../../oci/types';
import type { ModelMetadata } from '../fields';
import { isGguf, readGguf } from './gguf';
import { isHdf5, readHdf5 } from './hdf5';
import { readOnnx } from './onnx';
import { scanPickle } from './pickle';
import { BoundedReader, BudgetExceeded, Cursor, DEFAULT_HEADER_BUDGET, MAX_HEADER_BUDGET, openFileSource, type ByteSource, ibytes } from './reader';
import { looksLikeSafetensors, readSafetensors } from './safetensors';
import type { HeaderSummary, InspectFileOptions } from './types';
import { isZip, readZip } from './zip';

export type { HeaderFormat, HeaderSummary, InspectFileOptions, PickleScan, TensorPort } from './types';
export { DEFAULT_HEADER_BUDGET, MAX_HEADER_BUDGET } from './reader';
export type { ByteSource } from './reader';

/** Extensions that pickles share with raw data: not taken as a pickle unless the bytes parse as one. */
const GENERIC_EXTENSIONS = new Set(['.bin', '.dat']);
const PICKLE_EXTENSIONS = new Set(['.pkl', '.pickle', '.joblib', '.pt', '.pth', '.bin', '.ckpt', '.sav', '.dat']);
/** Extensions worth reading a header of (a registry layer is read only when its title has one). */
export const MODEL_FILE_EXTENSIONS = new Set([...PICKLE_EXTENSIONS, '.safetensors', '.gguf', '.onnx', '.keras', '.h5', '.hdf5', '.npz', '.zip']);

function budgetOf(opts: InspectFileOptions): number {
  const b = opts.maxBytes ?? DEFAULT_HEADER_BUDGET;
  if (!Number.isSafeInteger(b) || b < 4096 || b > MAX_HEADER_BUDGET) {
    throw new OmlmdError('USAGE', `the header read budget must be a whole number of bytes from 4 KiB to ${ibytes(MAX_HEADER_BUDGET)}; got ${b}`);
  }
  return b;
}

/** A local file's header. */
export async function inspectModelFile(path: string, opts: InspectFileOptions = {}): Promise<HeaderSummary> {
  const budget = budgetOf(opts);
  const source = await openFileSource(path);
  try {
    return await inspectSource(source, path, budget);
  } finally {
    await source.close().catch(() => undefined);
  }
}

/**
 * A blob's header, read with ranged GETs of the registry (or reads of a layout): what
 * comes back is not checked against the blob's digest (only the whole blob could be), so
 * it is a description, not a verified fact.
 */
export async function inspectBlobHeader(repo: Repository, desc: Descriptor, name: string, opts: InspectFileOptions & CallOptions = {}): Promise<HeaderSummary> {
  const budget = budgetOf(opts);
  const source: ByteSource = {
    size: desc.size,
    blockSize: 64 * 1024,
    async read(offset, length) {
      const stream: Readable = await repo.openBlob(desc, { offset, length, signal: opts.signal });
      const chunks: Buffer[] = [];
      let got = 0;
      for await (const c of stream) {
        const b = c as Buffer;
        chunks.push(b.length > length - got ? b.subarray(0, length - got) : b);
        got += b.length;
        if (got >= length) {
          stream.destroy();
          break;
        }
      }
      return Buffer.concat(chunks);
    },
    close: async () => undefined,
  };
  return inspectSource(source, name, budget);
}

/** The header of whatever a source holds; `name` is its path or layer title (the extension helps). */
export async function inspectSource(source: ByteSource, name: string, budget = DEFAULT_HEADER_BUDGET): Promise<HeaderSummary> {
  const r = new BoundedReader(source, budget, name);
  const out: HeaderSummary = { name, format: 'unknown', complete: true, bytesRead: 0, fileSize: source.size, warnings: [] };
  const ext = extname(name).toLowerCase();
  try {
    if (source.size === 0) {
      out.warnings.push('the file is empty');
    } else {
      const head = await r.copy(0, Math.min(source.size, 16));
      if (isGguf(head)) {
        out.format = 'gguf';
        await readGguf(r, out);
      } else if (isZip(head)) {
        out.format = 'zip';
        await readZip(r, out);
      } else if (isHdf5(head)) {
        out.format = 'hdf5';
        await readHdf5(r, out);
      } else if (ext === '.safetensors' || (await looksLikeSafetensors(r))) {
        out.format = 'safetensors';
        await readSafetensors(r, out);
      } else if (ext === '.onnx') {
        out.format = 'onnx';
        await readOnnx(r, out);
      } else if (PICKLE_EXTENSIONS.has(ext) || (head[0] === 0x80 && head[1]! >= 2 && head[1]! <= 5)) {
        if (GENERIC_EXTENSIONS.has(ext)) {
          // `.bin` and `.dat` name raw weights, vocabularies and GGML files as often as pickles: one
          // that does not parse as a pickle is raw data, not a refusal and not a "runs code" warning.
          // Random bytes start with a PROTO, a compression marker or a few valid opcodes often
          // enough (3 of 16 random files in one benchmark): such a file counts as a pickle only if
          // its compressed bytes open into one, or its scan reaches the pickle's STOP, or it imports
          // a name before the byte that is no opcode (that import may have run by then).
          const warnings: string[] = [];
          const probe: HeaderSummary = { ...out, warnings };
          try {
            await readPickleFile(r, head, ext, probe, { verifyCompressed: true });
            const p = probe.pickle;
            const raw = p !== undefined && p.badOpcodeAt !== undefined && p.imports.every((i) => i.startsWith('copyreg extension'));
            if (probe.format === 'pickle' || (p !== undefined && !raw)) Object.assign(out, probe, { format: 'pickle', warnings: [...out.warnings, ...warnings] });
          } catch (e) {
            if (!(e instanceof OmlmdError && e.code === 'INVALID_MODEL_FILE')) throw e;
          }
        } else {
          out.format = 'pickle';
          await readPickleFile(r, head, ext, out);
        }
      }
    }
  } catch (e) {
    if (!(e instanceof BudgetExceeded)) throw e;
    out.complete = false;
    out.warnings.push(`${e.message}: what comes after was not read (a larger budget, up to 16 MiB, reads it)`);
  }
  if (out.pickle || out.format === 'pickle') out.warnings.unshift(pickleWarning(out));
  out.bytesRead = r.bytesRead;
  return out;
}

async function readPickleFile(r: BoundedReader, head: Buffer, ext: string, out: HeaderSummary, opts: { verifyCompressed?: boolean } = {}): Promise<void> {
  const compressed = head[0] === 0x78 ? 'zlib' : head[0] === 0x1f && head[1] === 0x8b ? 'gzip' : head.subarray(0, 4).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58])) ? 'xz' : head.length >= 4 && head.readUInt32LE(0) === 0x184d2204 ? 'lz4' : undefined;
  if (compressed && opts.verifyCompressed && (compressed === 'zlib' || compressed === 'gzip')) {
    // joblib's zlib and gzip pickles open into a PROTO; random bytes that start with 0x78 do not.
    if (!opensIntoPickle(await r.copy(0, Math.min(r.size, 512)), compressed)) return;
  }
  if (compressed) {
    out.format = 'pickle';
    out.framework = ext === '.joblib' ? 'joblib' : undefined;
    out.complete = false;
    out.warnings.push(`the pickle is ${compressed}-compressed: its imports were not scanned`);
    return;
  }
  if (ext === '.joblib') out.framework = 'joblib';
  out.pickle = await scanPickle(new Cursor(r, 0), out.warnings);
  const fw = frameworkOfImports(out.pickle.imports);
  if (fw) out.framework = fw;
  if (!out.pickle.complete) out.complete = false;
}

/** Whether the first bytes of a zlib or gzip stream inflate to a pickle's PROTO opcode. */
function opensIntoPickle(bytes: Buffer, kind: 'zlib' | 'gzip'): boolean {
  try {
    const opts = { finishFlush: zlibConstants.Z_SYNC_FLUSH, maxOutputLength: 1024 * 1024 };
    const plain = kind === 'zlib' ? inflateSync(bytes, opts) : gunzipSync(bytes, opts);
    return plain[0] === 0x80 && plain[1]! >= 2 && plain[1]! <= 5;
  } catch {
    return false;
  }
}

function frameworkOfImports(imports: string[]): string | undefined {
  const top = new Set(imports.map((i) => i.split('.')[0]));
  for (const fw of ['sklearn', 'xgboost', 'lightgbm', 'catboost', 'torch', 'tensorflow', 'keras']) if (top.has(fw)) return fw === 'torch' ? 'pytorch' : fw;
  return undefined;
}

function pickleWarning(s: HeaderSummary): string {
  const p = s.pickle;
  if (!p) return 'loading this file runs code (it is a pickle); load only files from sources you trust';
  const listed = p.imports.length ? `it imports ${p.imports.slice(0, 12).join(', ')}${p.imports.length > 12 ? `, and ${p.imports.length - 12} more` : ''}` : 'it imports nothing';
  const danger = p.dangerous.length ? `; ${p.dangerous.join(', ')} can run commands or code` : '';
  return `loading this file runs code (it is a pickle${p.member ? ` in ${p.member}` : ''}): ${listed}${p.complete ? '' : ' (as far as scanned)'}${danger}`;
}

// ---- what the headers suggest for the metadata and the ModelPack config

const FORMAT_NAMES: Partial<Record<HeaderSummary['format'], string>> = {
  safetensors: 'safetensors', gguf: 'gguf', onnx: 'onnx', pytorch: 'pytorch', keras: 'keras', hdf5: 'hdf5',
};

/**
 * The summaries that describe the model's weights: the format holding the most bytes, a
 * tensor format before a pickle (a `training_args.bin` or `scaler.pkl` beside the weights
 * is not the model).
 */
function primary(summaries: HeaderSummary[]): HeaderSummary[] {
  const known = summaries.filter((s) => s.format !== 'unknown' && s.format !== 'zip');
  const bytes = new Map<string, number>();
  for (const s of known) bytes.set(s.format, (bytes.get(s.format) ?? 0) + s.fileSize);
  const rank = (f: string): number => (f === 'pickle' ? 0 : 1);
  const best = [...bytes].sort((a, b) => rank(b[0]) - rank(a[0]) || b[1] - a[1])[0]?.[0];
  return known.filter((s) => s.format === best);
}

function formatName(s: HeaderSummary): string | undefined {
  if (s.format !== 'pickle') return FORMAT_NAMES[s.format];
  if (s.framework && s.framework !== 'joblib') return s.framework;
  return s.framework === 'joblib' ? 'joblib' : 'pickle';
}

function sumParameters(group: HeaderSummary[]): number | undefined {
  if (!group.length || group.some((s) => s.parameters === undefined)) return undefined;
  return group.reduce((n, s) => n + s.parameters!, 0);
}

function mergedDtypes(group: HeaderSummary[]): [string, number][] {
  const d = new Map<string, number>();
  for (const s of group) for (const [k, v] of Object.entries(s.dtypes ?? {})) d.set(k, (d.get(k) ?? 0) + v);
  return [...d].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

/**
 * The metadata the files' headers suggest: `model_format_name`/`model_format_version` and
 * customProperties `parameters`, `dtype`, `quantization`, `architecture`, `context_length`.
 */
export function suggestMetadata(summaries: HeaderSummary[]): ModelMetadata {
  const group = primary(summaries);
  if (!group.length) return {};
  const first = group[0]!;
  const md: ModelMetadata = {};
  const name = formatName(first);
  if (name) md.model_format_name = name;
  const version = first.format === 'keras' ? first.frameworkVersion : first.format === 'hdf5' ? undefined : first.formatVersion;
  if (version && group.every((s) => (s.format === 'keras' ? s.frameworkVersion : s.formatVersion) === version)) md.model_format_version = version;
  const props: Record<string, unknown> = {};
  const params = sumParameters(group);
  if (params !== undefined && params > 0) props.parameters = params;
  const dtypes = mergedDtypes(group);
  if (dtypes.length) props.dtype = dtypes.map(([k]) => k).join(', ');
  const q = first.quantization;
  if (q && group.every((s) => s.quantization === q)) props.quantization = q;
  if (first.architecture) props.architecture = first.architecture;
  if (first.contextLength !== undefined) props.context_length = first.contextLength;
  if (Object.keys(props).length) md.customProperties = props;
  return md;
}

/**
 * Fills what the user left out with what the headers suggest: the format name (and its
 * version, only together with the name), and customProperties keys the user did not set.
 * Returns the metadata and the fields filled, e.g. `['model_format_name', 'customProperties.parameters']`.
 */
export function prefillMetadata(md: ModelMetadata, suggested: ModelMetadata): { metadata: ModelMetadata; filled: string[] } {
  const out: ModelMetadata = { ...md };
  const filled: string[] = [];
  if ((md.model_format_name === undefined || md.model_format_name === null) && suggested.model_format_name) {
    out.model_format_name = suggested.model_format_name;
    filled.push('model_format_name');
    if ((md.model_format_version === undefined || md.model_format_version === null) && suggested.model_format_version) {
      out.model_format_version = suggested.model_format_version;
      filled.push('model_format_version');
    }
  }
  const have = (md.customProperties ?? {}) as Record<string, unknown>;
  const props: Record<string, unknown> = { ...have };
  for (const [k, v] of Object.entries((suggested.customProperties ?? {}) as Record<string, unknown>)) {
    if (Object.prototype.hasOwnProperty.call(have, k)) continue;
    props[k] = v;
    filled.push(`customProperties.${k}`);
  }
  if (Object.keys(props).length || md.customProperties !== undefined) out.customProperties = props;
  return { metadata: out, filled };
}

/** The ModelPack config fields (`config.architecture`, `format`, `paramSize`, `precision`, `quantization`) the headers give. */
export interface ModelPackHeaderFields {
  architecture?: string;
  format?: string;
  paramSize?: string;
  precision?: string;
  quantization?: string;
}

const PRECISIONS: Record<string, string> = {
  BF16: 'bf16', F16: 'fp16', F32: 'fp32', F64: 'fp64', I8: 'int8', U8: 'uint8', I16: 'int16', I32: 'int32', I64: 'int64',
  F8_E4M3: 'fp8', F8_E5M2: 'fp8', bfloat16: 'bf16', float16: 'fp16', float32: 'fp32', float64: 'fp64', int8: 'int8', uint8: 'uint8',
  int32: 'int32', int64: 'int64',
};

/** ModelPack's `paramSize`: a count with at most one decimal and a scale letter (`6.7b`, `125m`). */
export function paramSize(n: number): string | undefined {
  if (!Number.isFinite(n) || n < 50) return undefined;
  const scales: [number, string][] = [[1e15, 'q'], [1e12, 't'], [1e9, 'b'], [1e6, 'm'], [1e3, 'k']];
  for (const [v, letter] of scales) {
    const x = Math.round((n / v) * 10) / 10;
    if (x >= 1 || letter === 'k') return `${Number.isInteger(x) ? x.toFixed(0) : x.toFixed(1)}${letter}`;
  }
  return undefined;
}

export function modelPackFields(summaries: HeaderSummary[]): ModelPackHeaderFields {
  const group = primary(summaries);
  if (!group.length) return {};
  const first = group[0]!;
  const out: ModelPackHeaderFields = {};
  const name = formatName(first);
  if (name) out.format = name;
  if (first.architecture) out.architecture = first.architecture;
  const params = sumParameters(group);
  const size = params === undefined ? undefined : paramSize(params);
  if (size) out.paramSize = size;
  if (first.format === 'gguf') {
    const q = first.quantization;
    if (q && PRECISIONS[q]) out.precision = PRECISIONS[q];
    else if (q) out.quantization = q.toLowerCase();
  } else {
    const dtypes = mergedDtypes(group).map(([k]) => k);
    if (dtypes.length === 1 && PRECISIONS[dtypes[0]!]) out.precision = PRECISIONS[dtypes[0]!];
    else if (dtypes.length > 1) out.precision = 'mixed';
  }
  return out;
}

/** One line per summary for a person: `safetensors, 7.2B parameters, BF16 (291 tensors)`. */
export function describeHeader(s: HeaderSummary): string {
  const parts: string[] = [s.format === 'unknown' ? 'format not recognised' : s.format + (s.formatVersion ? ` ${s.formatVersion}` : '')];
  if (s.framework && s.framework !== s.format) parts.push(`by ${s.framework}${s.frameworkVersion ? ` ${s.frameworkVersion}` : ''}`);
  if (s.architecture) parts.push(s.architecture);
  if (s.parameters !== undefined) parts.push(`${paramSize(s.parameters)?.toUpperCase() ?? s.parameters} parameters (${s.parameters})`);
  if (s.dtypes && Object.keys(s.dtypes).length) parts.push(Object.entries(s.dtypes).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}×${v}`).join(' '));
  if (s.quantization) parts.push(`quantization ${s.quantization}`);
  if (s.contextLength !== undefined) parts.push(`context ${s.contextLength}`);
  if (s.opsets && Object.keys(s.opsets).length) parts.push(`opset ${Object.entries(s.opsets).map(([d, v]) => (d === 'ai.onnx' ? String(v) : `${d} ${v}`)).join(', ')}`);
  if (s.inputs?.length) parts.push(`inputs ${s.inputs.map((p) => `${p.name}: ${p.type}`).join(', ')}`);
  if (s.outputs?.length) parts.push(`outputs ${s.outputs.map((p) => `${p.name}: ${p.type}`).join(', ')}`);
  if (s.pickle) parts.push(`pickle${s.pickle.protocol !== undefined ? ` protocol ${s.pickle.protocol}` : ''}, ${s.pickle.imports.length} import${s.pickle.imports.length === 1 ? '' : 's'}`);
  return parts.join(', ');
}
