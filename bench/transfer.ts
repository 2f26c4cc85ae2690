/**
 * Transfer benchmark: this project's CLI against `skopeo copy` (OCI layout ↔ registry) and
 * curl as the raw limit, on the real registry over loopback, side by side in one run.
 *
 *   npm run bench:transfers                          (builds, then runs with the defaults)
 *   node --import tsx bench/transfer.ts [--runs 3] [--big-mib 2048] [--files 16] [--file-mib 128] [--write]
 *
 * For each model (one large file; many files) and each run: push to a fresh registry (so
 * nothing is there yet, and skopeo's blob-info cache cannot mount from an earlier run),
 * re-push of the unchanged model, pull into an empty directory, pull into the directory
 * that already holds it. curl does one PUT per blob (4 at a time for many files) and one
 * GET per blob to a file, plus `openssl dgst -sha256` of what it got (the fastest hashing
 * on this machine: coreutils' sha256sum is 6× slower here). Then, in this process, a push
 * of the large file through the core while `monitorEventLoopDelay` watches the event loop,
 * as the VS Code extension host would run it. Medians of the runs; peak RSS from GNU time.
 * `--write` puts the table into docs/benchmarks.md under "## Transfers".
 *
 * Needs docker-registry, skopeo, curl, openssl and /usr/bin/time (scripts/setup.sh).
 */
import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, loadavg, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { OmlmdClient } from '../src/core/client';
import { startRegistry, type RunningRegistry } from '../test/helpers/registry';

const MiB = 1024 * 1024;
const ROOT = join(__dirname, '..');
const CLI = join(ROOT, 'dist', 'cli.js');

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : Number(process.env[`BENCH_${name.toUpperCase().replace(/-/g, '_')}`] ?? fallback);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} takes a positive number`);
  return v;
}

const RUNS = arg('runs', 3);
const BIG_MIB = arg('big-mib', 2048);
const FILES = arg('files', 16);
const FILE_MIB = arg('file-mib', 128);
const WRITE = process.argv.includes('--write');

interface Measure {
  secs: number;
  rssMB: number;
}

/** Runs a command under GNU time: wall clock from here, peak RSS from time(1). */
async function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Measure> {
  const stats = join(tmpdir(), `omlmd-bench-time-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const start = performance.now();
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', '%M', '-o', stats, cmd, ...args], { env: { ...process.env, OMLMD_NO_PROGRESS: '1', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (c) => resolve({ code: c, stderr: err }));
  });
  const secs = (performance.now() - start) / 1000;
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${code}):\n${stderr}`);
  const kb = Number(readFileSync(stats, 'utf8').trim().split('\n').pop());
  rmSync(stats, { force: true });
  return { secs, rssMB: (kb * 1024) / 1e6 };
}

/** Several commands at once (curl for many blobs, `parallel` at a time): wall clock of all, largest RSS of one. */
async function timedAll(jobs: [string, string[]][], parallel: number): Promise<Measure> {
  const start = performance.now();
  let rss = 0;
  const queue = [...jobs];
  await Promise.all(Array.from({ length: Math.min(parallel, jobs.length) }, async () => {
    for (let j = queue.shift(); j; j = queue.shift()) rss = Math.max(rss, (await timed(j[0], j[1])).rssMB);
  }));
  return { secs: (performance.now() - start) / 1000, rssMB: rss };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function randomFile(path: string, bytes: number): void {
  const buf = Buffer.allocUnsafe(8 * MiB);
  const fd = openSync(path, 'w');
  try {
    for (let left = bytes; left > 0; ) {
      const n = Math.min(left, buf.length);
      randomFillSync(buf, 0, n);
      writeSync(fd, buf, 0, n);
      left -= n;
    }
  } finally {
    closeSync(fd);
  }
}

interface Model {
  name: string;
  label: string;
  files: string[];
  bytes: number;
  /** An OCI layout holding the same artifact, for skopeo. */
  layout: string;
}

type Op = 'push' | 'repush' | 'pull' | 'pullExisting';
type Tool = 'omlmd' | 'skopeo' | 'curl';
type Results = Record<Tool, Partial<Record<Op, Measure[]>>>;

function record(r: Results, tool: Tool, op: Op, m: Measure): void {
  (r[tool][op] ??= []).push(m);
  console.log(`  ${tool.padEnd(6)} ${op.padEnd(12)} ${m.secs.toFixed(2).padStart(7)} s ${m.rssMB.toFixed(0).padStart(5)} MB`);
}

/** POST then PUT ?digest= with the whole blob: one request carrying the bytes, as the raw limit of a push. */
async function curlPut(host: string, repo: string, file: string, digest: string): Promise<[string, string[]]> {
  const res = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  const loc = new URL(res.headers.get('location') ?? '', `http://${host}`);
  loc.searchParams.set('digest', digest);
  return ['curl', ['-sf', '-o', '/dev/null', '-X', 'PUT', '-H', 'content-type: application/octet-stream', '-T', file, loc.toString()]];
}

