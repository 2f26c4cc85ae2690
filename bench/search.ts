/**
 * Search benchmark: crawl 1,000 model artifacts spread over 50 repositories of the real
 * registry into SQLite and PostgreSQL (cold, then incremental); the delay from a push to
 * its document being searchable through the notifications endpoint; and query latency
 * (median, p99) over 100,000 indexed documents on both backends.
 *
 *   node --import tsx bench/search.ts [--write] [--no-million]      (--write updates docs/benchmarks.md)
 *
 * Needs docker-registry and PostgreSQL 15 (scripts/setup.sh installs both).
 */
import { cpus, totalmem } from 'node:os';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import { OmlmdClient } from '../src/core/client';
import { metadataToJson } from '../src/core/model/metadata';
import { MODEL_ARTIFACT_TYPE } from '../src/core/model/artifact';
import { sha256 } from '../src/core/oci/digest';
import type { WritableIndex } from '../src/core/search/backend';
import { crawlToIndex } from '../src/core/search/crawler';
import type { ArtifactDocument } from '../src/core/search/document';
import { PostgresIndex } from '../src/core/search/postgres';
import { query } from '../src/core/search/query';
import { SqliteIndex } from '../src/core/search/sqlite';
import { startPostgres } from '../test/helpers/postgres';
import { freePort, startRegistry } from '../test/helpers/registry';
import { tempDir } from '../test/helpers/tmp';

const REPOS = 50;
const PER_REPO = 20;
// Smaller corpora for a trial of the benchmark itself (OMLMD_BENCH_DOCS, OMLMD_BENCH_MILLION).
const DOCS = Number(process.env.OMLMD_BENCH_DOCS ?? 100_000);
const MILLION = Number(process.env.OMLMD_BENCH_MILLION ?? 1_000_000);
const FORMATS = ['onnx', 'pytorch', 'sklearn', 'safetensors', 'gguf'];

/** A deterministic PRNG (mulberry32): the same corpus on every run. */
export function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function metadataFor(i: number, r: () => number): Record<string, unknown> {
  return {
    name: `model-${i}`,
    description: `benchmark model number ${i}`,
    author: `user-${Math.floor(r() * 200)}`,
    customProperties: {
      accuracy: Math.round((0.5 + r() * 0.5) * 10000) / 10000,
      f1: Math.round(r() * 10000) / 10000,
      dataset: `dataset-${Math.floor(r() * 50)}`,
      epochs: 1 + Math.floor(r() * 100),
      license: r() < 0.5 ? 'Apache-2.0' : 'MIT',
    },
    uri: null,
    model_format_name: FORMATS[Math.floor(r() * FORMATS.length)],
    model_format_version: String(1 + Math.floor(r() * 3)),
  };
}

function ms(ns: bigint): number {
  return Number(ns) / 1e6;
}

export function stats(samples: number[]): { median: number; p99: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
  return { median: at(0.5), p99: at(0.99) };
}

export function fmt(n: number): string {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = process.hrtime.bigint();
  const v = await fn();
  return [v, ms(process.hrtime.bigint() - t0)];
}

/** User + system CPU of a process so far, in ms (from /proc). */
export function registryCpuMs(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return 0;
  }
}

/**
 * What a crawl cannot do with less: per repository its tag list, then per tag the manifest
 * GET by tag and the config GET (first crawl), or a HEAD (re-crawl); 16 at a time on kept
 * connections, nothing parsed but the config's digest, nothing written.
 */
