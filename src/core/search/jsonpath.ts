/**
 * The query language: RFC 9535 JSONPath. A search query selects artifact documents:
 * `$[?FILTER]` (or just `FILTER`), where `@` is one artifact's document. The parser is
 * jsonpath-rfc9535's (its grammar, escapes and number rules pass the compliance suite);
 * the well-typedness rules of RFC 9535 §2.4.3, which that package does not enforce, and
 * the evaluator are here, so every backend shares one meaning of a query.
 */
import parseJsonPath from 'jsonpath-rfc9535/parser';
import { OmlmdError } from '../errors';
import { iRegexp, iRegexpProblem } from './iregexp';
import {
  indexOf,
  type Comparable,
  type ComparisonOp,
  type FilterQuery,
  type FunctionArgument,
  type FunctionExpr,
  type JsonPathQuery,
  type JsonValue,
  type LogicalExpr,
  type Segment,
  type Selector,
  type SingularQuerySegment,
} from './ast';

export type { JsonValue } from './ast';

/** A query the language refuses, with the offset (0-based, in the text as given) of the offending spot. */
export class QueryError extends OmlmdError {
  constructor(
    message: string,
    readonly query: string,
    readonly position: number,
  ) {
    super('INVALID_QUERY', `invalid query at column ${position + 1}: ${message}`, { remedies: [{ kind: 'say', text: 'write a JSONPath filter such as $[?@.customProperties.accuracy > 0.9 && @.model_format_name == \'onnx\']' }] });
  }

  /** The query with a caret under the offending spot, for a terminal. */
  pointer(): string {
    return `  ${this.query}\n  ${' '.repeat(Math.min(this.position, this.query.length))}^`;
  }
}

/** One step of a singular path: a member name or an array index (negative from the end). */
export type PathStep = { name: string } | { index: number };

export interface CompiledQuery {
  /** The query as given. */
  source: string;
  /** The filter every document must pass; undefined selects every document. */
  filter?: LogicalExpr;
}

// ---- lexical help for error positions ---------------------------------------------------

interface Token {
  kind: 'function' | 'root' | 'number';
  start: number;
  text: string;
}

/**
 * The parser's tree has no positions, so the spots a type error points at (function calls,
 * `$` inside a filter, out-of-range indexes) are found again in the text, in source order,
 * which is also the order the checker meets them.
 */
function scan(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"' || c === "'") {
      i++;
      while (i < text.length && text[i] !== c) i += text[i] === '\\' ? 2 : 1;
      i++;
      continue;
    }
    if (c === '$') {
      out.push({ kind: 'root', start: i, text: c });
      i++;
      continue;
    }
    const name = /^[a-z][a-z0-9_]*\(/.exec(text.slice(i, i + 64));
    if (name && text[i - 1] !== '.' && !/[A-Za-z0-9_]/.test(text[i - 1] ?? '')) {
      out.push({ kind: 'function', start: i, text: name[0].slice(0, -1) });
      i += name[0].length - 1;
      continue;
    }
    const num = /^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (num && !/[A-Za-z0-9_.]/.test(text[i - 1] ?? '')) {
      out.push({ kind: 'number', start: i, text: num[0] });
      i += num[0].length;
      continue;
    }
    i++;
  }
  return out;
}

// ---- parsing and checking ---------------------------------------------------------------

interface PeggyError {
  message: string;
  found?: string | null;
  expected?: { type: string; text?: string; description?: string }[];
  location?: { start: { offset: number } };
}

function describeExpected(e: PeggyError): string {
  const names = new Set<string>();
  for (const x of e.expected ?? []) {
    if (x.type === 'literal' && x.text !== undefined) {
      if (x.text.trim() !== '') names.add(JSON.stringify(x.text));
    } else if (x.type === 'end') names.add('the end of the query');
  }
  // Where a value may come, peggy lists every way a literal can start: say it in words.
  if (names.has('"null"') && names.has('"true"')) return '; expected a value: a number, a \'string\', true, false, null, @.field or a function()';
  const list = [...names];
  if (list.length === 0) return '';
  return `; expected ${list.slice(0, 8).join(', ')}${list.length > 8 ? ', …' : ''}`;
}

