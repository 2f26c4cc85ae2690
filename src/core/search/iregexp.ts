/**
 * I-Regexp (RFC 9485), the pattern language of JSONPath's match() and search() (RFC 9535
 * §2.4.6-7): a checker for its grammar (RFC 9485 §5's ABNF) that names the construct it
 * refuses, and a translation to RE2 syntax run by re2js, a maintained pure-JavaScript port
 * of RE2 (Go's regexp). RE2 never backtracks: a match costs time linear in the text (for a
 * pattern of bounded size), so no pattern can stall the process that runs a query, whether
 * the CLI, the search server or the VS Code extension host. A JavaScript RegExp backtracks:
 * `(a+)+b` on 34 `a` took minutes.
 *
 * Meaning, as RFC 9485 §5.3-5.4 map it: `.` is any character but \n and \r; match() tests the
 * whole string, search() any substring; `^` and `$` anchor at the start and end of the text
 * (the compliance suite's reading; the grammar lists them among the ordinary characters).
 */
import { RE2JS } from 're2js';

/** Groups nest at most this deep. */
export const MAX_GROUP_DEPTH = 100;
/** A count `{n,m}` is at most this (RE2's own limit). */
export const MAX_COUNT = 1000;
/**
 * At most this many positions once counts are expanded (`a{100}` is 100): what bounds the
 * matcher's program, so compiling a pattern, and each step of a match, cost a bounded time.
 */
export const MAX_SIZE = 10_000;

/** A pattern that is not an I-Regexp, or one beyond the limits above. */
export class IRegexpError extends Error {
  constructor(
    message: string,
    /** Offset in the pattern (UTF-16 units). */
    readonly position: number,
  ) {
    super(message);
  }
}

/** A compiled pattern: whether a string matches (match()) or contains a match (search()). */
export interface IRegexpMatcher {
  test(text: string): boolean;
}

const CATEGORIES = new Set([
  'L', 'Ll', 'Lm', 'Lo', 'Lt', 'Lu',
  'M', 'Mc', 'Me', 'Mn',
  'N', 'Nd', 'Nl', 'No',
  'P', 'Pc', 'Pd', 'Pe', 'Pf', 'Pi', 'Po', 'Ps',
  'Z', 'Zl', 'Zp', 'Zs',
  'S', 'Sc', 'Sk', 'Sm', 'So',
  'C', 'Cc', 'Cf', 'Cn', 'Co',
]);

/** SingleCharEsc: `\` and one of these is that character (n, r, t: the control characters). */
const SINGLE_ESCAPES = new Set(['(', ')', '*', '+', '-', '.', '?', '[', '\\', ']', '^', 'n', 'r', 't', '{', '|', '}']);

const MULTI_ESCAPES: Record<string, string> = {
  d: 'write [0-9]',
  D: 'write [^0-9]',
  s: 'write [ \\t\\n\\r]',
  S: 'write [^ \\t\\n\\r]',
  w: 'write a class such as [\\p{L}\\p{N}_]',
  W: 'write a class such as [^\\p{L}\\p{N}_]',
  i: 'write a class of the characters meant',
  I: 'write a class of the characters meant',
  c: 'write a class of the characters meant',
  C: 'write a class of the characters meant',
};

function literal(cp: number): string {
  const c = String.fromCodePoint(cp);
  return /[A-Za-z0-9]/.test(c) ? c : `\\x{${cp.toString(16)}}`;
}

function show(cp: number): string {
  return cp < 0x20 || cp === 0x7f ? `U+${cp.toString(16).toUpperCase().padStart(4, '0')}` : String.fromCodePoint(cp);
}

class Parser {
  private i = 0;

  constructor(private readonly p: string) {}

  fail(message: string, at = this.i): never {
    throw new IRegexpError(message, at);
  }

  /** The code point at the cursor (undefined at the end); unpaired surrogates are refused. */
  private peek(at = this.i): number | undefined {
    if (at >= this.p.length) return undefined;
    const cp = this.p.codePointAt(at)!;
    if (cp >= 0xd800 && cp <= 0xdfff) this.fail(`an unpaired surrogate (U+${cp.toString(16).toUpperCase()}) is not a character`, at);
    return cp;
  }

  private width(cp: number): number {
    return cp > 0xffff ? 2 : 1;
  }

  private next(): number {
    const cp = this.peek()!;
    this.i += this.width(cp);
    return cp;
  }

