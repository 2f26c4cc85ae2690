/**
 * The in-memory backend's evaluator, measured: ours (src/core/search/jsonpath.ts) against
 * jsonpath-rfc9535's own `query()`, on the search benchmark's synthetic documents and
 * queries (bench/search.ts), at 10,000 and 100,000 documents. Each run is what
 * MemoryIndex.find does: select, sort (code-point order), page. The dependency is given the
 * whole array once (`$[?FILTER]` over it selects the documents; one parse per query).
 *
 * First it checks where the two agree: the RFC 9535 compliance suite, and the cross-backend
 * corpus (test/helpers/search-corpus.ts, every query under every sort order).
 *
 *   node --import tsx bench/search-memory.ts
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { query as dependencyQuery } from 'jsonpath-rfc9535';
import { compareDocuments } from '../src/core/search/backend';
import type { ArtifactDocument } from '../src/core/search/document';
import { compileQuery, evaluateJsonPath, matches, parseSortField, QueryError, type JsonValue } from '../src/core/search/jsonpath';
import type { SortSpec } from '../src/core/search/translate';
import { corpus, QUERIES as CORPUS_QUERIES, SORTS } from '../test/helpers/search-corpus';
import { fmt, QUERIES, rng, stats, syntheticDocs } from './search';

type Evaluator = (docs: ArtifactDocument[], q: string) => ArtifactDocument[];

const ours: Evaluator = (docs, q) => {
  const compiled = compileQuery(q);
  return docs.filter((d) => matches(compiled, d as unknown as JsonValue));
};

const dependency: Evaluator = (docs, q) => {
  const body = q.trim();
  const text = body === '' || body === '$' ? '$[*]' : body.startsWith('$') ? body : `$[?${body}]`;
  return [...new Set(dependencyQuery(docs as unknown as JsonValue, text) as unknown as ArtifactDocument[])];
};

function run(evaluate: Evaluator, docs: ArtifactDocument[], q: (typeof QUERIES)[number]): ArtifactDocument[] {
  const hits = evaluate(docs, q.q);
  const sort: SortSpec | undefined = q.sort ? { path: parseSortField(q.sort), desc: q.desc ?? false } : undefined;
  hits.sort((a, b) => compareDocuments(a, b, sort));
  return hits.slice(0, q.limit);
}

interface CtsTest { name: string; selector: string; document: JsonValue; result?: JsonValue[]; results?: JsonValue[][]; invalid_selector?: boolean }

function agreement(): void {
  const cts = join(__dirname, '..', 'test', 'fixtures', 'jsonpath-compliance-test-suite', 'cts.json');
  const { tests } = JSON.parse(readFileSync(cts, 'utf8')) as { tests: CtsTest[] };
  let wrong = 0;
  let acceptsInvalid = 0;
  let differ = 0;
  for (const t of tests) {
    let theirs: unknown = 'invalid';
    try {
      theirs = dependencyQuery(t.document, t.selector);
    } catch {
      // refused
    }
    if (t.invalid_selector) {
      if (theirs !== 'invalid') acceptsInvalid++;
      continue;
    }
    let mine: unknown;
    try {
      mine = evaluateJsonPath(t.selector, t.document);
    } catch (e) {
      mine = e instanceof QueryError ? 'invalid' : e;
    }
    if (!(t.result ? isDeepStrictEqual(theirs, t.result) : t.results!.some((r) => isDeepStrictEqual(theirs, r)))) wrong++;
    if (!isDeepStrictEqual(theirs, mine)) differ++;
  }
  console.log(`compliance suite, ${tests.length} tests: jsonpath-rfc9535 query() wrong on ${wrong} valid selectors, accepts ${acceptsInvalid} invalid ones (our checker refuses them first), differs from ours on ${differ} (each a nodelist order the suite allows)`);
  const docs = corpus();
  let cases = 0;
  const differing: string[] = [];
  for (const q of CORPUS_QUERIES) {
    const a = ours(docs, q);
    const b = dependency(docs, q);
    let n = 0;
    for (const s of SORTS) {
      const sort = s.sort !== undefined ? { path: parseSortField(s.sort), desc: s.desc ?? false } : undefined;
      const order = (l: ArtifactDocument[]): string[] => [...l].sort((x, y) => compareDocuments(x, y, sort)).map((d) => d.tag);
      cases++;
      if (!isDeepStrictEqual(order(a), order(b))) n++;
    }
    if (n > 0) differing.push(`  ${q}: ours ${a.length}, theirs ${b.length} documents`);
  }
  console.log(`cross-backend corpus, ${CORPUS_QUERIES.length} queries x ${SORTS.length} sorts: ${differing.length} queries (${differing.length * SORTS.length} of ${cases} cases) differ\n${differing.join('\n')}`);
}

function main(): void {
  agreement();
  console.log(`${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}; ms median / p99`);
  for (const n of [10_000, 100_000]) {
    const docs = syntheticDocs(0, n, rng(11));
    console.log(`\n| query (${n.toLocaleString('en')} documents) | ours | jsonpath-rfc9535 query() |`);
    console.log('|---|---|---|');
    for (const q of QUERIES) {
      const cells: string[] = [];
      let answer: string | undefined;
      for (const evaluate of [ours, dependency]) {
        run(evaluate, docs, q); // warm-up
        const samples: number[] = [];
        const runs = Math.min(q.runs, n > 10_000 ? 10 : 30);
        let refs = '';
        for (let i = 0; i < runs; i++) {
          const t0 = process.hrtime.bigint();
          refs = run(evaluate, docs, q).map((d) => d.reference).join();
          samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
        }
        if (answer !== undefined && answer !== refs) throw new Error(`${q.label}: the evaluators disagree`);
        answer = refs;
        const s = stats(samples);
        cells.push(`${fmt(s.median)} / ${fmt(s.p99)}`);
      }
      console.log(`| ${q.label} | ${cells.join(' | ')} |`);
    }
  }
}

main();
