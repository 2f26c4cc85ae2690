/** What a transfer reports as it goes; the CLI draws bars from it, the extension a notification. */
export type ProgressEvent =
  | { type: 'plan'; items: { title: string; size: number }[]; totalBytes: number }
  | { type: 'bytes'; title: string; bytes: number }
  | { type: 'skipped'; title: string; size: number; reason: 'exists' | 'filtered' }
  | { type: 'done'; title: string; digest: string; size: number };

export type ProgressCallback = (e: ProgressEvent) => void;

export interface TransferOptions {
  signal?: AbortSignal;
  onProgress?: ProgressCallback;
  /** How many blobs move at once. */
  concurrency?: number;
}

export const DEFAULT_CONCURRENCY = 4;
