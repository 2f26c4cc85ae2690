/**
 * safetensors: an 8-byte little-endian header length N, then N bytes of JSON naming each
 * tensor's dtype, shape and data offsets (https://github.com/huggingface/safetensors).
 * The length is checked against the file and the budget before anything is allocated.
 */
import { BudgetExceeded, type BoundedReader, ibytes } from './reader';
import type { HeaderSummary } from './types';

/** The reference implementation refuses headers over 100 MB (`MAX_HEADER_SIZE`). */
const MAX_SAFETENSORS_HEADER = 100_000_000;

export async function looksLikeSafetensors(r: BoundedReader): Promise<boolean> {
  if (r.size < 10) return false;
  const head = await r.bytes(0, Math.min(16, r.size));
  const n = head.readBigUInt64LE(0);
  return n > 1n && n <= BigInt(r.size - 8) && head[8] === 0x7b; // '{'
}

export async function readSafetensors(r: BoundedReader, out: HeaderSummary): Promise<void> {
  if (r.size < 8) throw r.malformed(`a safetensors file starts with an 8-byte header length; this one is ${r.size} bytes`);
  const big = (await r.bytes(0, 8)).readBigUInt64LE(0);
  if (big > BigInt(r.size - 8)) throw r.malformed(`the safetensors header length is ${big} bytes, more than the file (${ibytes(r.size)}) holds`);
  const n = Number(big);
  if (n > MAX_SAFETENSORS_HEADER) throw r.malformed(`the safetensors header length is ${ibytes(n)}, more than the format allows (100 MB)`);
  if (n < 2) throw r.malformed(`the safetensors header length is ${n} bytes: too short for its JSON`);
  if (n > r.remaining) {
    out.complete = false;
    out.warnings.push(`the safetensors header is ${ibytes(n)}, more than the ${ibytes(r.maxBytes)} read budget: not read (a larger budget, up to 16 MiB, reads it)`);
    return;
  }
  let doc: unknown;
  try {
    doc = JSON.parse((await r.bytes(8, n)).toString('utf8'));
  } catch (e) {
    if (e instanceof BudgetExceeded) throw e;
    throw r.malformed(`the safetensors header is not JSON: ${(e as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw r.malformed('the safetensors header is not a JSON object');
  const dataSize = r.size - 8 - n;
  let params = 0;
  let count = 0;
  const dtypes: Record<string, number> = {};
  let pastEnd = 0;
  for (const [name, v] of Object.entries(doc as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw r.malformed('the safetensors "__metadata__" is not an object of strings');
      const md: Record<string, string> = {};
      for (const [k, s] of Object.entries(v as Record<string, unknown>)) md[k] = typeof s === 'string' ? s : JSON.stringify(s);
      out.metadata = md;
      continue;
    }
    const t = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    if (typeof t !== 'object' || t === null || typeof t.dtype !== 'string' || !Array.isArray(t.shape) || !Array.isArray(t.data_offsets) || t.data_offsets.length !== 2) {
      throw r.malformed(`safetensors tensor "${name.slice(0, 80)}" has no dtype, shape and data_offsets`);
    }
    let elements = 1;
    for (const d of t.shape as unknown[]) {
      if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) throw r.malformed(`safetensors tensor "${name.slice(0, 80)}" has a shape entry that is not a count: ${JSON.stringify(d)?.slice(0, 40)}`);
      elements *= d;
    }
    const [begin, end] = t.data_offsets as unknown[];
    if (typeof begin !== 'number' || typeof end !== 'number' || !Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || begin < 0 || end < begin) {
      throw r.malformed(`safetensors tensor "${name.slice(0, 80)}" has data offsets that are not a range`);
    }
    if (end > dataSize) pastEnd++;
    if (!Number.isSafeInteger(elements) || !Number.isSafeInteger(params + elements)) throw r.malformed(`safetensors tensor "${name.slice(0, 80)}" has more elements than can be counted`);
    params += elements;
    count++;
    dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + 1;
  }
  if (pastEnd) out.warnings.push(`${pastEnd} safetensors tensor${pastEnd === 1 ? '' : 's'} point past the end of the file: it is truncated`);
  out.parameters = params;
  out.tensorCount = count;
  out.dtypes = dtypes;
  if (out.metadata?.format) out.framework = out.metadata.format === 'pt' ? 'pytorch' : out.metadata.format;
}