async function crawlFloor(host: string, cpu: () => number): Promise<{ coldMs: number; warmMs: number; coldCpu: number; warmCpu: number }> {
  const agent = new Agent({ connections: 16 });
  const accept = 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json';
  const run = async (job: (repo: string, tag: string) => Promise<void>): Promise<[number, number]> => {
    const c0 = cpu();
    const [, t] = await timed(async () => {
      const work: [string, string][] = [];
      await Promise.all(Array.from({ length: REPOS }, async (_, k) => {
        const res = await request(`http://${host}/v2/bench/repo-${k}/tags/list`, { dispatcher: agent });
        for (const tag of ((await res.body.json()) as { tags: string[] }).tags) work.push([`bench/repo-${k}`, tag]);
      }));
      let next = 0;
      await Promise.all(Array.from({ length: 16 }, async () => {
        for (let w = work[next++]; w; w = work[next++]) await job(w[0], w[1]);
      }));
    });
    return [t, cpu() - c0];
  };
  const [coldMs, coldCpu] = await run(async (repo, tag) => {
    const m = await request(`http://${host}/v2/${repo}/manifests/${tag}`, { dispatcher: agent, headers: { accept } });
    const manifest = (await m.body.json()) as { config: { digest: string } };
    const b = await request(`http://${host}/v2/${repo}/blobs/${manifest.config.digest}`, { dispatcher: agent });
    await b.body.arrayBuffer();
  });
  const [warmMs, warmCpu] = await run(async (repo, tag) => {
    const m = await request(`http://${host}/v2/${repo}/manifests/${tag}`, { method: 'HEAD', reset: false, dispatcher: agent, headers: { accept } });
    await m.body.dump();
  });
  await agent.close();
  return { coldMs, warmMs, coldCpu, warmCpu };
}

async function pushCorpus(client: OmlmdClient, host: string): Promise<void> {
  const r = rng(7);
  const layer = Buffer.from('shared model bytes');
  const layerDigest = sha256(layer);
  const jobs: Promise<void>[] = [];
  let next = 0;
  // One repository per worker at a time: the registry links a blob to a repository once.
  const worker = async (): Promise<void> => {
    for (;;) {
      const k = next++;
      if (k >= REPOS) return;
      const repo = await client.repository(`${host}/bench/repo-${k}:x`);
      await repo.putBlob({ open: () => Readable.from([layer]), size: layer.length, digest: layerDigest });
      for (let j = 0; j < PER_REPO; j++) {
        const i = k * PER_REPO + j;
        const config = metadataToJson(metadataFor(i, r));
        const cfg = await repo.putBlob({ open: () => Readable.from([config]), size: config.length, digest: sha256(config) });
        const manifest = {
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          artifactType: MODEL_ARTIFACT_TYPE,
          config: { mediaType: 'application/x-config', digest: cfg.digest, size: cfg.size },
          layers: [{ mediaType: 'application/x-mlmodel', digest: layerDigest, size: layer.length, annotations: { 'org.opencontainers.image.title': 'model.onnx' } }],
          annotations: { 'org.opencontainers.image.created': '2026-01-01T00:00:00Z' },
        };
        await repo.putManifest(Buffer.from(JSON.stringify(manifest)), manifest.mediaType, `v${j}`);
      }
    }
  };
  for (let w = 0; w < 8; w++) jobs.push(worker());
  await Promise.all(jobs);
}

export function syntheticDocs(from: number, n: number, r: () => number): ArtifactDocument[] {
  const out: ArtifactDocument[] = [];
  for (let i = from; i < from + n; i++) {
    const repository = `org/repo-${i % 1000}`;
    const tag = `v${Math.floor(i / 1000)}`;
    out.push({
      ...metadataFor(i, r),
      reference: `registry.example.com/${repository}:${tag}`,
      registry: 'registry.example.com',
      repository,
      tag,
      digest: `sha256:${i.toString(16).padStart(64, '0')}`,
      kind: 'omlmd',
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: MODEL_ARTIFACT_TYPE,
      created: new Date(Date.UTC(2025, 0, 1) + i * 60_000).toISOString(),
      annotations: { 'org.opencontainers.image.title': `model-${i}` },
      size: 1000 + i,
      files: [{ path: 'model.onnx', mediaType: 'application/x-mlmodel', size: 1000 + i }],
    } as ArtifactDocument);
  }
  return out;
}

