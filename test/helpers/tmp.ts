import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];
let hooked = false;

/**
 * Folders made here are named `<prefix>pid<pid>.<random>`: the process that owns one is in its
 * name, so a folder whose owner is gone (killed with SIGKILL, which no handler sees) is
 * recognised and removed by the next test process that makes one.
 */
const OWNED = /^omlmd-.*pid(\d+)\.[A-Za-z0-9]{6}$/;
/** A folder younger than this is left alone even when its owner looks gone (a pid just reused, a clock step). */
const STALE_MS = 60_000;

function remove(dir: string): void {
  try {
    // Retries: a registry or server killed a moment before may still be writing its last files (ENOTEMPTY).
    rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
  } catch {
    // one folder that cannot go does not keep the others
  }
}

function removeAll(): void {
  for (const d of made.splice(0)) remove(d);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes the folders of earlier test processes that ended without removing them. */
export function sweepOrphans(root = tmpdir(), now = Date.now()): string[] {
  const swept: string[] = [];
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return swept;
  }
  for (const name of names) {
    const m = OWNED.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || alive(pid)) continue;
    const dir = join(root, name);
    try {
      if (now - statSync(dir).mtimeMs < STALE_MS) continue;
    } catch {
      continue;
    }
    remove(dir);
    swept.push(dir);
  }
  return swept;
}

/**
 * A fresh folder under the system's temporary directory that is removed when the test
 * process exits, passed or failed (each test file runs in a process of its own), or ends by
 * a signal; one left by a process killed outright is removed by the next one (sweepOrphans).
 */
export function tempDir(prefix: string): string {
  if (!hooked) {
    hooked = true;
    sweepOrphans();
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
  const dir = mkdtempSync(join(tmpdir(), `${prefix}pid${process.pid}.`));
  made.push(dir);
  return dir;
}
