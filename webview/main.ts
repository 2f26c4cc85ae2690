// The metadata editor webview: a form generated from the core's JSON Schema, a key/value
// table for customProperties, a YAML/JSON view that round-trips with the form, and Push /
// Save as file / Cancel. Everything the user typed lives in one state object that is saved
// with vscode.setState after every change, so a hidden and re-shown panel (which VS Code
// rebuilds from scratch) comes back as it was.

import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-icon/index.js';
import '@vscode-elements/elements/dist/vscode-label/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-progress-bar/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-tab-header/index.js';
import '@vscode-elements/elements/dist/vscode-tab-panel/index.js';
import '@vscode-elements/elements/dist/vscode-tabs/index.js';
import '@vscode-elements/elements/dist/vscode-textarea/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import './editor.css';
import type { ModelMetadata } from '../src/core/model/fields';
import schema from '../src/core/model/metadata.schema.json';
import { checkRows, convertRow, rowsFromObject, VALUE_TYPES, type Row, type ValueType } from './customProperties';
import { el, originOf, setMessages } from './dom';
import {
  BusyNotification,
  CancelNotification,
  ChangedNotification,
  ErrorNotification,
  InitNotification,
  isIpcMessage,
  isMessage,
  messageFactory,
  PushRequest,
  ReadyNotification,
  SaveAsRequest,
  ValidationResultNotification,
  type BusyParams,
  type InitParams,
  type TextFormat,
} from './protocol';
import { fieldsFromSchema, type FieldSpec, type ObjectSchema } from './schema';
import { describeTextError, formatText, parseText, type TextError } from './text';
import { checkMetadata, type Problems } from './validate';

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

type Textfield = HTMLElementTagNameMap['vscode-textfield'];
type Textarea = HTMLElementTagNameMap['vscode-textarea'];
type Button = HTMLElementTagNameMap['vscode-button'];
type Select = HTMLElementTagNameMap['vscode-single-select'];
type Checkbox = HTMLElementTagNameMap['vscode-checkbox'];
type Tab = 'form' | TextFormat;
const TABS: readonly Tab[] = ['form', 'yaml', 'json'];

const FIELDS = fieldsFromSchema(schema as ObjectSchema);
const FIELD_KEYS = new Set(FIELDS.map((f) => f.key));
const ORDER = FIELDS.map((f) => f.key);
const MAP_FIELDS = FIELDS.filter((f) => f.kind === 'map').map((f) => f.key);

interface Draft {
  text: string;
  error?: TextError;
}

