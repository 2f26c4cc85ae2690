/**
 * The crawler: walks registries (their catalog, or given repositories, or given
 * references), reads the model artifacts it finds and writes their documents to an index.
 * Incremental: a tag whose digest is what the index holds is not fetched again. A missing
 * tag, a refused repository or a malformed config is reported and skipped, never fatal.
 */
import { Semaphore } from '../util/limit';
import type { OmlmdClient } from '../client';
import { OmlmdError, throwIfAborted, type ErrorCode } from '../errors';
import { sha256 } from '../oci/digest';
import { formatReference, parseReference, type Reference } from '../oci/reference';
import type { CallOptions, Repository } from '../oci/store';
import type { Descriptor } from '../oci/types';
import { fetchImageManifest } from '../transfer/resolve';
import type { WritableIndex } from './backend';
import { artifactKind, buildDocument, parseConfig, retag, type ArtifactDocument, type ArtifactKind } from './document';

/** Larger configs are not metadata; the cap keeps memory bounded whatever a registry holds. */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
const TAG_BATCH = 100;

export interface CrawlProblem {
  /** The registry, repository or reference that could not be read. */
  target: string;
  code: ErrorCode;
  message: string;
}

export type CrawlEvent =
  | { type: 'repository'; registry: string; repository: string; tags: number }
  | { type: 'indexed'; reference: string; digest: string; kind: ArtifactKind }
  | { type: 'unchanged'; reference: string }
  | { type: 'not-a-model'; reference: string; why: string }
  | { type: 'removed'; reference: string }
  | { type: 'problem'; problem: CrawlProblem };

export interface CrawlOptions extends CallOptions {
  /** Repositories to crawl on a registry target, beside (or instead of, when refused) its catalog. */
  repositories?: string[];
  /** Manifests and configs fetched at once (default 8). */
  concurrency?: number;
  /** Fetch every tag again, whatever the index holds. */
  full?: boolean;
  onEvent?: (e: CrawlEvent) => void;
}

export interface CrawlReport {
  repositories: number;
  tags: number;
  indexed: number;
  unchanged: number;
  notModels: number;
  removed: number;
  problems: CrawlProblem[];
  warnings: string[];
}

/** Where a target points: a whole store (catalog), one repository, or one reference. */
type Place = { registry: string; ref: Reference };
type Target =
  | { kind: 'catalog'; registry: string; lister: string }
  | { kind: 'repository'; place: Place; repository: string }
  | { kind: 'reference'; place: Place; repository: string; tag?: string; digest?: string };

const HOST_ONLY = /^(?:\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?)(?::[0-9]{1,5})?$/;

/**
 * `HOST[:PORT]` (the registry's catalog), `local` (the local store), `HOST/REPO` or `REPO`
 * (every tag of a repository), `oci:PATH` (every tag of a layout), or a reference with a
 * tag or digest (that artifact).
 */