const MAX_EXACT = Number.MAX_SAFE_INTEGER;

type FnType = 'value' | 'logical' | 'nodes';
const FUNCTIONS: Record<string, { params: FnType[]; result: FnType }> = {
  length: { params: ['value'], result: 'value' },
  count: { params: ['nodes'], result: 'value' },
  match: { params: ['value', 'value'], result: 'logical' },
  search: { params: ['value', 'value'], result: 'logical' },
  value: { params: ['nodes'], result: 'value' },
};

class Checker {
  private readonly tokens: Token[];
  private fnSeen = 0;
  private rootSeen = 0;

  constructor(
    text: string,
    private readonly offset: number,
    private readonly original: string,
    /** General JSONPath allows `$` in filters; a search query does not (it would mean the whole index). */
    private readonly allowRoot = false,
  ) {
    this.tokens = scan(text);
  }

  fail(message: string, at: number): never {
    throw new QueryError(message, this.original, Math.max(0, Math.min(this.original.length, at - this.offset)));
  }

  private nth(kind: Token['kind'], n: number): number {
    return this.tokens.filter((t) => t.kind === kind)[n]?.start ?? 0;
  }

  private functionAt(): number {
    return this.nth('function', this.fnSeen++);
  }

  /** The root `$` is token 0; each further `$` is a query inside a filter. */
  private innerRootAt(): number {
    return this.nth('root', ++this.rootSeen);
  }

  checkInt(n: number | null): void {
    if (n !== null && (!Number.isInteger(n) || Math.abs(n) > MAX_EXACT)) {
      const tok = this.tokens.find((t) => t.kind === 'number' && /^-?\d+$/.test(t.text) && Math.abs(Number(t.text)) > MAX_EXACT);
      this.fail(`index ${tok?.text ?? String(n)} is outside the exact integer range ±(2^53-1)`, tok?.start ?? 0);
    }
  }

  segments(segs: Segment[]): void {
    for (const s of segs) {
      if (s.node.type === 'BracketedSelection') for (const sel of s.node.selectors) this.selector(sel);
    }
  }

  private selector(sel: Selector): void {
    switch (sel.type) {
      case 'IndexSelector':
        this.checkInt(indexOf(sel));
        break;
      case 'SliceSelector':
        this.checkInt(sel.start);
        this.checkInt(sel.end);
        this.checkInt(sel.step);
        break;
      case 'FilterSelector':
        this.logical(sel.value);
        break;
      default:
        break;
    }
  }

  private singular(segs: SingularQuerySegment[]): void {
    for (const s of segs) if (s.node.type === 'IndexSelector') this.checkInt(indexOf(s.node));
  }

  logical(e: LogicalExpr): void {
    switch (e.type) {
      case 'LogicalOrExpr':
      case 'LogicalAndExpr':
        this.logical(e.left);
        this.logical(e.right);
        return;
      case 'LogicalNotExpr':
        this.logical(e.expression);
        return;
      case 'TestExpr':
        if (e.expression.type === 'FunctionExpr') {
          const at = this.functionAt();
          const result = this.fn(e.expression, at);
          if (result === 'value') this.fail(`the result of ${e.expression.name}() must be compared, e.g. ${e.expression.name}(...) > 0`, at);
        } else {
          this.filterQuery(e.expression);
        }
        return;
      case 'ComparisonExpr':
        this.comparable(e.left);
        this.comparable(e.right);
        return;
    }
  }

  private filterQuery(q: FilterQuery): void {
    if (q.value.type === 'JsonPathQuery') this.absolute();
    this.segments(q.value.segments);
  }

