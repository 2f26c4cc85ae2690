/**
 * The one place a registry request goes through: the transport (TLS, proxies, timeouts),
 * auth (challenge, token, retry with a fresh token), redirects, retries of idempotent
 * requests, and the translation of every failure into an OmlmdError.
 */
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { connect as tlsConnect, createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import type { Dispatcher } from 'undici';
import type * as UndiciParts from './undici';
import type { Connector } from './undici';
import { cancelled, OmlmdError, throwIfAborted, toOmlmdError, type ErrorCode, type Operation, type RegistryErrorDetail, type Remedy } from '../errors';
import { AuthState, type CredentialsProvider, type TokenRequest, type TokenResponse } from './auth';
import type { Agent } from 'node:http';
import { plainAgent, plainRequest, type PlainTransport } from './plainhttp';
import { socketGet, type BodyTarget } from './socketget';
import { DEFAULT_RETRY_POLICY, errnoCode, parseRetryAfter, rememberRetryAfter, RETRYABLE_ERRNO, RetryBudget, type RetryEvent, type RetryPolicy } from './retry';

export {
  backoffDelay, DEFAULT_RETRY_POLICY, isRetryable, parseRetryAfter, RETRYABLE_STATUS, retryAfter, RetryBudget, sleep,
  type RetryEvent, type RetryPolicy,
} from './retry';

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
export type ResponseHeaders = Dispatcher.ResponseData['headers'];
export type ResponseBody = Dispatcher.ResponseData['body'];

export interface HttpRequest {
  method: HttpMethod;
  url: URL;
  headers?: Record<string, string>;
  /** A stream body is given as a factory, so that it can be opened again after a 401 or for a retry. */
  body?: Buffer | string | (() => Promise<Readable>);
  /** The token scope the request needs (`repository:NAME:pull`); '' for none. */
  scope: string;
  signal?: AbortSignal;
  /** Statuses handed back to the caller rather than thrown (2xx always are). */
  allow?: number[];
  /**
   * Whether sending the request twice does no harm, so that a connection error or a 408,
   * 429, 5xx is retried. Default: GET and HEAD only. Uploads decide for themselves.
   */
  idempotent?: boolean;
  /**
   * The retry budget of the operation this request is a step of; its retries draw from it.
   * Absent: the request is the whole operation and gets a budget of its own.
   */
  budget?: RetryBudget;
  /**
   * A GET for many bytes that the caller would rather read into its own buffers: where the
   * transport allows (it was built here and no proxy is set), the request goes on a
   * connection of its own and a 2xx body of known length comes with `into`
   * (socketget.ts). The response is otherwise the same.
   */
  direct?: boolean;
}

export interface HttpResponse {
  status: number;
  headers: ResponseHeaders;
  body: ResponseBody;
  /** After redirects: relative `Location`s resolve against this. */
  url: URL;
  /** For a `direct` request answered on its own connection with a body of known length: reads up to `limit` bytes of the body into `target` (the kernel writes them there). */
  into?: (target: BodyTarget, limit: number) => Promise<void>;
}

/** What a request is part of, for the error when it fails. */
export interface RequestContext {
  /** The operation (its target is the registry or `host/repo`), worded at the edge as "cannot …". */
  operation: Operation;
  /** The code and problem of a plain 404. */
  notFound?: { code: ErrorCode; problem: string };
  /** The request writes: a 403 then means no push access. */
  write?: boolean;
}

export interface TlsSettings {
  /** PEM file of extra certificate authorities, trusted besides the system's. */
  caFile?: string;
  /** PEM client certificate (and chain) for registries that ask for one (mTLS). */
  certFile?: string;
  /** PEM private key of `certFile`. */
  keyFile?: string;
  /** Skip certificate verification. Unsafe; a warning goes to `onWarning`. */
  insecure?: boolean;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
export const DEFAULT_READ_TIMEOUT_MS = 300_000;

export interface TransportOptions {
  /**
   * `true`: plain HTTP, never anything else; `false`: HTTPS. `'auto'` (loopback hosts with
   * no setting): plain HTTP until the registry answers as an HTTPS server does, then HTTPS
   * for the rest of the transport's life (what Docker does for localhost registries).
   */
  plainHttp?: boolean | 'auto';
  /**
   * The transport. When absent, one is built from `tls` and the timeouts that honours
   * HTTP_PROXY, HTTPS_PROXY and NO_PROXY (undici's EnvHttpProxyAgent).
   */
  dispatcher?: Dispatcher;
  userAgent?: string;
  credentials?: CredentialsProvider;
  tls?: TlsSettings;
  /** Proxies for the dispatcher built here; by default HTTP(S)_PROXY and NO_PROXY. */
  proxy?: ProxySettings;
  /** TCP and TLS handshake; applies only to the dispatcher built here. */
  connectTimeoutMs?: number;
  /** Silence from the registry (no header, no body byte) after which a request fails. */
  readTimeoutMs?: number;
  /** Whether plain-HTTP requests may go through Node's http client (DispatcherOptions.nodeHttpClient). */
  nodeHttpClient?: boolean;
  retry?: Partial<RetryPolicy>;
  /** Things the user should know that are not errors (TLS verification off). */
  onWarning?: (message: string) => void;
  onRetry?: (e: RetryEvent) => void;
}

const MAX_REDIRECTS = 5;
const MAX_ERROR_BODY = 64 * 1024;
const MAX_TOKEN_BODY = 1024 * 1024;
/** A refused token is replaced once; a second refusal of a fresh token is the answer. */
const MAX_AUTH_RETRIES = 2;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** What Go's HTTPS server (distribution, Harbor, Zot) answers, with a 400, to a plain-HTTP request. */
const HTTPS_SERVER_ANSWER = /HTTP request to an HTTPS server/i;
const TIMEOUT_ERRNO = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);
const UNKNOWN_AUTHORITY = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'CERT_UNTRUSTED',
]);
const REGISTRY_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  'BLOB_UNKNOWN', 'BLOB_UPLOAD_INVALID', 'BLOB_UPLOAD_UNKNOWN', 'DIGEST_INVALID', 'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID', 'MANIFEST_UNKNOWN', 'NAME_INVALID', 'NAME_UNKNOWN', 'SIZE_INVALID', 'UNAUTHORIZED',
  'DENIED', 'UNSUPPORTED', 'TOOMANYREQUESTS',
]);
/** Query parameters that are safe to show; upload `_state` and anything unknown may be a capability. */
const SHOWN_QUERY_PARAMS = new Set(['n', 'last', 'digest', 'mount', 'from', 'service', 'scope']);

