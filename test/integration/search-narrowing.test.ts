import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { WritableIndex } from '../../src/core/search/backend';
import type { ArtifactDocument } from '../../src/core/search/document';
import { compileQuery, matches, type JsonValue } from '../../src/core/search/jsonpath';
import { MemoryIndex } from '../../src/core/search/memory';
import { PostgresIndex } from '../../src/core/search/postgres';
import { query } from '../../src/core/search/query';
import { SqliteIndex } from '../../src/core/search/sqlite';
import { startPostgres, type RunningPostgres } from '../helpers/postgres';
import { tempDir } from '../helpers/tmp';

/** mulberry32: the same corpus and queries on every run. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Characters that LIKE, GLOB, FTS5 and regular expressions each treat specially, case pairs,
// a line break (the text column joins values with one), and characters outside ASCII and the BMP.
const ALPHABET = [...'abcAB%_*?[]\\.^$|(){}+-\n "\'é😀'];

function word(r: () => number, min: number, max: number): string {
  const n = min + Math.floor(r() * (max - min + 1));
  let s = '';
  for (let i = 0; i < n; i++) s += ALPHABET[Math.floor(r() * ALPHABET.length)]!;
  return s;
}

function generated(): ArtifactDocument[] {
  const r = rng(2026);
  const docs: ArtifactDocument[] = [];
  for (let n = 0; n < 300; n++) {
    const tag = `g${n}`;
    docs.push({
      name: word(r, 0, 12),
      description: r() < 0.2 ? null : word(r, 3, 30),
      author: r() < 0.5 ? word(r, 1, 4) : 7,
      customProperties: { notes: [word(r, 0, 6), word(r, 0, 6)], nested: { deep: word(r, 0, 8) } },
      reference: `reg.example/g/m:${tag}`,
      registry: 'reg.example',
      repository: 'g/m',
      tag,
      digest: `sha256:${n.toString(16).padStart(64, '0')}`,
      kind: 'omlmd',
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: null,
      created: '2026-01-01T00:00:00Z',
      annotations: {},
      size: n,
      files: [],
    } as ArtifactDocument);
  }
  return docs;
}

/** An I-Regexp (RFC 9485) matching `s` literally. */
function literal(s: string): string {
  return [...s].map((c) => ('()*+-.?[\\]^{|}'.includes(c) ? `\\${c}` : c)).join('');
}

/** JSONPath string literal for a pattern (single quotes). */
function jp(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
}

function queries(docs: ArtifactDocument[]): string[] {
  const r = rng(9535);
  const fields = ['@.name', '@.description', '@.author', '@.customProperties.notes[0]', '@.customProperties.notes[1]', '@.customProperties.nested.deep'];
  const out: string[] = [];
  for (let i = 0; i < 160; i++) {
    // A piece of some document's string (so that most patterns match something), or a random one.
    const d = docs[Math.floor(r() * docs.length)]!;
    const pool = [d.name as string, (d.description as string | null) ?? '', ...(d.customProperties as { notes: string[] }).notes].filter((s) => s.length > 0);
    const from = pool.length && r() < 0.8 ? pool[Math.floor(r() * pool.length)]! : word(r, 1, 6);
    const chars = [...from];
    const start = Math.floor(r() * chars.length);
    const piece = chars.slice(start, start + 1 + Math.floor(r() * 5)).join('');
    const field = fields[Math.floor(r() * fields.length)]!;
    const lit = literal(piece);
    const shapes = [
      `search(${field}, ${jp(lit)})`,
      `match(${field}, ${jp(`.*${lit}.*`)})`,
      `match(${field}, ${jp(lit)})`,
      `search(${field}, ${jp(`${lit}.?${literal(word(r, 1, 2))}`)})`,
      `search(${field}, ${jp(`${lit}|${literal(word(r, 1, 3))}`)})`,
      `!search(${field}, ${jp(lit)})`,
      `search(${field}, ${jp(lit)}) || @.size < 20`,
      `search(${field}, ${jp(lit)}) && !search(@.name, ${jp(literal(word(r, 1, 2)))})`,
    ];
    out.push(`$[?${shapes[i % shapes.length]!}]`);
  }
  return out;
}

/** match()/search() narrowed in the database (FTS5 trigram, pg_trgm) answer as the evaluator does, over a generated corpus. */
describe('narrowed match() and search() give the evaluator\'s answers', { timeout: 300_000 }, () => {
  const docs = generated();
  const qs = queries(docs);
  let pg: RunningPostgres;
  const backends: { name: string; index: WritableIndex }[] = [];

  before(async () => {
    pg = await startPostgres();
    backends.push({ name: 'sqlite', index: SqliteIndex.open(join(tempDir('omlmd-narrow-'), 'index.sqlite')) });
    backends.push({ name: 'postgres', index: await PostgresIndex.open(await pg.createDatabase('narrow')) });
    backends.push({ name: 'memory', index: new MemoryIndex() });
    // Half written, then all rewritten: the text of an updated document is its new text only.
    for (const b of backends) {
      await b.index.upsert(docs.map((d) => ({ ...d, name: `old ${d.name as string}` })).slice(0, 150));
      await b.index.upsert(docs);
    }
  });
  after(async () => {
    for (const b of backends) await b.index.close();
    await pg?.stop();
  });

  test('every generated query', async () => {
    let matched = 0;
    for (const q of qs) {
      const compiled = compileQuery(q);
      const want = docs.filter((d) => matches(compiled, JSON.parse(JSON.stringify(d)) as JsonValue)).map((d) => d.reference).sort();
      if (want.length > 0 && want.length < docs.length) matched++;
      for (const b of backends) {
        const got = (await query(b.index, q, { limit: 10_000 })).items.map((d) => d.reference).sort();
        assert.deepEqual(got, want, `${b.name}: ${q}`);
      }
    }
    // The corpus is made so that most queries select some documents and not all of them.
    assert.ok(matched > qs.length / 2, `only ${matched} of ${qs.length} queries select part of the corpus`);
  });
});