  private absolute(): void {
    const at = this.innerRootAt();
    if (!this.allowRoot) this.fail('`$` inside a filter would mean the whole index; use `@`, the artifact being tested', at);
  }

  private comparable(c: Comparable): void {
    switch (c.type) {
      case 'Literal':
        return;
      case 'RelSingularQuery':
        this.singular(c.segments);
        return;
      case 'AbsSingularQuery':
        this.absolute();
        this.singular(c.segments);
        return;
      case 'FunctionExpr': {
        const at = this.functionAt();
        if (this.fn(c, at) !== 'value') this.fail(`the result of ${c.name}() is true or false and cannot be compared; use it alone, e.g. ?${c.name}(...)`, at);
        return;
      }
    }
  }

  private fn(f: FunctionExpr, at: number): FnType {
    const sig = FUNCTIONS[f.name];
    if (!sig) this.fail(`unknown function ${f.name}() (the functions are ${Object.keys(FUNCTIONS).map((n) => `${n}()`).join(', ')})`, at);
    f.arguments ??= [];
    if (f.arguments.length !== sig.params.length) {
      this.fail(`${f.name}() takes ${sig.params.length} argument${sig.params.length === 1 ? '' : 's'}, not ${f.arguments.length}`, at);
    }
    f.arguments.forEach((a, i) => this.argument(f.name, a, sig.params[i]!, at));
    const pattern = f.arguments[1];
    if ((f.name === 'match' || f.name === 'search') && pattern?.type === 'Literal' && typeof pattern.value === 'string') {
      // RFC 9535 makes a bad pattern match nothing; a pattern written in the query is
      // refused instead, naming what I-Regexp lacks, rather than silently finding nothing.
      const problem = iRegexpProblem(pattern.value);
      if (problem) this.fail(`the ${f.name}() pattern ${quotePattern(pattern.value)} is not an I-Regexp (RFC 9485): ${problem.message}`, at);
    }
    return sig.result;
  }

  private argument(name: string, a: FunctionArgument, want: FnType, at: number): void {
    if (a.type === 'FunctionExpr') {
      const inner = this.functionAt();
      const got = this.fn(a, inner);
      if (got !== want) this.fail(`${name}() needs ${want === 'nodes' ? 'a query' : 'a value'} here, and ${a.name}() gives ${got === 'logical' ? 'true or false' : 'a value'}`, inner);
      return;
    }
    if (a.type === 'Literal') {
      if (want !== 'value') this.fail(`${name}() needs a query such as @.field here, not a literal`, at);
      return;
    }
    if (a.type === 'FilterQuery') {
      this.filterQuery(a);
      if (want === 'value' && !isSingular(a.value.segments)) this.fail(`${name}() needs a single value here; a query with *, .., a slice or a filter gives many`, at);
      return;
    }
    if (a.type === 'TestExpr' && a.expression.type === 'FilterQuery') {
      this.filterQuery(a.expression);
      if (want === 'value' && !isSingular(a.expression.value.segments)) this.fail(`${name}() needs a single value here; a query with *, .., a slice or a filter gives many`, at);
      return;
    }
    this.logical(a);
    this.fail(`${name}() cannot take a true/false expression as an argument`, at);
  }
}

function quotePattern(p: string): string {
  return JSON.stringify(p.length > 60 ? `${p.slice(0, 57)}...` : p);
}

/** A query whose segments each name one member or one index (RFC 9535 singular query). */
export function isSingular(segs: Segment[]): boolean {
  return segs.every((s) => {
    if (s.type !== 'ChildSegment') return false;
    if (s.node.type === 'MemberNameShorthand') return true;
    if (s.node.type !== 'BracketedSelection' || s.node.selectors.length !== 1) return false;
    const t = s.node.selectors[0]!.type;
    return t === 'NameSelector' || t === 'IndexSelector';
  });
}

/** Parentheses and brackets nest at most this deep in a query (as metadata nests at most 64 levels). */
export const MAX_QUERY_DEPTH = 64;
/** At most this many && and || in a query: the checks and the SQL translation recurse over them. */
export const MAX_QUERY_OPERATORS = 1000;

