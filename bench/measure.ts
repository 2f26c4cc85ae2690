/**
 * What the benchmarks measure with: a command under GNU time (wall clock here, peak RSS and
 * CPU from time(1)), a process's CPU so far from /proc, medians, random files.
 */
import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { tempDir } from '../test/helpers/tmp';

const MiB = 1024 * 1024;

export interface Measure {
  secs: number;
  rssMB: number;
  /** CPU seconds of the tool's process (user + system), when known. */
  cpu?: number;
  /** CPU seconds the registry spent meanwhile. */
  regCpu?: number;
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
export function cpuOf(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
    // utime and stime are fields 14 and 15 of the line; 12 and 13 after the command name.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** Runs a command under GNU time: wall clock from here, peak RSS and CPU from time(1). */
let statsDir: string | undefined;

export async function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Measure & { cpu: number }> {
  // time(1)'s report goes to a folder removed at exit or on a signal, as every test folder is.
  statsDir ??= tempDir('omlmd-bench-time-');
  const stats = join(statsDir, Math.random().toString(36).slice(2));
  const start = performance.now();
  try {
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn('/usr/bin/time', ['-f', '%M %U %S', '-o', stats, cmd, ...args], { env: { ...process.env, OMLMD_NO_PROGRESS: '1', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (b: Buffer) => (err += b.toString()));
      child.on('error', reject);
      child.on('close', (c) => resolve({ code: c, stderr: err }));
    });
    const secs = (performance.now() - start) / 1000;
    if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${code}):\n${stderr}`);
    const [kb, user, sys] = (readFileSync(stats, 'utf8').trim().split('\n').pop() ?? '').split(' ').map(Number);
    return { secs, rssMB: ((kb ?? NaN) * 1024) / 1e6, cpu: (user ?? NaN) + (sys ?? NaN) };
  } finally {
    rmSync(stats, { force: true });
  }
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A file of `bytes` random bytes (incompressible, as weights are), written 8 MiB at a time. */
export function randomFile(path: string, bytes: number): void {
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
