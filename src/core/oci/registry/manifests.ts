/**
 * Manifests and indexes: fetched as exact bytes and verified against the digest, resolved
 * with HEAD where the registry says enough, stored as given (conditionally, for the
 * referrers tag schema's read-modify-write), deleted by digest.
 */
import { OmlmdError } from '../../errors';
import { assertDigest, isDigest, sha256 } from '../digest';
import { discard, headerValue, networkError, readCapped, redactUrl, type HttpResponse } from '../http';
import { MANIFEST_ACCEPT } from '../mediatypes';
import type { CallOptions } from '../store';
import { parseManifestBytes, type Descriptor, type FetchedManifest } from '../types';
import { checkCommitted, checkReference, contentLength, manifestMediaType, MAX_MANIFEST_SIZE, type RepoContext } from './common';

const notFound = (ref: string): { code: 'MANIFEST_UNKNOWN'; problem: string } => ({ code: 'MANIFEST_UNKNOWN', problem: `manifest ${ref} not found` });

export async function fetchManifest(repo: RepoContext, reference: string, opts: CallOptions = {}): Promise<FetchedManifest> {
  const ref = checkReference(reference, 'manifest reference');
  const operation = repo.op('fetch-manifest', ref);
  const res = await repo.http.request(
    { method: 'GET', url: repo.url(`manifests/${ref}`), headers: { accept: MANIFEST_ACCEPT }, scope: repo.pull, signal: opts.signal },
    repo.ctx(operation, notFound(ref)),
  );
  const at = { url: redactUrl(res.url), operation };
  const tooLarge = (): OmlmdError => new OmlmdError('INVALID_MANIFEST', `manifest ${ref} in ${repo.description} is larger than ${MAX_MANIFEST_SIZE} bytes`, at);
  const declared = contentLength(res);
  if (declared !== undefined && declared > MAX_MANIFEST_SIZE) {
    res.body.destroy();
    throw tooLarge();
  }
  let bytes: Buffer;
  try {
    bytes = await readCapped(res.body, MAX_MANIFEST_SIZE, tooLarge);
  } catch (e) {
    throw networkError(e, operation, res.url, opts.signal);
  }
  const digest = sha256(bytes);
  if (isDigest(ref) && digest !== ref) {
    throw new OmlmdError('DIGEST_MISMATCH', `the registry sent bytes whose digest is ${digest}`, at);
  }
  const claimed = headerValue(res.headers, 'docker-content-digest');
  if (claimed !== undefined && claimed.startsWith('sha256:') && claimed !== digest) {
    throw new OmlmdError('DIGEST_MISMATCH', `the registry says its digest is ${claimed}, the bytes hash to ${digest}`, at);
  }
  return parseManifestBytes(bytes, { mediaType: manifestMediaType(res), digest, size: bytes.length }, `manifest ${ref} from ${repo.description}`);
}

export async function resolve(repo: RepoContext, reference: string, opts: CallOptions = {}): Promise<Descriptor> {
  const ref = checkReference(reference, 'manifest reference');
  const operation = repo.op('resolve', ref);
  const res = await repo.http.request(
    { method: 'HEAD', url: repo.url(`manifests/${ref}`), headers: { accept: MANIFEST_ACCEPT }, scope: repo.pull, signal: opts.signal },
    repo.ctx(operation, notFound(ref)),
  );
  await discard(res.body);
  const digest = headerValue(res.headers, 'docker-content-digest');
  const size = contentLength(res);
  const mediaType = manifestMediaType(res);
  if (digest === undefined || !isDigest(digest) || size === undefined || mediaType === '') {
    // Not every registry says it on HEAD; the bytes say it for sure.
    return (await fetchManifest(repo, ref, opts)).descriptor;
  }
  if (isDigest(ref) && digest !== ref) {
    throw new OmlmdError('DIGEST_MISMATCH', `the registry says its digest is ${digest}`, { url: redactUrl(res.url), operation });
  }
  return { mediaType, digest, size };
}

/** The largest manifest sent: distribution refuses larger ones, and omlmd reads no larger. */
const MAX_PUT_MANIFEST = 4 * 1024 * 1024;

export async function putManifest(repo: RepoContext, bytes: Buffer, mediaType: string, tag?: string, opts: CallOptions = {}): Promise<Descriptor> {
  const digest = sha256(bytes);
  const ref = tag === undefined ? digest : checkReference(tag, 'tag');
  const operation = repo.op('put-manifest', ref);
  if (bytes.length > MAX_PUT_MANIFEST) {
    throw new OmlmdError('INVALID_MANIFEST', `the manifest is ${bytes.length} bytes: registries keep manifests of at most ${MAX_PUT_MANIFEST} (distribution's limit), so it is not sent`, { operation });
  }
  const res: HttpResponse = await repo.http.request(
    { method: 'PUT', url: repo.url(`manifests/${ref}`), headers: { 'content-type': mediaType }, body: bytes, scope: repo.push, signal: opts.signal, idempotent: true },
    repo.ctx(operation, undefined, true),
  );
  await discard(res.body);
  checkCommitted(res, digest, operation);
  return { mediaType, digest, size: bytes.length };
}

/**
 * Stores manifest bytes under `tag` only if the tag still names `ifMatch` (a digest), or
 * names nothing when `ifMatch` is null: `If-Match` / `If-None-Match: *` with the digest as
 * the ETag. A registry that honours them answers 412, thrown as CONFLICT; distribution
 * ignores both, which is why callers verify after writing as well.
 */
export async function putManifestIfMatch(repo: RepoContext, bytes: Buffer, mediaType: string, tag: string, ifMatch: string | null, opts: CallOptions = {}): Promise<Descriptor> {
  const digest = sha256(bytes);
  const ref = checkReference(tag, 'tag');
  const operation = repo.op('put-manifest', ref);
  const condition: Record<string, string> = ifMatch === null ? { 'if-none-match': '*' } : { 'if-match': `"${assertDigest(ifMatch, 'expected digest')}"` };
  const res = await repo.http.request(
    { method: 'PUT', url: repo.url(`manifests/${ref}`), headers: { 'content-type': mediaType, ...condition }, body: bytes, scope: repo.push, signal: opts.signal, idempotent: true, allow: [412] },
    repo.ctx(operation, undefined, true),
  );
  await discard(res.body);
  if (res.status === 412) throw new OmlmdError('CONFLICT', 'it changed since it was read', { status: 412, url: redactUrl(res.url), operation });
  checkCommitted(res, digest, operation);
  return { mediaType, digest, size: bytes.length };
}

export async function deleteManifest(repo: RepoContext, digest: string, opts: CallOptions = {}): Promise<void> {
  assertDigest(digest, 'manifest digest');
  const operation = repo.op('delete-manifest', digest);
  try {
    const res = await repo.http.request(
      { method: 'DELETE', url: repo.url(`manifests/${digest}`), scope: repo.delete, signal: opts.signal },
      repo.ctx(operation, notFound(digest), true),
    );
    await discard(res.body);
  } catch (e) {
    if (OmlmdError.is(e) && (e.status === 405 || (e.code === 'UNSUPPORTED' && e.status !== undefined))) {
      throw new OmlmdError('UNSUPPORTED', 'the registry does not allow deletes', {
        cause: e,
        status: e.status,
        url: e.url,
        registryErrors: e.registryErrors,
        operation,
        remedies: [{ kind: 'enable-deletes', registry: repo.http.registry }],
      });
    }
    throw e;
  }
}
