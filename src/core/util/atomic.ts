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
  /** File mode of the new file, exactly (the umask does not narrow it); default 0o666 less the umask. 0o600 for secrets. */
  mode?: number;
  /** fsync the file and its folder so the write survives a crash (default true). */
  durable?: boolean;
  /**
   * Where the temporary file goes (default: beside `path`). It must be on the same file
   * system; a store with its own scratch folder (an OCI layout's `ingest/`, which its gc
   * sweeps) puts it there so a crash leaves nothing among the files other tools read.
   */
  tempDir?: string;
}

/** A name beside `path` (or in `dir`) that no other writer picks: `.NAME.PID.RANDOM.tmp`. */
export function tempPathFor(path: string, dir: string = dirname(path)): string {
  return join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/** Writes `data` to a temporary file beside `path` and renames it over `path`. On failure nothing changes at `path`. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): Promise<void> {
  const tmp = tempPathFor(path, opts.tempDir);
  const durable = opts.durable ?? true;
  let fh: FileHandle | undefined;
  try {
    // Created with the mode (never a moment wider than asked), then set exactly, whatever the umask.
    fh = await open(tmp, 'wx', opts.mode);
    if (opts.mode !== undefined) await fh.chmod(opts.mode);
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
