/**
 * OCI 1.1 referrers: which manifests name a given manifest as their `subject`. Where the
 * registry has the referrers API it answers; everywhere else (distribution, GHCR, GitLab,
 * OCI layouts, the local store) the referrers tag schema does: the tag `sha256-<hex>` holds
 * an image index of the subject's referrers, which whoever pushes or deletes a referrer
 * read-modify-writes.
 *
 * That read-modify-write is the delicate part: distribution ignores conditional requests,
 * so two clients attaching at once could each write an index without the other's entry.
 * The guard, in order: one update at a time per subject inside a process; `If-Match` /
 * `If-None-Match` with the digest read (a registry that honours them answers 412 and we
 * start over); after the write, read the tag again and check our change is there; read it
 * once more after a short settle delay, to catch a writer whose stale write landed just
 * after our check; on any loss, start over with jittered backoff. The index is rebuilt from
 * what is read each time, so every retry merges what the others wrote.
 */
import { sleep } from '../util/abort';
import { randomInt } from 'node:crypto';
import { OmlmdError, throwIfAborted } from '../errors';
import { assertDigest } from '../oci/digest';
import { MANIFEST_MEDIA_TYPES, MediaType } from '../oci/mediatypes';
import { referrersTag } from '../oci/referrers-tag';
import { canListReferrers, canPutManifestIfMatch, type CallOptions, type ReferrersListing, type Repository } from '../oci/store';
import { parseManifestBytes, type Descriptor, type FetchedManifest, type ImageIndex } from '../oci/types';

/** How the referrers of a subject were found or recorded. */
export type ReferrersSource = 'api' | 'tag-schema';

export interface ReferrersOptions extends CallOptions {
  /** Only referrers of this artifact type. */
  artifactType?: string;
}

export interface ReferrersList {
  /** Descriptors of the referrers: mediaType, digest, size, artifactType, annotations. */
  referrers: Descriptor[];
  source: ReferrersSource;
}

export interface IndexUpdateOptions extends CallOptions {
  /** Attempts before giving up with CONFLICT (default 12). */
  attempts?: number;
  /** Extra wait before the second verification read, ms (default: twice the write's duration, at least 50). */
  settleMs?: number;
}

// The tag schema's naming rule lives with the other OCI rules; re-exported for lineage's callers.
export { isReferrersTag, referrersTag } from '../oci/referrers-tag';

/**
 * The descriptor a referrers list carries for a referrer manifest: its artifactType (or
 * config media type, as the spec says) and its annotations.
 */
export function referrerDescriptor(fetched: FetchedManifest): Descriptor {
  const d: Descriptor = { mediaType: fetched.descriptor.mediaType, digest: fetched.descriptor.digest, size: fetched.descriptor.size };
  const doc = fetched.kind === 'manifest' ? fetched.manifest : fetched.index;
  const artifactType = doc.artifactType ?? (fetched.kind === 'manifest' ? fetched.manifest.config.mediaType : undefined);
  if (artifactType) d.artifactType = artifactType;
  if (doc.annotations && Object.keys(doc.annotations).length > 0) d.annotations = { ...doc.annotations };
  return d;
}

/** The subject a manifest names, if any. */
export function subjectOf(fetched: FetchedManifest): Descriptor | undefined {
  return fetched.kind === 'manifest' ? fetched.manifest.subject : fetched.index.subject;
}

/** The store's own referrers listing, or undefined where it has none (then the tag schema answers). */
async function fromApi(repo: Repository, subjectDigest: string, opts: ReferrersOptions): Promise<ReferrersListing | undefined> {
  return canListReferrers(repo) ? await repo.listReferrers(subjectDigest, opts) : undefined;
}

/** Referrers of `subjectDigest`: from the registry's API when it has one, else from the tag schema. */
export async function listReferrers(repo: Repository, subjectDigest: string, opts: ReferrersOptions = {}): Promise<ReferrersList> {
  assertDigest(subjectDigest, 'subject digest');
  const res = await fromApi(repo, subjectDigest, opts);
  if (res) {
    const referrers = res.filtered || opts.artifactType === undefined ? res.manifests : res.manifests.filter((d) => d.artifactType === opts.artifactType);
    return { referrers, source: 'api' };
  }
  const current = await readReferrersIndex(repo, subjectDigest, opts);
  const all = current?.index.manifests ?? [];
  return { referrers: opts.artifactType === undefined ? all : all.filter((d) => d.artifactType === opts.artifactType), source: 'tag-schema' };
}

