import { createHash, type Hash } from 'node:crypto';
import { OmlmdError } from '../errors';

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
const ANY_DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export function isDigest(s: string): boolean {
  return DIGEST_RE.test(s);
}

/**
 * Checks a digest before it is used in a path or a URL: only sha256 is supported, and a
 * digest from a manifest is untrusted input (it becomes a file name under blobs/).
 */
export function assertDigest(s: unknown, where = 'digest'): string {
  if (typeof s === 'string' && DIGEST_RE.test(s)) return s;
  if (typeof s === 'string' && ANY_DIGEST_RE.test(s) && !s.startsWith('sha256:')) {
    throw new OmlmdError('UNSUPPORTED', `${where}: unsupported digest algorithm in ${s} (only sha256 is supported)`);
  }
  throw new OmlmdError('DIGEST_INVALID', `${where}: ${JSON.stringify(s)} is not a valid sha256 digest`);
}

export function digestHex(digest: string): string {
  return assertDigest(digest).slice('sha256:'.length);
}

export function sha256(data: Uint8Array | string): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

/** Incremental sha256 + byte count, for hashing while bytes stream. */
export class Digester {
  private readonly hash: Hash = createHash('sha256');
  size = 0;
  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
    this.size += chunk.length;
  }
  digest(): string {
    return 'sha256:' + this.hash.digest('hex');
  }
}
