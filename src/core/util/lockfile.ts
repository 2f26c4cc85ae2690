/**
 * One lock-file scheme for the whole code base. A lock is a file created exclusively
 * (`wx`) that holds `PID HOST TOKEN`. It is stale when its process is gone (same host: the
 * PID answers no signal) or, when a `staleMs` is given, when it is older than that (a lock
 * from another host, or whose PID was reused). A stale lock is broken by renaming it aside
 * (atomic: one breaker wins) and checking again, so a fresh lock taken meanwhile is never
 * removed. Within one process, a set of held paths answers first (a PID check cannot tell
 * two holders in the same process apart). Release removes the file only while it still
 * holds our token.
 */
import { randomBytes } from 'node:crypto';
import { link, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { sleep } from './abort';
import { throwIfAborted } from '../errors';

export interface LockOptions {
  /** How long to wait for a held lock (default 0: fail at once). */
  waitMs?: number;
  /** Age after which a lock is stale whatever its PID says (default: only a dead PID makes it stale). */
  staleMs?: number;
  signal?: AbortSignal;
}

/** Who holds a lock, as its file says (for the message of a busy lock). */
export interface LockHolder {
  pid?: number;
  host?: string;
  /** In this process. */
  here: boolean;
}

/** Thrown by {@link acquireLock} when the lock stays held; the caller words the error. */
export class LockBusy extends Error {
  constructor(readonly path: string, readonly holder: LockHolder) {
    super(`${path} is held${holder.pid ? ` by process ${holder.pid}` : ''}`);
  }
}

const held = new Set<string>();
const HOST = hostname();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parse(text: string | undefined): { pid?: number; host?: string; token?: string } {
  const [p, host, token] = (text ?? '').trim().split(/\s+/);
  const pid = Number(p);
  return { pid: Number.isSafeInteger(pid) && pid > 0 ? pid : undefined, host, token };
}

async function isStale(path: string, staleMs: number | undefined): Promise<boolean | 'gone'> {
  const [text, st] = await Promise.all([readFile(path, 'utf8').catch(() => undefined), stat(path).catch(() => undefined)]);
  if (!st) return 'gone';
  if (staleMs !== undefined && Date.now() - st.mtimeMs >= staleMs) return true;
  const { pid, host } = parse(text);
  // A lock being written this instant has no PID yet: stale only once it stays so.
  if (pid === undefined) return Date.now() - st.mtimeMs > 10_000;
  // No host: a lock of an earlier version, which wrote only the PID, on this machine.
  return (host === undefined || host === HOST) && pid !== process.pid && !alive(pid);
}

/** Breaks a stale lock without ever removing a fresh one; true when the caller should try again. */
async function breakStale(path: string, staleMs: number | undefined): Promise<boolean> {
  const stale = await isStale(path, staleMs);
  if (stale === 'gone') return true;
  if (!stale) return false;
  const aside = `${path}.stale.${process.pid}.${randomBytes(6).toString('hex')}`;
  try {
    await rename(path, aside);
  } catch {
    return true; // someone else broke or released it
  }
  // What we moved may be a lock taken between our check and the rename: put it back.
  if ((await isStale(aside, staleMs)) === false) await link(aside, path).catch(() => undefined);
  await rm(aside, { force: true }).catch(() => undefined);
  return true;
}

/** Takes the lock at `path`; resolves with its release. Throws {@link LockBusy} when it stays held. */
export async function acquireLock(path: string, opts: LockOptions = {}): Promise<() => Promise<void>> {
  const token = randomBytes(8).toString('hex');
  const deadline = Date.now() + (opts.waitMs ?? 0);
  let delay = 5;
  for (let attempt = 0; ; attempt++) {
    throwIfAborted(opts.signal);
    if (!held.has(path)) {
      try {
        await writeFile(path, `${process.pid} ${HOST} ${token}`, { flag: 'wx' });
        held.add(path);
        return async () => {
          held.delete(path);
          const current = parse(await readFile(path, 'utf8').catch(() => undefined));
          if (current.token === token) await rm(path, { force: true }).catch(() => undefined);
        };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      if (attempt < 50 && (await breakStale(path, opts.staleMs))) continue;
    }
    if (Date.now() >= deadline) {
      const { pid, host } = parse(await readFile(path, 'utf8').catch(() => undefined));
      throw new LockBusy(path, { pid, host, here: held.has(path) || pid === process.pid });
    }
    await sleep(delay + Math.random() * delay, opts.signal);
    delay = Math.min(delay * 2, 100);
  }
}
