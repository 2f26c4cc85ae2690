/**
 * Signing and verifying a 2 GiB model, against the real registry on loopback, with the CLI
 * as a user runs it (dist/cli.js), medians of RUNS runs, beside `sha256sum` of the same
 * files in the same run (what any verifier that needs the files must at least do: OpenSSF
 * model-signing hashes every file; `sha256sum` is the floor of that):
 *
 * - `omlmd verify REF --key`: the registry's manifest and the bundle only. The fault proxy
 *   in front of the registry counts every blob byte it serves: no weight byte.
 * - `omlmd sign REF --key` right after the push, with the model files deleted first: it reads
 *   the digests from the manifest, so it cannot re-read a file.
 * - `omlmd verify --path DIR --key` on the pulled folder: hashing bound, as a ratio to
 *   `sha256sum` of the same files.
 *
 *   node esbuild.mjs && node --import tsx bench/trust.ts [--gib 2] [--runs 5]
 */
import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { OmlmdClient } from '../src/core/client';
import { CLI } from '../test/helpers/cli';
import { startFaultProxy } from '../test/helpers/faultproxy';
import { startRegistry } from '../test/helpers/registry';
import { makeSigningKit } from '../test/helpers/signing';
import { tempDir } from '../test/helpers/tmp';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const GIB = arg('gib', 2);
const RUNS = arg('runs', 5);

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { env: { ...process.env, OMLMD_NO_PROGRESS: '1', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}\n${err}`))));
  });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const work = tempDir('omlmd-bench-trust-');
  const reg = await startRegistry();
  const proxy = await startFaultProxy(reg.host);
  const kit = await makeSigningKit();
  try {
    // Two files of GIB/2 each: a model split in shards, as large models are.
    const files = [join(work, 'model-00001.safetensors'), join(work, 'model-00002.safetensors')];
    const buf = Buffer.alloc(16 * 1024 * 1024);
    for (const f of files) {
      const fd = openSync(f, 'w');
      for (let left = (GIB * 1024 ** 3) / 2; left > 0; left -= buf.length) writeSync(fd, randomFillSync(buf), 0, Math.min(buf.length, left));
      closeSync(fd);
    }
    const env = { OMLMD_HOME: join(work, 'home') };
    const ref = `${proxy.host}/bench/signed:v1`;
    await new OmlmdClient({ home: env.OMLMD_HOME }).push(ref, { paths: files, metadata: { name: 'bench' } });

    // Sign right after the push, with the files gone: nothing to re-read.
    const moved = files.map((f) => `${f}.away`);
    const { renameSync } = await import('node:fs');
    files.forEach((f, i) => renameSync(f, moved[i]!));
    const sign: number[] = [];
    for (let i = 0; i < RUNS; i++) sign.push(await run(process.execPath, [CLI, 'sign', ref, '--key', kit.ed25519.key], env));
    files.forEach((f, i) => renameSync(moved[i]!, f));

    proxy.clear();
    const verify: number[] = [];
    for (let i = 0; i < RUNS; i++) verify.push(await run(process.execPath, [CLI, 'verify', ref, '--key', kit.ed25519.pub], env));
    // The same in-process (the library, as the extension host calls it): no process start.
    const { verifyModel, loadPublicKeys } = await import('../src/core/trust');
    const trust = { kind: 'keys' as const, keys: await loadPublicKeys(kit.ed25519.pub), source: kit.ed25519.pub };
    const lib: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const c = new OmlmdClient({ home: join(work, `lib-home-${i}`) });
      const t0 = performance.now();
      await verifyModel(c, ref, trust);
      lib.push(performance.now() - t0);
    }
    const start: number[] = [];
    for (let i = 0; i < RUNS; i++) start.push(await run(process.execPath, [CLI, '--version']));
    const blobBytes = proxy.seen.filter((s) => s.method === 'GET' && s.path.includes('/blobs/')).reduce((n, s) => n + s.responseBytes, 0);
    const weightGets = proxy.seen.filter((s) => s.method === 'GET' && s.path.includes('/blobs/') && s.responseBytes > 1024 * 1024).length;

    const out = join(work, 'pulled');
    await run(process.execPath, [CLI, 'pull', ref, '-o', out], env);
    const verifyDir: number[] = [];
    const sha: number[] = [];
    const pulled = files.map((f) => join(out, f.split('/').pop()!));
    for (let i = 0; i < RUNS; i++) {
      // Alternated, so both see the same page cache.
      sha.push(await run('sha256sum', pulled));
      verifyDir.push(await run(process.execPath, [CLI, 'verify', '--path', out, '--key', kit.ed25519.pub], env));
    }
    const rows = [
      ['omlmd sign (files deleted: digests from the manifest)', median(sign)],
      [`omlmd verify REF (${blobBytes} blob bytes over ${RUNS} runs, ${weightGets} weight GETs)`, median(verify)],
      ['verifyModel() in-process, a new client each run (the extension host)', median(lib)],
      ['omlmd --version (the CLI process start alone)', median(start)],
      [`sha256sum of the ${GIB} GiB (what a file-based verifier must at least do)`, median(sha)],
      ['omlmd verify --path (the pulled folder, every file hashed)', median(verifyDir)],
    ] as const;
    console.log(`${GIB} GiB model in 2 files, ${RUNS} runs, medians (ms):`);
    for (const [what, ms] of rows) console.log(`  ${ms.toFixed(0).padStart(7)}  ${what}`);
    console.log(`  verify REF / sha256sum: ${(median(verify) / median(sha)).toFixed(3)}`);
    console.log(`  verify --path / sha256sum: ${(median(verifyDir) / median(sha)).toFixed(2)}`);
  } finally {
    await proxy.close();
    await reg.stop();
    rmSync(work, { recursive: true, force: true });
    rmSync(kit.dir, { recursive: true, force: true });
  }
}

void main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
