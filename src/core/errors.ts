/**
 * One error family for the whole core. A caller decides what to show by `code`, never by
 * matching message text. An error is data: a code, the problem in plain words, the
 * operation it interrupted (typed, formatted at the edge) and the remedies (typed: each
 * face words them for its own users, the CLI as flags and commands, the extension as
 * settings and buttons). The core never writes a CLI flag or a VS Code setting.
 */
export type ErrorCode =
  // registry error codes (distribution-spec)
  | 'BLOB_UNKNOWN' | 'BLOB_UPLOAD_INVALID' | 'BLOB_UPLOAD_UNKNOWN' | 'DIGEST_INVALID'
  | 'MANIFEST_BLOB_UNKNOWN' | 'MANIFEST_INVALID' | 'MANIFEST_UNKNOWN' | 'NAME_INVALID'
  | 'NAME_UNKNOWN' | 'SIZE_INVALID' | 'UNAUTHORIZED' | 'DENIED' | 'UNSUPPORTED' | 'TOOMANYREQUESTS'
  // local codes
  | 'NOT_FOUND' | 'DIGEST_MISMATCH' | 'SIZE_MISMATCH' | 'INVALID_REFERENCE' | 'INVALID_METADATA' | 'INVALID_QUERY'
  | 'INVALID_MANIFEST' | 'UNSAFE_PATH' | 'NOT_A_MODEL' | 'AMBIGUOUS' | 'USAGE' | 'CONFLICT'
  | 'NETWORK' | 'TLS' | 'HTTP' | 'IO' | 'CANCELLED'
  // encrypted layers (ocicrypt)
  | 'INVALID_KEY' | 'DECRYPTION_FAILED' | 'DECRYPTION_KEY_NEEDED'
  // a model file whose header is malformed or hostile (src/core/model/headers/)
  | 'INVALID_MODEL_FILE'
  // a signature, attestation or trust policy check refused the artifact (src/core/trust/)
  | 'VERIFICATION_FAILED';

export interface RegistryErrorDetail {
  code: string;
  message?: string;
  detail?: unknown;
}

/**
 * What an error interrupted, as data. `verb` says what was being done, `target` to what
 * (a registry host, `host/repo`, a layout, a file), `ref` which tag or digest, `from` the
 * other end of a mount or copy. {@link describeOperation} words it.
 */
export interface Operation {
  verb: OperationVerb;
  target: string;
  ref?: string;
  from?: string;
}

export type OperationVerb =
  | 'ping' | 'list-repositories' | 'list-tags' | 'list-referrers' | 'get-token'
  | 'fetch-manifest' | 'resolve' | 'put-manifest' | 'delete-manifest' | 'delete-tag'
  | 'stat-blob' | 'fetch-blob' | 'push-blob' | 'mount-blob'
  | 'read-file' | 'write-file' | 'open-layout' | 'query' | 'call-server';

const VERB_TEXT: Record<OperationVerb, string> = {
  'ping': 'reach',
  'list-repositories': 'list the repositories of',
  'list-tags': 'list the tags of',
  'list-referrers': 'list the referrers in',
  'get-token': 'get a token for',
  'fetch-manifest': 'fetch manifest',
  'resolve': 'resolve',
  'put-manifest': 'push manifest',
  'delete-manifest': 'delete manifest',
  'delete-tag': 'delete tag',
  'stat-blob': 'check blob',
  'fetch-blob': 'fetch blob',
  'push-blob': 'push blob',
  'mount-blob': 'mount blob',
  'read-file': 'read',
  'write-file': 'write',
  'open-layout': 'open the layout',
  'query': 'query',
  'call-server': 'call',
};