/** Refuses nesting beyond MAX_QUERY_DEPTH before the (recursive) parser sees it: 100,000 "(" overflowed its stack. */
function checkDepth(text: string, offset: number, original: string): void {
  let depth = 0;
  let operators = 0;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '(' || c === '[') {
      if (++depth > MAX_QUERY_DEPTH) throw new QueryError(`parentheses and brackets nest more than ${MAX_QUERY_DEPTH} deep here; write the filter flatter`, original, Math.max(0, Math.min(original.length, i - offset)));
    } else if (c === ')' || c === ']') depth = Math.max(0, depth - 1);
    else if ((c === '&' || c === '|') && text[i + 1] === c) {
      if (++operators > MAX_QUERY_OPERATORS) throw new QueryError(`more than ${MAX_QUERY_OPERATORS} && and || in one query; split it, or match a list with search() or a shorter filter`, original, Math.max(0, Math.min(original.length, i - offset)));
      i++;
    }
  }
}

function parseText(text: string, offset: number, original: string): JsonPathQuery {
  checkDepth(text, offset, original);
  try {
    return parseJsonPath(text) as unknown as JsonPathQuery;
  } catch (e) {
    if (e instanceof RangeError) throw new QueryError('the query is too complex to parse; write it shorter or flatter', original, 0);
    const pe = e as PeggyError;
    if (pe.location === undefined) throw e;
    const at = pe.location.start.offset;
    const found = pe.found === null || pe.found === undefined ? 'the end of the query' : JSON.stringify(pe.found);
    throw new QueryError(`unexpected ${found}${describeExpected(pe)}`, original, Math.max(0, Math.min(original.length, at - offset)));
  }
}

/**
 * Parses and checks a search query. Accepted forms: `$` or `$[*]` (every artifact),
 * `$[?FILTER]` and `$[?F1, ?F2]` (either), or a bare `FILTER` such as
 * `@.model_format_name == 'onnx'`.
 */
export function compileQuery(query: string): CompiledQuery {
  const lead = query.length - query.trimStart().length;
  const body = query.trim();
  if (body === '' || body === '$' || body === '$[*]' || body === '$.*') return { source: query };
  let text: string;
  let offset: number;
  if (body.startsWith('$')) {
    text = body;
    offset = -lead;
  } else {
    text = `$[?${body}]`;
    offset = 3 - lead;
  }
  const ast = parseText(text, offset, query);
  const checker = new Checker(text, offset, query);
  const [first, ...rest] = ast.segments;
  if (!first) return { source: query };
  const shape = 'a search query selects artifacts: write $[?FILTER], e.g. $[?@.name == \'mnist\']';
  if (rest.length > 0) {
    checker.fail(`${shape}; nothing may follow the filter`, firstSegmentEnd(text));
  }
  if (first.type === 'ChildSegment' && first.node.type === 'WildcardSelector') return { source: query };
  const node = first.node;
  if (first.type !== 'ChildSegment' || node.type !== 'BracketedSelection') return checker.fail(shape, 1);
  const filters: LogicalExpr[] = [];
  let all = false;
  for (const sel of node.selectors) {
    if (sel.type === 'FilterSelector') filters.push(sel.value);
    else if (sel.type === 'WildcardSelector') all = true;
    else checker.fail(shape, 2);
  }
  for (const f of filters) checker.logical(f);
  if (all || filters.length === 0) return { source: query };
  const filter = filters.reduce((a, b) => ({ type: 'LogicalOrExpr', left: a, right: b }));
  return { source: query, filter };
}

function firstSegmentEnd(text: string): number {
  let depth = 0;
  for (let i = 1; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"' || c === "'") {
      i++;
      while (i < text.length && text[i] !== c) i += text[i] === '\\' ? 2 : 1;
    } else if (c === '[') depth++;
    else if (c === ']' && --depth === 0) return i + 1;
  }
  return 1;
}

