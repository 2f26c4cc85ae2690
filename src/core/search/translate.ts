/**
 * Translation of a checked search filter into what a database evaluates: SQLite's JSON
 * functions, and PostgreSQL's SQL/JSON path (`jsonb @@ jsonpath`, which a GIN
 * `jsonb_path_ops` index serves). A translation is either exact or an over-approximation
 * (a superset, never missing a match); for the latter the rows are checked again with the
 * in-process evaluator, so every backend returns what the evaluator would.
 *
 * The RFC 9535 rules the translations keep: a missing member is Nothing, not null; `==`
 * needs the same type (numbers by value); `<` only orders two numbers or two strings, and
 * strings by code point; `!=` is the negation of `==`; a member name never matches an
 * array element and an index never matches an object member.
 */
import type { Comparable, ComparisonOp, FunctionExpr, JsonValue, LogicalExpr } from './ast';
import { compareValues, isSingular, stepsOf, type PathStep } from './jsonpath';
import { requiredLiterals } from './literals';

type Scalar = string | number | boolean | null;

/** The predicate form both renderers read. */
export type Pred =
  | { k: 'const'; v: boolean }
  | { k: 'residual'; hint?: Pred }
  /** Some string value of the document contains each of these (a superset of a match()/search()). */
  | { k: 'text'; lits: string[] }
  | { k: 'exists'; path: PathStep[] }
  | { k: 'cmp'; path: PathStep[]; op: '==' | '<' | '<=' | '>' | '>='; lit: Scalar }
  | { k: 'not'; p: Pred }
  | { k: 'and' | 'or'; a: Pred; b: Pred };

const FLIP: Record<ComparisonOp, ComparisonOp> = { '==': '==', '!=': '!=', '<': '>', '>': '<', '<=': '>=', '>=': '<=' };

function storableText(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0) return false;
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) return false;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return false;
  }
  return true;
}

function translatablePath(path: PathStep[]): boolean {
  return path.every((s) => !('name' in s) || storableText(s.name));
}

function translatableLiteral(v: Scalar): boolean {
  return typeof v === 'string' ? storableText(v) : typeof v === 'number' ? Number.isFinite(v) : true;
}

function comparablePath(c: Comparable): PathStep[] | undefined {
  return c.type === 'RelSingularQuery' ? stepsOf(c.segments) : undefined;
}

/**
 * match()/search() with a pattern written in the query: the value is a string holding the
 * pattern's literal pieces, so the document's text does (the narrowing an index of trigrams
 * serves). The exact check still runs on every row that passes.
 */
function textHint(f: FunctionExpr): { hint: Pred } | Record<string, never> {
  if (f.name !== 'match' && f.name !== 'search') return {};
  const [value, pattern] = f.arguments;
  if (value?.type !== 'FilterQuery' || pattern?.type !== 'Literal' || typeof pattern.value !== 'string') return {};
  const lits = requiredLiterals(pattern.value).filter((l) => storableText(l) && !l.includes('\n'));
  return lits.length ? { hint: { k: 'text', lits } } : {};
}

/** Builds the predicate tree from a checked filter. Function calls and query-to-query comparisons stay residual. */
export function toPred(e: LogicalExpr): Pred {
  switch (e.type) {
    case 'LogicalOrExpr':
      return { k: 'or', a: toPred(e.left), b: toPred(e.right) };
    case 'LogicalAndExpr':
      return { k: 'and', a: toPred(e.left), b: toPred(e.right) };
    case 'LogicalNotExpr':
      return { k: 'not', p: toPred(e.expression) };
    case 'TestExpr': {
      const q = e.expression;
      if (q.type === 'FunctionExpr') return { k: 'residual', ...textHint(q) };
      if (q.type !== 'FilterQuery' || q.value.type !== 'RelQuery' || !isSingular(q.value.segments)) return { k: 'residual' };
      const path = stepsOf(q.value.segments);
      if (path.length === 0) return { k: 'const', v: true };
      return translatablePath(path) ? { k: 'exists', path } : { k: 'residual' };
    }
    case 'ComparisonExpr': {
      const { left, right } = e;
      if (left.type === 'Literal' && right.type === 'Literal') return { k: 'const', v: compareValues(e.op, left.value, right.value) };
      let path: PathStep[] | undefined;
      let lit: Scalar;
      let op = e.op;
      if (right.type === 'Literal' && (path = comparablePath(left))) lit = right.value;
      else if (left.type === 'Literal' && (path = comparablePath(right))) {
        lit = left.value;
        op = FLIP[op];
      } else return { k: 'residual' };
      if (!translatablePath(path) || !translatableLiteral(lit)) return { k: 'residual' };
      // The document itself (`@`) is an object: it equals no scalar and orders with none.
      if (path.length === 0) return { k: 'const', v: op === '!=' };
      if (op === '!=') return { k: 'not', p: { k: 'cmp', path, op: '==', lit } };
      // `<` and `>` never hold for booleans and null; `<=` and `>=` reduce to `==`.
      if (typeof lit === 'boolean' || lit === null) {
        if (op === '<' || op === '>') return { k: 'const', v: false };
        if (op === '<=' || op === '>=') op = '==';
      }
      return { k: 'cmp', path, op, lit };
    }
  }
}

