/**
 * I-Regexp (RFC 9485) in match() and search(): what is refused, with which words; what
 * matches; and that patterns which stall a backtracking matcher end at once (RE2 via re2js).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compileQuery, matches, MAX_QUERY_DEPTH, MAX_QUERY_OPERATORS, QueryError } from '../../src/core/search/jsonpath';

/** A JSONPath string literal holding `p` (single-quoted; `\` and `'` escaped). */
const lit = (p: string) => `'${p.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
const refusal = (p: string, fn = 'match'): string => {
  try {
    compileQuery(`${fn}(@.name, ${lit(p)})`);
  } catch (e) {
    assert.ok(e instanceof QueryError, `${p}: ${String(e)}`);
    return e.message;
  }
  return 'ACCEPTED';
};

describe('I-Regexp patterns', () => {
  test('what is not I-Regexp is refused where the query is written, naming the construct and what to write', () => {
    const cases: [string, RegExp][] = [
      ['(a)\\1', /backreference/],
      ['(?=a)', /lookahead/],
      ['(?<=a)b', /lookbehind/],
      ['(?<n>a)', /named group.*write \(…\)/],
      ['(?:a)', /non-capturing group/],
      ['(?i)a', /inline flags/],
      ['a*?', /non-greedy quantifier \(\*\?\).*write \*/],
      ['a*+', /possessive/],
      ['a**', /cannot follow another/],
      ['*a', /nothing to repeat.*\\\*/],
      ['\\d+', /\\d is not I-Regexp; write \[0-9\]/],
      ['\\w', /\\w is not/],
      ['\\b', /boundary or anchor/],
      ['\\p{IsBasicLatin}', /Unicode block/],
      ['\\p{Greek}', /general categor/],
      ['\\u0041', /\\u escapes/],
      ['[]', /empty character class/],
      ['[a-c-e]', /- inside a class/],
      ['[z-a]', /range z-a is empty/],
      ['[[:alpha:]]', /nested classes/],
      ['a{1001}', /above 1000/],
      ['a{3,1}', /smaller count comes first/],
      ['(a{100}){100}', /nested counts multiply/],
      ['a)', /closes no group/],
      ['(a', /not closed/],
      ['[a', /not closed/],
      ['\\', /lone \\/],
      ['\\q', /not an I-Regexp escape/],
    ];
    for (const [p, why] of cases) {
      const m = refusal(p);
      assert.match(m, /is not an I-Regexp \(RFC 9485\)/, p);
      assert.match(m, why, p);
    }
    assert.match(refusal('(?=a)', 'search'), /the search\(\) pattern/);
  });

  test('I-Regexp patterns match as RFC 9485 says: match() the whole text, search() any part, . not a line end', () => {
    const cases: [string, string, boolean][] = [
      ['a.*', 'abc', true], ['[\\-a]', '-', true], ['[-a]', '-', true], ['[a-]', '-', true],
      ['\\p{Lu}+', 'ЖA', true], ['[^\\p{Lu}]', 'a', true], ['[^\\p{Lu}]', 'A', false],
      ['a{2,}', 'aaa', true], ['a{2,}', 'a', false], ['a{0}', '', true], ['', '', true], ['a|', '', true], ['()', '', true],
      ['[\\]\\[]+', '][', true], ['\\n', '\n', true], ['[\\n-\\r]', '\u000b', true],
      ['a.b', 'a\u{10101}b', true], ['.', '\n', false], ['.', '\r', false],
      ['é', 'é', true], ['\u{1F600}+', '\u{1F600}\u{1F600}', true], ['ab', 'xaby', false],
    ];
    for (const [p, s, want] of cases) assert.equal(matches(compileQuery(`match(@.name, ${lit(p)})`), { name: s }), want, `match ${p} ${JSON.stringify(s)}`);
    assert.equal(matches(compileQuery(`search(@.name, 'ab')`), { name: 'xaby' }), true);
    assert.equal(matches(compileQuery(`search(@.name, 'ab')`), { name: 'xay' }), false);
  });

  test('a pattern read from a document that is not an I-Regexp matches nothing (RFC 9535 §2.4.6), and is no error', () => {
    const q = compileQuery('match(@.name, @.pattern)');
    assert.equal(matches(q, { name: 'a', pattern: '(?=a)a' }), false);
    assert.equal(matches(q, { name: 'a', pattern: 'a' }), true);
  });

  // A hang guard, not a timing threshold: a backtracking matcher took 141 s on 34 a's; on
  // 5,000 it would never end and the test would time out.
  test('catastrophic patterns for a backtracking matcher end at once, on long texts', { timeout: 60_000 }, () => {
    assert.equal(matches(compileQuery("match(@.name,'(a+)+b')"), { name: `${'a'.repeat(5000)}!` }), false);
    assert.equal(matches(compileQuery("search(@.reference,'(.*.*)*X')"), { reference: 'registry.example.com/team/models/'.repeat(300) }), false);
    assert.equal(matches(compileQuery("match(@.name,'(a|aa)*c')"), { name: 'a'.repeat(5000) }), false);
    assert.equal(matches(compileQuery('match(@.name, @.p)'), { name: `${'a'.repeat(5000)}!`, p: '(a*)*b' }), false);
  });
});

describe('query size limits', () => {
  test(`nesting beyond ${MAX_QUERY_DEPTH} and more than ${MAX_QUERY_OPERATORS} && / || are refused with where, not a stack overflow`, () => {
    const deep = `$[?${'('.repeat(100_000)}@.a == 1${')'.repeat(100_000)}]`;
    assert.throws(() => compileQuery(deep), (e: unknown) => e instanceof QueryError && /nest more than 64 deep/.test(e.message) && e.position === MAX_QUERY_DEPTH + 2);
    const ok = `$[?${'('.repeat(MAX_QUERY_DEPTH - 1)}@.a == 1${')'.repeat(MAX_QUERY_DEPTH - 1)}]`;
    assert.equal(matches(compileQuery(ok), { a: 1 }), true);
    const parensInString = `$[?@.a == '${'('.repeat(1000)}']`;
    assert.equal(matches(compileQuery(parensInString), { a: '('.repeat(1000) }), true);
    const wide = (op: string, n: number) => `$[?${Array(n).fill('@.a == 1').join(` ${op} `)}]`;
    for (const op of ['||', '&&']) {
      assert.throws(() => compileQuery(wide(op, 100_000)), (e: unknown) => e instanceof QueryError && /more than 1000 && and \|\|/.test(e.message));
      assert.equal(matches(compileQuery(wide(op, MAX_QUERY_OPERATORS + 1)), { a: 1 }), true);
    }
  });
});
