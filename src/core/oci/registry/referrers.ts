/**
 * The OCI 1.1 referrers API (`GET /v2/<name>/referrers/<digest>`), every page. Where a
 * registry has no such API, src/core/lineage falls back to the referrers tag schema.
 */
import { OmlmdError } from '../../errors';
import { assertDigest } from '../digest';
import { discard, headerValue, redactUrl } from '../http';
import { INDEX_MEDIA_TYPES } from '../mediatypes';
import type { ReferrersListing, ReferrersQuery } from '../store';
import { parseDescriptor, type Descriptor } from '../types';
import { readJson, type RepoContext } from './common';
import { linkPages } from './pagination';

/**
 * The referrers of manifest `digest` through the registry's referrers API (every page), or
 * undefined when the registry has no such API: it answers 404 there (distribution, GHCR,
 * GitLab), which a registry with the API never does. The answer itself is the probe; an
 * `OCI-Subject` header on a manifest PUT is not trusted alone. `filtered` says whether the
 * registry applied `artifactType` (`OCI-Filters-Applied`); if not, the caller filters.
 */
export async function listReferrers(repo: RepoContext, digest: string, opts: ReferrersQuery = {}): Promise<ReferrersListing | undefined> {
  assertDigest(digest, 'subject digest');
  const operation = repo.op('list-referrers', digest);
  const first = repo.url(`referrers/${digest}`);
  if (opts.artifactType !== undefined) first.searchParams.set('artifactType', opts.artifactType);
  const manifests: Descriptor[] = [];
  let filtered = opts.artifactType !== undefined;
  const pages = linkPages(
    repo.http,
    first,
    (url) => ({ method: 'GET', url, headers: { accept: INDEX_MEDIA_TYPES[0] }, scope: repo.pull, signal: opts.signal, allow: [404, 405, 501] }),
    repo.ctx(operation),
  );
  for await (const { res, index, budget } of pages) {
    if (res.status === 404 || res.status === 405 || res.status === 501) {
      await discard(res.body);
      if (index === 0) return undefined;
      throw new OmlmdError('HTTP', `page ${index + 1} answered ${res.status}`, { status: res.status, url: redactUrl(res.url), operation });
    }
    if (opts.artifactType !== undefined && !(headerValue(res.headers, 'oci-filters-applied') ?? '').split(',').map((s) => s.trim()).includes('artifactType')) filtered = false;
    const doc = await readJson(res, operation, opts.signal, budget);
    if (!Array.isArray(doc.manifests)) throw new OmlmdError('HTTP', 'the answer is not an image index', { url: redactUrl(res.url), operation });
    manifests.push(...doc.manifests.map((d, i) => parseDescriptor(d, `referrers of ${repo.description} manifests[${i}]`)));
  }
  return { manifests, filtered };
}
