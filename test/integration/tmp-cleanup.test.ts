import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../helpers/tmp';

/**
 * A test process ended by a signal (a timeout, Ctrl-C) while its real registry runs and writes:
 * the registry is killed and every folder the process made is removed, the registry's own too.
 */
test('SIGTERM to a process running a real registry removes its folders and stops the registry', async () => {
  const dir = tempDir('omlmd-tmpclean-');
  const script = join(dir, 'child.ts');
  writeFileSync(script, `
    import { startRegistry } from ${JSON.stringify(join(__dirname, '..', 'helpers', 'registry'))};
    import { tempDir } from ${JSON.stringify(join(__dirname, '..', 'helpers', 'tmp'))};
    void (async () => {
      const work = tempDir('omlmd-tmpclean-child-');
      const reg = await startRegistry();
      // Keep the registry writing (uploads in progress) while the signal comes.
      const writes = setInterval(() => void fetch('http://' + reg.host + '/v2/busy/blobs/uploads/', { method: 'POST' }).catch(() => undefined), 5);
      process.stdout.write(JSON.stringify({ work, root: reg.root, pid: reg.pid }) + '\\n');
      setTimeout(() => clearInterval(writes), 60_000);
    })();
  `);
  const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const info = await new Promise<{ work: string; root: string; pid: number }>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]!) as { work: string; root: string; pid: number });
    });
    child.on('exit', (code) => reject(new Error(`the child ended first (${code})`)));
  });
  assert.ok(existsSync(info.work) && existsSync(info.root));
  await new Promise((r) => setTimeout(r, 300));
  const ended = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_c, sig) => resolve(sig)));
  child.kill('SIGTERM');
  assert.equal(await ended, 'SIGTERM', 'the signal still ends the process');
  assert.equal(existsSync(info.work), false, 'the test folder');
  assert.equal(existsSync(info.root), false, 'the registry folder');
  // Dead, or a zombie waiting for a reaper (its parent is gone; this machine's pid 1 may not reap).
  const running = (pid: number): boolean => {
    try {
      return !/^\d+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };
  let registryAlive = true;
  for (let i = 0; i < 50 && registryAlive; i++) {
    registryAlive = running(info.pid);
    if (registryAlive) await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(registryAlive, false, 'the registry process');
});
