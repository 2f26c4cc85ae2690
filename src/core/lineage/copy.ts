/**
 * Copy with referrers: an artifact and everything that refers to it, recursively, so the
 * graph arrives whole. Manifests move byte for byte, so every `subject` digest still points
 * at its copy; in the target, each referrer is recorded the way the target keeps them (its
 * API, else the tag schema).
 */
import type { Repository } from '../oci/store';
import { copyArtifact, type CopyResult } from '../transfer/copy';
import type { TransferOptions } from '../transfer/progress';
import { discoverReferrers, flattenReferrers, MAX_DEPTH } from './discover';
import { registerReferrer, type ReferrersSource } from './referrers';

export interface RecursiveCopyResult extends CopyResult {
  /** The referrers copied (every level), parents before children. */
  referrers: { digest: string; artifactType?: string; subject: string }[];
  /** How the target records referrers ('api' or 'tag-schema'); undefined when there were none. */
  source?: ReferrersSource;
}

export async function copyWithReferrers(src: Repository, reference: string, dst: Repository, tag: string | undefined, opts: TransferOptions = {}): Promise<RecursiveCopyResult> {
  const top = await copyArtifact(src, reference, dst, tag, opts);
  const result: RecursiveCopyResult = { ...top, referrers: [] };
  const tree = await discoverReferrers(src, top.descriptor, { depth: MAX_DEPTH, signal: opts.signal });
  // Parents first: a referrer's subject is in the target before the referrer names it.
  const parentOf = new Map<string, string>();
  const note = (subject: string, nodes: typeof tree.referrers): void => {
    for (const n of nodes) {
      if (!parentOf.has(n.digest)) parentOf.set(n.digest, subject);
      note(n.digest, n.referrers);
    }
  };
  note(top.descriptor.digest, tree.referrers);
  const done = new Set<string>([top.descriptor.digest]);
  for (const node of flattenReferrers(tree.referrers)) {
    if (done.has(node.digest)) continue;
    done.add(node.digest);
    const copied = await copyArtifact(src, node.digest, dst, undefined, opts);
    result.copied += copied.copied;
    result.skipped += copied.skipped;
    result.bytes += copied.bytes;
    const fetched = await dst.fetchManifest(node.digest, { signal: opts.signal });
    result.source = await registerReferrer(dst, fetched, { signal: opts.signal });
    result.referrers.push({ digest: node.digest, artifactType: node.artifactType, subject: parentOf.get(node.digest) ?? top.descriptor.digest });
  }
  return result;
}
