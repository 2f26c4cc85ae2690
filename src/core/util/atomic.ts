/**
 * Writing a file so that readers see the old content or the new, never half of it: one
 * helper for every small state file (index.json, Docker config, caches, settings). Large
 * downloads keep their own resumable partial files and end with {@link renameDurable}.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export interface AtomicWriteOptions {
  /** File mode of the new file (default 0o666 less the umask); 0o600 for secrets. */
  mode?: number;
  /** fsync the file and its folder so the write survives a crash (default true). */
  durable?: boolean;
}

/** A name beside `path` that no other writer picks: `.NAME.PID.RANDOM.tmp`. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/** Writes `data` to a temporary file beside `path` and renames it over `path`. On failure nothing changes at `path`. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): Promise<void> {
  const tmp = tempPathFor(path);
  const durable = opts.durable ?? true;
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, 'wx', opts.mode);
    await fh.writeFile(data);
    if (durable) await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(tmp, path);
  } catch (e) {
    await fh?.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
  if (durable) await syncDir(dirname(path));
}

/** Renames and makes the rename durable (best effort where the file system cannot sync a folder). */
export async function renameDurable(from: string, to: string): Promise<void> {
  await rename(from, to);
  await syncDir(dirname(to));
}

/** fsync of a folder, so a rename in it survives a crash; some file systems refuse it, then best effort. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, fsConstants.O_RDONLY).catch(() => undefined);
  if (!fh) return;
  await fh.sync().catch(() => undefined);
  await fh.close().catch(() => undefined);
}