/** A sound superset (`over`) and subset (`under`) of a predicate with the residual parts removed. */
export interface Approx {
  over: Pred;
  under: Pred;
  exact: boolean;
}

function simplify(p: Pred): Pred {
  switch (p.k) {
    case 'not': {
      const x = simplify(p.p);
      if (x.k === 'const') return { k: 'const', v: !x.v };
      if (x.k === 'not') return x.p;
      return { k: 'not', p: x };
    }
    case 'and':
    case 'or': {
      const a = simplify(p.a);
      const b = simplify(p.b);
      const absorbing = p.k === 'or';
      for (const [x, y] of [[a, b], [b, a]] as const) {
        if (x.k === 'const') return x.v === absorbing ? x : y;
      }
      return { k: p.k, a, b };
    }
    default:
      return p;
  }
}

function approx(p: Pred, want: 'over' | 'under'): Pred {
  switch (p.k) {
    case 'residual':
      return want === 'over' ? (p.hint ?? { k: 'const', v: true }) : { k: 'const', v: false };
    case 'not':
      return { k: 'not', p: approx(p.p, want === 'over' ? 'under' : 'over') };
    case 'and':
    case 'or':
      return { k: p.k, a: approx(p.a, want), b: approx(p.b, want) };
    default:
      return p;
  }
}

function hasResidual(p: Pred): boolean {
  switch (p.k) {
    case 'residual':
      return true;
    case 'not':
      return hasResidual(p.p);
    case 'and':
    case 'or':
      return hasResidual(p.a) || hasResidual(p.b);
    default:
      return false;
  }
}

/** The part of a filter a database can evaluate, and whether that part is the whole of it. */
export function plan(filter: LogicalExpr | undefined): Approx {
  if (!filter) return { over: { k: 'const', v: true }, under: { k: 'const', v: true }, exact: true };
  const p = toPred(filter);
  const exact = !hasResidual(p);
  return { over: simplify(approx(p, 'over')), under: simplify(approx(p, 'under')), exact };
}

// ---- SQLite -----------------------------------------------------------------------------

/** A JSON path in SQLite's syntax; member names quoted the way JSON.stringify writes the stored text. */
export function sqlitePath(path: readonly PathStep[]): string {
  let s = '$';
  for (const st of path) {
    if ('name' in st) s += '.' + JSON.stringify(st.name);
    else s += st.index >= 0 ? `[${st.index}]` : `[#${st.index}]`;
  }
  return s;
}

export function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

export interface SqlFragment {
  sql: string;
  params: unknown[];
}

/**
 * SQLite SQL for a predicate over the `doc` column (JSONB). Every atom is true or false,
 * never NULL (`IS` is NULL-safe), so NOT keeps its meaning.
 */
export function sqliteWhere(p: Pred, column = 'doc', textTable?: string): SqlFragment {
  const params: unknown[] = [];
  const render = (q: Pred): string => {
    switch (q.k) {
      case 'text': {
        // FTS5's trigram index serves GLOB; its wildcards in a piece become `?` (any one character).
        if (!textTable) return '1';
        const globs = q.lits.map((l) => {
          params.push(`*${l.replace(/[*?[]/g, '?')}*`);
          return 'body GLOB ?';
        });
        return `(rowid IN (SELECT rowid FROM ${textTable} WHERE ${globs.join(' AND ')}))`;
      }
      case 'const':
        return q.v ? '1' : '0';
      case 'residual':
        throw new Error('residual predicate reached the SQL renderer');
      case 'not':
        return `NOT (${render(q.p)})`;
      case 'and':
        return `(${render(q.a)} AND ${render(q.b)})`;
      case 'or':
        return `(${render(q.a)} OR ${render(q.b)})`;
      case 'exists':
        return `(json_type(${column}, ${sqlString(sqlitePath(q.path))}) IS NOT NULL)`;
      case 'cmp': {
        const path = sqlString(sqlitePath(q.path));
        const type = `json_type(${column}, ${path})`;
        const value = `json_extract(${column}, ${path})`;
        const { lit, op } = q;
        if (lit === null) return `(${type} IS 'null')`;
        if (typeof lit === 'boolean') return `(${type} IS '${lit ? 'true' : 'false'}')`;
        params.push(lit);
        const sqlOp = op === '==' ? '=' : op;
        if (typeof lit === 'number') return `(COALESCE(${type}, '') IN ('integer', 'real') AND ${value} ${sqlOp} ?)`;
        return `(${type} IS 'text' AND ${value} ${sqlOp} ?)`;
      }
    }
  };
  return { sql: render(p), params };
}

