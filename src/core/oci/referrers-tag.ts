/**
 * The OCI 1.1 referrers tag schema's naming rule: where a registry has no referrers API,
 * the tag `sha256-<hex>` holds an image index of the referrers of manifest `sha256:<hex>`.
 * Such tags are bookkeeping, not versions: a tree, a tag list or a crawl leaves them out.
 */
import { digestHex } from './digest';

const TAG_RE = /^sha256-[a-f0-9]{64}$/;

/** The referrers tag schema's tag for a subject digest: `sha256:<hex>` → `sha256-<hex>`. */
export function referrersTag(subjectDigest: string): string {
  return `sha256-${digestHex(subjectDigest)}`;
}

/** Whether a tag is a referrers-index tag (`sha256-<64 hex>`), which a tree or a crawl should not show as a version. */
export function isReferrersTag(tag: string): boolean {
  return TAG_RE.test(tag);
}