// ---- sort fields ------------------------------------------------------------------------

/**
 * A sort field: `customProperties.accuracy` (member names separated by dots), or a
 * singular JSONPath relative to the document, `@.customProperties['f1-score']`.
 */
export function parseSortField(field: string): PathStep[] {
  const f = field.trim();
  if (f === '') throw new QueryError('the sort field is empty', field, 0);
  if (!f.startsWith('@') && !f.startsWith('$')) {
    const parts = f.split('.');
    let at = 0;
    for (const p of parts) {
      if (p === '') throw new QueryError('empty member name in the sort field', field, at);
      at += p.length + 1;
    }
    return parts.map((name) => ({ name }));
  }
  const lead = field.length - field.trimStart().length;
  const text = `$[?@${f.slice(1)}]`;
  const offset = 3 - lead;
  const ast = parseText(text, offset, field);
  const sel = ast.segments[0]?.node;
  const test = sel?.type === 'BracketedSelection' && sel.selectors[0]?.type === 'FilterSelector' ? sel.selectors[0].value : undefined;
  const q = test?.type === 'TestExpr' && test.expression.type === 'FilterQuery' ? test.expression.value : undefined;
  if (!q || ast.segments.length !== 1 || (sel?.type === 'BracketedSelection' && sel.selectors.length !== 1)) {
    throw new QueryError('the sort field must be one path, like @.customProperties.accuracy', field, 0);
  }
  if (!isSingular(q.segments)) {
    throw new QueryError('the sort field must name one value: no *, .., slices or filters', field, firstNonSingular(field));
  }
  return stepsOf(q.segments);
}

/** Where a path stops naming a single value (outside quoted names). */
function firstNonSingular(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"' || c === "'") {
      i++;
      while (i < text.length && text[i] !== c) i += text[i] === '\\' ? 2 : 1;
    } else if (c === '*' || c === '?' || c === ':' || c === ',' || (c === '.' && text[i + 1] === '.')) return i;
  }
  return 0;
}

export function stepsOf(segs: (SingularQuerySegment | Segment)[]): PathStep[] {
  return segs.map((s) => {
    const n = s.node.type === 'BracketedSelection' ? s.node.selectors[0]! : s.node;
    if (n.type === 'IndexSelector') return { index: indexOf(n) };
    if (n.type === 'NameSelector' || n.type === 'MemberNameShorthand') return { name: n.value };
    throw new OmlmdError('INVALID_QUERY', 'not a singular path');
  });
}

// ---- evaluation -------------------------------------------------------------------------

const NOTHING: unique symbol = Symbol('Nothing');
type Value = JsonValue | typeof NOTHING;

function isObject(v: unknown): v is Record<string, JsonValue> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function children(v: JsonValue): JsonValue[] {
  if (Array.isArray(v)) return v;
  if (isObject(v)) return Object.values(v);
  return [];
}

function descendants(v: JsonValue, out: JsonValue[]): void {
  out.push(v);
  for (const c of children(v)) descendants(c, out);
}

function normIndex(i: number, len: number): number {
  return i >= 0 ? i : len + i;
}

function slice(arr: JsonValue[], start: number | null, end: number | null, step: number | null): JsonValue[] {
  const st = step ?? 1;
  if (st === 0) return [];
  const len = arr.length;
  const out: JsonValue[] = [];
  if (st > 0) {
    const lo = Math.min(Math.max(normIndex(start ?? 0, len), 0), len);
    const hi = Math.min(Math.max(normIndex(end ?? len, len), 0), len);
    for (let i = lo; i < hi; i += st) out.push(arr[i]!);
  } else {
    const hi = Math.min(Math.max(normIndex(start ?? len - 1, len), -1), len - 1);
    const lo = Math.min(Math.max(end === null ? -1 : normIndex(end, len), -1), len - 1);
    for (let i = hi; lo < i; i += st) out.push(arr[i]!);
  }
  return out;
}

