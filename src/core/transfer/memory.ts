/**
 * Garbage-collection pacing, a hook the engine calls as bytes move. Every buffer a transfer
 * is done with (a socket read, a chunk handed from a hashing worker) is memory outside V8's
 * heap that waits for a garbage collection, and V8 starts a full one only once some 64 MB
 * of it has piled up: half the CLI's peak memory, and a full collection each time. A host
 * that can collect (the CLI, which exposes V8's gc) installs a young-generation collection
 * here, which frees the same buffers for a fraction of a millisecond every few MiB. Measured
 * on 1 GiB (3 runs each): push peaks at 107-110 MiB with it, 156-158 without, and spends less
 * CPU (1.8-2.0 s against 2.2-2.6 s); pull 120-122 MiB against 136-140, CPU the same.
 */

export type TransferDirection = 'download' | 'upload';

// Longer than a buffer's life in flight: one that lives through two young collections is
// promoted, and only a full collection frees it. A download's socket buffers are copied out
// at once; an upload's chunks (128 KiB, hashpool.ts) queue briefly. Measured on a 1 GiB push
// with 256 KiB chunks: every 8 MiB peaked at 89-91 MB, every 16 at 97-100; every 4 MiB gave
// the same for one file and 6 MB more for 16 files (more chunks live through two collections).
const COLLECT_EVERY: Record<TransferDirection, number> = { download: 8 * 1024 * 1024, upload: 8 * 1024 * 1024 };

let collector: (() => void) | undefined;
const since: Record<TransferDirection, number> = { download: 0, upload: 0 };

/** Installs the collection the engine runs as bytes move (undefined: none, the default). */
export function paceCollections(collect: (() => void) | undefined): void {
  collector = collect;
  since.download = since.upload = 0;
}

/** `n` more bytes of a blob moved: collects once enough have since the last time. */
export function bytesMoved(direction: TransferDirection, n: number): void {
  if (!collector) return;
  since[direction] += n;
  if (since[direction] < COLLECT_EVERY[direction]) return;
  since[direction] = 0;
  collector();
}
