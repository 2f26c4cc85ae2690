/**
 * The one place a registry request goes through: auth (challenge, token, one retry),
 * redirects, and the translation of every failure into an OmlmdError. Retries, when they
 * come, belong here too.
 */
import { Readable } from 'node:stream';
import { request, type Dispatcher } from 'undici';
import { cancelled, OmlmdError, throwIfAborted, toOmlmdError, type ErrorCode, type RegistryErrorDetail } from '../errors';
import { AuthState, type CredentialsProvider, type TokenRequest, type TokenResponse } from './auth';

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
export type ResponseHeaders = Dispatcher.ResponseData['headers'];
export type ResponseBody = Dispatcher.ResponseData['body'];

export interface HttpRequest {
  method: HttpMethod;
  url: URL;
  headers?: Record<string, string>;
  /** A stream body is given as a factory, so that it can be opened again after a 401. */
  body?: Buffer | string | (() => Promise<Readable>);
  /** The token scope the request needs (`repository:NAME:pull`); '' for none. */
  scope: string;
  signal?: AbortSignal;
  /** Statuses handed back to the caller rather than thrown (2xx always are). */
  allow?: number[];
}

export interface HttpResponse {
  status: number;
  headers: ResponseHeaders;
  body: ResponseBody;
  /** After redirects: relative `Location`s resolve against this. */
  url: URL;
}

/** Words for the message when a request fails. */
export interface RequestContext {
  /** Completes "cannot …": `fetch manifest latest from 127.0.0.1:5000/models/mnist`. */
  action: string;
  /** `host/repo`, to name the repository when the registry answers NAME_UNKNOWN. */
  target?: string;
  /** The code and message of a plain 404. */
  notFound?: { code: ErrorCode; message: string };
  /** The request writes: a 403 then means no push access. */
  write?: boolean;
}

export interface TransportOptions {
  plainHttp?: boolean;
  dispatcher?: Dispatcher;
  userAgent?: string;
  credentials?: CredentialsProvider;
}

const MAX_REDIRECTS = 5;
const MAX_ERROR_BODY = 64 * 1024;
const MAX_TOKEN_BODY = 1024 * 1024;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
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

function errnoCode(e: unknown): string {
  for (let cur: unknown = e, depth = 0; cur && depth < 4; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return '';
}

/** An error thrown by undici (connect, TLS, socket) or by a request body stream. */
export function networkError(e: unknown, action: string, url: URL, signal?: AbortSignal): OmlmdError {
  if (signal?.aborted) return cancelled(signal);
  if (e instanceof OmlmdError) return e;
  const base = toOmlmdError(e, `cannot ${action}`);
  if (base.code === 'CANCELLED') return base;
  const code = errnoCode(e);
  const message = e instanceof Error ? e.message : String(e);
  let errCode: ErrorCode = base.code;
  let hint: string | undefined;
  let text = base.message;
  if (code === 'ECONNREFUSED') {
    hint = `is the registry running at ${url.origin}?`;
  } else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    hint = `check the registry host name ${url.hostname}`;
  } else if (base.code === 'TLS' || code === 'EPROTO' || code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || /SSL|TLS|wrong version number/i.test(message)) {
    errCode = 'TLS';
    // OpenSSL's text for this one is a line of internals; say what it means.
    if (/wrong version number/i.test(message)) text = `cannot ${action}: ${url.host} did not answer in TLS (it may be a plain-HTTP registry)`;
    hint = 'pass --plain-http for a plain-HTTP registry, or --ca-file for a registry with a private certificate authority';
  } else if (code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH') {
    errCode = 'SIZE_MISMATCH';
    text = `cannot ${action}: the source did not give exactly the number of bytes it declared`;
  }
  return new OmlmdError(errCode, text, { cause: e, url: redactUrl(url), hint });
}

/**
 * The transport of one registry: its base URL, its auth state, its dispatcher. Shared by
 * every repository of the registry, so tokens and the learned auth scheme are shared too.
 */
export class RegistryHttp {
  readonly base: URL;
  private readonly auth: AuthState;
  private readonly dispatcher?: Dispatcher;
  private readonly userAgent: string;

  constructor(readonly registry: string, endpoint: string, options: TransportOptions & { plainHttp: boolean }) {
    this.base = new URL(`${options.plainHttp ? 'http' : 'https'}://${endpoint}/`);
    this.dispatcher = options.dispatcher;
    this.userAgent = options.userAgent ?? 'omlmd';
    this.auth = new AuthState(registry, options.credentials, (req) => this.fetchToken(req));
  }

  url(path: string): URL {
    return new URL(path, this.base);
  }