function select(sel: Selector | { type: 'MemberNameShorthand'; value: string }, v: JsonValue, root: JsonValue, out: JsonValue[]): void {
  switch (sel.type) {
    case 'NameSelector':
    case 'MemberNameShorthand':
      if (isObject(v) && Object.hasOwn(v, sel.value)) out.push(v[sel.value]!);
      return;
    case 'WildcardSelector':
      out.push(...children(v));
      return;
    case 'IndexSelector': {
      if (!Array.isArray(v)) return;
      const i = normIndex(indexOf(sel), v.length);
      if (i >= 0 && i < v.length) out.push(v[i]!);
      return;
    }
    case 'SliceSelector':
      if (Array.isArray(v)) out.push(...slice(v, sel.start, sel.end, sel.step));
      return;
    case 'FilterSelector':
      for (const c of children(v)) if (test(sel.value, c, root)) out.push(c);
      return;
  }
}

/** The nodelist a query's segments select from `start` (RFC 9535 §2.5). */
export function evaluateSegments(segments: readonly (Segment | SingularQuerySegment)[], start: JsonValue, root: JsonValue): JsonValue[] {
  let nodes: JsonValue[] = [start];
  for (const seg of segments) {
    const next: JsonValue[] = [];
    const inputs: JsonValue[] = [];
    if (seg.type === 'DescendantSegment') for (const n of nodes) descendants(n, inputs);
    else inputs.push(...nodes);
    const sels: (Selector | { type: 'MemberNameShorthand'; value: string })[] =
      seg.node.type === 'BracketedSelection' ? seg.node.selectors : [seg.node as Selector | { type: 'MemberNameShorthand'; value: string }];
    for (const n of inputs) for (const s of sels) select(s, n, root, next);
    nodes = next;
  }
  return nodes;
}

/** A whole JSONPath query (any, not only search queries) on a value: RFC 9535 semantics. */
export function evaluateJsonPath(query: string, value: JsonValue): JsonValue[] {
  const ast = parseText(query, 0, query);
  new Checker(query, 0, query, true).segments(ast.segments);
  return evaluateSegments(ast.segments, value, value);
}

function evalQueryValue(q: FilterQuery['value'], current: JsonValue, root: JsonValue): JsonValue[] {
  return evaluateSegments(q.segments, q.type === 'JsonPathQuery' ? root : current, root);
}

function comparableValue(c: Comparable, current: JsonValue, root: JsonValue): Value {
  switch (c.type) {
    case 'Literal':
      return c.value;
    case 'RelSingularQuery':
    case 'AbsSingularQuery': {
      const nodes = evaluateSegments(c.segments, c.type === 'AbsSingularQuery' ? root : current, root);
      return nodes.length === 1 ? nodes[0]! : NOTHING;
    }
    case 'FunctionExpr':
      return callValue(c, current, root);
  }
}

function argValue(a: FunctionArgument, current: JsonValue, root: JsonValue): Value {
  if (a.type === 'Literal') return a.value;
  if (a.type === 'FunctionExpr') return callValue(a, current, root);
  const q = a.type === 'FilterQuery' ? a : a.type === 'TestExpr' && a.expression.type === 'FilterQuery' ? a.expression : undefined;
  if (!q) return NOTHING;
  const nodes = evalQueryValue(q.value, current, root);
  return nodes.length === 1 ? nodes[0]! : NOTHING;
}

function argNodes(a: FunctionArgument, current: JsonValue, root: JsonValue): JsonValue[] {
  const q = a.type === 'FilterQuery' ? a : a.type === 'TestExpr' && a.expression.type === 'FilterQuery' ? a.expression : undefined;
  return q ? evalQueryValue(q.value, current, root) : [];
}