export function headerValue(headers: ResponseHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** A URL fit for a message or an error: no user info, no query parameters that may be secrets. */
export function redactUrl(u: URL | string): string {
  const url = new URL(u.toString());
  url.username = '';
  url.password = '';
  for (const key of [...url.searchParams.keys()]) if (!SHOWN_QUERY_PARAMS.has(key)) url.searchParams.delete(key);
  return url.toString();
}

/** Frees the connection of a response whose body is not wanted. */
export async function discard(body: ResponseBody): Promise<void> {
  try {
    await body.dump();
  } catch {
    body.destroy();
  }
}

/** Reads a whole (small) body, refusing more than `max` bytes. */
export async function readCapped(body: ResponseBody, max: number, tooLarge: () => OmlmdError): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      body.destroy();
      throw tooLarge();
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

function parseRegistryErrors(text: string): RegistryErrorDetail[] {
  try {
    const doc = JSON.parse(text) as unknown;
    if (typeof doc !== 'object' || doc === null) return [];
    const errors = (doc as { errors?: unknown }).errors;
    if (!Array.isArray(errors)) return [];
    return errors
      .filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string')
      .map((e) => ({ code: e.code as string, message: typeof e.message === 'string' ? e.message : undefined, detail: e.detail }));
  } catch {
    return [];
  }
}

function describeRegistryErrors(errors: RegistryErrorDetail[]): string {
  return errors
    .map((e) => {
      let s = e.code + (e.message ? ` ${e.message}` : '');
      if (e.detail !== undefined && e.detail !== null) {
        const d = typeof e.detail === 'string' ? e.detail : JSON.stringify(e.detail);
        if (d && d.length <= 200 && d !== '{}') s += ` (${d})`;
      }
      return s;
    })
    .join('; ');
}

function errorText(e: unknown): string {
  const parts: string[] = [];
  for (let cur: unknown = e, depth = 0; cur && depth < 5; depth++) {
    if (cur instanceof Error) parts.push(cur.message);
    cur = (cur as { cause?: unknown }).cause;
  }
  return parts.join(' | ');
}

/** An error thrown by undici (connect, TLS, socket, timeout) or by a request body stream. */
export function networkError(e: unknown, operation: Operation, url: URL, signal?: AbortSignal): OmlmdError {
  if (signal?.aborted) return cancelled(signal);
  if (e instanceof OmlmdError) return e;
  const base = toOmlmdError(e, operation);
  if (base.code === 'CANCELLED') return base;
  const code = errnoCode(e);
  const message = errorText(e);
  let errCode: ErrorCode = base.code;
  let remedies: Remedy[] = [];
  let problem = base.problem;
  const host = url.host;
  if (code === 'ECONNREFUSED') {
    errCode = 'NETWORK';
    remedies = [{ kind: 'start-registry', origin: url.origin }];
  } else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    errCode = 'NETWORK';
    remedies = [{ kind: 'check-host-name', host: url.hostname }];
  } else if (TIMEOUT_ERRNO.has(code)) {
    errCode = 'NETWORK';
    const connecting = code === 'UND_ERR_CONNECT_TIMEOUT';
    problem = `${host} ${connecting ? 'did not accept a connection' : 'stopped answering'} in time`;
    remedies = connecting ? [{ kind: 'check-network', host }] : [{ kind: 'raise-timeout', timeout: 'read', host }];
  } else if (UNKNOWN_AUTHORITY.has(code)) {
    errCode = 'TLS';
    problem = `the certificate of ${host} is signed by an unknown authority`;
    remedies = [{ kind: 'trust-ca', host }];
  } else if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    errCode = 'TLS';
    problem = `the certificate of ${host} is not valid for the name ${url.hostname}`;
    remedies = [{ kind: 'certificate-name', host, name: url.hostname }];
  } else if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    errCode = 'TLS';
    problem = `the certificate of ${host} ${code === 'CERT_HAS_EXPIRED' ? 'has expired' : 'is not valid yet'}`;
    remedies = [{ kind: 'check-clock', host }];
  } else if (/certificate required|alert bad certificate|alert handshake failure|peer did not return a certificate/i.test(message)) {
    return clientCertificateError(operation, url, e);
  } else if (base.code === 'TLS' || code === 'EPROTO' || code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || /SSL|TLS|wrong version number/i.test(message)) {
    errCode = 'TLS';
    // OpenSSL's text for this one is a line of internals; say what it means.
    if (/wrong version number/i.test(message)) problem = `${host} did not answer in TLS (it may be a plain-HTTP registry)`;
    remedies = [{ kind: 'use-plain-http', host }, { kind: 'trust-ca', host }];
  } else if (code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH') {
    errCode = 'SIZE_MISMATCH';
    problem = 'the source did not give exactly the number of bytes it declared';
  } else if (RETRYABLE_ERRNO.has(code)) {
    errCode = 'NETWORK';
    problem = `the connection to ${host} broke (${code})`;
  }
  return new OmlmdError(errCode, problem, { cause: e, url: redactUrl(url), operation, remedies });
}