// ---- PostgreSQL -------------------------------------------------------------------------

/** A string literal in SQL/JSON path syntax (the JSON escapes are a subset of it). */
function jpString(s: string): string {
  return JSON.stringify(s);
}

function jpPath(path: readonly PathStep[]): string {
  let s = '$';
  for (const st of path) {
    if ('name' in st) s += '.' + jpString(st.name);
    else if (st.index >= 0) s += `[${st.index}]`;
    else s += st.index === -1 ? '[last]' : `[last - ${-st.index - 1}]`;
  }
  return s;
}

/**
 * Lax mode unwraps arrays (a member of an array of objects, an array compared with a
 * scalar) and wraps scalars (`[0]` of a number); RFC 9535 does neither. Each step is
 * therefore guarded by the type of what it steps into, and the final value by its own
 * type, which also keeps every comparison two-valued (never unknown), so `!` means not.
 */
function jpGuards(path: readonly PathStep[]): string[] | undefined {
  const out: string[] = [];
  for (let i = 0; i < path.length; i++) {
    const step = path[i]!;
    const want = 'name' in step ? 'object' : 'array';
    if (i === 0) {
      if (want === 'array') return undefined; // the document is an object
      continue;
    }
    out.push(`${jpPath(path.slice(0, i))}.type() == "${want}"`);
  }
  return out;
}

function hasText(p: Pred): boolean {
  if (p.k === 'text') return true;
  if (p.k === 'not') return hasText(p.p);
  if (p.k === 'and' || p.k === 'or') return hasText(p.a) || hasText(p.b);
  return false;
}

/**
 * PostgreSQL SQL for a predicate: one SQL/JSON path (`doc @@ $n::jsonpath`, which the GIN
 * index serves) where it can be, and `strings LIKE` (pg_trgm's index) for the text pieces.
 */
