/**
 * JSON text as Python's `json.dumps` writes it (ensure_ascii, ", " / ": " separators, or
 * `indent=N`), so the config blob and annotations we write match what omlmd 0.1.x writes
 * for the same metadata. JSON cannot tell 1.0 from 1: such floats come out as integers.
 */
export function pyJsonDumps(value: unknown, indent?: number): string {
  return dump(value, indent, 0);
}

function escapeString(s: string): string {
  // JSON.stringify escapes quotes, backslashes and controls; Python then escapes non-ASCII.
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

function dump(v: unknown, indent: number | undefined, depth: number): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return escapeString(v);
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 'NaN';
    if (!Number.isFinite(v)) return v > 0 ? 'Infinity' : '-Infinity';
    return pyFloatRepr(v);
  }
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  const nl = indent === undefined ? '' : '\n' + ' '.repeat(indent * (depth + 1));
  const end = indent === undefined ? '' : '\n' + ' '.repeat(indent * depth);
  const sep = indent === undefined ? ', ' : ',';
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    return '[' + v.map((x) => nl + dump(x, indent, depth + 1)).join(sep) + end + ']';
  }
  if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
    if (entries.length === 0) return '{}';
    return '{' + entries.map(([k, x]) => nl + escapeString(k) + ': ' + dump(x, indent, depth + 1)).join(sep) + end + '}';
  }
  return escapeString(String(v));
}

/** Python's float repr uses an exponent from 1e16 and below 1e-4, with at least two exponent digits. */
function pyFloatRepr(n: number): string {
  const s = String(n);
  const m = /^(-?[\d.]+)e([+-])(\d+)$/.exec(s);
  if (!m) return s;
  return `${m[1]}e${m[2]}${m[3]!.padStart(2, '0')}`;
}