/** Whether the registry behind a repository answers the referrers API (undefined for stores that have none). */
export async function hasReferrersApi(repo: Repository, subjectDigest: string, opts: CallOptions = {}): Promise<boolean> {
  return (await fromApi(repo, subjectDigest, opts)) !== undefined;
}

/** The tag-schema index of a subject as stored (digest and parsed index), or undefined when there is none yet. */
export async function readReferrersIndex(repo: Repository, subjectDigest: string, opts: CallOptions = {}): Promise<{ digest: string; index: ImageIndex } | undefined> {
  const tag = referrersTag(subjectDigest);
  let fetched: FetchedManifest;
  try {
    fetched = await repo.fetchManifest(tag, opts);
  } catch (e) {
    if (OmlmdError.is(e, 'MANIFEST_UNKNOWN', 'NOT_FOUND', 'NAME_UNKNOWN')) return undefined;
    throw e;
  }
  if (fetched.kind !== 'index') {
    throw new OmlmdError('CONFLICT', `tag ${tag} in ${repo.description} should hold the referrers index of ${subjectDigest}, but it names a ${fetched.descriptor.mediaType} manifest`, {
      remedies: [{ kind: 'say', text: 'something else uses this tag; move it away so the referrers tag schema can work' }],
    });
  }
  return { digest: fetched.descriptor.digest, index: fetched.index };
}

/** Exact bytes of a referrers index: an OCI image index, entries in the order given. */
export function serializeReferrersIndex(manifests: Descriptor[]): Buffer {
  const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests };
  return Buffer.from(JSON.stringify(index), 'utf8');
}

// One update at a time per subject in this process: the cheap half of the guard.
const inProcess = new Map<string, Promise<unknown>>();

async function serialized<T>(key: string, job: () => Promise<T>): Promise<T> {
  const prev = inProcess.get(key) ?? Promise.resolve();
  const run = prev.catch(() => undefined).then(job);
  const tail = run.catch(() => undefined);
  inProcess.set(key, tail);
  try {
    return await run;
  } finally {
    if (inProcess.get(key) === tail) inProcess.delete(key);
  }
}


/**
 * Read-modify-write of a subject's referrers index until `holds` is true of what the tag
 * names, checked twice after our write (see the file comment). `apply` turns the entries
 * read into the entries to write; when they already satisfy `holds`, nothing is written.
 */
export async function updateReferrersIndex(
  repo: Repository,
  subjectDigest: string,
  apply: (manifests: Descriptor[]) => Descriptor[],
  holds: (manifests: Descriptor[]) => boolean,
  opts: IndexUpdateOptions = {},
): Promise<{ digest?: string; manifests: Descriptor[]; written: boolean }> {
  assertDigest(subjectDigest, 'subject digest');
  const tag = referrersTag(subjectDigest);
  const attempts = opts.attempts ?? 12;
  let conditional = canPutManifestIfMatch(repo);
  let conflicts = 0;
  return serialized(`${repo.description}|${subjectDigest}`, async () => {
    let written = false;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      throwIfAborted(opts.signal);
      const current = await readReferrersIndex(repo, subjectDigest, opts);
      const before = current?.index.manifests ?? [];
      // Nothing to change (a redelivery, a repeated attach), or a retry found our change merged by another writer.
      if (holds(before)) return { digest: current?.digest, manifests: before, written };
      const next = apply(before.map((d) => ({ ...d })));
      const bytes = serializeReferrersIndex(next);
      const started = Date.now();
      try {
        if (conditional && canPutManifestIfMatch(repo)) await repo.putManifestIfMatch(bytes, MediaType.ociIndex, tag, current?.digest ?? null, opts);
        else await repo.putManifest(bytes, MediaType.ociIndex, tag, opts);
      } catch (e) {
        if (!OmlmdError.is(e, 'CONFLICT')) throw e;
        // Someone wrote in between (start over), or the registry's ETags are not digests:
        // after three 412s stop sending conditions and rely on the checks after writing.
        if (++conflicts >= 3) conditional = false;
        await sleep(backoff(attempt), opts.signal);
        continue;
      }
      written = true;
      const took = Date.now() - started;
      const check = await readReferrersIndex(repo, subjectDigest, opts);
      if (check && holds(check.index.manifests)) {
        await sleep(opts.settleMs ?? Math.min(2000, Math.max(50, 2 * took)), opts.signal);
        const again = await readReferrersIndex(repo, subjectDigest, opts);
        if (again && holds(again.index.manifests)) return { digest: again.digest, manifests: again.index.manifests, written };
      }
      // Another writer's stale index replaced ours: merge again from what is there now.
      await sleep(backoff(attempt), opts.signal);
    }
    throw new OmlmdError('CONFLICT', `cannot update the referrers index ${tag} in ${repo.description}: it kept changing under ${attempts} attempts`, {
      remedies: [{ kind: 'say', text: 'many clients are attaching to this artifact at once; try again' }],
    });
  });
}