  /**
   * Sends a request and returns a 2xx (or allowed) response whose body the caller must
   * consume or discard. Follows redirects of GET and HEAD; authorization goes only to the
   * registry's own origin, so a redirect to a blob store (S3) carries none.
   */
  async request(req: HttpRequest, ctx: RequestContext): Promise<HttpResponse> {
    throwIfAborted(req.signal);
    let url = req.url;
    let hops = 0;
    let authRetried = false;
    for (;;) {
      const sameOrigin = url.origin === this.base.origin;
      const authorization = sameOrigin ? await this.auth.authorization(req.scope, req.signal) : undefined;
      const headers: Record<string, string> = { 'user-agent': this.userAgent, ...req.headers };
      if (authorization) headers.authorization = authorization;
      const body = typeof req.body === 'function' ? await req.body() : req.body;
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, { method: req.method, headers, body, signal: req.signal, dispatcher: this.dispatcher });
      } catch (e) {
        if (body instanceof Readable) body.destroy();
        throw networkError(e, ctx.action, url, req.signal);
      }
      const status = res.statusCode;
      if (status === 401 && sameOrigin && !authRetried) {
        authRetried = true;
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
        if (!location) throw new OmlmdError('HTTP', `cannot ${ctx.action}: the registry answered ${status} without a Location`, { status, url: redactUrl(url) });
        if (++hops > MAX_REDIRECTS) throw new OmlmdError('HTTP', `cannot ${ctx.action}: more than ${MAX_REDIRECTS} redirects`, { status, url: redactUrl(url) });
        url = new URL(location, url);
        continue;
      }
      if ((status >= 200 && status < 300) || req.allow?.includes(status)) return { status, headers: res.headers, body: res.body, url };
      if (body instanceof Readable) body.destroy();
      throw await this.responseError(res, url, req, ctx);
    }
  }

  private async responseError(res: Dispatcher.ResponseData, url: URL, req: HttpRequest, ctx: RequestContext): Promise<OmlmdError> {
    const status = res.statusCode;
    let text = '';
    if (req.method !== 'HEAD') {
      try {
        text = (await readCapped(res.body, MAX_ERROR_BODY, () => new OmlmdError('HTTP', 'error body too large'))).toString('utf8');
      } catch {
        text = '';
      }
    } else {
      await discard(res.body);
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

    let message: string;
    if (status === 404 && code === 'NAME_UNKNOWN' && ctx.target) message = `repository ${ctx.target} not found`;
    else if (status === 404 && ctx.notFound) message = ctx.notFound.message;
    else {
      const firstLine = text.trim().split('\n')[0]?.slice(0, 200) ?? '';
      const why = registryErrors.length > 0 ? describeRegistryErrors(registryErrors) : firstLine;
      message = `cannot ${ctx.action}: HTTP ${status}${why ? ` ${why}` : ''}`;
    }

    let hint: string | undefined;
    if (code === 'UNAUTHORIZED') {
      hint = (await this.auth.hasCredentials())
        ? `check the credentials for ${this.registry} (omlmd login ${this.registry})`
        : `run omlmd login ${this.registry}`;
    } else if (code === 'DENIED') {
      hint = `check that the account used for ${this.registry} may ${ctx.write ? 'push to' : 'read'} ${ctx.target ?? 'this repository'}`;
    } else if (code === 'TOOMANYREQUESTS') {
      const after = headerValue(res.headers, 'retry-after');
      hint = after && /^\d+$/.test(after) ? `the registry asks to wait ${after} s before trying again` : 'wait a while and try again';
    } else if (status === 400 && /HTTP request to an HTTPS server/i.test(text)) {
      hint = `${this.registry} speaks HTTPS: do not pass --plain-http`;
    }
    return new OmlmdError(code, message, { status, url: redactUrl(url), registryErrors, hint });
  }

  private async fetchToken(req: TokenRequest): Promise<TokenResponse> {
    const url = new URL(req.realm);
    if (req.service) url.searchParams.set('service', req.service);
    for (const s of req.scopes) url.searchParams.append('scope', s);
    const action = `get a token for ${this.registry} from ${redactUrl(new URL(url.pathname, url))}`;
    const headers: Record<string, string> = { 'user-agent': this.userAgent, accept: 'application/json' };
    if (req.authorization) headers.authorization = req.authorization;
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, { method: 'GET', headers, signal: req.signal, dispatcher: this.dispatcher });
    } catch (e) {
      throw networkError(e, action, url, req.signal);
    }
    const status = res.statusCode;
    if (status === 401 || status === 403) {
      await discard(res.body);
      const refused = req.authorization ? 'refused the credentials' : 'refused anonymous access';
      const hint = req.authorization ? `check the credentials for ${this.registry} (omlmd login ${this.registry})` : `run omlmd login ${this.registry}`;
      throw new OmlmdError('UNAUTHORIZED', `the token service of ${this.registry} ${refused}`, { status, url: redactUrl(url), hint });
    }
    if (status < 200 || status >= 300) {
      await discard(res.body);
      throw new OmlmdError('HTTP', `cannot ${action}: HTTP ${status}`, { status, url: redactUrl(url) });
    }
    let doc: unknown;
    try {
      const bytes = await readCapped(res.body, MAX_TOKEN_BODY, () => new OmlmdError('HTTP', `cannot ${action}: the answer is too large`));
      doc = JSON.parse(bytes.toString('utf8'));
    } catch (e) {
      if (e instanceof OmlmdError) throw e;
      throw new OmlmdError('HTTP', `cannot ${action}: the answer is not JSON`, { url: redactUrl(url), cause: e instanceof SyntaxError ? undefined : e });
    }
    const d = (typeof doc === 'object' && doc !== null ? doc : {}) as Record<string, unknown>;
    const token = typeof d.token === 'string' && d.token !== '' ? d.token : typeof d.access_token === 'string' ? d.access_token : '';
    if (token === '') throw new OmlmdError('HTTP', `cannot ${action}: the answer holds no token`, { url: redactUrl(url) });
    return { token, expiresIn: typeof d.expires_in === 'number' ? d.expires_in : undefined };
  }
}