/**
 * Whether an HTTPS server refuses clients without a certificate. In TLS 1.3 it says so only
 * after the handshake, and undici then reports a bare "other side closed"; a direct probe
 * that writes and reads shows the alert. Asked only after such a failure.
 */
export function demandsClientCertificate(url: URL, timeoutMs = 3000): Promise<boolean> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (v: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(v);
    };
    const socket = tlsConnect({ host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 443), servername: /^[\d.]+$|:/.test(url.hostname) ? undefined : url.hostname, rejectUnauthorized: false }, () => {
      socket.write(`HEAD /v2/ HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`);
    });
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('error', (e: NodeJS.ErrnoException) => finish(/CERTIFICATE_REQUIRED|BAD_CERTIFICATE|HANDSHAKE_FAILURE/.test(e.code ?? '')));
    socket.on('data', () => finish(false));
    socket.on('close', () => finish(false));
  });
}

function clientCertificateError(operation: Operation, url: URL, cause: unknown): OmlmdError {
  return new OmlmdError('TLS', `${url.host} refused the TLS connection: it asks for a client certificate`, {
    cause,
    url: redactUrl(url),
    operation,
    remedies: [{ kind: 'client-certificate', host: url.host }],
  });
}

// ---- the transport -------------------------------------------------------------------

/** Proxy URLs; each absent one comes from HTTP_PROXY, HTTPS_PROXY, NO_PROXY (either case). */
export interface ProxySettings {
  httpProxy?: string;
  httpsProxy?: string;
  /** Comma-separated hosts, domains (`.corp.example`) and `*`, as in NO_PROXY. */
  noProxy?: string;
}

export interface DispatcherOptions extends ProxySettings {
  tls?: TlsSettings;
  connectTimeoutMs?: number;
  readTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /**
   * Plain-HTTP requests through Node's http client (default: true; nothing to load, so a
   * command starts sooner). false: through undici, as HTTPS goes; only a large blob's GET
   * keeps its own socket. For a host that patches `node:http`: VS Code's extension host
   * wraps each request in its proxy resolver's agent, which holds the request without a
   * socket until the proxy is resolved and, for hosts other than localhost, replaces the
   * agent given (its kept-alive connections) with its own.
   */
  nodeHttpClient?: boolean;
}

/** Where distributions keep the system's trusted authorities (Node's own list is Mozilla's, built in). */
const SYSTEM_CA_FILES = [
  '/etc/ssl/certs/ca-certificates.crt', // Debian, Ubuntu, Arch, Gentoo
  '/etc/pki/tls/certs/ca-bundle.crt', // Fedora, RHEL
  '/etc/ssl/ca-bundle.pem', // openSUSE
  '/etc/ssl/cert.pem', // Alpine, macOS (the file, not the keychain)
];

async function readPem(path: string, what: string, setting: 'caFile' | 'certFile' | 'keyFile'): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    const err = toOmlmdError(e, `cannot read the ${what} ${path}`);
    throw new OmlmdError('USAGE', err.message, { cause: e, remedies: [{ kind: 'check-file', path, setting }] });
  }
}

/**
 * The certificate authorities to trust: Node's built-in list, the system's (SSL_CERT_FILE or
 * the distribution's bundle, so a company CA installed with update-ca-certificates works),
 * NODE_EXTRA_CA_CERTS, and the CA file given for the registry.
 */