function backoff(attempt: number): number {
  const base = Math.min(1000, 20 * 2 ** Math.min(attempt, 6));
  return base + randomInt(0, base + 1);
}

/** Adds (or refreshes) a referrer's descriptor in the subject's tag-schema index; no duplicates. */
export async function addToReferrersIndex(repo: Repository, subjectDigest: string, referrer: Descriptor, opts: IndexUpdateOptions = {}): Promise<void> {
  const same = (d: Descriptor): boolean => d.digest === referrer.digest;
  const equal = (d: Descriptor): boolean => same(d) && JSON.stringify(d) === JSON.stringify(referrer);
  await updateReferrersIndex(
    repo,
    subjectDigest,
    (ms) => {
      const at = ms.findIndex(same);
      const rest = ms.filter((d, i) => !same(d) || i === at);
      if (at < 0) return [...rest, referrer];
      return rest.map((d) => (same(d) ? referrer : d));
    },
    (ms) => ms.filter(same).length === 1 && ms.some(equal),
    opts,
  );
}

/** Removes a referrer from the subject's tag-schema index (an empty index stays: deleting it by digest could remove other tags). */
export async function removeFromReferrersIndex(repo: Repository, subjectDigest: string, referrerDigest: string, opts: IndexUpdateOptions = {}): Promise<void> {
  await updateReferrersIndex(repo, subjectDigest, (ms) => ms.filter((d) => d.digest !== referrerDigest), (ms) => !ms.some((d) => d.digest === referrerDigest), opts);
}

export interface PushReferrerResult {
  descriptor: Descriptor;
  source: ReferrersSource;
}

/**
 * Stores a manifest whose `subject` is set (under `tag`, or by digest only) and makes it
 * discoverable: nothing more where the registry's referrers API lists it, else an entry in
 * the subject's tag-schema index.
 */
export async function pushReferrer(repo: Repository, bytes: Buffer, mediaType: string, tag: string | undefined, opts: IndexUpdateOptions = {}): Promise<PushReferrerResult> {
  const descriptor = await repo.putManifest(bytes, mediaType, tag, opts);
  const fetched = parseManifestBytes(bytes, descriptor, `manifest ${descriptor.digest}`);
  return { descriptor, source: await registerReferrer(repo, fetched, opts) };
}

/** Records an already stored manifest with its subject (the tag schema), unless the registry's API lists it. */
export async function registerReferrer(repo: Repository, fetched: FetchedManifest, opts: IndexUpdateOptions = {}): Promise<ReferrersSource> {
  const subject = subjectOf(fetched);
  if (!subject) throw new OmlmdError('USAGE', `${fetched.descriptor.digest} has no subject: it is not a referrer`);
  if (await fromApi(repo, subject.digest, opts)) return 'api';
  await addToReferrersIndex(repo, subject.digest, referrerDescriptor(fetched), opts);
  return 'tag-schema';
}

/**
 * Deletes a referrer manifest and removes it from its subject's referrers index (the API
 * keeps itself up to date). Layouts and the local store forget the manifest's entries.
 */
export async function deleteReferrer(repo: Repository, digest: string, opts: IndexUpdateOptions = {}): Promise<{ subject?: string; source: ReferrersSource }> {
  assertDigest(digest, 'referrer digest');
  const fetched = await repo.fetchManifest(digest, opts);
  const subject = subjectOf(fetched);
  await repo.deleteManifest(digest, opts);
  if (!subject) return { source: 'tag-schema' };
  if (await hasReferrersApi(repo, subject.digest, opts)) return { subject: subject.digest, source: 'api' };
  await removeFromReferrersIndex(repo, subject.digest, digest, opts);
  return { subject: subject.digest, source: 'tag-schema' };
}

/** Whether a media type is one a referrers list can name as a manifest. */
export function isManifestType(mediaType: string): boolean {
  return (MANIFEST_MEDIA_TYPES as readonly string[]).includes(mediaType) || mediaType === MediaType.ociIndex;
}