  private ch(at = this.i): string | undefined {
    return this.p[at];
  }

  /** i-regexp = branch *( "|" branch ); returns RE2 text and its expanded size. */
  regexp(depth: number): [string, number] {
    const branches: string[] = [];
    let size = 0;
    for (;;) {
      const [b, n] = this.branch(depth);
      branches.push(b);
      size += n;
      if (this.ch() !== '|') break;
      this.i++;
    }
    return [branches.join('|'), size];
  }

  private branch(depth: number): [string, number] {
    let out = '';
    let size = 0;
    for (;;) {
      const c = this.ch();
      if (c === undefined || c === '|' || c === ')') return [out, size];
      const start = this.i;
      const atom = this.atom(depth);
      const q = this.quantifier(start);
      let n = atom[1];
      if (q) {
        out += `(?:${atom[0]})${q[0]}`;
        n *= q[1];
      } else out += atom[0];
      size += n;
      if (size > MAX_SIZE) this.fail(`the pattern is too large: counts expand it past ${MAX_SIZE} positions`, start);
    }
  }

  private atom(depth: number): [string, number] {
    const at = this.i;
    const c = this.ch()!;
    switch (c) {
      case '(': {
        if (this.ch(at + 1) === '?') this.fail(groupConstruct(this.p.slice(at, at + 4)), at);
        if (depth >= MAX_GROUP_DEPTH) this.fail(`groups nest deeper than ${MAX_GROUP_DEPTH}`, at);
        this.i++;
        const [inner, n] = this.regexp(depth + 1);
        if (this.ch() !== ')') this.fail('a ( is not closed', at);
        this.i++;
        return [`(?:${inner})`, Math.max(n, 1)];
      }
      case ')':
        return this.fail('a ) closes no group; write \\) for the character');
      case '*':
      case '+':
      case '?':
        return this.fail(`${c} has nothing to repeat; write \\${c} for the character`);
      case '{':
        return this.fail(QUANT.test(this.p.slice(at)) ? '{ has nothing to repeat' : '{ must begin a count such as {2} or {1,3}; write \\{ for the character');
      case '}':
        return this.fail('a } without its {; write \\} for the character');
      case ']':
        return this.fail('a ] without its [; write \\] for the character');
      case '[':
        return [this.charClass(), 1];
      case '.':
        this.i++;
        return ['[^\\n\\r]', 1];
      case '^':
        this.i++;
        return ['^', 1];
      case '$':
        this.i++;
        return ['$', 1];
      case '\\':
        return [this.escape(false), 1];
      default:
        return [literal(this.next()), 1];
    }
  }

  /** quantifier = ( "*" / "+" / "?" ) / range-quantifier; RE2 text and the expansion factor. */
  private quantifier(atomStart: number): [string, number] | undefined {
    const at = this.i;
    const c = this.ch();
    let q: [string, number] | undefined;
    if (c === '*' || c === '+' || c === '?') {
      this.i++;
      q = [c, c === '?' ? 1 : 2];
    } else if (c === '{') {
      const m = QUANT.exec(this.p.slice(at));
      if (!m) this.fail('{ must begin a count such as {2} or {1,3}; write \\{ for the character');
      const lo = Number(m[1]);
      const hi = m[2] === undefined ? lo : m[3] ? Number(m[3]) : undefined;
      if (lo > MAX_COUNT || (hi ?? 0) > MAX_COUNT) this.fail(`${m[0]}: counts above ${MAX_COUNT} are beyond the matcher (RE2)`);
      if (hi !== undefined && hi < lo) this.fail(`${m[0]}: the smaller count comes first`);
      this.i += m[0].length;
      q = [m[2] === undefined ? `{${lo}}` : `{${lo},${hi ?? ''}}`, Math.max(hi ?? lo + 1, 1)];
    }
    if (!q) return undefined;
    const after = this.ch();
    if (after === '?') this.fail(`a non-greedy quantifier (${this.p.slice(at, this.i)}?) is not I-Regexp; write ${this.p.slice(at, this.i)}`);
    if (after === '+') this.fail(`a possessive quantifier (${this.p.slice(at, this.i)}+) is not I-Regexp; write ${this.p.slice(at, this.i)}`);
    if (after === '*' || (after === '{' && QUANT.test(this.p.slice(this.i)))) {
      this.fail(`a quantifier cannot follow another (${this.p.slice(atomStart, this.i + 1)}); put the repeated part in parentheses`);
    }
    return q;
  }

