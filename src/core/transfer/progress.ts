import type { TransferCache } from './cache';

/** What a transfer reports as it goes; the CLI draws bars from it, the extension a notification. */
export type ProgressEvent =
  | { type: 'plan'; items: { title: string; size: number }[]; totalBytes: number }
  | { type: 'bytes'; title: string; bytes: number }
  /** Bytes an earlier, interrupted run of the same transfer already moved: not moved again. */
  | { type: 'resumed'; title: string; bytes: number }
  /** Nothing moved: the target had it, it was filtered out, or the registry mounted it from another repository. */
  | { type: 'skipped'; title: string; size: number; reason: 'exists' | 'filtered' | 'mounted' }
  | { type: 'done'; title: string; digest: string; size: number };

export type ProgressCallback = (e: ProgressEvent) => void;

export interface TransferOptions {
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
  /** How many blobs move at once; for a pull also how many connections download at once. */
  concurrency?: number;
  /**
   * What transfers remember between runs ($OMLMD_HOME/cache): file digests, so an unchanged
   * file is not read again; where blobs are, for mounts; open upload sessions, to resume.
   * OmlmdClient passes one; without it every file is hashed on every push.
   */
  cache?: TransferCache;
  /**
   * A pull cuts a blob at least twice this size into parts of this size, fetched in
   * parallel with Range where the registry honours it. Default 32 MiB.
   */
  partSize?: number;
}

export const DEFAULT_CONCURRENCY = 4;
export const DEFAULT_PART_SIZE = 32 * 1024 * 1024;