export function postgresWhere(p: Pred, params: unknown[], column = 'doc', strings = 'strings'): string {
  if (!hasText(p)) {
    const jp = postgresJsonPath(p);
    if (typeof jp === 'boolean') return jp ? 'TRUE' : 'FALSE';
    params.push(jp);
    return `${column} @@ $${params.length}::jsonpath`;
  }
  switch (p.k) {
    case 'text':
      return `(${p.lits.map((l) => {
        params.push(`%${l.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
        return `${strings} LIKE $${params.length}`;
      }).join(' AND ')})`;
    case 'not':
      return `NOT (${postgresWhere(p.p, params, column, strings)})`;
    case 'and':
    case 'or':
      return `(${postgresWhere(p.a, params, column, strings)} ${p.k === 'and' ? 'AND' : 'OR'} ${postgresWhere(p.b, params, column, strings)})`;
    default:
      throw new Error('unreachable');
  }
}

/** PostgreSQL SQL/JSON path predicate (for `doc @@ $n::jsonpath`), or a constant. */
export function postgresJsonPath(p: Pred): string | boolean {
  const render = (q: Pred): string => {
    switch (q.k) {
      case 'text':
        throw new Error('text predicate reached the jsonpath renderer');
      case 'const':
        return q.v ? 'exists($)' : '!exists($)';
      case 'residual':
        throw new Error('residual predicate reached the jsonpath renderer');
      case 'not':
        return `!(${render(q.p)})`;
      case 'and':
        return `(${render(q.a)} && ${render(q.b)})`;
      case 'or':
        return `(${render(q.a)} || ${render(q.b)})`;
      case 'exists':
      case 'cmp': {
        const guards = jpGuards(q.path);
        if (!guards) return '!exists($)';
        const jp = jpPath(q.path);
        const parts = [...guards];
        if (q.k === 'exists') parts.push(`exists(${jp})`);
        else {
          const { lit, op } = q;
          if (lit === null) parts.push(`${jp}.type() == "null"`);
          else if (typeof lit === 'boolean') parts.push(`${jp}.type() == "boolean"`, `${jp} == ${lit}`);
          else if (typeof lit === 'number') parts.push(`${jp}.type() == "number"`, `${jp} ${op} ${JSON.stringify(lit)}`);
          else parts.push(`${jp}.type() == "string"`, `${jp} ${op} ${jpString(lit)}`);
        }
        return parts.length === 1 ? parts[0]! : `(${parts.join(' && ')})`;
      }
    }
  };
  if (p.k === 'const') return p.v;
  return render(p);
}

// ---- sorting ----------------------------------------------------------------------------

/**
 * The order of a sort field, the same on every backend: numbers (by value) before strings
 * (by code point), ascending; descending reverses both, strings first; documents where the
 * field is missing or another type come last either way. Ties go by reference.
 */
export interface SortSpec {
  path: PathStep[];
  desc: boolean;
}

/** One ORDER BY term: an expression and its direction. */
export type OrderTerm = [expression: string, direction: 'ASC' | 'DESC'];

/** The ORDER BY terms of a sort on SQLite; also the columns of the index that serves it. */
export function sqliteOrderTerms(sort: SortSpec | undefined, column = 'doc'): OrderTerm[] {
  if (!sort) return [['reference', 'ASC'], ['digest', 'ASC']];
  const path = sqlString(sqlitePath(sort.path));
  const type = `json_type(${column}, ${path})`;
  const value = `json_extract(${column}, ${path})`;
  const dir = sort.desc ? 'DESC' : 'ASC';
  const rank = sort.desc
    ? `CASE ${type} WHEN 'text' THEN 0 WHEN 'integer' THEN 1 WHEN 'real' THEN 1 ELSE 2 END`
    : `CASE ${type} WHEN 'integer' THEN 0 WHEN 'real' THEN 0 WHEN 'text' THEN 1 ELSE 2 END`;
  return [[rank, 'ASC'], [`CASE WHEN ${type} IN ('integer', 'real') THEN ${value} END`, dir], [`CASE WHEN ${type} = 'text' THEN ${value} END`, dir], ['reference', 'ASC'], ['digest', 'ASC']];
}

export function orderBy(terms: readonly OrderTerm[]): string {
  return terms.map(([e, d]) => `${e} ${d}`).join(', ');
}

export function sqliteOrderBy(sort: SortSpec | undefined, column = 'doc'): string {
  return orderBy(sqliteOrderTerms(sort, column));
}

/**
 * `doc -> 'a' -> 0`: `->` with text never reads an array, with an integer never an object;
 * but `-> 0` of a scalar is the scalar itself, so an index step first checks for an array.
 * Literals, not parameters, so an expression index on the same text serves the query.
 */
export function postgresAccess(path: readonly PathStep[], column = 'doc'): string {
  let s = column;
  for (const st of path) {
    if ('name' in st) s = `(${s} -> ${sqlString(st.name)}::text)`;
    else s = `(CASE WHEN jsonb_typeof(${s}) = 'array' THEN ${s} -> ${Math.trunc(st.index)} END)`;
  }
  return s;
}

/** The ORDER BY terms of a sort on PostgreSQL (each `expression direction`). */
export function postgresOrderTerms(sort: SortSpec | undefined, column = 'doc'): OrderTerm[] {
  if (!sort) return [['reference COLLATE "C"', 'ASC'], ['digest COLLATE "C"', 'ASC']];
  const v = postgresAccess(sort.path, column);
  const type = `jsonb_typeof(${v})`;
  const dir = sort.desc ? 'DESC' : 'ASC';
  const rank = sort.desc
    ? `CASE ${type} WHEN 'string' THEN 0 WHEN 'number' THEN 1 ELSE 2 END`
    : `CASE ${type} WHEN 'number' THEN 0 WHEN 'string' THEN 1 ELSE 2 END`;
  return [
    [rank, 'ASC'],
    [`CASE WHEN ${type} = 'number' THEN (${v})::numeric END`, dir],
    [`CASE WHEN ${type} = 'string' THEN (${v} #>> '{}') COLLATE "C" END`, dir],
    ['reference COLLATE "C"', 'ASC'],
    ['digest COLLATE "C"', 'ASC'],
  ];
}

export function postgresOrderBy(sort: SortSpec | undefined, column = 'doc'): string {
  return orderBy(postgresOrderTerms(sort, column));
}

/**
 * The first `window` rows in a sort's order (from the index that serves it), with the sort
 * keys as columns `k0`… so the query around it reads them in order without sorting again,
 * and the ORDER BY that query takes.
 */
export function sortedWindow(terms: readonly OrderTerm[], from: string, columns: string): { sql: string; order: string } {
  const keys = terms.slice(0, -2);
  const sql = `(SELECT ${columns}, ${keys.map(([e], i) => `${e} AS k${i}`).join(', ')} FROM ${from} ORDER BY ${orderBy(terms)} LIMIT ?)`;
  const order = orderBy([...keys.map(([, d], i): OrderTerm => [`k${i}`, d]), ...terms.slice(-2)]);
  return { sql, order };
}

/** The same order in JavaScript, for backends without SQL and for tests. */
export function sortRank(v: JsonValue | undefined, desc: boolean): number {
  if (typeof v === 'number') return desc ? 1 : 0;
  if (typeof v === 'string') return desc ? 0 : 1;
  return 2;
}

