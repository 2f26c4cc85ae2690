// What the user is editing, as plain data, and the pure functions that change it. The
// components only render this and report edits; <omlmd-metadata-editor> holds the one
// current value and saves it with vscode.setState after every change, so a hidden and
// re-shown panel (which VS Code rebuilds from scratch) comes back as it was.

import type { ModelMetadata } from '../src/core/model/fields';
import schema from '../src/core/model/metadata.schema.json';
import { checkRows, rowsFromObject, type Row, type ValueType } from './customProperties';
import type { InitParams, TextFormat } from './protocol';
import { fieldsFromSchema, type ObjectSchema } from './schema';
import { formatText, parseText, type TextError } from './text';
import { checkMetadata, type Problems } from './validate';

export type Tab = 'form' | TextFormat;
export const TABS: readonly Tab[] = ['form', 'yaml', 'json'];

export const FIELDS = fieldsFromSchema(schema as ObjectSchema);
const FIELD_KEYS = new Set(FIELDS.map((f) => f.key));
export const ORDER = FIELDS.map((f) => f.key);
export const MAP_FIELDS = FIELDS.filter((f) => f.kind === 'map').map((f) => f.key);

export interface Draft {
  text: string;
  error?: TextError;
}

export interface EditorState {
  v: 1;
  init: InitParams;
  /** The metadata `init` brought, canonicalised, to tell whether anything changed. */
  initial: string;
  doc: Record<string, unknown>;
  /** Rows of each map field (customProperties), the source of truth for that field. */
  tables: Record<string, Row[]>;
  nextRowId: number;
  tab: Tab;
  /** Text the user typed in a text view; kept while it disagrees with the form (a syntax error). */
  drafts: Partial<Record<TextFormat, Draft>>;
}

export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function setProp(o: Record<string, unknown>, k: string, v: unknown): void {
  // A key such as "__proto__" from a YAML document must stay a plain property.
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/** A copy to change: spreading defines own properties, so "__proto__" stays a key. */
function copy(doc: Record<string, unknown>): Record<string, unknown> {
  return { ...doc };
}

/** null means unset in omlmd; an empty mapping means no custom properties. */
function isUnset(key: string, v: unknown): boolean {
  return v === undefined || (FIELD_KEYS.has(key) && (v === null || v === '' || (MAP_FIELDS.includes(key) && isRecord(v) && Object.keys(v).length === 0)));
}

function withoutUnset(doc: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc)) if (!isUnset(k, v)) setProp(out, k, v);
  return out;
}

function canonical(doc: Record<string, unknown>): string {
  return formatText(withoutUnset(doc), 'json', ORDER);
}

function tablesOf(doc: Record<string, unknown>, firstId: number): { tables: Record<string, Row[]>; nextRowId: number } {
  const tables: Record<string, Row[]> = {};
  let next = firstId;
  for (const key of MAP_FIELDS) {
    const v = doc[key];
    const rows = isRecord(v) ? rowsFromObject(v, next) : [];
    next += rows.length;
    tables[key] = rows;
  }
  return { tables, nextRowId: next };
}

export function freshState(init: InitParams): EditorState {
  const doc = withoutUnset(isRecord(init.metadata) ? init.metadata : {});
  const { tables, nextRowId } = tablesOf(doc, 1);
  return { v: 1, init, initial: canonical(doc), doc, tables, nextRowId, tab: 'form', drafts: {} };
}

export function restoredState(saved: unknown): EditorState | undefined {
  if (!isRecord(saved) || saved.v !== 1 || !isRecord(saved.init) || !isRecord(saved.doc) || !isRecord(saved.tables) || !isRecord(saved.drafts)) return undefined;
  if (!TABS.includes(saved.tab as Tab) || typeof saved.initial !== 'string' || typeof saved.nextRowId !== 'number') return undefined;
  return saved as unknown as EditorState;
}

export type RowCheck = ReturnType<typeof checkRows>;

export interface Assessment {
  schema: Problems;
  rows: Map<string, RowCheck>;
  rowProblems: number;
  brokenDraft?: { format: TextFormat; error: TextError };
  count: number;
  valid: boolean;
  dirty: boolean;
}

export function assess(s: EditorState): Assessment {
  const schemaProblems = checkMetadata(s.doc, FIELD_KEYS);
  const rows = new Map(MAP_FIELDS.map((k) => [k, checkRows(s.tables[k] ?? [])] as const));
  const rowProblems = [...rows.values()].reduce((n, r) => n + r.count, 0);
  const broken = (['yaml', 'json'] as const).find((f) => s.drafts[f]?.error);
  const brokenDraft = broken ? { format: broken, error: s.drafts[broken]!.error! } : undefined;
  const count = schemaProblems.count + rowProblems + (brokenDraft ? 1 : 0);
  const dirty = canonical(s.doc) !== s.initial || rowProblems > 0 || brokenDraft !== undefined;
  return { schema: schemaProblems, rows, rowProblems, brokenDraft, count, valid: count === 0, dirty };
}

export function metadataOf(s: EditorState): ModelMetadata {
  return JSON.parse(canonical(s.doc)) as ModelMetadata;
}

// ---- edits: each returns a new state, so the components see what changed

/** A change made in the form: the text views are regenerated from it. */
export function withField(s: EditorState, key: string, value: unknown): EditorState {
  const doc = copy(s.doc);
  if (value === undefined || value === '') delete doc[key];
  else setProp(doc, key, value);
  return { ...s, doc, drafts: {} };
}

export function withRows(s: EditorState, key: string, rows: Row[]): EditorState {
  const doc = copy(s.doc);
  if (rows.length === 0) delete doc[key];
  else setProp(doc, key, checkRows(rows).object);
  return { ...s, doc, tables: { ...s.tables, [key]: rows }, drafts: {} };
}

/** A new empty row at the end of `key`'s table; `id` is the row's, to give it the keyboard. */
export function withNewRow(s: EditorState, key: string): { state: EditorState; id: number } {
  const id = s.nextRowId;
  const rows = [...(s.tables[key] ?? []), { id, key: '', type: 'string' as ValueType, text: '' }];
  return { state: withRows({ ...s, nextRowId: id + 1 }, key, rows), id };
}

export function withText(s: EditorState, format: TextFormat, text: string): EditorState {
  const parsed = parseText(text, format);
  if (!parsed.ok) {
    // The form keeps the last metadata that parsed; only this view holds the broken text.
    return { ...s, drafts: { [format]: { text, error: parsed.error } } };
  }
  const t = tablesOf(parsed.doc, s.nextRowId);
  return { ...s, doc: parsed.doc, tables: t.tables, nextRowId: t.nextRowId, drafts: { [format]: { text } } };
}

export function textOf(s: EditorState, format: TextFormat): string {
  return s.drafts[format]?.text ?? formatText(s.doc, format, ORDER);
}