export function parseCrawlTarget(t: string): Target {
  const s = t.trim().replace(/^https?:\/\//, '').replace(/\/+$/, '');
  if (s === 'local') return { kind: 'catalog', registry: 'local', lister: 'local' };
  if (!s.includes('/') && !s.startsWith('oci:') && HOST_ONLY.test(s) && (s.includes('.') || s.includes(':') || s === 'localhost' || s.startsWith('['))) {
    return { kind: 'catalog', registry: s, lister: s };
  }
  const ref = parseReference(s);
  const registry = ref.kind === 'registry' ? ref.registry : ref.kind === 'local' ? 'local' : `oci:${ref.path}`;
  const repository = ref.kind === 'layout' ? ref.path : ref.repository;
  const base: Reference = ref.kind === 'layout' ? { kind: 'layout', path: ref.path } : { ...ref, tag: undefined, digest: undefined };
  if (ref.tag === undefined && ref.digest === undefined) return { kind: 'repository', place: { registry, ref: base }, repository };
  return { kind: 'reference', place: { registry, ref: base }, repository, tag: ref.tag, digest: ref.digest };
}

function referenceFor(place: Place, tag: string | undefined, digest?: string): string {
  return formatReference({ ...place.ref, tag, digest } as Reference);
}

function placeFor(registry: string, repository: string): Place {
  if (registry === 'local') return { registry, ref: { kind: 'local', repository } };
  if (registry.startsWith('oci:')) return { registry, ref: { kind: 'layout', path: registry.slice(4) } };
  return { registry, ref: { kind: 'registry', registry, repository } };
}

/** Tags page by page where the store can list them so (a registry), else all at once. */
async function* tagPages(repo: Repository, opts: CallOptions): AsyncGenerator<string[]> {
  const paged = repo as Repository & { tagPages?: (o: CallOptions) => AsyncIterable<string[]> };
  if (typeof paged.tagPages === 'function') {
    yield* paged.tagPages(opts);
    return;
  }
  yield await repo.listTags(opts);
}

async function readConfigBytes(repo: Repository, desc: Descriptor, where: string, opts: CallOptions): Promise<Buffer> {
  if (desc.size > MAX_CONFIG_BYTES) throw new OmlmdError('INVALID_METADATA', `${where}: the config is ${desc.size} bytes, more than the ${MAX_CONFIG_BYTES} read for metadata`);
  const body = await repo.openBlob(desc, opts);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const c of body) {
      size += (c as Buffer).length;
      if (size > desc.size) break;
      chunks.push(c as Buffer);
    }
  } finally {
    body.destroy();
  }
  const bytes = Buffer.concat(chunks);
  if (bytes.length !== desc.size || sha256(bytes) !== desc.digest) {
    throw new OmlmdError('DIGEST_MISMATCH', `${where}: the config blob does not match its digest ${desc.digest}`);
  }
  return bytes;
}

export interface ReadDocumentResult {
  document?: ArtifactDocument;
  /** Why it is not indexed, when it is no model artifact. */
  notModel?: string;
  warnings: string[];
}

/**
 * Reads the document of the manifest `digest` (by digest, so a tag moving meanwhile cannot
 * mix two manifests) as it would be indexed under `tag`.
 */
export async function readDocument(repo: Repository, at: { registry: string; repository: string; tag: string; reference: string }, digest: string, opts: CallOptions = {}): Promise<ReadDocumentResult> {
  let fetched;
  try {
    fetched = await fetchImageManifest(repo, digest, opts);
  } catch (e) {
    if (OmlmdError.is(e, 'AMBIGUOUS', 'UNSUPPORTED')) return { notModel: e.message, warnings: [] };
    throw e;
  }
  return documentOf(repo, at, digest, fetched, opts);
}

/** The document of a manifest already fetched (`digest` is the top manifest's: the tag's). */
async function documentOf(repo: Repository, at: { registry: string; repository: string; tag: string; reference: string }, digest: string, fetched: Awaited<ReturnType<typeof fetchImageManifest>>, opts: CallOptions): Promise<ReadDocumentResult> {
  const m = fetched.fetched.manifest;
  const kind = artifactKind(m);
  if (!kind) return { notModel: `its config is ${m.config.mediaType}${m.artifactType ? ` and its artifactType ${m.artifactType}` : ''}`, warnings: [] };
  const bytes = await readConfigBytes(repo, m.config, at.reference, opts);
  const config = parseConfig(bytes, at.reference);
  const { document, warnings } = buildDocument({
    ...at,
    digest,
    manifestDigest: fetched.fetched.descriptor.digest,
    mediaType: (fetched.index ?? fetched.fetched).descriptor.mediaType,
    manifest: m,
    kind,
    config,
  });
  return { document, warnings };
}

/**
 * A tag the index does not know: its manifest fetched by tag at once (no HEAD first), the
 * digest taken from the bytes, so what is indexed is what those bytes say. Undefined
 * document with `digest` when the index already holds that digest (the caller retags it).
 */
async function readTag(repo: Repository, at: { registry: string; repository: string; tag: string; reference: string }, opts: CallOptions, holds: (digest: string) => Promise<ArtifactDocument | undefined>): Promise<ReadDocumentResult & { digest?: string; same?: ArtifactDocument }> {
  let fetched;
  try {
    fetched = await fetchImageManifest(repo, at.tag, opts);
  } catch (e) {
    if (OmlmdError.is(e, 'AMBIGUOUS', 'UNSUPPORTED')) return { notModel: e.message, warnings: [] };
    throw e;
  }
  const digest = (fetched.index ?? fetched.fetched).descriptor.digest;
  const same = await holds(digest);
  if (same) return { digest, same, warnings: [] };
  return { digest, ...(await documentOf(repo, at, digest, fetched, opts)) };
}

