// The YAML/JSON view: metadata to text in the fields' order, text back to metadata with the
// position of a syntax error so the user can find it.

import yaml from 'js-yaml';
import { describeValue } from '../src/core/model/fields';
import { loadYaml, MAX_METADATA_DEPTH, tooDeepAt } from '../src/core/model/yamlload';
import type { TextFormat } from './protocol';
import { l10n } from './l10n';

export interface TextError {
  message: string;
  line?: number;
  column?: number;
}

export type ParseResult = { ok: true; doc: Record<string, unknown> } | { ok: false; error: TextError };

/** Known fields first in the schema's order, then anything else as it came; unset fields left out. */
function ordered(doc: Record<string, unknown>, order: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const keys = [...order.filter((k) => Object.hasOwn(doc, k)), ...Object.keys(doc).filter((k) => !order.includes(k))];
  for (const k of keys) {
    if (doc[k] !== undefined) Object.defineProperty(out, k, { value: doc[k], enumerable: true, writable: true, configurable: true });
  }
  return out;
}

export function formatText(doc: Record<string, unknown>, format: TextFormat, order: readonly string[]): string {
  const o = ordered(doc, order);
  if (Object.keys(o).length === 0) return format === 'json' ? '{}\n' : '';
  return format === 'json' ? `${JSON.stringify(o, null, 2)}\n` : yaml.dump(o, { noArrayIndent: true, lineWidth: -1 });
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lines = before.split('\n');
  return { line: lines.length, column: (lines.at(-1)?.length ?? 0) + 1 };
}

/** V8 says where JSON broke either as "(line L column C)" or "at position N", depending on its version. */
function jsonErrorAt(text: string, e: Error): TextError {
  const reason = e.message.replace(/\s*\(line \d+ column \d+\)$/, '').replace(/\s+at position \d+$/, '');
  const lc = /line (\d+) column (\d+)/.exec(e.message);
  if (lc) return { message: reason, line: Number(lc[1]), column: Number(lc[2]) };
  const pos = /at position (\d+)/.exec(e.message);
  return { message: reason, ...lineColumn(text, pos ? Number(pos[1]) : text.length) };
}

export function parseText(text: string, format: TextFormat): ParseResult {
  const label = format.toUpperCase();
  if (text.trim() === '') return { ok: false, error: { message: l10n.t('the text is empty: write at least a name, e.g. "name: my model"') } };
  let doc: unknown;
  if (format === 'json') {
    try {
      doc = JSON.parse(text);
    } catch (e) {
      const at = jsonErrorAt(text, e as Error);
      return { ok: false, error: { ...at, message: l10n.t('not valid {0}: {1}', label, at.message) } };
    }
  } else {
    // As the core's parseMetadata: the core schema (no timestamps, so "2024-01-01" stays a
    // string), with aliases and nesting limited (yamlload.ts).
    const r = loadYaml(text);
    if (!r.ok) return { ok: false, error: { message: l10n.t('not valid {0}: {1}', label, r.reason), ...(r.line === undefined ? {} : { line: r.line, column: r.column }) } };
    doc = r.value;
  }
  const deep = tooDeepAt(doc);
  if (deep !== undefined) return { ok: false, error: { message: l10n.t('the metadata nests more than {0} levels deep (at {1})', MAX_METADATA_DEPTH, deep.slice(0, 120)) } };
  if (doc === null || doc === undefined) return { ok: false, error: { message: l10n.t('the metadata is empty: write at least a name, e.g. "name: my model"') } };
  if (Array.isArray(doc)) return { ok: false, error: { message: l10n.t('the top level is a list; it must be a mapping of fields (name: ..., author: ...)') } };
  if (typeof doc !== 'object') return { ok: false, error: { message: l10n.t('the top level is {0}; it must be a mapping of fields (name, author, ...)', describeValue(doc)) } };
  return { ok: true, doc: doc as Record<string, unknown> };
}

export function describeTextError(e: TextError): string {
  return e.line === undefined ? e.message : l10n.t('{0} at line {1}, column {2}', e.message, e.line, e.column ?? 1);
}
