import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];
let hooked = false;

function removeAll(): void {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}

/**
 * A fresh folder under the system's temporary directory that is removed when the test
 * process exits, passed or failed (each test file runs in a process of its own).
 */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  if (!hooked) {
    hooked = true;
    process.once('exit', removeAll);
    // 'exit' does not fire when a signal ends the process (a timeout, Ctrl-C): remove, then
    // let the signal do what it would have done (unless someone else, like the test runner, handles it).
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(sig, () => {
        removeAll();
        if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
      });
    }
  }
  return dir;
}
