/**
 * One error family for the whole core. A caller decides what to show by `code`, never by
 * matching message text. Messages name the problem and, where there is one, the fix.
 */
export type ErrorCode =
  // registry error codes (distribution-spec)
  | 'BLOB_UNKNOWN' | 'BLOB_UPLOAD_INVALID' | 'BLOB_UPLOAD_UNKNOWN' | 'DIGEST_INVALID'
  | 'MANIFEST_BLOB_UNKNOWN' | 'MANIFEST_INVALID' | 'MANIFEST_UNKNOWN' | 'NAME_INVALID'
  | 'NAME_UNKNOWN' | 'SIZE_INVALID' | 'UNAUTHORIZED' | 'DENIED' | 'UNSUPPORTED' | 'TOOMANYREQUESTS'
  // local codes
  | 'NOT_FOUND' | 'DIGEST_MISMATCH' | 'SIZE_MISMATCH' | 'INVALID_REFERENCE' | 'INVALID_METADATA' | 'INVALID_QUERY'
  | 'INVALID_MANIFEST' | 'UNSAFE_PATH' | 'NOT_A_MODEL' | 'AMBIGUOUS' | 'USAGE' | 'CONFLICT'
  | 'NETWORK' | 'TLS' | 'HTTP' | 'IO' | 'CANCELLED';

export interface RegistryErrorDetail {
  code: string;
  message?: string;
  detail?: unknown;
}

export interface OmlmdErrorOptions {
  cause?: unknown;
  status?: number;
  url?: string;
  registryErrors?: RegistryErrorDetail[];
  /** What the user can do about it; shown after the message. */
  hint?: string;
}

export class OmlmdError extends Error {
  override readonly name = 'OmlmdError';
  readonly code: ErrorCode;
  readonly status?: number;
  readonly url?: string;
  readonly registryErrors: RegistryErrorDetail[];
  readonly hint?: string;

  constructor(code: ErrorCode, message: string, options: OmlmdErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status;
    this.url = options.url;
    this.registryErrors = options.registryErrors ?? [];
    this.hint = options.hint;
  }

  static is(e: unknown, ...codes: ErrorCode[]): e is OmlmdError {
    return e instanceof OmlmdError && (codes.length === 0 || codes.includes(e.code));
  }
}

/** The error an aborted operation ends with, whatever it was doing. */
export function cancelled(signal?: AbortSignal): OmlmdError {
  return new OmlmdError('CANCELLED', 'cancelled', { cause: signal?.reason });
}

export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw cancelled(signal);
}

/** Turns whatever a lower layer threw into an OmlmdError, keeping the original as cause. */
export function toOmlmdError(e: unknown, context: string): OmlmdError {
  if (e instanceof OmlmdError) return e;
  const err = e as NodeJS.ErrnoException;
  if (err?.name === 'AbortError' || err?.code === 'ABORT_ERR') return new OmlmdError('CANCELLED', 'cancelled', { cause: e });
  const code = typeof err?.code === 'string' ? err.code : '';
  if (code === 'ENOENT') return new OmlmdError('NOT_FOUND', `${context}: ${err.path ?? 'file'} does not exist`, { cause: e });
  if (code === 'EACCES' || code === 'EPERM') return new OmlmdError('IO', `${context}: permission denied on ${err.path ?? 'a file'}`, { cause: e });
  if (code === 'ENOSPC') return new OmlmdError('IO', `${context}: no space left on device`, { cause: e });
  if (/^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EPIPE|UND_ERR_)/.test(code)) {
    return new OmlmdError('NETWORK', `${context}: ${err.message || code}`, { cause: e });
  }
  if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)) {
    return new OmlmdError('TLS', `${context}: ${err.message || code}`, { cause: e });
  }
  return new OmlmdError('IO', `${context}: ${err?.message ?? String(e)}`, { cause: e });
}
