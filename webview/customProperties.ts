// customProperties as rows of key, type and value text. Rows, not the object, are what the
// user edits: they can hold what an object cannot (an empty key, a duplicate, "0.9x" typed
// as a number) long enough to show what is wrong with it.

import { l10n } from './l10n';

export type ValueType = 'string' | 'number' | 'boolean' | 'json';
/** The labels are read when rendered, so they are in the language of the host's bundle. */
export const VALUE_TYPES: readonly { type: ValueType; readonly label: string }[] = [
  { type: 'string', get label() { return l10n.t('String'); } },
  { type: 'number', get label() { return l10n.t('Number'); } },
  { type: 'boolean', get label() { return l10n.t('Boolean'); } },
  { type: 'json', get label() { return l10n.t('JSON'); } },
];

export interface Row {
  id: number;
  key: string;
  type: ValueType;
  /** The value as typed; "true"/"false" for booleans. */
  text: string;
}

export interface RowProblems {
  key?: string;
  value?: string;
}

export function typeOf(v: unknown): ValueType {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number' && Number.isFinite(v)) return 'number';
  if (typeof v === 'boolean') return 'boolean';
  return 'json';
}

function textOf(v: unknown, type: ValueType): string {
  if (type === 'string') return v as string;
  if (type === 'number' || type === 'boolean') return String(v);
  return JSON.stringify(v) ?? 'null';
}

export function rowsFromObject(obj: Record<string, unknown>, firstId: number): Row[] {
  return Object.entries(obj).map(([key, v], i) => {
    const type = typeOf(v);
    return { id: firstId + i, key, type, text: textOf(v, type) };
  });
}

export type Parsed = { ok: true; value: unknown } | { ok: false; message: string };

export function parseValue(type: ValueType, text: string): Parsed {
  switch (type) {
    case 'string':
      return { ok: true, value: text };
    case 'boolean':
      return { ok: true, value: text === 'true' };
    case 'number': {
      const t = text.trim();
      const n = Number(t);
      return t !== '' && Number.isFinite(n) ? { ok: true, value: n } : { ok: false, message: l10n.t('not a number: {0} (use a dot for decimals, e.g. 0.97)', JSON.stringify(text)) };
    }
    case 'json':
      try {
        return { ok: true, value: JSON.parse(text) };
      } catch (e) {
        return { ok: false, message: l10n.t('not valid JSON: {0}', (e as Error).message) };
      }
  }
}

/** Keeps what the user typed when it still makes sense in the new type. */
export function convertRow(row: Row, type: ValueType): Row {
  if (type === row.type) return row;
  const current = parseValue(row.type, row.text);
  let text = row.text;
  if (type === 'boolean') text = current.ok && current.value === true ? 'true' : row.text.trim() === 'true' ? 'true' : 'false';
  else if (type === 'json') text = current.ok ? (JSON.stringify(current.value) ?? 'null') : JSON.stringify(row.text);
  else if (type === 'string' && row.type === 'json' && current.ok && typeof current.value === 'string') text = current.value;
  return { ...row, type, text };
}

/** The object the rows stand for (first of duplicate keys wins) and what is wrong with each row. */
export function checkRows(rows: readonly Row[]): { object: Record<string, unknown>; problems: Map<number, RowProblems>; count: number } {
  const object: Record<string, unknown> = {};
  const problems = new Map<number, RowProblems>();
  const seen = new Set<string>();
  let count = 0;
  for (const row of rows) {
    const p: RowProblems = {};
    if (row.key.trim() === '') p.key = l10n.t('the key is empty');
    else if (seen.has(row.key)) p.key = l10n.t('duplicate key "{0}"', row.key);
    const parsed = parseValue(row.type, row.text);
    if (!parsed.ok) p.value = parsed.message;
    if (p.key || p.value) {
      problems.set(row.id, p);
      count += (p.key ? 1 : 0) + (p.value ? 1 : 0);
    } else if (parsed.ok) {
      // defineProperty: a key like "__proto__" must become a property, not a prototype.
      Object.defineProperty(object, row.key, { value: parsed.value, enumerable: true, writable: true, configurable: true });
    }
    seen.add(row.key);
  }
  return { object, problems, count };
}