function problemOf(target: string, e: unknown): CrawlProblem {
  if (e instanceof OmlmdError) return { target, code: e.code, message: e.message };
  return { target, code: 'IO', message: (e as Error)?.message ?? String(e) };
}

/** Crawls targets into an index; returns what it did. Only cancellation ends it early. */
export async function crawlToIndex(client: OmlmdClient, index: WritableIndex, targets: readonly string[], opts: CrawlOptions = {}): Promise<CrawlReport> {
  const report: CrawlReport = { repositories: 0, tags: 0, indexed: 0, unchanged: 0, notModels: 0, removed: 0, problems: [], warnings: [] };
  const limiter = new Semaphore(Math.max(1, opts.concurrency ?? 8));
  const repoLimiter = new Semaphore(8);
  const emit = (e: CrawlEvent): void => opts.onEvent?.(e);
  const problem = (target: string, e: unknown): void => {
    if (OmlmdError.is(e, 'CANCELLED') || opts.signal?.aborted) throw e;
    const p = problemOf(target, e);
    report.problems.push(p);
    emit({ type: 'problem', problem: p });
  };
  const callOpts: CallOptions = { signal: opts.signal };

  /** One tag: a known one resolved (HEAD) and compared with the index, fetched only when it changed; a new one fetched by tag. */
  const tagJob = async (place: Place, repo: Repository, repository: string, tag: string, known: Map<string, string>, out: { docs: ArtifactDocument[]; gone: string[] }, digestHint?: string): Promise<void> => {
    // An artifact named by digest alone is indexed untagged (tag ''), under `repo@digest`.
    const reference = tag === '' ? referenceFor(place, undefined, digestHint) : referenceFor(place, tag);
    try {
      const at = { registry: place.registry, repository, tag, reference };
      const holds = async (digest: string): Promise<ArtifactDocument | undefined> => (opts.full ? undefined : index.byDigest(place.registry, repository, digest));
      let doc: ArtifactDocument | undefined;
      let digest: string;
      let res: ReadDocumentResult;
      if (digestHint === undefined && (opts.full || !known.has(tag))) {
        // Nothing to compare with: one GET by tag instead of a HEAD and a GET by digest.
        const r = await readTag(repo, at, callOpts, holds);
        if (r.same) doc = retag(r.same, tag, reference);
        digest = r.digest ?? '';
        res = r;
      } else {
        digest = digestHint ?? (await repo.resolve(tag, callOpts)).digest;
        if (!opts.full && known.get(tag) === digest) {
          report.unchanged++;
          emit({ type: 'unchanged', reference });
          return;
        }
        const same = await holds(digest);
        if (same) doc = retag(same, tag, reference);
        res = doc ? { warnings: [] } : await readDocument(repo, at, digest, callOpts);
      }
      if (!doc) {
        report.warnings.push(...res.warnings);
        if (!res.document) {
          report.notModels++;
          emit({ type: 'not-a-model', reference, why: res.notModel ?? '' });
          if (known.has(tag)) out.gone.push(tag);
          return;
        }
        doc = res.document;
      }
      out.docs.push(doc);
      report.indexed++;
      emit({ type: 'indexed', reference, digest, kind: doc.kind });
    } catch (e) {
      problem(reference, e);
    }
  };

  const flush = async (place: Place, repository: string, out: { docs: ArtifactDocument[]; gone: string[] }): Promise<void> => {
    if (out.docs.length) await index.upsert(out.docs);
    if (out.gone.length) {
      report.removed += await index.removeTags(place.registry, repository, out.gone);
      for (const t of out.gone) emit({ type: 'removed', reference: referenceFor(place, t) });
    }
    out.docs = [];
    out.gone = [];
  };

  /**
   * Every tag of a repository, page by page as the registry lists them; with the whole list
   * read, tags the index has but the registry no longer lists are removed.
   */
  const crawlRepository = async (place: Place, repository: string): Promise<void> => {
    throwIfAborted(opts.signal);
    report.repositories++;
    let repo: Repository;
    try {
      repo = await client.repository(place.ref);
    } catch (e) {
      problem(referenceFor(place, undefined), e);
      return;
    }
    const known = await index.tagDigests(place.registry, repository);
    const out = { docs: [] as ArtifactDocument[], gone: [] as string[] };
    const listed = new Set<string>();
    const pages = tagPages(repo, callOpts)[Symbol.asyncIterator]();
    let complete = true;
    for (;;) {
      let next: IteratorResult<string[]>;
      try {
        next = await pages.next();
      } catch (e) {
        complete = false;
        problem(referenceFor(place, undefined), e);
        break;
      }
      if (next.done) break;
      const fresh = next.value.filter((t) => !listed.has(t));
      for (const t of fresh) listed.add(t);
      report.tags += fresh.length;
      for (let i = 0; i < fresh.length; i += TAG_BATCH) {
        const batch = fresh.slice(i, i + TAG_BATCH);
        await Promise.all(batch.map((tag) => limiter.run(() => tagJob(place, repo, repository, tag, known, out))));
        await flush(place, repository, out);
      }
    }
    emit({ type: 'repository', registry: place.registry, repository, tags: listed.size });
    if (!complete) return;
    const stale = [...known.keys()].filter((t) => !listed.has(t));
    if (stale.length) {
      out.gone.push(...stale);
      await flush(place, repository, out);
    }
  };

  const crawlCatalog = async (t: Extract<Target, { kind: 'catalog' }>): Promise<void> => {
    const seen = new Set<string>();
    const jobs: Promise<void>[] = [];
    const start = (repository: string): void => {
      if (seen.has(repository)) return;
      seen.add(repository);
      const job = repoLimiter.run(() => crawlRepository(placeFor(t.registry, repository), repository));
      // Awaited below; when the catalog read is cancelled first, its rejection must not go unhandled.
      job.catch(() => undefined);
      jobs.push(job);
    };
    let complete = true;
    try {
      for await (const page of client.repositoryPages(t.lister, callOpts)) for (const r of page.repositories) start(r);
    } catch (e) {
      complete = false;
      problem(t.registry, e);
    }
    for (const r of opts.repositories ?? []) start(r);
    await Promise.all(jobs);
    // Only a catalog read to its end says a repository is gone.
    if (complete) {
      for (const r of await index.repositories(t.registry)) {
        if (seen.has(r)) continue;
        const n = await index.removeRepository(t.registry, r);
        report.removed += n;
        emit({ type: 'removed', reference: referenceFor(placeFor(t.registry, r), undefined) });
      }
    }
  };

  const crawlReference = async (t: Extract<Target, { kind: 'reference' }>): Promise<void> => {
    const tag = t.tag ?? '';
    const reference = referenceFor(t.place, t.tag, t.digest);
    let repo: Repository;
    try {
      repo = await client.repository(t.place.ref);
    } catch (e) {
      problem(reference, e);
      return;
    }
    report.tags++;
    const known = await index.tagDigests(t.place.registry, t.repository);
    const out = { docs: [] as ArtifactDocument[], gone: [] as string[] };
    await limiter.run(() => tagJob(t.place, repo, t.repository, tag, known, out, t.digest));
    await flush(t.place, t.repository, out);
  };

  const parsed: Target[] = [];
  for (const raw of targets) {
    try {
      parsed.push(parseCrawlTarget(raw));
    } catch (e) {
      problem(raw, e);
    }
  }
  for (const t of parsed) {
    if (t.kind === 'catalog') await crawlCatalog(t);
    else if (t.kind === 'repository') await crawlRepository(t.place, t.repository);
    else await crawlReference(t);
  }
  return report;
}

/**
 * Indexes one pushed tag (what a registry notification names), or removes its document
 * when the tag now names something that is not a model.
 */
export async function indexTag(client: OmlmdClient, index: WritableIndex, registry: string, repository: string, tag: string, digest: string, opts: CallOptions = {}): Promise<ReadDocumentResult> {
  const place = placeFor(registry, repository);
  const reference = referenceFor(place, tag);
  const repo = await client.repository(place.ref);
  const res = await readDocument(repo, { registry, repository, tag, reference }, digest, opts);
  if (res.document) await index.upsert([res.document]);
  else await index.removeTags(registry, repository, [tag]);
  return res;
}
