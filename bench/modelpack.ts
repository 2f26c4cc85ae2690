/**
 * ModelPack against the omlmd layout, in the same run: push and pull of FILES files of
 * FILE_MIB MiB each (default 16 × 128 MiB) with the CLI, to the real registry on loopback,
 * alternating the layouts run by run, medians of RUNS; then `copy --format modelpack` of
 * the pushed model within the registry, with the blob bytes it sends counted by the fault
 * proxy.
 *
 *   node esbuild.mjs && node --import tsx bench/modelpack.ts [--files 16] [--file-mib 128] [--runs 3]
 */
import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CLI } from '../test/helpers/cli';
import { startFaultProxy } from '../test/helpers/faultproxy';
import { startRegistry } from '../test/helpers/registry';
import { tempDir } from '../test/helpers/tmp';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const FILES = arg('files', 16);
const FILE_MIB = arg('file-mib', 128);
const RUNS = arg('runs', 3);

function cli(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, OMLMD_NO_PROGRESS: '1', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('close', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`omlmd ${args.join(' ')}: exit ${code}\n${err}`))));
  });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const work = tempDir('omlmd-bench-modelpack-');
  const reg = await startRegistry();
  const proxy = await startFaultProxy(reg.host);
  try {
    const dir = join(work, 'model');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir);
    const buf = Buffer.alloc(16 * 1024 * 1024);
    for (let i = 0; i < FILES; i++) {
      const fd = openSync(join(dir, `model-${String(i).padStart(5, '0')}.safetensors`), 'w');
      for (let left = FILE_MIB * 1024 * 1024; left > 0; left -= buf.length) writeSync(fd, randomFillSync(buf), 0, Math.min(buf.length, left));
      closeSync(fd);
    }
    const times: Record<string, { push: number[]; pull: number[] }> = { omlmd: { push: [], pull: [] }, modelpack: { push: [], pull: [] } };
    for (let run = 0; run < RUNS; run++) {
      for (const format of run % 2 ? ['modelpack', 'omlmd'] : ['omlmd', 'modelpack']) {
        // A fresh home and repository each time: nothing known, nothing there.
        const env = { OMLMD_HOME: join(work, `home-${format}-${run}`) };
        const ref = `${reg.host}/bench/${format}${run}:v1`;
        times[format]!.push.push(await cli(['push', ref, dir, '--name', 'bench', '--format', format, '--no-prefill'], env));
        const out = join(work, `out-${format}-${run}`);
        times[format]!.pull.push(await cli(['pull', ref, '-o', out], env));
        rmSync(out, { recursive: true, force: true });
      }
    }
    proxy.clear();
    await cli(['copy', `${proxy.host}/bench/omlmd0:v1`, `${proxy.host}/bench/converted:v1`, '--format', 'modelpack'], { OMLMD_HOME: join(work, 'home-copy') });
    const sent = proxy.seen.filter((s) => (s.method === 'PATCH' || s.method === 'PUT') && s.path.includes('/blobs/')).reduce((n, s) => n + s.bodyBytes, 0);
    const gib = (FILES * FILE_MIB) / 1024;
    console.log(`${FILES} × ${FILE_MIB} MiB (${gib} GiB), ${RUNS} runs, medians (s):`);
    for (const op of ['push', 'pull'] as const) {
      const a = median(times.omlmd![op]) / 1000;
      const b = median(times.modelpack![op]) / 1000;
      console.log(`  ${op}: omlmd ${a.toFixed(2)}  modelpack ${b.toFixed(2)}  ratio ${(b / a).toFixed(3)}`);
    }
    console.log(`  copy --format modelpack within the registry: ${sent} blob bytes sent (the model is ${FILES * FILE_MIB * 1024 * 1024})`);
  } finally {
    await proxy.close();
    await reg.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

void main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