export const QUERIES: { label: string; q: string; sort?: string; desc?: boolean; limit: number; runs: number }[] = [
  { label: 'demo: top accuracy (`$[*]`, sort desc, limit 1)', q: '$[*]', sort: 'customProperties.accuracy', desc: true, limit: 1, runs: 30 },
  { label: "equality, selective: `@.author == 'user-17' && @.model_format_name == 'onnx'`", q: "$[?@.author == 'user-17' && @.model_format_name == 'onnx']", limit: 100, runs: 50 },
  { label: 'range, 1%: `@.customProperties.accuracy > 0.995`, limit 100', q: '$[?@.customProperties.accuracy > 0.995]', limit: 100, runs: 30 },
  { label: "issue example, sorted: `accuracy > 0.95 && format == 'onnx'`, sort desc, limit 10", q: "$[?@.customProperties.accuracy > 0.95 && @.model_format_name == 'onnx']", sort: 'customProperties.accuracy', desc: true, limit: 10, runs: 30 },
  { label: 'first page, no filter (`$[*]`, limit 100)', q: '$[*]', limit: 100, runs: 50 },
  { label: "in-process function: `search(@.name, '^model-4242$')`", q: "$[?search(@.name, '^model-4242$')]", limit: 100, runs: 5 },
];

async function main(): Promise<void> {
  const write = process.argv.includes('--write');
  const work = tempDir('omlmd-bench-');
  const pg = await startPostgres();
  const port = await freePort();
  const reg = await startRegistry();
  const lines: string[] = [];
  const log = (s: string): void => {
    console.log(s);
    lines.push(s);
  };
  try {
    const client = new OmlmdClient({ home: join(work, 'home') });
    console.error(`pushing ${REPOS * PER_REPO} artifacts over ${REPOS} repositories…`);
    const [, pushMs] = await timed(() => pushCorpus(client, reg.host));
    console.error(`  pushed in ${fmt(pushMs / 1000)} s`);

    // ---- crawl ----
    const crawlRows: string[] = [];
    const backends: [string, () => Promise<WritableIndex>][] = [
      ['SQLite', async () => SqliteIndex.open(join(work, 'crawl.sqlite'))],
      ['PostgreSQL', async () => PostgresIndex.open(await pg.createDatabase('crawl'))],
    ];
    const regCpu = (): number => registryCpuMs(reg.pid);
    for (const [name, open] of backends) {
      const index = await open();
      let c0 = regCpu();
      const [cold, coldMs] = await timed(() => crawlToIndex(client, index, [reg.host]));
      const coldCpu = regCpu() - c0;
      if (cold.indexed !== REPOS * PER_REPO || cold.problems.length) throw new Error(`${name}: crawl indexed ${cold.indexed}, problems ${JSON.stringify(cold.problems.slice(0, 3))}`);
      c0 = regCpu();
      const [warm, warmMs] = await timed(() => crawlToIndex(client, index, [reg.host]));
      const warmCpu = regCpu() - c0;
      if (warm.unchanged !== REPOS * PER_REPO) throw new Error(`${name}: re-crawl saw ${warm.unchanged} unchanged`);
      console.error(`  crawl ${name}: ${fmt(coldMs)} ms, re-crawl ${fmt(warmMs)} ms`);
      crawlRows.push(`| ${name} | ${fmt(coldMs / 1000)} s (${fmt((REPOS * PER_REPO) / (coldMs / 1000))} artifacts/s; registry CPU ${fmt(coldCpu / 1000)} s) | ${fmt(warmMs / 1000)} s (registry CPU ${fmt(warmCpu / 1000)} s) |`);
      await index.close();
    }
    // The floor: the same requests with nothing else done (undici, 16 at a time, kept connections).
    const floor = await crawlFloor(reg.host, regCpu);
    crawlRows.push(`| floor: the same requests alone | ${fmt(floor.coldMs / 1000)} s (${fmt((REPOS * PER_REPO) / (floor.coldMs / 1000))} artifacts/s; registry CPU ${fmt(floor.coldCpu / 1000)} s) | ${fmt(floor.warmMs / 1000)} s (registry CPU ${fmt(floor.warmCpu / 1000)} s) |`);

    // ---- notifications: push → searchable ----
    // A registry of its own: the crawls above made thousands of pull events nobody received.
    const nreg = await startRegistry({ notifications: { url: `http://127.0.0.1:${port}/notifications` } });
    // The real server, in its own process as it is deployed: `omlmd serve` from the built
    // bundle, its "indexed REF" log line (stderr) marking the moment the document is searchable.
    const serve = spawn(process.execPath, [join(__dirname, '..', 'dist', 'cli.js'), 'serve', '--registry', nreg.host, '--listen', `127.0.0.1:${port}`, '--no-crawl', '--recrawl', '0', '--allow-anonymous', '--index', join(work, 'notify.sqlite')], {
      env: { ...process.env, OMLMD_HOME: join(work, 'serve-home') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const waiting = new Map<string, () => void>();
    let serveLog = '';
    createInterface({ input: serve.stderr! }).on('line', (line) => {
      serveLog += line + '\n';
      const m = / info indexed (\S+) \(/.exec(line);
      if (m) waiting.get(m[1]!)?.();
    });
    const indexed = (ref: string): Promise<void> => new Promise((resolve) => waiting.set(ref, resolve));
    serve.stdout!.on('data', (b: Buffer) => (serveLog += b.toString()));
    for (const t = Date.now(); !serveLog.includes('listening on');) {
      if (Date.now() - t > 20_000 || serve.exitCode !== null) throw new Error(`omlmd serve did not start (run node esbuild.mjs first):\n${serveLog}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    // The registry may notify before the client has its answer to the manifest PUT, so both
    // times are taken from the start of the push.
    const indexedAt: number[] = [];
    const pushTook: number[] = [];
    const file = join(work, 'm.onnx');
    writeFileSync(file, 'warm-up');
    const warm = indexed(`${nreg.host}/bench/notify:warm`);
    await client.push(`${nreg.host}/bench/notify:warm`, { paths: [file], metadata: { name: 'warm' } });
    await warm;
    for (let i = 0; i < 40; i++) {
      writeFileSync(file, `model ${i}`);
      const t0 = process.hrtime.bigint();
      const seen = indexed(`${nreg.host}/bench/notify:n${i}`).then(() => ms(process.hrtime.bigint() - t0));
      await client.push(`${nreg.host}/bench/notify:n${i}`, { paths: [file], metadata: { name: `n${i}` } });
      pushTook.push(ms(process.hrtime.bigint() - t0));
      indexedAt.push(await seen);
    }
    serve.kill('SIGTERM');
    await new Promise((r) => serve.once('exit', r));
    await nreg.stop();
    const nd = stats(indexedAt);
    console.error(`  notifications: ${indexedAt.map(fmt).join(' ')}; push ${pushTook.map(fmt).join(' ')}`);
    const pd = stats(pushTook);
    const early = indexedAt.filter((t, i) => t <= pushTook[i]!).length;
    const afterPush = stats(indexedAt.map((t, i) => Math.max(0, t - pushTook[i]!)));

    // ---- queries over 100,000 documents ----
    const qIndexes: [string, WritableIndex][] = [
      ['SQLite', SqliteIndex.open(join(work, 'query.sqlite'))],
      ['PostgreSQL', await PostgresIndex.open(await pg.createDatabase('query'))],
    ];
    const loadRows: string[] = [];
    for (const [name, index] of qIndexes) {
      const r = rng(11);
      const [, loadMs] = await timed(async () => {
        for (let i = 0; i < DOCS; i += 2000) await index.upsert(syntheticDocs(i, 2000, r));
      });
      if ((await index.count()) !== DOCS) throw new Error(`${name}: ${await index.count()} documents`);
      loadRows.push(`${name} ${fmt(loadMs / 1000)} s`);
      console.error(`  loaded ${name} in ${fmt(loadMs)} ms`);
    }
    const queryRows: string[] = [];
    for (const qd of QUERIES) {
      const cells: string[] = [];
      let answer: string | undefined;
      for (const [, index] of qIndexes) {
        await query(index, qd.q, qd); // warm up caches and plans
        const samples: number[] = [];
        let refs = '';
        for (let i = 0; i < qd.runs; i++) {
          const [res, t] = await timed(() => query(index, qd.q, qd));
          samples.push(t);
          refs = res.items.map((d) => d.reference).join();
        }
        if (answer !== undefined && answer !== refs) throw new Error(`${qd.label}: the backends disagree`);
        answer = refs;
        const s = stats(samples);
        cells.push(`${fmt(s.median)} / ${fmt(s.p99)}`);
      }
      queryRows.push(`| ${qd.label} | ${cells.join(' | ')} |`);
      console.error(`  ${queryRows[queryRows.length - 1]}`);
    }
    for (const [, index] of qIndexes) await index.close();

    // ---- the issue example over 1,000,000 documents, PostgreSQL ----
    let millionText = '';
    if (!process.argv.includes('--no-million')) {
      const url = await pg.createDatabase('million');
      let big = await PostgresIndex.open(url);
      // Bulk load: the GIN indexes dropped, rows written 5,000 to a statement two at a time,
      // then the indexes built whole when the index is opened again (open() makes what is missing).
      const [, dropMs] = await timed(async () => {
        const { Client } = (await import('pg')).default;
        const c = new Client({ connectionString: url });
        await c.connect();
        await c.query('DROP INDEX omlmd_artifacts_doc; DROP INDEX IF EXISTS omlmd_artifacts_strings');
        await c.end();
      });
      const r = rng(13);
      let nextBatch = 0;
      const [, loadMs] = await timed(async () => {
        await Promise.all([0, 1].map(async () => {
          for (let i = nextBatch; i < MILLION; i = nextBatch) {
            nextBatch += 5000;
            await big.upsert(syntheticDocs(i, 5000, r));
          }
        }));
      });
      await big.close();
      const [, buildMs] = await timed(async () => {
        big = await PostgresIndex.open(url);
      });
      if ((await big.count()) !== MILLION) throw new Error(`1M: ${await big.count()} documents`);
      const qd = QUERIES[3]!;
      const [, firstMs] = await timed(() => query(big, qd.q, qd)); // makes the sort index
      await query(big, qd.q, qd);
      const samples: number[] = [];
      for (let i = 0; i < 30; i++) samples.push((await timed(() => query(big, qd.q, qd)))[1]);
      const sm = stats(samples);
      await big.close();
      millionText = `Loaded in ${fmt((dropMs + loadMs) / 1000)} s (rows, two statements of 5,000 at a time, the GIN indexes dropped), GIN indexes built in ${fmt(buildMs / 1000)} s; the first sorted query, which makes the sort index, ${fmt(firstMs / 1000)} s. Then the issue example (\`accuracy > 0.95 && format == 'onnx'\`, sort desc, limit 10), 30 runs after one warm-up: median ${fmt(sm.median)} ms, p99 ${fmt(sm.p99)} ms.`;
      console.error(millionText);
    }

    const cpu = cpus()[0]?.model ?? 'unknown CPU';
    log('## Search');
    log('');
    log(`Measured by \`node --import tsx bench/search.ts --write\` on ${cpus().length} cores (${cpu}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}: the real registry (distribution 2.8.2 from Debian) and PostgreSQL 15 on loopback, SQLite from better-sqlite3 12 (WAL). Figures from one run on a machine other work shared (between runs, medians moved by up to 2× and p99s more); the benchmark checks that both backends return the same answers.`);
    log('');
    log(`### Crawl: ${REPOS * PER_REPO} model artifacts over ${REPOS} repositories`);
    log('');
    log('Catalog, tag lists, then per tag the manifest fetched by tag and its config (a tag the index does not know needs no HEAD first), 8 at a time over 8 repositories at once; the re-crawl resolves each tag with a HEAD on a kept connection, finds nothing changed and fetches no manifest or config. The registry\'s CPU time (user + system, from /proc) is in brackets; the last row makes the same requests with undici alone, 16 at a time, parsing nothing but the config digest and writing nothing: what the registry needs to answer them on this machine.');
    log('');
    log('| index | first crawl | re-crawl, nothing changed |');
    log('|---|---|---|');
    for (const r of crawlRows) log(r);
    log('');
    log('### Push → searchable, through the notifications endpoint');
    log('');
    log(`${indexedAt.length} pushes of a small model (after one warm-up push) to a registry whose notifications go to \`omlmd serve\` (the built CLI in its own process, SQLite index; searchable = its “indexed” log line). From the start of \`push\` to the document being searchable: median ${fmt(nd.median)} ms, p99 ${fmt(nd.p99)} ms; the push itself took median ${fmt(pd.median)} ms, p99 ${fmt(pd.p99)} ms; after \`push\` returned, the wait was median ${fmt(afterPush.median)} ms, p99 ${fmt(afterPush.p99)} ms (in ${early} of ${indexedAt.length} pushes the document was searchable before \`push\` returned).`);
    log('');
    log(`### Query latency over ${DOCS.toLocaleString('en')} documents`);
    log('');
    log(`Synthetic omlmd documents (200 authors, 5 formats, accuracy uniform in 0.5–1); loaded in ${loadRows.join(', ')} (batches of 2,000). Milliseconds for \`query()\` end to end, median / p99, after one warm-up run.`);
    log('');
    log('| query | SQLite median / p99 (ms) | PostgreSQL median / p99 (ms) |');
    log('|---|---|---|');
    for (const r of queryRows) log(r);
    log('');
    log('Comparisons and existence tests run in the database (PostgreSQL: one `jsonb @@ jsonpath` predicate served by the GIN `jsonb_path_ops` index for equalities; SQLite: `json_extract`, with expression indexes on `name`, `author` and `model_format_name`). A sort by a metadata field is served by an expression index made the first time that field is sorted by (its exact ORDER BY terms), read through a window of the first rows in sort order, so an unselective sorted query reads about a thousand rows, not every match. `search()` and `match()` are narrowed in the database by the pattern\'s required literal pieces (SQLite: an FTS5 trigram table of every string value; PostgreSQL: a `strings` column with a `pg_trgm` GIN index), then checked exactly in process.');
    if (millionText) {
      log('');
      log(`### ${MILLION.toLocaleString('en')} documents, PostgreSQL`);
      log('');
      log(millionText);
    }
    if (write) {
      const path = join(__dirname, '..', 'docs', 'benchmarks.md');
      let text = '';
      try {
        text = readFileSync(path, 'utf8');
      } catch {
        text = '# Benchmarks\n';
      }
      const section = lines.join('\n') + '\n';
      const start = text.search(/^## Search\s*$/m);
      if (start >= 0) {
        const rest = text.slice(start + 1);
        const end = rest.search(/^## /m);
        text = text.slice(0, start) + section + (end >= 0 ? '\n' + rest.slice(end) : '');
      } else text = text.replace(/\n*$/, '\n\n') + section;
      writeFileSync(path, text);
      console.error(`wrote ${path}`);
    }
  } finally {
    await reg.stop();
    await pg.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

// Run when started, not when bench/search-memory.ts borrows its corpus and queries.
if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
