import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';

const REGISTRY_BIN = '/usr/bin/docker-registry';
const START_TIMEOUT_MS = 15_000;

export interface RunningRegistry {
  /** `127.0.0.1:PORT` */
  host: string;
  /** The temp dir holding config, storage and log. */
  root: string;
  stop(): Promise<void>;
}

// Registries still running when the test process exits (a failed `after` hook, a crash)
// would otherwise outlive it and keep their ports.
const running = new Map<ChildProcess, string>();
function killAll(): void {
  for (const [child, root] of running) {
    child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
  running.clear();
}
process.on('exit', killAll);
// 'exit' does not fire when a signal ends the process; kill the registries, then let the
// signal do what it would have done (unless someone else, like the test runner, handles it).
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    killAll();
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function readLog(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '(no log)';
  }
}

/** Starts the real registry binary on a loopback port with storage in a fresh temp dir. */
export async function startRegistry(opts: { deleteEnabled?: boolean } = {}): Promise<RunningRegistry> {
  const root = await mkdtemp(join(tmpdir(), 'omlmd-registry-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const config = join(root, 'config.yml');
  const logPath = join(root, 'registry.log');
  await writeFile(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(root, 'data')}`,
      '  delete:',
      `    enabled: ${opts.deleteEnabled ?? true}`,
      'http:',
      `  addr: ${host}`,
      '',
    ].join('\n'),
  );

  const logFd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(REGISTRY_BIN, ['serve', config], { stdio: ['ignore', logFd, logFd] });
  } finally {
    closeSync(logFd);
  }
  running.set(child, root);
  let exited = false;
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      running.delete(child);
      resolve();
    });
    // A spawn failure (binary missing) emits 'error' and maybe no 'exit'.
    child.once('error', () => {
      exited = true;
      running.delete(child);
      resolve();
    });
  });

  const stop = async (): Promise<void> => {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exitedPromise;
      clearTimeout(timer);
    }
    await rm(root, { recursive: true, force: true });
  };

  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (exited) {
      const log = readLog(logPath);
      await stop();
      throw new Error(`docker-registry exited before answering on ${host}; log:\n${log}`);
    }
    try {
      const res = await request(`http://${host}/v2/`, { signal: AbortSignal.timeout(1000) });
      await res.body.dump();
      if (res.statusCode === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      const log = readLog(logPath);
      await stop();
      throw new Error(`docker-registry did not answer GET /v2/ on ${host} within ${START_TIMEOUT_MS / 1000} s; log:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { host, root, stop };
}
