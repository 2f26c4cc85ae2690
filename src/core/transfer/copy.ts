import type { Repository } from '../oci/store';
import type { Descriptor, FetchedManifest } from '../oci/types';
import { manifestBlobs } from '../oci/types';
import { bytesMoved } from './memory';
import { mapLimit } from '../util/limit';
import { DEFAULT_CONCURRENCY, type TransferOptions } from './progress';
import { rememberLocation } from './push';

export interface CopyResult {
  descriptor: Descriptor;
  /** Blobs sent, and blobs the target already had. */
  copied: number;
  skipped: number;
  bytes: number;
  /** Blobs the target registry linked from the source repository (cross-repository mount) instead of receiving them. */
  mounted: number;
}

/**
 * Copies an artifact (manifest or index, with everything it refers to) between any two
 * stores. The manifest bytes move unchanged, so the digest is preserved; blobs the target
 * already has are not sent; within one registry they are mounted from the source repository
 * rather than sent; the target verifies every blob it receives.
 */
export async function copyArtifact(src: Repository, reference: string, dst: Repository, tag: string | undefined, opts: TransferOptions = {}): Promise<CopyResult> {
  const stats = { copied: 0, skipped: 0, bytes: 0, mounted: 0 };
  const top = await src.fetchManifest(reference, { signal: opts.signal });
  const descriptor = await copyNode(src, dst, top, tag, opts, stats);
  return { descriptor, ...stats };
}

async function copyNode(src: Repository, dst: Repository, node: FetchedManifest, tag: string | undefined, opts: TransferOptions, stats: Omit<CopyResult, 'descriptor'>): Promise<Descriptor> {
  const { signal } = opts;
  if (node.kind === 'index') {
    for (const child of node.index.manifests) {
      const fetched = await src.fetchManifest(child.digest, { signal });
      await copyNode(src, dst, fetched, undefined, opts, stats);
    }
  } else {
    await copyBlobs(src, dst, dedupe(manifestBlobs(node.manifest)), opts, stats);
  }
  return dst.putManifest(node.bytes, node.descriptor.mediaType, tag, { signal });
}

/**
 * Puts `blobs` into `dst` from `src`: skipped when there, mounted within one registry, else
 * sent (and verified by the target).
 */
export async function copyBlobs(src: Repository, dst: Repository, blobs: Descriptor[], opts: TransferOptions, stats: Omit<CopyResult, 'descriptor'>): Promise<void> {
  const { signal, onProgress } = opts;
  onProgress?.({ type: 'plan', items: blobs.map((b) => ({ title: b.digest, size: b.size })), totalBytes: blobs.reduce((n, b) => n + b.size, 0) });
  await mapLimit(blobs, opts.concurrency ?? DEFAULT_CONCURRENCY, async (b, sig) => {
    if ((await dst.statBlob(b.digest, { signal: sig })) === b.size) {
      stats.skipped++;
      onProgress?.({ type: 'skipped', title: b.digest, size: b.size, reason: 'exists' });
      return;
    }
    if (await dst.mountBlob?.(b, src, { signal: sig })) {
      stats.mounted++;
      onProgress?.({ type: 'skipped', title: b.digest, size: b.size, reason: 'mounted' });
      await rememberLocation(dst, b.digest, opts.cache);
      return;
    }
    await dst.putBlob(
      { open: () => src.openBlob(b, { signal: sig }), size: b.size, digest: b.digest, mediaType: b.mediaType },
      { signal: sig, onBytes: (n) => (bytesMoved('upload', n), onProgress?.({ type: 'bytes', title: b.digest, bytes: n })) },
    );
    stats.copied++;
    stats.bytes += b.size;
    await rememberLocation(dst, b.digest, opts.cache);
    onProgress?.({ type: 'done', title: b.digest, digest: b.digest, size: b.size });
  }, signal);
}

export function dedupe(ds: Descriptor[]): Descriptor[] {
  const seen = new Set<string>();
  return ds.filter((d) => !seen.has(d.digest) && (seen.add(d.digest), true));
}