function callValue(f: FunctionExpr, current: JsonValue, root: JsonValue): Value {
  const [a, b] = f.arguments;
  switch (f.name) {
    case 'length': {
      const v = a ? argValue(a, current, root) : NOTHING;
      if (typeof v === 'string') return codePointLength(v);
      if (Array.isArray(v)) return v.length;
      if (isObject(v)) return Object.keys(v).length;
      return NOTHING;
    }
    case 'count':
      return a ? argNodes(a, current, root).length : 0;
    case 'value': {
      const nodes = a ? argNodes(a, current, root) : [];
      return nodes.length === 1 ? nodes[0]! : NOTHING;
    }
    case 'match':
    case 'search': {
      const v = a ? argValue(a, current, root) : NOTHING;
      const re = b ? argValue(b, current, root) : NOTHING;
      if (typeof v !== 'string' || typeof re !== 'string') return false;
      // A pattern from a document that is not an I-Regexp matches nothing (RFC 9535 §2.4.6).
      return iRegexp(re, f.name === 'match')?.test(v) ?? false;
    }
    default:
      return NOTHING;
  }
}

function codePointLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

/** Orders strings by Unicode code point, as RFC 9535, SQLite (BINARY) and PostgreSQL (C) do; JS `<` compares UTF-16 units. */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return fixup(x) - fixup(y);
  }
  return a.length - b.length;
}

function fixup(c: number): number {
  if (c >= 0xd800 && c <= 0xdfff) return c + 0x2000;
  if (c >= 0xe000) return c - 0x800;
  return c;
}

function deepEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]!));
  if (isObject(a)) {
    if (!isObject(b)) return false;
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k]!, b[k]!));
  }
  return false;
}

function equal(a: Value, b: Value): boolean {
  if (a === NOTHING || b === NOTHING) return a === b;
  return deepEqual(a, b);
}

function less(a: Value, b: Value): boolean {
  if (typeof a === 'number' && typeof b === 'number') return a < b;
  if (typeof a === 'string' && typeof b === 'string') return compareCodePoints(a, b) < 0;
  return false;
}

export function compareValues(op: ComparisonOp, a: Value, b: Value): boolean {
  switch (op) {
    case '==':
      return equal(a, b);
    case '!=':
      return !equal(a, b);
    case '<':
      return less(a, b);
    case '>':
      return less(b, a);
    case '<=':
      return less(a, b) || equal(a, b);
    case '>=':
      return less(b, a) || equal(a, b);
  }
}

/** Whether a logical expression holds for `current` (RFC 9535 §2.3.5). */
export function test(e: LogicalExpr, current: JsonValue, root: JsonValue): boolean {
  switch (e.type) {
    case 'LogicalOrExpr':
      return test(e.left, current, root) || test(e.right, current, root);
    case 'LogicalAndExpr':
      return test(e.left, current, root) && test(e.right, current, root);
    case 'LogicalNotExpr':
      return !test(e.expression, current, root);
    case 'TestExpr':
      if (e.expression.type === 'FunctionExpr') return callValue(e.expression, current, root) === true;
      return evalQueryValue(e.expression.value, current, root).length > 0;
    case 'ComparisonExpr':
      return compareValues(e.op, comparableValue(e.left, current, root), comparableValue(e.right, current, root));
  }
}

/** Whether a document passes a compiled search query. */
export function matches(q: CompiledQuery, doc: JsonValue): boolean {
  return q.filter === undefined || test(q.filter, doc, doc);
}

/** The value at a singular path, or undefined when there is none (RFC's Nothing). */
export function valueAt(doc: JsonValue, steps: readonly PathStep[]): JsonValue | undefined {
  let v: JsonValue = doc;
  for (const s of steps) {
    if ('name' in s) {
      if (!isObject(v) || !Object.hasOwn(v, s.name)) return undefined;
      v = v[s.name]!;
    } else {
      if (!Array.isArray(v)) return undefined;
      const i = normIndex(s.index, v.length);
      if (i < 0 || i >= v.length) return undefined;
      v = v[i]!;
    }
  }
  return v;
}
