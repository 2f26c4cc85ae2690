/**
 * What every resource module of the registry client needs: one repository's context (its
 * transport, name, token scopes, URLs, the operation of each call) and small readers of
 * responses. The modules beside this one are functions over a RepoContext.
 */
import { OmlmdError, type ErrorCode, type Operation, type OperationVerb } from '../../errors';
import { assertDigest, isDigest } from '../digest';
import { headerValue, networkError, readCapped, redactUrl, type HttpResponse, type RegistryHttp, type RequestContext } from '../http';
import { INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES } from '../mediatypes';
import { isValidTag } from '../reference';
import { MAX_LIST_TOTAL } from './pagination';

export const DEFAULT_CHUNK_SIZE = 256 * 1024 * 1024;

/** The spec's minimum a registry must accept, with slack for registries that allow a little more. */
export const MAX_MANIFEST_SIZE = 4 * 1024 * 1024 + 256 * 1024;
const MAX_LIST_BODY = 32 * 1024 * 1024;
const KNOWN_MANIFEST_TYPES: readonly string[] = [...MANIFEST_MEDIA_TYPES, ...INDEX_MEDIA_TYPES];

/** One repository of one registry, as the resource modules see it. */
export class RepoContext {
  /** `host/name`, the target of every operation on it. */
  readonly description: string;
  readonly pull: string;
  readonly push: string;
  readonly delete: string;

  constructor(
    readonly http: RegistryHttp,
    readonly name: string,
    readonly chunkSize = DEFAULT_CHUNK_SIZE,
  ) {
    this.description = `${http.registry}/${name}`;
    this.pull = `repository:${name}:pull`;
    this.push = `repository:${name}:pull,push`;
    this.delete = `repository:${name}:delete`;
  }

  url(path: string): URL {
    return this.http.url(`/v2/${this.name}/${path}`);
  }

  op(verb: OperationVerb, ref?: string, from?: string): Operation {
    const op: Operation = { verb, target: this.description };
    if (ref !== undefined) op.ref = ref;
    if (from !== undefined) op.from = from;
    return op;
  }

  ctx(operation: Operation, notFound?: { code: ErrorCode; problem: string }, write = false): RequestContext {
    return { operation, notFound, write };
  }
}

/** A tag or digest, checked before it goes into a URL path. */
export function checkReference(reference: string, where: string): string {
  if (reference.includes(':')) return assertDigest(reference, where);
  if (!isValidTag(reference)) {
    throw new OmlmdError('INVALID_REFERENCE', `${where}: ${JSON.stringify(reference)} is neither a tag nor a sha256 digest`);
  }
  return reference;
}

export function contentLength(res: HttpResponse): number | undefined {
  const v = headerValue(res.headers, 'content-length');
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

/** The media type from Content-Type when it is a manifest type; '' lets the parser decide from the bytes. */
export function manifestMediaType(res: HttpResponse): string {
  const ct = headerValue(res.headers, 'content-type')?.split(';')[0]?.trim() ?? '';
  return KNOWN_MANIFEST_TYPES.includes(ct) ? ct : '';
}

/** A JSON object body (a list, a page of referrers), at most 32 MiB. */
export async function readJson(res: HttpResponse, operation: Operation, signal?: AbortSignal, budget?: { left: number }): Promise<Record<string, unknown>> {
  const at = { operation, url: redactUrl(res.url) };
  let bytes: Buffer;
  const cap = Math.min(MAX_LIST_BODY, budget?.left ?? MAX_LIST_BODY);
  try {
    bytes = await readCapped(res.body, cap, () => new OmlmdError('HTTP', cap < MAX_LIST_BODY ? `the list's pages hold more than ${MAX_LIST_TOTAL} bytes in all` : `the answer is larger than ${MAX_LIST_BODY} bytes`, at));
  } catch (e) {
    throw networkError(e, operation, res.url, signal);
  }
  if (budget) budget.left -= bytes.length;
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new OmlmdError('HTTP', 'the answer is not JSON', { ...at, cause: e });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new OmlmdError('HTTP', 'the answer is not a JSON object', at);
  return doc as Record<string, unknown>;
}

export function stringArray(v: unknown, operation: Operation): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw new OmlmdError('HTTP', 'expected a list of names', { operation });
  return v as string[];
}

/** The `Location` of an answer, resolved against the request (relative or absolute, with query parameters of its own: never rebuilt). */
export function location(res: HttpResponse, operation: Operation): URL {
  const loc = headerValue(res.headers, 'location');
  if (!loc) throw new OmlmdError('HTTP', `the registry answered ${res.status} without a Location`, { status: res.status, url: redactUrl(res.url), operation });
  return new URL(loc, res.url);
}

/** A registry that stored other bytes than those sent says so in Docker-Content-Digest. */
export function checkCommitted(res: HttpResponse, digest: string, operation: Operation): void {
  const got = headerValue(res.headers, 'docker-content-digest');
  if (got !== undefined && isDigest(got) && got !== digest) {
    throw new OmlmdError('DIGEST_MISMATCH', `the registry stored ${got} instead of ${digest}`, { status: res.status, url: redactUrl(res.url), operation });
  }
}
