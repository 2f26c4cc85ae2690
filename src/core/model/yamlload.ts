import { parseDocument, Parser, type CST } from 'yaml';

/**
 * Metadata YAML read with limits, here and in the editor's text view (this file runs in the
 * browser too). The `yaml` package, not js-yaml, because it caps alias expansion
 * (`maxAliasCount`): nine levels of nine aliases ("billion laughs") would otherwise grow
 * until the heap runs out. Writing stays with js-yaml's dump (metadata.ts), whose output
 * omlmd 0.1.x compatibility rests on.
 */

/** How deep metadata may nest (as the search crawler): deeper values are refused where metadata enters. */
export const MAX_METADATA_DEPTH = 64;
/** How many values aliases may stand for in one document (the `yaml` package's default). */
export const MAX_YAML_ALIASES = 100;

export type YamlResult = { ok: true; value: unknown } | { ok: false; reason: string; line?: number; column?: number };

/**
 * One YAML document with the core schema (no timestamps: "2024-01-01" stays a string, as
 * JSON keeps it), merge keys, and duplicate keys refused, as js-yaml's CORE_SCHEMA read it.
 */
export function loadYaml(text: string): YamlResult {
  const deep = cstTooDeep(text);
  if (deep) return { ok: false, reason: `it nests more than ${MAX_METADATA_DEPTH} levels deep`, line: deep.line, column: deep.column };
  try {
    const doc = parseDocument(text, { schema: 'core', merge: true, uniqueKeys: true, prettyErrors: true, logLevel: 'error', stringKeys: false });
    const err = doc.errors[0];
    if (err) {
      const at = err.linePos?.[0];
      const reason = err.code === 'MULTIPLE_DOCS' ? 'it holds more than one document (a second "---")' : err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      return { ok: false, reason, ...(at ? { line: at.line, column: at.col } : {}) };
    }
    return { ok: true, value: doc.toJS({ maxAliasCount: MAX_YAML_ALIASES }) };
  } catch (e) {
    if (e instanceof RangeError && /call stack/.test(e.message)) return { ok: false, reason: `it is nested too deep (metadata may nest at most ${MAX_METADATA_DEPTH} levels)` };
    if (e instanceof ReferenceError && /Excessive alias count/.test(e.message)) {
      return { ok: false, reason: `its aliases (*name) stand for more than ${MAX_YAML_ALIASES} values, which is how a YAML bomb grows; write the values out` };
    }
    return { ok: false, reason: (e as Error).message.split('\n')[0] ?? String(e) };
  }
}

/**
 * Where a value nests deeper than {@link MAX_METADATA_DEPTH} (a path such as
 * `$.customProperties.a[0]`), or undefined. Iterative, so no depth can overflow the stack.
 */
export function tooDeepAt(value: unknown, max = MAX_METADATA_DEPTH): string | undefined {
  // Depth as the crawler counts it (search/document.ts): the top level is 0, a value deeper than `max` is refused.
  const stack: { v: unknown; depth: number; path: string }[] = [{ v: value, depth: 0, path: '$' }];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const { v, depth, path } = item;
    if (depth > max) return path;
    if (typeof v !== 'object' || v === null) continue;
    if (Array.isArray(v)) v.forEach((x, i) => stack.push({ v: x, depth: depth + 1, path: `${path}[${i}]` }));
    else for (const [k, x] of Object.entries(v)) stack.push({ v: x, depth: depth + 1, path: /^[A-Za-z_][\w-]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]` });
  }
  return undefined;
}

/**
 * Where the text's collections nest deeper than the limit, from the parser's syntax tree
 * (built without recursion) and before anything recursive (composing, toJS) sees it: a stack
 * overflow inside those is not only an error, V8 may fail the next regular expression it
 * compiles, which a long-lived extension host would not survive.
 */
function cstTooDeep(text: string): { line: number; column: number } | undefined {
  const stack: { t: CST.Token | null | undefined; depth: number }[] = [];
  for (const top of new Parser().parse(text)) stack.push({ t: top, depth: 0 });
  for (let item = stack.pop(); item; item = stack.pop()) {
    const { t, depth } = item;
    if (!t) continue;
    if (t.type === 'document') stack.push({ t: t.value, depth });
    else if (t.type === 'block-map' || t.type === 'block-seq' || t.type === 'flow-collection') {
      if (depth > MAX_METADATA_DEPTH) return lineColumn(text, t.offset);
      for (const it of t.items as { key?: CST.Token | null; value?: CST.Token }[]) {
        stack.push({ t: it.key, depth: depth + 1 }, { t: it.value, depth: depth + 1 });
      }
    }
  }
  return undefined;
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, column: offset - start + 1 };
}