  /** An escape at the cursor: SingleCharEsc or \p{..}/\P{..}; `inClass` for what a class may hold. */
  private escape(inClass: boolean): string {
    const at = this.i;
    const e = this.ch(at + 1);
    if (e === undefined) this.fail('the pattern ends with a lone \\; write \\\\ for the character', at);
    if (e === 'p' || e === 'P') {
      const m = /^\{([A-Za-z0-9_-]*)\}/.exec(this.p.slice(at + 2, at + 40));
      if (!m) this.fail(`\\${e} needs a category in braces, such as \\${e}{Lu}`, at);
      const name = m[1]!;
      if (!CATEGORIES.has(name)) {
        const what = name.startsWith('Is') ? 'a Unicode block' : 'not a Unicode general category';
        this.fail(`\\${e}{${name}} is ${what}; I-Regexp has the general categories only, such as \\p{L}, \\p{Lu}, \\p{Nd}`, at);
      }
      this.i = at + 2 + m[0].length;
      return `\\${e}{${name}}`;
    }
    if (SINGLE_ESCAPES.has(e)) {
      this.i = at + 2;
      return literal(e === 'n' ? 10 : e === 'r' ? 13 : e === 't' ? 9 : e.codePointAt(0)!);
    }
    return this.badEscape(at, inClass);
  }

  private badEscape(at: number, inClass: boolean): never {
    const e = this.ch(at + 1);
    if (e === undefined) this.fail('the pattern ends with a lone \\; write \\\\ for the character', at);
    if (/[1-9]/.test(e)) this.fail(`a backreference (\\${e}) is not I-Regexp`, at);
    if (e === 'k') this.fail('a named backreference (\\k<…>) is not I-Regexp', at);
    if (MULTI_ESCAPES[e]) this.fail(`\\${e} is not I-Regexp; ${MULTI_ESCAPES[e]}`, at);
    if ('bBAzZG<>'.includes(e)) this.fail(`\\${e} (a boundary or anchor) is not I-Regexp`, at);
    if ('uxU0'.includes(e)) this.fail(`\\${e} escapes are not I-Regexp; write the character itself (a JSONPath string may spell it \\uXXXX)`, at);
    if (e === '$') this.fail('\\$ is not an I-Regexp escape; write [$] for the character', at);
    const cp = this.peek(at + 1)!;
    this.fail(`\\${show(cp)} is not an I-Regexp escape${inClass ? '' : ' (the escapes are \\n \\r \\t, \\p{…}, \\P{…} and \\ before one of ( ) * + - . ? [ \\ ] ^ { | })'}`, at);
  }

  /** charClassExpr = "[" [ "^" ] ( "-" / CCE1 ) *CCE1 [ "-" ] "]" */
  private charClass(): string {
    const open = this.i;
    this.i++;
    let out = '[';
    if (this.ch() === '^') {
      out += '^';
      this.i++;
    }
    if (this.ch() === ']') this.fail('an empty character class ([] or [^]) is not I-Regexp', open);
    if (this.ch() === '-') {
      out += '\\x{2d}';
      this.i++;
    } else out += this.classElement();
    for (;;) {
      const c = this.ch();
      if (c === undefined) this.fail('a [ is not closed', open);
      if (c === ']') break;
      if (c === '-') {
        if (this.ch(this.i + 1) === ']') {
          out += '\\x{2d}';
          this.i++;
          continue;
        }
        this.fail('a - inside a class comes first or last, or is written \\- (no class subtraction)');
      }
      out += this.classElement();
    }
    this.i++;
    return out + ']';
  }

  /** CCE1 = ( CCchar [ "-" CCchar ] ) / charClassEsc */
  private classElement(): string {
    const c = this.ch();
    if (c === '\\' && (this.ch(this.i + 1) === 'p' || this.ch(this.i + 1) === 'P')) return this.escape(true);
    const lo = this.classChar();
    if (this.ch() === '-' && this.ch(this.i + 1) !== ']' && this.ch(this.i + 1) !== undefined) {
      const dash = this.i;
      this.i++;
      if (this.ch() === '\\' && (this.ch(this.i + 1) === 'p' || this.ch(this.i + 1) === 'P')) this.fail('a range cannot end in a category (\\p{…})', dash);
      const hi = this.classChar();
      if (hi < lo) this.fail(`the range ${show(lo)}-${show(hi)} is empty: the smaller character comes first`, dash);
      return `${literal(lo)}-${literal(hi)}`;
    }
    return literal(lo);
  }