interface EditorState {
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

const vscode = acquireVsCodeApi();
const make = messageFactory('webview');

let state: EditorState | undefined;
let busy: BusyParams = { busy: false };
/** Id of the push/save request the host has not answered yet. */
let pending: string | undefined;
let hostErrors: string[] = [];
let confirming = false;
let lastChanged = '';

// ---------------------------------------------------------------- model

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function setProp(o: Record<string, unknown>, k: string, v: unknown): void {
  // A key such as "__proto__" from a YAML document must stay a plain property.
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
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

function freshState(init: InitParams): EditorState {
  const doc = withoutUnset(isRecord(init.metadata) ? init.metadata : {});
  const { tables, nextRowId } = tablesOf(doc, 1);
  return { v: 1, init, initial: canonical(doc), doc, tables, nextRowId, tab: 'form', drafts: {} };
}

function restoredState(saved: unknown): EditorState | undefined {
  if (!isRecord(saved) || saved.v !== 1 || !isRecord(saved.init) || !isRecord(saved.doc) || !isRecord(saved.tables) || !isRecord(saved.drafts)) return undefined;
  if (!TABS.includes(saved.tab as Tab) || typeof saved.initial !== 'string' || typeof saved.nextRowId !== 'number') return undefined;
  return saved as unknown as EditorState;
}

interface Assessment {
  schema: Problems;
  rows: Map<string, ReturnType<typeof checkRows>>;
  rowProblems: number;
  brokenDraft?: { format: TextFormat; error: TextError };
  count: number;
  valid: boolean;
  dirty: boolean;
}

function assess(s: EditorState): Assessment {
  const schemaProblems = checkMetadata(s.doc, FIELD_KEYS);
  const rows = new Map(MAP_FIELDS.map((k) => [k, checkRows(s.tables[k] ?? [])] as const));
  const rowProblems = [...rows.values()].reduce((n, r) => n + r.count, 0);
  const broken = (['yaml', 'json'] as const).find((f) => s.drafts[f]?.error);
  const brokenDraft = broken ? { format: broken, error: s.drafts[broken]!.error! } : undefined;
  const count = schemaProblems.count + rowProblems + (brokenDraft ? 1 : 0);
  const dirty = canonical(s.doc) !== s.initial || rowProblems > 0 || brokenDraft !== undefined;
  return { schema: schemaProblems, rows, rowProblems, brokenDraft, count, valid: count === 0, dirty };
}

function metadataOf(s: EditorState): ModelMetadata {
  return JSON.parse(canonical(s.doc)) as ModelMetadata;
}

// ---------------------------------------------------------------- changes

function commit(): void {
  if (!state) return;
  vscode.setState(state);
  render();
}

/** A change made in the form: the text views are regenerated from it when next shown. */
function setField(key: string, value: unknown): void {
  if (!state) return;
  if (value === undefined || value === '') delete state.doc[key];
  else setProp(state.doc, key, value);
  state.drafts = {};
  hostErrors = [];
  commit();
}

function setRows(key: string, rows: Row[]): void {
  if (!state) return;
  state.tables[key] = rows;
  if (rows.length === 0) delete state.doc[key];
  else setProp(state.doc, key, checkRows(rows).object);
  state.drafts = {};
  hostErrors = [];
  commit();
}

function setText(format: TextFormat, text: string): void {
  if (!state) return;
  const parsed = parseText(text, format);
  if (parsed.ok) {
    state.doc = parsed.doc;
    const t = tablesOf(parsed.doc, state.nextRowId);
    state.tables = t.tables;
    state.nextRowId = t.nextRowId;
    state.drafts = { [format]: { text } };
  } else {
    // The form keeps the last metadata that parsed; only this view holds the broken text.
    state.drafts = { [format]: { text, error: parsed.error } };
  }
  hostErrors = [];
  commit();
}

function selectTab(tab: Tab): void {
  if (!state || state.tab === tab) return;
  state.tab = tab;
  commit();
}

// ---------------------------------------------------------------- the page

interface RowUi {
  /** The value control depends on the type: a row whose type changed is built anew. */
  rowType: ValueType;
  tr: HTMLTableRowElement;
  key: Textfield;
  type: Select;
  value: Textfield | Checkbox;
  remove: HTMLElement;
  keyMsg: HTMLElement;
  valueMsg: HTMLElement;
}

interface TableUi {
  table: HTMLTableElement;
  body: HTMLTableSectionElement;
  empty: HTMLElement;
  note: HTMLElement;
  add: Button;
  signature: string;
  rows: Map<number, RowUi>;
}

interface FieldUi {
  spec: FieldSpec;
  control?: Textfield | Textarea;
  other?: HTMLElement;
  table?: TableUi;
  messages: HTMLUListElement;
}

interface TextUi {
  area: Textarea;
  error: HTMLElement;
}

interface Ui {
  title: HTMLElement;
  intro: HTMLElement;
  target: HTMLElement;
  progress: HTMLElement;
  banner: HTMLElement;
  bannerList: HTMLUListElement;
  confirm: HTMLElement;
  keep: Button;
  discard: Button;
  tabs: HTMLElementTagNameMap['vscode-tabs'];
  fields: Map<string, FieldUi>;
  texts: Record<TextFormat, TextUi>;
  textProblems: Record<TextFormat, HTMLUListElement>;
  push: Button;
  save: Button;
  cancel: Button;
  status: HTMLElement;
}

let ui: Ui | undefined;

const INTRO: Record<InitParams['mode'], string> = {
  push: 'Check the metadata that goes with the model files, then push.',
  edit: 'Pushing saves the edited metadata under a new tag; the current tag stays as it is.',
  new: 'Write model metadata, then save it as a YAML or JSON file.',
};

function fieldId(key: string): string {
  return `field-${key}`;
}

function buildField(spec: FieldSpec): { root: HTMLElement; ui: FieldUi } {
  const id = fieldId(spec.key);
  const messages = el('ul', { class: 'messages', id: `${id}-messages`, 'aria-live': 'polite' });
  messages.hidden = true;
  const label = el('vscode-label', { for: id }, spec.title);
  const description = spec.description ? el('div', { class: 'description', id: `${id}-description` }, spec.description) : undefined;
  const root = el('div', { class: `field field-${spec.kind}`, 'data-field': spec.key });
  const f: FieldUi = { spec, messages };
  if (spec.kind === 'text' || spec.kind === 'url') {
    const c = el('vscode-textfield', { id, 'data-key': spec.key });
    if (spec.kind === 'url') c.setAttribute('placeholder', 's3://bucket/model.onnx, hf://org/model, https://…');
    c.addEventListener('input', () => setField(spec.key, c.value));
    f.control = c;
    root.append(label, description ?? '', c, messages);
  } else if (spec.kind === 'multiline') {
    const c = el('vscode-textarea', { id, rows: 3, resize: 'vertical', 'data-key': spec.key });
    c.addEventListener('input', () => setField(spec.key, c.value));
    f.control = c;
    root.append(label, description ?? '', c, messages);
  } else if (spec.kind === 'map') {
    f.table = buildTable(spec);
    root.append(el('div', { class: 'map-title', id }, spec.title), description ?? '', f.table.note, f.table.table, f.table.empty, f.table.add, messages);
  } else {
    f.other = el('pre', { class: 'other', id });
    root.append(el('div', { class: 'map-title' }, spec.title), description ?? '', f.other, el('div', { class: 'description' }, 'Edit this field in the YAML or JSON view.'), messages);
  }
  return { root, ui: f };
}

function buildTable(spec: FieldSpec): TableUi {
  const body = el('tbody');
  const table = el(
    'table',
    { class: 'kv', 'aria-labelledby': fieldId(spec.key) },
    el('thead', {}, el('tr', {}, el('th', { scope: 'col', class: 'col-key' }, 'Key'), el('th', { scope: 'col', class: 'col-type' }, 'Type'), el('th', { scope: 'col', class: 'col-value' }, 'Value'), el('th', { scope: 'col', class: 'col-remove' }, el('span', { class: 'sr-only' }, 'Remove')))),
    body,
  );
  const add = el('vscode-button', { secondary: true, icon: 'add', class: 'add-row' }, 'Add property');
  add.addEventListener('click', () => {
    if (!state || add.disabled) return;
    const rows = [...(state.tables[spec.key] ?? []), { id: state.nextRowId++, key: '', type: 'string' as ValueType, text: '' }];
    setRows(spec.key, rows);
    // A new row is for typing its key.
    focusSoon(ui?.fields.get(spec.key)?.table?.rows.get(rows.at(-1)!.id)?.key);
  });
  const empty = el('p', { class: 'empty' }, 'No custom properties yet: add metrics, a license, the dataset…');
  const note = el('p', { class: 'note' });
  note.hidden = true;
  return { table, body, empty, note, add, signature: '', rows: new Map() };
}

function rowLabel(row: Row, index: number): string {
  return row.key.trim() === '' ? `row ${index + 1}` : row.key;
}

function buildRow(field: string, row: Row): RowUi {
  const rowsOf = (): Row[] => state?.tables[field] ?? [];
  const update = (patch: (r: Row) => Row): void => setRows(field, rowsOf().map((r) => (r.id === row.id ? patch(r) : r)));

  const key = el('vscode-textfield', { class: 'row-key', placeholder: 'key' });
  key.value = row.key;
  key.addEventListener('input', () => update((r) => ({ ...r, key: key.value })));

  const type = el('vscode-single-select', { class: 'row-type' });
  for (const t of VALUE_TYPES) type.append(el('vscode-option', { value: t.type, selected: t.type === row.type }, t.label));
  type.addEventListener('change', () => {
    const next = VALUE_TYPES.find((t) => t.type === type.value)?.type;
    if (next) update((r) => convertRow(r, next));
  });

  let value: Textfield | Checkbox;
  if (row.type === 'boolean') {
    const c = el('vscode-checkbox', { class: 'row-value' });
    c.checked = row.text === 'true';
    c.label = String(c.checked);
    c.addEventListener('change', () => update((r) => ({ ...r, text: String(c.checked) })));
    value = c;
  } else {
    const t = el('vscode-textfield', { class: `row-value${row.type === 'json' ? ' mono' : ''}`, placeholder: row.type === 'json' ? '{"a": 1} or [1, 2]' : row.type === 'number' ? '0.97' : 'value' });
    t.value = row.text;
    t.addEventListener('input', () => update((r) => ({ ...r, text: t.value })));
    value = t;
  }

  const remove = el('vscode-icon', { name: 'trash', 'action-icon': true, class: 'row-remove' });
  remove.addEventListener('click', () => {
    const rows = rowsOf();
    const at = rows.findIndex((r) => r.id === row.id);
    setRows(field, rows.filter((r) => r.id !== row.id));
    // Keep the keyboard in the table: the row that moved up, else the one above, else Add.
    const t = ui?.fields.get(field)?.table;
    const rest = state?.tables[field] ?? [];
    const next = rest[at] ?? rest[at - 1];
    focusSoon(next ? t?.rows.get(next.id)?.remove : t?.add);
  });

  const keyMsg = el('div', { class: 'cell-msg', 'aria-live': 'polite' });
  const valueMsg = el('div', { class: 'cell-msg', 'aria-live': 'polite' });
  const tr = el('tr', { 'data-row': row.id }, el('td', {}, key, keyMsg), el('td', {}, type), el('td', {}, value, valueMsg), el('td', { class: 'col-remove' }, remove));
  return { rowType: row.type, tr, key, type, value, remove, keyMsg, valueMsg };
}

function buildText(format: TextFormat): { panel: HTMLElement; ui: TextUi; problems: HTMLUListElement } {
  const name = format.toUpperCase();
  const area = el('vscode-textarea', { monospace: true, rows: 18, resize: 'vertical', class: 'text', id: `text-${format}`, spellcheck: 'false' });
  area.label = `Metadata as ${name}`;
  area.addEventListener('input', () => setText(format, area.value));
  const error = el('div', { class: 'text-error', role: 'alert' });
  error.hidden = true;
  const problems = el('ul', { class: 'messages', 'aria-live': 'polite' });
  problems.hidden = true;
  const panel = el(
    'vscode-tab-panel',
    {},
    el('p', { class: 'description' }, `The same metadata as ${name}. Edits here update the form; a syntax error leaves the form as it was.`),
    area,
    error,
    problems,
  );
  return { panel, ui: { area, error }, problems };
}

function mount(): Ui {
  const app = document.getElementById('app') ?? document.body.appendChild(el('div', { id: 'app' }));
  app.className = 'editor';
  app.removeAttribute('aria-busy');

  const title = el('h1', { id: 'title' });
  const intro = el('p', { class: 'intro' });
  const target = el('p', { class: 'target' });
  const progress = el('vscode-progress-bar', { indeterminate: true, 'aria-label': 'Working' });
  progress.hidden = true;

  const bannerList = el('ul');
  const banner = el('div', { class: 'banner', role: 'alert' }, el('vscode-icon', { name: 'error', class: 'banner-icon' }), bannerList);
  banner.hidden = true;

  const discard = el('vscode-button', {}, 'Discard');
  const keep = el('vscode-button', { secondary: true }, 'Keep editing');
  const confirm = el('div', { class: 'confirm', role: 'alertdialog', 'aria-label': 'Discard your changes?' }, el('span', {}, 'Discard your changes? Press Escape again to discard.'), discard, keep);
  confirm.hidden = true;
  discard.addEventListener('click', () => post(CancelNotification, {}));
  keep.addEventListener('click', () => {
    confirming = false;
    render();
    focusSoon(firstControl());
  });

  const fields = new Map<string, FieldUi>();
  const form = el('div', { class: 'form' });
  for (const spec of FIELDS) {
    const f = buildField(spec);
    fields.set(spec.key, f.ui);
    form.append(f.root);
  }

  const yaml = buildText('yaml');
  const json = buildText('json');
  const tabs = el(
    'vscode-tabs',
    {},
    el('vscode-tab-header', { slot: 'header', 'data-tab': 'form' }, 'Form'),
    el('vscode-tab-panel', {}, form),
    el('vscode-tab-header', { slot: 'header', 'data-tab': 'yaml' }, 'YAML'),
    yaml.panel,
    el('vscode-tab-header', { slot: 'header', 'data-tab': 'json' }, 'JSON'),
    json.panel,
  );
  tabs.addEventListener('vsc-tabs-select', (ev) => {
    const tab = TABS[ev.detail.selectedIndex];
    if (tab) selectTab(tab);
  });

  const push = el('vscode-button', { id: 'push', icon: 'cloud-upload' }, 'Push');
  const save = el('vscode-button', { id: 'save', secondary: true, icon: 'save' }, 'Save as file…');
  const cancel = el('vscode-button', { id: 'cancel', secondary: true }, 'Cancel');
  const status = el('span', { class: 'status', role: 'status', 'aria-live': 'polite' });
  push.addEventListener('click', () => act('push'));
  save.addEventListener('click', () => act('save'));
  cancel.addEventListener('click', () => post(CancelNotification, {}));

  app.replaceChildren(
    progress,
    el('header', {}, title, intro, target),
    banner,
    confirm,
    tabs,
    el('footer', { class: 'actions' }, push, save, cancel, status),
  );
  return { title, intro, target, progress, banner, bannerList, confirm, keep, discard, tabs, fields, texts: { yaml: yaml.ui, json: json.ui }, textProblems: { yaml: yaml.problems, json: json.problems }, push, save, cancel, status };
}

function displayValue(v: unknown): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function renderTable(field: string, t: TableUi, rows: readonly Row[], check: ReturnType<typeof checkRows>, readOnly: boolean, current: unknown): void {
  const signature = rows.map((r) => `${r.id}:${r.type}`).join(',');
  if (signature !== t.signature) {
    const keepFocus = document.activeElement;
    const built = new Map<number, RowUi>();
    for (const r of rows) {
      const old = t.rows.get(r.id);
      built.set(r.id, old && old.rowType === r.type ? old : buildRow(field, r));
    }
    t.body.replaceChildren(...[...built.values()].map((r) => r.tr));
    t.rows = built;
    t.signature = signature;
    if (keepFocus instanceof HTMLElement && keepFocus.isConnected) keepFocus.focus();
  }
  rows.forEach((row, i) => {
    const r = t.rows.get(row.id);
    if (!r) return;
    const p = check.problems.get(row.id);
    const name = rowLabel(row, i);
    if (r.key.value !== row.key) r.key.value = row.key;
    r.key.label = `Key of ${name}`;
    r.key.invalid = Boolean(p?.key);
    r.key.readonly = readOnly;
    r.type.label = `Type of ${name}`;
    r.type.disabled = readOnly;
    if (r.type.value !== row.type) r.type.value = row.type;
    if ('checked' in r.value) {
      r.value.checked = row.text === 'true';
      r.value.label = row.text === 'true' ? 'true' : 'false';
      r.value.disabled = readOnly;
      r.value.setAttribute('aria-label', `Value of ${name}`);
    } else {
      if (r.value.value !== row.text) r.value.value = row.text;
      r.value.label = `Value of ${name}`;
      r.value.invalid = Boolean(p?.value);
      r.value.readonly = readOnly;
    }
    r.remove.setAttribute('label', `Remove ${name}`);
    r.remove.hidden = readOnly;
    r.keyMsg.textContent = p?.key ?? '';
    r.valueMsg.textContent = p?.value ?? '';
  });
  t.table.hidden = rows.length === 0;
  t.empty.hidden = rows.length > 0 || readOnly;
  t.add.hidden = readOnly;
  const notMapping = current !== undefined && current !== null && !isRecord(current);
  t.note.hidden = !notMapping;
  t.note.textContent = notMapping ? `This field holds ${Array.isArray(current) ? 'a list' : typeof current}, not key/value pairs: fix it in the YAML or JSON view, or add a property here to replace it.` : '';
}

function render(): void {
  if (!state) return;
  ui ??= mount();
  const s = state;
  const a = assess(s);
  const readOnly = s.init.readOnly === true;
  const mode = s.init.mode;

  document.title = s.init.title;
  ui.title.textContent = s.init.title;
  ui.intro.textContent = readOnly ? 'Read-only: this metadata cannot be changed here.' : INTRO[mode];
  ui.target.textContent = s.init.targetHint ? `Target: ${s.init.targetHint}` : '';
  ui.target.hidden = !s.init.targetHint;
  ui.progress.hidden = !busy.busy;

  for (const [key, f] of ui.fields) {
    const v = s.doc[key];
    const messages = [...(a.schema.byField.get(key) ?? [])];
    if (f.control) {
      const shown = displayValue(v);
      if (f.control.value !== shown) f.control.value = shown;
      f.control.invalid = messages.length > 0;
      f.control.readonly = readOnly;
    } else if (f.table) {
      renderTable(key, f.table, s.tables[key] ?? [], a.rows.get(key) ?? checkRows([]), readOnly, v);
    } else if (f.other) {
      f.other.textContent = v === undefined ? '(not set)' : JSON.stringify(v, null, 2);
    }
    setMessages(f.messages, messages);
  }

  const activeIndex = TABS.indexOf(s.tab);
  if (ui.tabs.selectedIndex !== activeIndex) ui.tabs.selectedIndex = activeIndex;
  for (const format of ['yaml', 'json'] as const) {
    const t = ui.texts[format];
    const draft = s.drafts[format];
    if (s.tab === format) {
      const text = draft?.text ?? formatText(s.doc, format, ORDER);
      if (t.area.value !== text) t.area.value = text;
    }
    t.area.readonly = readOnly;
    // A red border, not the component's invalid look: a whole text view painted red is hard to read.
    t.area.classList.toggle('has-error', Boolean(draft?.error));
    t.error.hidden = !draft?.error;
    t.error.textContent = draft?.error ? describeTextError(draft.error) : '';
    const messages = draft?.error ? [] : [...a.schema.byField.values()].flat().concat(a.schema.general);
    if (a.rowProblems > 0) messages.push(`${a.rowProblems} problem${a.rowProblems === 1 ? '' : 's'} in the ${MAP_FIELDS.join(', ')} table${MAP_FIELDS.length === 1 ? '' : 's'} of the form; those rows are left out here until fixed.`);
    setMessages(ui.textProblems[format], messages);
  }

  // Problems no field shows: unknown fields, the host's answer, a text view that does not parse.
  const banner = [...a.schema.general, ...hostErrors];
  if (a.brokenDraft && s.tab === 'form') banner.push(`The ${a.brokenDraft.format.toUpperCase()} view has an error (${describeTextError(a.brokenDraft.error)}); the form shows the metadata from before it. Fix it there, or edit the form to discard it.`);
  setMessages(ui.bannerList, banner);
  ui.banner.hidden = banner.length === 0;
  ui.confirm.hidden = !confirming;

  const waiting = busy.busy || pending !== undefined;
  ui.push.hidden = readOnly || mode === 'new';
  ui.push.textContent = mode === 'edit' ? 'Push as new tag' : 'Push';
  ui.push.disabled = !a.valid || waiting;
  ui.save.secondary = mode !== 'new';
  ui.save.disabled = !a.valid || waiting;
  ui.cancel.textContent = readOnly ? 'Close' : 'Cancel';
  ui.status.textContent = busy.busy ? (busy.message ?? 'Working…') : a.count === 0 ? (a.dirty ? 'Unsaved changes' : 'No problems') : `${a.count} problem${a.count === 1 ? '' : 's'} to fix`;
  ui.status.classList.toggle('has-problems', a.count > 0 && !busy.busy);

  const changed = `${a.dirty}|${a.valid}`;
  if (changed !== lastChanged) {
    lastChanged = changed;
    post(ChangedNotification, { dirty: a.dirty, valid: a.valid });
  }
}

// ---------------------------------------------------------------- actions and keys

function post<T extends Parameters<typeof make>[0]>(type: T, params: T['params']): string {
  const msg = make(type, params);
  vscode.postMessage(msg);
  return msg.id;
}

/** A component built a moment ago renders its inner input on the next microtask: focus after that. */
function focusSoon(e: HTMLElement | undefined): void {
  if (!e) return;
  const lit = e as HTMLElement & { updateComplete?: Promise<unknown> };
  if (lit.updateComplete) void lit.updateComplete.then(() => e.focus());
  else e.focus();
}

function firstControl(): HTMLElement | undefined {
  return [...(ui?.fields.values() ?? [])].map((f) => f.control).find((c) => c !== undefined);
}

/** Takes the keyboard to the first thing to fix, so Enter on an invalid form is never a dead end. */
function focusFirstProblem(a: Assessment): void {
  if (!ui || !state) return;
  if (a.brokenDraft) {
    selectTab(a.brokenDraft.format);
    ui.texts[a.brokenDraft.format].area.focus();
    return;
  }
  if (state.tab !== 'form') {
    ui.texts[state.tab].area.focus();
    return;
  }
  for (const [key, f] of ui.fields) {
    if (a.schema.byField.has(key) && f.control) return f.control.focus();
    const check = a.rows.get(key);
    if (f.table && check && check.count > 0) {
      const row = (state.tables[key] ?? []).find((r) => check.problems.has(r.id));
      const r = row ? f.table.rows.get(row.id) : undefined;
      if (r) return (check.problems.get(row!.id)?.key ? r.key : r.value).focus();
    }
  }
  ui.banner.focus();
}

function act(what: 'push' | 'save'): void {
  if (!state || busy.busy || pending !== undefined) return;
  const a = assess(state);
  if (!a.valid) {
    focusFirstProblem(a);
    return;
  }
  const metadata = metadataOf(state);
  if (what === 'push') {
    if (state.init.readOnly || state.init.mode === 'new') return;
    pending = post(PushRequest, { metadata });
  } else {
    pending = post(SaveAsRequest, { metadata, format: state.tab === 'json' ? 'json' : 'yaml' });
  }
  hostErrors = [];
  render();
}

function primary(): void {
  if (!state || state.init.readOnly) return;
  act(state.init.mode === 'new' ? 'save' : 'push');
}

document.addEventListener('keydown', (ev) => {
  if (!state || ev.defaultPrevented || ev.isComposing) return;
  const origin = originOf(ev);
  if (ev.key === 'Escape') {
    ev.preventDefault();
    if (confirming || state.init.readOnly || !assess(state).dirty) {
      post(CancelNotification, {});
    } else {
      confirming = true;
      render();
      focusSoon(ui?.keep);
    }
    return;
  }
  if (ev.key !== 'Enter' || ev.shiftKey || ev.altKey) return;
  // Ctrl/Cmd+Enter from anywhere, plain Enter from a one-line field (as a form's submit).
  const oneLine = origin instanceof HTMLInputElement && origin.type !== 'checkbox';
  if (ev.ctrlKey || ev.metaKey || oneLine) {
    ev.preventDefault();
    primary();
  }
});

// ---------------------------------------------------------------- host messages

window.addEventListener('message', (ev: MessageEvent<unknown>) => {
  const msg = ev.data;
  if (!isIpcMessage(msg)) return;
  if (isMessage(msg, InitNotification)) {
    const init = msg.params;
    // Same session: the panel was hidden and rebuilt; what the user typed wins over `init`.
    if (state && state.init.session === init.session) state.init = init;
    else state = freshState(init);
    hostErrors = [];
    confirming = false;
    commit();
    if (!document.activeElement || document.activeElement === document.body) focusSoon(firstControl());
  } else if (isMessage(msg, ValidationResultNotification)) {
    if (msg.completionId === undefined || msg.completionId === pending) pending = undefined;
    hostErrors = msg.params.valid ? [] : msg.params.errors;
    render();
  } else if (isMessage(msg, BusyNotification)) {
    busy = msg.params;
    if (!busy.busy) pending = undefined;
    render();
  } else if (isMessage(msg, ErrorNotification)) {
    pending = undefined;
    hostErrors = [msg.params.message];
    render();
  }
});

state = restoredState(vscode.getState());
if (state) render();
post(ReadyNotification, {});
