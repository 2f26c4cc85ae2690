/**
 * Discover: the referrers of an artifact, filtered by artifact type, and recursively the
 * referrers of those (a model → its ModelCar image → that image's SBOM), as a tree.
 */
import { OmlmdError, throwIfAborted } from '../errors';
import type { CallOptions, Repository } from '../oci/store';
import type { Annotations, Descriptor } from '../oci/types';
import { listReferrers, type ReferrersSource } from './referrers';

export interface ReferrerNode {
  digest: string;
  mediaType: string;
  size: number;
  artifactType?: string;
  annotations?: Annotations;
  /** Its own referrers, when discovered recursively. */
  referrers: ReferrerNode[];
}

export interface DiscoverOptions extends CallOptions {
  /** Only referrers of this type (at the first level; their own referrers are all listed). */
  artifactType?: string;
  /** Also the referrers of the referrers, down to `depth` levels (default 1: just the subject's). */
  depth?: number;
}

export interface DiscoverResult {
  subject: Descriptor;
  source: ReferrersSource;
  referrers: ReferrerNode[];
}

export const MAX_DEPTH = 16;

/** The referrers of `subject` in `repo`, as a tree `depth` levels deep. */
export async function discoverReferrers(repo: Repository, subject: Descriptor, opts: DiscoverOptions = {}): Promise<DiscoverResult> {
  const depth = opts.depth ?? 1;
  if (!Number.isInteger(depth) || depth < 1 || depth > MAX_DEPTH) throw new OmlmdError('USAGE', `depth must be a whole number from 1 to ${MAX_DEPTH}, got ${depth}`);
  const seen = new Set<string>([subject.digest]);
  const first = await listReferrers(repo, subject.digest, { signal: opts.signal, artifactType: opts.artifactType });
  const walk = async (list: Descriptor[], level: number): Promise<ReferrerNode[]> => {
    const out: ReferrerNode[] = [];
    for (const d of list) {
      throwIfAborted(opts.signal);
      const node: ReferrerNode = { digest: d.digest, mediaType: d.mediaType, size: d.size, referrers: [] };
      if (d.artifactType) node.artifactType = d.artifactType;
      if (d.annotations) node.annotations = d.annotations;
      // A cycle cannot be built with digests, but a hostile index can claim one.
      if (level < depth && !seen.has(d.digest)) {
        seen.add(d.digest);
        node.referrers = await walk((await listReferrers(repo, d.digest, { signal: opts.signal })).referrers, level + 1);
      }
      out.push(node);
    }
    return out;
  };
  return { subject, source: first.source, referrers: await walk(first.referrers, 1) };
}

/** Every node of a referrer tree, parents before children. */
export function flattenReferrers(nodes: ReferrerNode[]): ReferrerNode[] {
  const out: ReferrerNode[] = [];
  const visit = (ns: ReferrerNode[]): void => {
    for (const n of ns) {
      out.push(n);
      visit(n.referrers);
    }
  };
  visit(nodes);
  return out;
}