/** `fetch manifest v1 from localhost:5000/models/mnist`: what completes "cannot …". */
export function describeOperation(op: Operation): string {
  const verb = VERB_TEXT[op.verb];
  const ref = op.ref ? ` ${op.ref.startsWith('sha256:') ? op.ref.slice(0, 19) : op.ref}` : '';
  switch (op.verb) {
    case 'fetch-manifest': case 'fetch-blob': case 'stat-blob':
      return `${verb}${ref} from ${op.target}`;
    case 'put-manifest': case 'push-blob':
      return `${verb}${ref} to ${op.target}`;
    case 'mount-blob':
      return `${verb}${ref} from ${op.from ?? 'another repository'} into ${op.target}`;
    case 'delete-manifest': case 'delete-tag': case 'resolve':
      return `${verb}${ref} in ${op.target}`;
    default:
      return `${verb} ${op.target}${ref}`;
  }
}

/**
 * What the user can do, as data. A face turns each kind into its own words: the CLI names
 * flags, commands and the config file; the extension names settings and offers buttons.
 * `say` is advice with no flag, command or setting in it, shown as it is by every face.
 */
export type Remedy =
  /** Nothing listens at `origin`: start the registry, or check host and port. */
  | { kind: 'start-registry'; origin: string }
  /** The host name does not resolve. */
  | { kind: 'check-host-name'; host: string }
  /** No connection in time: network or proxy settings, or a longer connect timeout. */
  | { kind: 'check-network'; host: string }
  /** A longer timeout (`connect` or `read`) for a slow host. */
  | { kind: 'raise-timeout'; timeout: 'connect' | 'read'; host: string }
  /** Trust the certificate authority that signed `host`'s certificate (or, unsafe, skip verification). */
  | { kind: 'trust-ca'; host: string }
  /** Use the host name the certificate was issued for. */
  | { kind: 'certificate-name'; host: string; name: string }
  /** The certificate's validity period does not include now. */
  | { kind: 'check-clock'; host: string }
  /** The registry wants a client certificate and key (mTLS). */
  | { kind: 'client-certificate'; host: string }
  /** The registry speaks plain HTTP: talk plain HTTP to it. */
  | { kind: 'use-plain-http'; host: string }
  /** The registry speaks HTTPS: stop talking plain HTTP to it (and trust its CA if private). */
  | { kind: 'use-https'; host: string }
  /** Sign in to `registry`; `again` when the credentials used were refused. */
  | { kind: 'sign-in'; registry: string; again: boolean }
  /** The account may not read (or write) the repository. */
  | { kind: 'check-access'; registry: string; repository?: string; write: boolean }
  /** The registry asked to wait (`seconds` when it said how long). */
  | { kind: 'wait'; seconds?: number }
  /** The registry is failing: try again later. */
  | { kind: 'try-later'; registry: string; status: number }
  /** A file given for a setting (`caFile`, `certFile`, `keyFile`, `config`, …) is missing or unreadable. */
  | { kind: 'check-file'; path: string; setting: FileSetting }
  /** Give both a client certificate and its key. */
  | { kind: 'give-cert-and-key' }
  /** Delete by digest instead (removes every tag on the manifest). */
  | { kind: 'delete-by-digest'; reference: string }
  /** Sign in again, e.g. because stored credentials are unreadable. */
  | { kind: 'log-in-again'; registry: string }
  /** Look at what the artifact is before using it as a model. */
  | { kind: 'inspect-artifact'; reference: string }
  /** Give the private key of one of an encrypted layer's recipients. */
  | { kind: 'give-decryption-key' }
  /** A recipient to encrypt for (a public key file or a key provider) that cannot be used: fix or drop it. */
  | { kind: 'check-encryption-recipient'; recipient: string }
  /** Pass the metadata as metadata, not as a model file. */
  | { kind: 'metadata-as-metadata' }
  /** Name a tag (not a digest) as the destination; `example` is one. */
  | { kind: 'name-a-tag'; example: string }
  /** A runnable base image, or the default one. */
  | { kind: 'choose-base-image' }
  /** Free or remove a stale lock file if no other process holds it. */
  | { kind: 'remove-stale-lock'; path: string }
  /** Give a server token (the search server answered 401). */
  | { kind: 'server-token'; server: string }
  /** The registry does not allow deletes: its operator can turn them on (distribution: `storage.delete`). */
  | { kind: 'enable-deletes'; registry: string }
  /** Nothing to push: give model files, or a `uri` in the metadata for a metadata-only artifact. */
  | { kind: 'give-files-or-uri' }
  /** Two layers land on one path: pull one of them (by its path or media type). */
  | { kind: 'pull-one-of'; paths: string[] }
  /** A link in a pushed folder leads out of it: remove it, push its target itself, or ask to follow links. */
  | { kind: 'follow-symlinks'; link: string; target: string }
  /** Plain advice, already in words every face can show. */
  | { kind: 'say'; text: string }
  /** The default base image cannot be built here: name another one. */
  | { kind: 'give-base-image' };