async function trustedAuthorities(caFile: string | undefined, env: NodeJS.ProcessEnv): Promise<(string | Buffer)[]> {
  const cas: (string | Buffer)[] = [...rootCertificates];
  const candidates = env.SSL_CERT_FILE ? [env.SSL_CERT_FILE] : process.platform === 'win32' ? [] : SYSTEM_CA_FILES;
  for (const f of candidates) {
    try {
      cas.push(await readFile(f));
      break;
    } catch {
      // not this distribution's path
    }
  }
  if (env.NODE_EXTRA_CA_CERTS) {
    try {
      cas.push(await readFile(env.NODE_EXTRA_CA_CERTS));
    } catch {
      // Node itself warns about an unreadable NODE_EXTRA_CA_CERTS
    }
  }
  if (caFile) cas.push(await readPem(caFile, 'CA file', 'caFile'));
  return cas;
}

/**
 * The dispatcher omlmd uses when none is passed in: proxies from the environment (undici's
 * EnvHttpProxyAgent), the system's and the configured certificate authorities, a client
 * certificate, and connect/read timeouts. Exported so that a host with its own proxy
 * settings (VS Code's `http.proxy`) can build the same thing with `httpsProxy` set.
 */
export async function createDispatcher(opts: DispatcherOptions = {}): Promise<Dispatcher> {
  return (await createTransport(opts)).dispatcher();
}

/**
 * How a registry's requests go. One place decides what is trusted and how long to wait,
 * whichever way the bytes come.
 */
export interface Transport {
  /** undici's dispatcher (HTTPS, proxies), made and undici loaded at the first request that needs it. */
  dispatcher(): Promise<Dispatcher>;
  /**
   * When no proxy is set: a large blob's GET goes on a socket of its own with these settings
   * (socketget.ts), and with an `agent` the other plain-HTTP requests through Node's http
   * client (plainhttp.ts).
   */
  plain?: PlainTransport;
}

/** undici, loaded by the first request that goes its way (plainhttp.ts says why not sooner). */
const loadUndici = (): Promise<typeof UndiciParts> => import('./undici');

/** The settings a request to `url` goes out with through Node's http client (plainhttp.ts), or undefined when it goes undici's way. */
function nodeClient(transport: Transport, url: URL): (PlainTransport & { agent: Agent }) | undefined {
  const plain = transport.plain;
  return url.protocol === 'http:' && plain?.agent ? { ...plain, agent: plain.agent } : undefined;
}

export async function createTransport(opts: DispatcherOptions = {}): Promise<Transport> {
  const { make, proxied, connectTimeoutMs, readTimeoutMs } = await dispatcherMaker(opts);
  let dispatcher: Promise<Dispatcher> | undefined;
  return {
    dispatcher: () => (dispatcher ??= make()),
    // Through a proxy every byte goes the dispatcher's way.
    plain: proxied ? undefined : { connectTimeoutMs, readTimeoutMs, agent: opts.nodeHttpClient === false ? undefined : plainAgent() },
  };
}