  /** CCchar: any character but - [ \ ], or a SingleCharEsc. */
  private classChar(): number {
    const at = this.i;
    const c = this.ch();
    if (c === undefined) this.fail('a [ is not closed', at);
    if (c === '[') this.fail('a [ inside a class is written \\[ (no nested classes, [:alpha:] or subtraction)', at);
    if (c === '-') this.fail('a - inside a class comes first or last, or is written \\-', at);
    if (c === '\\') {
      const e = this.ch(at + 1);
      if (e !== undefined && SINGLE_ESCAPES.has(e)) {
        this.i = at + 2;
        return e === 'n' ? 10 : e === 'r' ? 13 : e === 't' ? 9 : e.codePointAt(0)!;
      }
      this.badEscape(at, true);
    }
    return this.next();
  }

  done(): boolean {
    return this.i >= this.p.length;
  }

  get at(): number {
    return this.i;
  }
}

const QUANT = /^\{(\d+)(,(\d*))?\}/;

function groupConstruct(s: string): string {
  if (s.startsWith('(?:')) return 'a non-capturing group (?:…) is not I-Regexp; write (…)';
  if (s.startsWith('(?=') || s.startsWith('(?!')) return `a lookahead ${s.slice(0, 3)}…) is not I-Regexp`;
  if (s.startsWith('(?<=') || s.startsWith('(?<!')) return `a lookbehind ${s}…) is not I-Regexp`;
  if (s.startsWith('(?<') || s.startsWith('(?P') || s.startsWith("(?'")) return 'a named group (?<name>…) is not I-Regexp; write (…)';
  if (/^\(\?[a-zA-Z-]/.test(s)) return 'inline flags (?i) and the like are not I-Regexp';
  return '(? is not I-Regexp: ? has nothing to repeat (no lookaround, named or non-capturing groups, flags)';
}

/**
 * Checks an I-Regexp and gives its RE2 translation (unanchored: search()'s meaning); throws
 * IRegexpError naming the first construct it refuses.
 */
export function translateIRegexp(pattern: string): string {
  const p = new Parser(pattern);
  const [out] = p.regexp(0);
  if (!p.done()) p.fail('a ) closes no group; write \\) for the character', p.at);
  return out;
}

interface Entry {
  matcher?: IRegexpMatcher;
  error?: IRegexpError;
}

const cache = new Map<string, Entry>();
let cached = 0;

function build(pattern: string, whole: boolean): Entry {
  let re2: string;
  try {
    re2 = translateIRegexp(pattern);
  } catch (e) {
    if (e instanceof IRegexpError) return { error: e };
    throw e;
  }
  try {
    const rx = RE2JS.compile(whole ? `\\A(?:${re2})\\z` : re2);
    return { matcher: { test: (s) => rx.test(s) } };
  } catch (e) {
    // What the grammar allows but RE2 does not hold: nested counts whose product passes 1000.
    const why = (e as Error).message.replace(/^error parsing regexp: /, '');
    return { error: new IRegexpError(`the matcher (RE2) refuses it: ${why}${/repeat/.test(why) ? ' (nested counts multiply; at most 1000)' : ''}`, 0) };
  }
}

function entry(pattern: string, whole: boolean): Entry {
  const key = `${whole ? 'm' : 's'}:${pattern}`;
  let e = cache.get(key);
  if (!e) {
    e = build(pattern, whole);
    // Bounded by the patterns' total length, not their number: patterns may come from documents.
    cached += key.length;
    if (cached > 1_000_000 || cache.size >= 1000) {
      cache.clear();
      cached = key.length;
    }
    cache.set(key, e);
  }
  return e;
}

/**
 * An I-Regexp compiled for match() (`whole`: the entire string) or search() (a substring),
 * or undefined when the pattern is not one (RFC 9535: then nothing matches).
 */
export function iRegexp(pattern: string, whole: boolean): IRegexpMatcher | undefined {
  return entry(pattern, whole).matcher;
}

/** Why a pattern is refused, or undefined for a good one (the same check iRegexp() makes). */
export function iRegexpProblem(pattern: string): IRegexpError | undefined {
  return entry(pattern, true).error;
}