export type FileSetting = 'caFile' | 'certFile' | 'keyFile' | 'config' | 'metadata' | 'dockerConfig' | 'layout' | 'file';

export interface OmlmdErrorOptions {
  cause?: unknown;
  status?: number;
  url?: string;
  registryErrors?: RegistryErrorDetail[];
  /** What was being done: worded at the edge as "cannot <operation>: <problem>". */
  operation?: Operation;
  /** What the user can do about it, as data each face words. */
  remedies?: Remedy[];
}

export class OmlmdError extends Error {
  override readonly name = 'OmlmdError';
  readonly code: ErrorCode;
  /** The problem alone, without the operation: `HTTP 404 manifest unknown`. */
  readonly problem: string;
  readonly operation?: Operation;
  readonly remedies: readonly Remedy[];
  readonly status?: number;
  readonly url?: string;
  readonly registryErrors: RegistryErrorDetail[];

  /**
   * `message` is the whole sentence, `cannot <operation>: <problem>` when an operation is
   * given, so logs and library users read it as it is; faces may compose their own from
   * `operation` and `problem`.
   */
  constructor(code: ErrorCode, problem: string, options: OmlmdErrorOptions = {}) {
    super(options.operation ? `cannot ${describeOperation(options.operation)}: ${problem}` : problem, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.problem = problem;
    this.operation = options.operation;
    this.remedies = options.remedies ?? [];
    this.status = options.status;
    this.url = options.url;
    this.registryErrors = options.registryErrors ?? [];
  }

  /** The same error with other remedies (or an operation where it had none). */
  with(options: { remedies?: Remedy[]; operation?: Operation }): OmlmdError {
    return new OmlmdError(this.code, this.problem, {
      cause: this.cause, status: this.status, url: this.url, registryErrors: this.registryErrors,
      operation: this.operation ?? options.operation, remedies: options.remedies ?? [...this.remedies],
    });
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

/**
 * Turns whatever a lower layer threw into an OmlmdError, keeping the original as cause.
 * `context` is the operation (preferred) or, for local work, a phrase that begins the message.
 */
export function toOmlmdError(e: unknown, context: Operation | string): OmlmdError {
  if (e instanceof OmlmdError) return e;
  const err = e as NodeJS.ErrnoException;
  if (err?.name === 'AbortError' || err?.code === 'ABORT_ERR') return new OmlmdError('CANCELLED', 'cancelled', { cause: e });
  const code = typeof err?.code === 'string' ? err.code : '';
  const op = typeof context === 'string' ? undefined : context;
  const at = (problem: string): string => (typeof context === 'string' ? `${context}: ${problem}` : problem);
  if (code === 'ENOENT') return new OmlmdError('NOT_FOUND', at(`${err.path ?? 'file'} does not exist`), { cause: e, operation: op });
  if (code === 'EACCES' || code === 'EPERM') return new OmlmdError('IO', at(`permission denied on ${err.path ?? 'a file'}`), { cause: e, operation: op });
  if (code === 'ENOSPC') return new OmlmdError('IO', at('no space left on device'), { cause: e, operation: op });
  if (/^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EPIPE|UND_ERR_)/.test(code)) {
    return new OmlmdError('NETWORK', at(err.message || code), { cause: e, operation: op });
  }
  if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)) {
    return new OmlmdError('TLS', at(err.message || code), { cause: e, operation: op });
  }
  return new OmlmdError('IO', at(err?.message ?? String(e)), { cause: e, operation: op });
}