async function benchModel(model: Model, work: string): Promise<Results> {
  const r: Results = { omlmd: {}, skopeo: {}, curl: {} };
  const blobs: { file: string; digest: string }[] = [];
  // The digests (curl needs them in the URL): from a throwaway push to the local layout.
  const layoutInfo = JSON.parse((await new Promise<string>((resolve, reject) => {
    const c = spawn(process.execPath, [CLI, 'inspect', `oci:${model.layout}:v1`, '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (b: Buffer) => (out += b.toString()));
    c.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error('inspect failed'))));
  }))) as { files: { path: string; digest: string; role: string }[] };
  for (const f of layoutInfo.files.filter((x) => x.role === 'model')) blobs.push({ file: model.files.find((p) => p.endsWith(`/${f.path}`))!, digest: f.digest });

  let pullRegistry: RunningRegistry | undefined;
  for (let run = 1; run <= RUNS; run++) {
    console.log(`${model.label}: run ${run} of ${RUNS}`);
    // Rotate who goes first: the machine's page cache and neighbours favour no one.
    const order: Tool[] = (['omlmd', 'skopeo', 'curl'] as Tool[]).map((_, i, a) => a[(i + run - 1) % a.length]!);
    for (const tool of order) {
      const reg = await startRegistry();
      const repo = `bench/${model.name}-${tool}`;
      try {
        if (tool === 'omlmd') {
          const home = join(work, `home-${model.name}-${run}`);
          rmSync(home, { recursive: true, force: true });
          record(r, tool, 'push', await timed(process.execPath, [CLI, 'push', `${reg.host}/${repo}:v1`, ...model.files, '--name', model.name], { OMLMD_HOME: home }));
          record(r, tool, 'repush', await timed(process.execPath, [CLI, 'push', `${reg.host}/${repo}:v1`, ...model.files, '--name', model.name], { OMLMD_HOME: home }));
          const out = join(work, `out-omlmd-${model.name}`);
          rmSync(out, { recursive: true, force: true });
          const pullHome = join(work, `home-pull-${model.name}-${run}`);
          rmSync(pullHome, { recursive: true, force: true });
          record(r, tool, 'pull', await timed(process.execPath, [CLI, 'pull', `${reg.host}/${repo}:v1`, '-o', out], { OMLMD_HOME: pullHome }));
          record(r, tool, 'pullExisting', await timed(process.execPath, [CLI, 'pull', `${reg.host}/${repo}:v1`, '-o', out], { OMLMD_HOME: pullHome }));
          rmSync(out, { recursive: true, force: true });
        } else if (tool === 'skopeo') {
          const dest = `docker://${reg.host}/${repo}:v1`;
          record(r, tool, 'push', await timed('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${model.layout}:v1`, dest]));
          record(r, tool, 'repush', await timed('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${model.layout}:v1`, dest]));
          const out = join(work, `out-skopeo-${model.name}`);
          rmSync(out, { recursive: true, force: true });
          record(r, tool, 'pull', await timed('skopeo', ['copy', '-q', '--src-tls-verify=false', dest, `oci:${out}:v1`]));
          record(r, tool, 'pullExisting', await timed('skopeo', ['copy', '-q', '--src-tls-verify=false', dest, `oci:${out}:v1`]));
          rmSync(out, { recursive: true, force: true });
        } else {
          const puts: [string, string[]][] = [];
          for (const b of blobs) puts.push(await curlPut(reg.host, repo, b.file, b.digest));
          record(r, tool, 'push', await timedAll(puts, 4));
          record(r, tool, 'repush', await timedAll(blobs.map((b) => ['curl', ['-sfI', '-o', '/dev/null', `http://${reg.host}/v2/${repo}/blobs/${b.digest}`]]), 4));
          const out = join(work, `out-curl-${model.name}`);
          rmSync(out, { recursive: true, force: true });
          mkdirSync(out);
          const get = await timedAll(blobs.map((b, i) => ['curl', ['-sf', '-o', join(out, `b${i}`), `http://${reg.host}/v2/${repo}/blobs/${b.digest}`]]), 4);
          // Hashing what curl got, two files at a time on two cores: the other half of the limit.
          const hash = await timedAll(blobs.map((_, i) => ['openssl', ['dgst', '-sha256', join(out, `b${i}`)]]), cpus().length);
          record(r, tool, 'pull', { secs: get.secs + hash.secs, rssMB: Math.max(get.rssMB, hash.rssMB) });
          rmSync(out, { recursive: true, force: true });
        }
      } finally {
        if (tool === 'omlmd' && run === RUNS) pullRegistry = reg;
        else await reg.stop();
      }
    }
  }
  await pullRegistry?.stop();
  return r;
}

/** p99 of the event loop's delay while the core pushes (and pulls) the large model in this process. */
async function eventLoop(model: Model, work: string): Promise<{ pushP99: number; pushMax: number; pullP99: number; pullMax: number; pushSecs: number; pullSecs: number }> {
  const reg = await startRegistry();
  try {
    const client = new OmlmdClient({ home: join(work, 'home-eventloop') });
    const h = monitorEventLoopDelay({ resolution: 10 });
    let t = performance.now();
    h.enable();
    await client.push(`${reg.host}/bench/eventloop:v1`, { paths: model.files, metadata: { name: model.name } });
    h.disable();
    const pushSecs = (performance.now() - t) / 1000;
    const push = { p99: h.percentile(99) / 1e6, max: h.max / 1e6 };
    h.reset();
    const out = join(work, 'out-eventloop');
    t = performance.now();
    h.enable();
    await new OmlmdClient({ home: join(work, 'home-eventloop-pull') }).pull(`${reg.host}/bench/eventloop:v1`, out);
    h.disable();
    const pullSecs = (performance.now() - t) / 1000;
    rmSync(out, { recursive: true, force: true });
    return { pushP99: push.p99, pushMax: push.max, pullP99: h.percentile(99) / 1e6, pullMax: h.max / 1e6, pushSecs, pullSecs };
  } finally {
    await reg.stop();
  }
}

const fmt = (s: number): string => (s >= 10 ? s.toFixed(1) : s >= 1 ? s.toFixed(2) : s.toFixed(3));

function table(model: Model, r: Results): string[] {
  const med = (tool: Tool, op: Op): number | undefined => (r[tool][op]?.length ? median(r[tool][op]!.map((m) => m.secs)) : undefined);
  const rss = (tool: Tool, op: Op): number | undefined => (r[tool][op]?.length ? Math.max(...r[tool][op]!.map((m) => m.rssMB)) : undefined);
  const cell = (tool: Tool, op: Op): string => {
    const s = med(tool, op);
    if (s === undefined) return '—';
    const all = r[tool][op]!.map((m) => m.secs);
    const range = all.length > 1 ? ` [${fmt(Math.min(...all))}–${fmt(Math.max(...all))}]` : '';
    return `${fmt(s)} s${range} (${rss(tool, op)!.toFixed(0)} MB)`;
  };
  const ratio = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined || a === 0 ? '—' : `${(b / a).toFixed(2)}×`);
  const rows: [string, Op, string][] = [
    ['push', 'push', 'curl: one PUT per blob, 4 at a time'],
    ['re-push, unchanged', 'repush', 'curl: one HEAD per blob'],
    ['pull', 'pull', 'curl: GET to a file + openssl sha256'],
    ['pull into a directory that holds it', 'pullExisting', ''],
  ];
  const out = [
    `### ${model.label}`,
    '',
    '| operation | omlmd | skopeo copy | curl (raw limit) | skopeo ÷ omlmd | omlmd ÷ curl |',
    '|---|---|---|---|---|---|',
  ];
  for (const [label, op, note] of rows) {
    const o = med('omlmd', op);
    out.push(`| ${label} | ${cell('omlmd', op)} | ${cell('skopeo', op)} | ${cell('curl', op)}${note ? ` ${note.replace(/^curl: /, '— ')}` : ''} | ${ratio(o, med('skopeo', op))} | ${med('curl', op) === undefined ? '—' : ratio(med('curl', op), o)} |`);
  }
  const push = med('omlmd', 'push');
  const repush = med('omlmd', 'repush');
  const pull = med('omlmd', 'pull');
  out.push('', `Re-push costs ${push && repush ? ((repush / push) * 100).toFixed(1) : '—'}% of the first push.${pull ? ` omlmd 0.1.6's published 2 GiB pull (11.0 s, another machine) ÷ this pull: ${(11.0 / pull).toFixed(1)}×.` : ''}`);
  return out;
}

async function main(): Promise<void> {
  if (!existsSync(CLI)) throw new Error('dist/cli.js is missing: run `node esbuild.mjs` first (npm run bench:transfers does)');
  const work = mkdtempSync(join(tmpdir(), 'omlmd-bench-'));
  const started = Date.now();
  const load = loadavg()[0]!;
  try {
    console.log(`preparing data in ${work}`);
    const bigDir = join(work, 'big');
    mkdirSync(bigDir);
    const big: Model = { name: 'big', label: `One ${BIG_MIB >= 1024 ? `${BIG_MIB / 1024} GiB` : `${BIG_MIB} MiB`} file`, files: [join(bigDir, 'model.bin')], bytes: BIG_MIB * MiB, layout: join(work, 'layout-big') };
    randomFile(big.files[0]!, big.bytes);
    const manyDir = join(work, 'many');
    mkdirSync(manyDir);
    const many: Model = { name: 'many', label: `${FILES} files of ${FILE_MIB} MiB`, files: [], bytes: FILES * FILE_MIB * MiB, layout: join(work, 'layout-many') };
    for (let i = 0; i < FILES; i++) {
      const f = join(manyDir, `model-${String(i + 1).padStart(5, '0')}-of-${String(FILES).padStart(5, '0')}.safetensors`);
      randomFile(f, FILE_MIB * MiB);
      many.files.push(f);
    }
    for (const m of [big, many]) {
      await timed(process.execPath, [CLI, 'push', `oci:${m.layout}:v1`, ...m.files, '--name', m.name], { OMLMD_HOME: join(work, 'home-layout') });
    }

    const results: [Model, Results][] = [];
    for (const m of [big, many]) results.push([m, await benchModel(m, work)]);
    console.log('event loop during an in-process push and pull of the large file');
    const loop = await eventLoop(big, work);
    console.log(`  push: p99 ${loop.pushP99.toFixed(1)} ms, max ${loop.pushMax.toFixed(1)} ms; pull: p99 ${loop.pullP99.toFixed(1)} ms, max ${loop.pullMax.toFixed(1)} ms`);

    const minutes = ((Date.now() - started) / 60000).toFixed(1);
    const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
    const lines = [
      '## Transfers',
      '',
      `Measured by \`npm run bench:transfers\` (\`bench/transfer.ts\`, ${RUNS} runs, medians; ${minutes} min) on ${cpus().length} cores (${cpu}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, load average ${load.toFixed(1)} at the start (the machine is shared): the real registry (distribution 2.8.2) on loopback, skopeo ${await version('skopeo', ['--version'])}, curl ${await version('curl', ['--version'])}, random (incompressible) data. Each push goes to a fresh registry. Times are wall clock, the median with the fastest and slowest run in brackets (neighbours on this machine make runs vary by up to half); in parentheses the largest peak RSS of the process over the runs (GNU time; for several curls, the largest).`,
      '',
      ...results.flatMap(([m, r]) => [...table(m, r), '']),
      `### The editor stays responsive`,
      '',
      `The large file pushed and pulled through the core in one Node process, as the VS Code extension host runs it, with \`monitorEventLoopDelay\` (10 ms resolution): push ${fmt(loop.pushSecs)} s, event-loop delay p99 ${loop.pushP99.toFixed(1)} ms (max ${loop.pushMax.toFixed(1)} ms); pull ${fmt(loop.pullSecs)} s, p99 ${loop.pullP99.toFixed(1)} ms (max ${loop.pullMax.toFixed(1)} ms). Hashing runs in worker threads and files are read and written asynchronously, so the loop only parses HTTP and moves buffers.`,
      '',
    ];
    console.log('\n' + lines.join('\n'));
    if (WRITE) writeSection(lines.join('\n'));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function version(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    c.stdout.on('data', (b: Buffer) => (out += b.toString()));
    c.on('close', () => resolve(/\d+\.\d+(\.\d+)?/.exec(out)?.[0] ?? '?'));
    c.on('error', () => resolve('?'));
  });
}

/** Replaces the "## Transfers" section of docs/benchmarks.md (or appends it), leaving the others alone. */
function writeSection(section: string): void {
  const file = join(ROOT, 'docs', 'benchmarks.md');
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const start = text.search(/^## Transfers\s*$/m);
  let next = -1;
  if (start >= 0) {
    const rest = text.slice(start + 1);
    const m = /^## /m.exec(rest);
    next = m ? start + 1 + m.index : text.length;
  }
  const updated = start >= 0 ? `${text.slice(0, start)}${section}\n${text.slice(next)}` : `${text.trimEnd()}\n\n${section}`;
  writeFileSync(file, updated.replace(/\n{3,}/g, '\n\n').trimEnd() + '\n');
  console.log(`wrote ${file}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