/** How the dispatcher is made (undici loaded then), with what is checked up front checked now. */
async function dispatcherMaker(opts: DispatcherOptions): Promise<{ make: () => Promise<Dispatcher>; proxied: boolean; connectTimeoutMs: number; readTimeoutMs: number }> {
  const env = opts.env ?? process.env;
  const tls = opts.tls ?? {};
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    throw new OmlmdError('USAGE', 'a client certificate needs both a certificate file and a key file', { remedies: [{ kind: 'give-cert-and-key' }] });
  }
  const read = opts.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
  const timeout = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const httpProxy = opts.httpProxy || env.http_proxy || env.HTTP_PROXY || undefined;
  const httpsProxy = opts.httpsProxy || env.https_proxy || env.HTTPS_PROXY || undefined;
  const rejectUnauthorized = !tls.insecure;
  if (!httpProxy && !httpsProxy && tls.caFile === undefined && tls.certFile === undefined) {
    // Nothing to check up front: the TLS context (some 300 certificate authorities, 60-90 ms
    // of CPU) is built at the first HTTPS connection, so a plain-HTTP registry never pays for it.
    let context: Promise<SecureContext> | undefined;
    const secureContext = (): Promise<SecureContext> => (context ??= trustedAuthorities(undefined, env).then((ca) => createSecureContext({ ca })));
    const make = async (): Promise<Dispatcher> => {
      const { Agent, buildConnector } = await loadUndici();
      const plain = buildConnector({ timeout });
      let secure: Promise<Connector> | undefined;
      const connect: Connector = (options, callback) => {
        if (options.protocol !== 'https:') return plain(options, callback);
        secure ??= secureContext().then((sc) => buildConnector({ timeout, secureContext: sc, rejectUnauthorized }));
        secure.then(
          (c) => c(options, callback),
          (e: unknown) => callback(e instanceof Error ? e : new Error(String(e)), null),
        );
      };
      return new Agent({ connect, headersTimeout: read, bodyTimeout: read });
    };
    return { make, proxied: false, connectTimeoutMs: timeout, readTimeoutMs: read };
  }
  let secureContext: SecureContext;
  try {
    secureContext = createSecureContext({
      ca: await trustedAuthorities(tls.caFile, env),
      cert: tls.certFile ? await readPem(tls.certFile, 'client certificate', 'certFile') : undefined,
      key: tls.keyFile ? await readPem(tls.keyFile, 'client key', 'keyFile') : undefined,
    });
  } catch (e) {
    if (e instanceof OmlmdError) throw e;
    throw new OmlmdError('USAGE', `cannot use the TLS files given: ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
      remedies: [{ kind: 'say', text: 'the CA file, certificate and key must be PEM, and the key must belong to the certificate' }],
    });
  }
  const connect = { timeout, secureContext, rejectUnauthorized };
  const noProxy = opts.noProxy || env.no_proxy || env.NO_PROXY || undefined;
  const make = async (): Promise<Dispatcher> => {
    const { EnvHttpProxyAgent } = await loadUndici();
    return new EnvHttpProxyAgent({
      connect,
      // Through a proxy tunnel the registry's TLS is set up by the proxy agent with these.
      requestTls: connect,
      headersTimeout: read,
      bodyTimeout: read,
      // An empty variable means "no proxy", as curl reads it.
      httpProxy,
      httpsProxy,
      noProxy,
    });
  };
  return { make, proxied: Boolean(httpProxy || httpsProxy), connectTimeoutMs: timeout, readTimeoutMs: read };
}

/**
 * The transport of one registry: its base URL, its auth state, its dispatcher. Shared by
 * every repository of the registry, so tokens and the learned auth scheme are shared too.
 */
export class RegistryHttp {
  readonly retryPolicy: RetryPolicy;
  /** Learned from the first refused PATCH, so later blobs go straight to a monolithic PUT. */
  chunkedRefused = false;
  /** Learned from the first ranged blob GET: 206 (true) or the whole blob (false). */
  rangeHonoured?: boolean;
  private current: URL;
  /** `auto` until a loopback registry with no plainHttp setting showed which scheme it speaks. */
  private scheme: 'plain' | 'https' | 'auto';
  private readonly plainOrigin: string;
  /** Set when `auto` found an HTTPS server behind the plain-HTTP endpoint. */
  private switched = false;
  private httpsProbe?: Promise<boolean>;
  private readonly auth: AuthState;
  private transport?: Promise<Transport>;
  private readonly userAgent: string;
  private readonly readTimeoutMs?: number;
  private warned = false;

  constructor(readonly registry: string, endpoint: string, private readonly options: TransportOptions & { plainHttp: boolean | 'auto' }) {
    this.scheme = options.plainHttp === 'auto' ? 'auto' : options.plainHttp ? 'plain' : 'https';
    this.current = new URL(`${this.scheme === 'https' ? 'https' : 'http'}://${endpoint}/`);
    this.plainOrigin = new URL(`http://${endpoint}/`).origin;
    this.userAgent = options.userAgent ?? 'omlmd';
    this.readTimeoutMs = options.readTimeoutMs;
    this.retryPolicy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.auth = new AuthState(registry, options.credentials, (req) => this.fetchToken(req), () => this.base.protocol === 'https:');
  }

  /** Where requests go: `http://` or `https://` and the endpoint; changes once if a loopback registry turns out to speak HTTPS. */
  get base(): URL {
    return this.current;
  }

  url(path: string): URL {
    return new URL(path, this.current);
  }

  /** Whether the registry has asked for credentials (a 401) since this client was made. */
  get authRequested(): boolean {
    return this.auth.challenged;
  }

  /** A retry budget for one operation: every step of it draws its retries from this one. */
  budget(operation: Operation): RetryBudget {
    return new RetryBudget(this.retryPolicy, operation, this.options.onRetry);
  }

  private getTransport(): Promise<Transport> {
    if (!this.transport) {
      const o = this.options;
      if (o.tls?.insecure && this.scheme === 'https' && !o.dispatcher && !this.warned) {
        this.warned = true;
        o.onWarning?.(`TLS certificate verification is off for ${this.registry}: anyone on the network path can read and change what is sent`);
      }
      // A dispatcher given from outside is the whole transport: its proxies, its pools.
      this.transport = o.dispatcher
        ? Promise.resolve({ dispatcher: () => Promise.resolve(o.dispatcher!) })
        : createTransport({ ...o.proxy, tls: o.tls, connectTimeoutMs: o.connectTimeoutMs, readTimeoutMs: o.readTimeoutMs, nodeHttpClient: o.nodeHttpClient });
      // A bad CA path should fail every request the same way, not be cached as a rejection forever unseen.
      this.transport.catch(() => {
        this.transport = undefined;
      });
    }
    return this.transport;
  }

  /**
   * Whether a request body to `url` goes out through Node's http client here (plain HTTP,
   * a transport built here with its agent), which writes lent chunks as they are (oci/lent.ts).
   */
  async lendsBodies(url: URL): Promise<boolean> {
    return nodeClient(await this.getTransport(), this.sentTo(url)) !== undefined;
  }

  /** Where a request for `url` goes: a URL made before the registry turned out to speak HTTPS (an upload's Location) goes by HTTPS. */
  private sentTo(url: URL): URL {
    return this.switched && url.origin === this.plainOrigin ? withScheme(url, 'https:') : url;
  }

  private async send(url: URL, opts: { method: HttpMethod; headers: Record<string, string>; body?: Buffer | string | Readable; signal?: AbortSignal; direct?: boolean }): Promise<Dispatcher.ResponseData & Pick<HttpResponse, 'into'>> {
    const transport = await this.getTransport();
    const plain = transport.plain;
    // Plain HTTP only (socketget.ts and plainhttp.ts say why): HTTPS comes through undici, and
    // so does all but a large blob's GET when the transport has no agent (nodeHttpClient false).
    const directGet = plain !== undefined && url.protocol === 'http:' && opts.direct === true && opts.method === 'GET' && opts.body === undefined;
    const node = directGet ? undefined : nodeClient(transport, url);
    const res: { statusCode: number; headers: ResponseHeaders; body: Readable; into?: HttpResponse['into'] } | undefined = directGet
      ? await socketGet(url, opts.headers, plain, { signal: opts.signal })
      : node
        ? await plainRequest(url, opts, node)
        : undefined;
    // The shape of undici's answer, which the rest of this file reads.
    if (res) return { statusCode: res.statusCode, statusText: '', headers: res.headers, body: res.body as unknown as ResponseBody, into: res.into, trailers: {}, opaque: null, context: {} };
    const [dispatcher, { request }] = await Promise.all([transport.dispatcher(), loadUndici()]);
    const timeouts = this.readTimeoutMs !== undefined ? { headersTimeout: this.readTimeoutMs, bodyTimeout: this.readTimeoutMs } : {};
    // undici closes the connection after every HEAD (for servers that send a body anyway);
    // registries do not, and a crawl's HEAD per tag then paid a new connection each (about
    // a third of a re-crawl's time against distribution on loopback).
    const keep = opts.method === 'HEAD' ? { reset: false } : {};
    const { direct: _, ...rest } = opts;
    return request(url, { ...rest, ...timeouts, ...keep, dispatcher });
  }

  /**
   * Whether the plain-HTTP endpoint is in fact an HTTPS server: a GET /v2/ answered 400
   * "HTTP request to an HTTPS server". Asked once per transport, after a 400 whose body
   * cannot tell (a HEAD has none).
   */
  private speaksHttps(): Promise<boolean> {
    this.httpsProbe ??= (async () => {
      try {
        const res = await this.send(new URL('/v2/', this.plainOrigin), { method: 'GET', headers: { 'user-agent': this.userAgent }, signal: AbortSignal.timeout(10_000) });
        if (res.statusCode !== 400) {
          await discard(res.body);
          return false;
        }
        return HTTPS_SERVER_ANSWER.test(await readErrorText(res.body));
      } catch {
        this.httpsProbe = undefined;
        return false;
      }
    })();
    return this.httpsProbe;
  }

  /**
   * Sends a request and returns a 2xx (or allowed) response whose body the caller must
   * consume or discard. Idempotent requests are retried on transient failures, drawing
   * from `req.budget` (the operation's), or from a budget of their own.
   */
  async request(req: HttpRequest, ctx: RequestContext): Promise<HttpResponse> {
    const idempotent = req.idempotent ?? (req.method === 'GET' || req.method === 'HEAD');
    const budget = req.budget ?? this.budget(ctx.operation);
    for (;;) {
      try {
        return await this.requestOnce(req, ctx);
      } catch (e) {
        if (!idempotent || req.signal?.aborted || !(await budget.retry(e, req.signal))) throw e;
      }
    }
  }

  /**
   * One attempt: follows redirects of GET and HEAD; authorization goes only to the registry's
   * own origin, so a redirect to a blob store (S3) carries none.
   */
  private async requestOnce(req: HttpRequest, ctx: RequestContext): Promise<HttpResponse> {
    throwIfAborted(req.signal);
    let url = req.url;
    let hops = 0;
    let authRetries = 0;
    for (;;) {
      url = this.sentTo(url);
      const sameOrigin = url.origin === this.current.origin;
      const authorization = sameOrigin ? await this.auth.authorization(req.scope, req.signal) : undefined;
      const headers: Record<string, string> = { 'user-agent': this.userAgent, ...req.headers };
      if (authorization) headers.authorization = authorization;
      const body = typeof req.body === 'function' ? await req.body() : req.body;
      let res: Dispatcher.ResponseData & Pick<HttpResponse, 'into'>;
      try {
        res = await this.send(url, { method: req.method, headers, body, signal: req.signal, direct: req.direct });
      } catch (e) {
        if (body instanceof Readable) body.destroy();
        const err = networkError(e, ctx.operation, url, req.signal);
        const o = this.options;
        if (url.protocol === 'https:' && !o.tls?.certFile && !o.dispatcher && errnoCode(e) === 'UND_ERR_SOCKET' && (await demandsClientCertificate(url))) {
          throw clientCertificateError(ctx.operation, url, e);
        }
        throw err;
      }
      const status = res.statusCode;
      if (status === 401 && sameOrigin && authRetries < MAX_AUTH_RETRIES) {
        authRetries++;
        const challenge = res.headers['www-authenticate'];
        if (await this.auth.challenge(challenge, req.scope, authorization, req.signal)) {
          if (body instanceof Readable) body.destroy();
          await discard(res.body);
          continue;
        }
      }
      if (REDIRECTS.has(status) && (req.method === 'GET' || req.method === 'HEAD')) {
        const location = headerValue(res.headers, 'location');
        await discard(res.body);
        const at = { status, url: redactUrl(url), operation: ctx.operation };
        if (!location) throw new OmlmdError('HTTP', `the registry answered ${status} without a Location`, at);
        if (++hops > MAX_REDIRECTS) throw new OmlmdError('HTTP', `more than ${MAX_REDIRECTS} redirects`, at);
        url = new URL(location, url);
        continue;
      }
      let text: string | undefined;
      if (status === 400 && this.switched && url.origin === this.plainOrigin) {
        // Sent over plain HTTP before a request beside it found that the registry speaks HTTPS.
        await discard(res.body);
        if (body instanceof Readable) body.destroy();
        url = withScheme(url, 'https:');
        continue;
      }
      if (status === 400 && sameOrigin && url.protocol === 'http:' && this.scheme !== 'https') {
        // Plain HTTP to an HTTPS server: recognised on every request, a HEAD (no body) too.
        const allowed = req.allow?.includes(400) ?? false;
        if (!allowed && req.method !== 'HEAD') text = await readErrorText(res.body);
        if (text !== undefined ? HTTPS_SERVER_ANSWER.test(text) : await this.speaksHttps()) {
          if (text === undefined) await discard(res.body);
          if (body instanceof Readable) body.destroy();
          if (this.scheme === 'auto' || this.switched) {
            // What Docker does for a localhost registry: HTTPS from now on, for every request of
            // this client (a request beside this one may have switched while both waited).
            if (!this.switched) {
              this.scheme = 'https';
              this.switched = true;
              this.current = withScheme(this.current, 'https:');
            }
            url = withScheme(url, 'https:');
            continue;
          }
          throw this.statusError(400, 'HTTP', `HTTP 400 ${text?.trim().split('\n')[0]?.slice(0, 200) ?? ''}`.trim(), url, ctx, [{ kind: 'use-https', host: url.host }]);
        }
      }
      if ((status >= 200 && status < 300) || req.allow?.includes(status)) return { status, headers: res.headers, body: res.body, url, into: status >= 200 && status < 300 ? res.into : undefined };
      if (body instanceof Readable) body.destroy();
      throw await this.responseError(res, url, req, ctx, text);
    }
  }

  private statusError(status: number, code: ErrorCode, problem: string, url: URL, ctx: RequestContext, remedies: Remedy[], registryErrors?: RegistryErrorDetail[]): OmlmdError {
    return new OmlmdError(code, problem, { status, url: redactUrl(url), registryErrors, operation: ctx.operation, remedies });
  }

  private async responseError(res: Dispatcher.ResponseData, url: URL, req: HttpRequest, ctx: RequestContext, read?: string): Promise<OmlmdError> {
    const status = res.statusCode;
    let text = read ?? '';
    if (read === undefined) {
      if (req.method !== 'HEAD') text = await readErrorText(res.body);
      else await discard(res.body);
    }
    const registryErrors = parseRegistryErrors(text);
    const first = registryErrors[0]?.code;
    let code: ErrorCode;
    if (first !== undefined && REGISTRY_CODES.has(first)) code = first as ErrorCode;
    else if (status === 401) code = 'UNAUTHORIZED';
    else if (status === 403) code = 'DENIED';
    else if (status === 404) code = ctx.notFound?.code ?? 'NOT_FOUND';
    else if (status === 429) code = 'TOOMANYREQUESTS';
    else code = 'HTTP';

    const target = ctx.operation.target;
    const repository = target.includes('/') ? target : undefined;
    let problem: string;
    if (status === 404 && code === 'NAME_UNKNOWN' && repository) problem = `repository ${repository} not found`;
    else if (status === 404 && ctx.notFound) problem = ctx.notFound.problem;
    else {
      const firstLine = text.trim().split('\n')[0]?.slice(0, 200) ?? '';
      const why = registryErrors.length > 0 ? describeRegistryErrors(registryErrors) : firstLine;
      problem = `HTTP ${status}${why ? ` ${why}` : ''}`;
    }

    const after = parseRetryAfter(headerValue(res.headers, 'retry-after'));
    const remedies: Remedy[] = [];
    if (code === 'UNAUTHORIZED') remedies.push({ kind: 'sign-in', registry: this.registry, again: await this.auth.hasCredentials() });
    else if (code === 'DENIED') remedies.push({ kind: 'check-access', registry: this.registry, repository, write: ctx.write ?? false });
    else if (status === 429 || code === 'TOOMANYREQUESTS') remedies.push({ kind: 'wait', seconds: after !== undefined ? Math.ceil(after / 1000) : undefined });
    else if (status >= 500) remedies.push({ kind: 'try-later', registry: this.registry, status });
    else if (status === 400 && HTTPS_SERVER_ANSWER.test(text)) remedies.push({ kind: 'use-https', host: url.host });
    const err = this.statusError(status, code, problem, url, ctx, remedies, registryErrors);
    rememberRetryAfter(err, after);
    return err;
  }

  private async fetchToken(req: TokenRequest): Promise<TokenResponse> {
    const url = new URL(req.realm);
    const operation: Operation = { verb: 'get-token', target: this.registry };
    const headers: Record<string, string> = { 'user-agent': this.userAgent, accept: 'application/json' };
    let method: HttpMethod = 'GET';
    let body: string | undefined;
    if (req.refreshToken !== undefined) {
      // OAuth2 refresh-token grant (Docker's identity tokens): a form POST to the realm.
      method = 'POST';
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: req.refreshToken, client_id: 'omlmd' });
      if (req.service) form.set('service', req.service);
      if (req.scopes.length > 0) form.set('scope', req.scopes.join(' '));
      body = form.toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    } else {
      if (req.service) url.searchParams.set('service', req.service);
      for (const s of req.scopes) url.searchParams.append('scope', s);
      if (req.authorization) headers.authorization = req.authorization;
    }
    // A token is its own operation: shared by every request waiting for it, it has its own budget.
    const budget = this.budget(operation);
    for (;;) {
      try {
        return await this.fetchTokenOnce(url, method, headers, body, operation, req);
      } catch (e) {
        if (req.signal?.aborted || !(await budget.retry(e, req.signal))) throw e;
      }
    }
  }

  private async fetchTokenOnce(url: URL, method: HttpMethod, headers: Record<string, string>, body: string | undefined, operation: Operation, req: TokenRequest): Promise<TokenResponse> {
    let res: Dispatcher.ResponseData;
    try {
      res = await this.send(url, { method, headers, body, signal: req.signal });
    } catch (e) {
      throw networkError(e, operation, url, req.signal);
    }
    const status = res.statusCode;
    const withCredentials = req.authorization !== undefined || req.refreshToken !== undefined;
    const at = { url: redactUrl(url), operation };
    if (status === 401 || status === 403 || (status === 400 && req.refreshToken !== undefined)) {
      await discard(res.body);
      const refused = withCredentials ? 'refused the credentials' : 'refused anonymous access';
      throw new OmlmdError('UNAUTHORIZED', `the token service of ${this.registry} ${refused}`, { ...at, status, remedies: [{ kind: 'sign-in', registry: this.registry, again: withCredentials }] });
    }
    if (status < 200 || status >= 300) {
      await discard(res.body);
      const err = new OmlmdError('HTTP', `HTTP ${status}`, { ...at, status });
      rememberRetryAfter(err, parseRetryAfter(headerValue(res.headers, 'retry-after')));
      throw err;
    }
    let doc: unknown;
    try {
      const bytes = await readCapped(res.body, MAX_TOKEN_BODY, () => new OmlmdError('HTTP', 'the answer is too large', at));
      doc = JSON.parse(bytes.toString('utf8'));
    } catch (e) {
      if (e instanceof OmlmdError) throw e;
      if (!(e instanceof SyntaxError)) throw networkError(e, operation, url, req.signal);
      throw new OmlmdError('HTTP', 'the answer is not JSON', at);
    }
    const d = (typeof doc === 'object' && doc !== null ? doc : {}) as Record<string, unknown>;
    const token = typeof d.token === 'string' && d.token !== '' ? d.token : typeof d.access_token === 'string' ? d.access_token : '';
    if (token === '') throw new OmlmdError('HTTP', 'the answer holds no token', at);
    return {
      token,
      expiresIn: typeof d.expires_in === 'number' ? d.expires_in : undefined,
      refreshToken: typeof d.refresh_token === 'string' && d.refresh_token !== '' ? d.refresh_token : undefined,
    };
  }
}

function withScheme(u: URL, protocol: 'http:' | 'https:'): URL {
  const url = new URL(u.toString());
  url.protocol = protocol;
  return url;
}

/** The text of an error body, at most 64 KiB of it; '' when it cannot be read. */
async function readErrorText(body: ResponseBody): Promise<string> {
  try {
    return (await readCapped(body, MAX_ERROR_BODY, () => new OmlmdError('HTTP', 'error body too large'))).toString('utf8');
  } catch {
    return '';
  }
}
