/**
 * Registry authentication state: what the registry asked for (Basic or a Bearer token
 * service), the credentials, and bearer tokens cached per scope. It never sends anything
 * itself; the request wrapper in http.ts asks it for an Authorization header before a
 * request and hands it each 401 challenge. Secrets stay in here: nothing it throws or
 * returns for a message contains a password or a token.
 */

import { OmlmdError } from '../errors';

/**
 * What a registry may be sent: a user name and password (or access token used as one), a
 * registry token sent as is, or an OAuth2 refresh token (Docker's `identitytoken`) that is
 * exchanged at the token service for access tokens.
 */
export type Credentials =
  | { username: string; password: string }
  | { token: string }
  | { identityToken: string; username?: string };
export type CredentialsProvider = (registry: string) => Promise<Credentials | undefined>;

export interface Challenge {
  /** Lowercase: `basic`, `bearer`. */
  scheme: string;
  /** Lowercase parameter names. */
  params: Record<string, string>;
}

const TOKEN_CHAR = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;

/**
 * Parses `WWW-Authenticate` (RFC 9110 §11.6.1). A hand-written scanner, because a split on
 * commas breaks on `scope="repository:a:pull,push"`.
 */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  if (Array.isArray(header)) return header.flatMap((h) => parseChallenges(h));
  const out: Challenge[] = [];
  let current: Challenge | undefined;
  let i = 0;
  const s = header;
  const readToken = (): string => {
    const start = i;
    while (i < s.length && TOKEN_CHAR.test(s[i] as string)) i++;
    return s.slice(start, i);
  };
  const skipSpaces = (): void => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
  };
  while (i < s.length) {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === ',')) i++;
    if (i >= s.length) break;
    const token = readToken();
    if (token === '') {
      i++; // a stray character: skip it rather than loop forever
      continue;
    }
    skipSpaces();
    if (s[i] === '=' && current) {
      i++;
      skipSpaces();
      let value = '';
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < s.length) i++;
          value += s[i];
          i++;
        }
        i++; // closing quote
      } else {
        const start = i;
        while (i < s.length && s[i] !== ',' && s[i] !== ' ' && s[i] !== '\t') i++;
        value = s.slice(start, i);
      }
      current.params[token.toLowerCase()] = value;
    } else {
      current = { scheme: token.toLowerCase(), params: {} };
      out.push(current);
      // A token68 (`Negotiate abc==`) would read as a stray parameter of that scheme:
      // harmless, since only Basic and Bearer are used.
    }
  }
  return out;
}

export interface TokenRequest {
  realm: URL;
  service?: string;
  scopes: string[];
  /** `Basic ...` when there are credentials; absent for an anonymous token. */
  authorization?: string;
  /** An OAuth2 refresh token: the token is then fetched with a form POST (grant_type=refresh_token). */
  refreshToken?: string;
  signal?: AbortSignal;
}

export interface TokenResponse {
  token: string;
  /** Seconds. */
  expiresIn?: number;
  /** A new refresh token, when the service rotates them. */
  refreshToken?: string;
}

export type TokenFetcher = (req: TokenRequest) => Promise<TokenResponse>;

/** Docker's token spec: a token without `expires_in` lives 60 s. */
const DEFAULT_TOKEN_LIFETIME_S = 60;

interface CachedToken {
  value: string;
  expiresAt: number;
}

export class AuthState {
  private credentials?: Promise<Credentials | undefined>;
  private scheme?: 'basic' | 'bearer';
  private bearer?: { realm: URL; service?: string };
  private readonly tokens = new Map<string, CachedToken>();
  /** One token request per scope at a time: parallel blob transfers start together. */
  private readonly pending = new Map<string, Promise<string>>();
  /** A rotated refresh token replaces the one from the credentials, in memory only. */
  private refreshToken?: string;
  /** Set by the first 401: the registry wants credentials (a login check needs to know). */
  challenged = false;

  constructor(
    private readonly registry: string,
    private readonly provider: CredentialsProvider | undefined,
    private readonly fetchToken: TokenFetcher,
    /** Whether the registry is reached over HTTPS now: its token service must be too. */
    private readonly secure: () => boolean = () => false,
  ) {}

  /** Looked up once, and only when the registry asks: anonymous access needs no credential helper. */
  private creds(): Promise<Credentials | undefined> {
    if (!this.provider) return Promise.resolve(undefined);
    this.credentials ??= this.provider(this.registry);
    return this.credentials;
  }

  async hasCredentials(): Promise<boolean> {
    try {
      return (await this.creds()) !== undefined;
    } catch {
      return false;
    }
  }

  private static basic(c: { username: string; password: string }): string {
    return 'Basic ' + Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64');
  }

  /**
   * The Authorization header to send on a request to the registry's own origin, once a
   * challenge has told us the scheme; fetches a token for a new scope up front so that a
   * streamed upload is not answered 401 halfway.
   */
  async authorization(scope: string, signal?: AbortSignal): Promise<string | undefined> {
    if (this.scheme === undefined) return undefined;
    const c = await this.creds();
    // A registry token goes as is; an identity token only ever to the token service.
    if (c && 'token' in c) return `Bearer ${c.token}`;
    if (this.scheme === 'basic') return c && 'password' in c ? AuthState.basic(c) : undefined;
    return `Bearer ${await this.token(scope, [], signal)}`;
  }

  private cached(scope: string): string | undefined {
    const now = Date.now();
    // A push token also covers pulls of the same repository; never the other way round.
    for (const key of scope.endsWith(':pull') ? [scope, `${scope},push`] : [scope]) {
      const t = this.tokens.get(key);
      if (t && t.expiresAt > now) return t.value;
    }
    return undefined;
  }

  private token(scope: string, extraScopes: string[], signal?: AbortSignal): Promise<string> {
    const hit = this.cached(scope);
    if (hit !== undefined) return Promise.resolve(hit);
    const inflight = this.pending.get(scope);
    if (inflight) return inflight;
    const p = (async () => {
      const bearer = this.bearer;
      if (!bearer) throw new Error('no bearer challenge'); // unreachable: scheme is bearer only with one
      const c = await this.creds();
      const scopes = [...new Set([scope, ...extraScopes].filter((s) => s !== ''))];
      const refreshToken = c && 'identityToken' in c ? (this.refreshToken ?? c.identityToken) : undefined;
      const res = await this.fetchToken({
        realm: bearer.realm,
        service: bearer.service,
        scopes,
        authorization: c && 'password' in c ? AuthState.basic(c) : undefined,
        refreshToken,
        signal,
      });
      if (refreshToken !== undefined && res.refreshToken) this.refreshToken = res.refreshToken;
      const lifetime = res.expiresIn !== undefined && res.expiresIn > 0 ? res.expiresIn : DEFAULT_TOKEN_LIFETIME_S;
      // Renew a little early so that a request does not leave with a token about to lapse.
      this.tokens.set(scope, { value: res.token, expiresAt: Date.now() + lifetime * 900 });
      return res.token;
    })();
    this.pending.set(scope, p);
    const clear = (): void => {
      this.pending.delete(scope);
    };
    p.then(clear, clear);
    return p;
  }

  /**
   * Learns from a 401's challenge. Returns true when a retry can send something new
   * (credentials, or a fresh token), false when retrying would be answered the same way.
   */
  async challenge(header: string | string[] | undefined, scope: string, sent: string | undefined, signal?: AbortSignal): Promise<boolean> {
    this.challenged = true;
    const challenges = parseChallenges(header);
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const basic = challenges.find((c) => c.scheme === 'basic');
    const c = await this.creds();
    if (c && 'token' in c) {
      this.scheme = bearer ? 'bearer' : 'basic';
      return sent !== `Bearer ${c.token}`;
    }
    if (bearer) {
      let realm: URL;
      try {
        realm = new URL(bearer.params.realm ?? '');
      } catch {
        return false;
      }
      if (realm.protocol !== 'https:' && realm.protocol !== 'http:') return false;
      // A registry on HTTPS that names a plain-HTTP token service would have the password
      // (or refresh token) sent there in clear: a downgrade, whoever caused it.
      if (realm.protocol === 'http:' && this.secure()) {
        throw new OmlmdError('TLS', `${this.registry} is reached over HTTPS but names a token service on plain HTTP (${realm.origin}${realm.pathname}); refusing to send credentials there in clear`, {
          remedies: [{ kind: 'say', text: `ask the operator of ${this.registry} to serve its token service (auth.token.realm) over HTTPS` }],
        });
      }
      this.scheme = 'bearer';
      this.bearer = { realm, service: bearer.params.service };
      // The token we sent was refused (expired, or too narrow a scope): do not reuse it.
      for (const [key, t] of this.tokens) if (sent === `Bearer ${t.value}`) this.tokens.delete(key);
      this.tokens.delete(scope);
      const wanted = bearer.params.scope;
      await this.token(scope, wanted && wanted !== scope ? [wanted] : [], signal);
      return true;
    }
    if (basic) {
      this.scheme = 'basic';
      if (!c || !('password' in c)) return false;
      return sent !== AuthState.basic(c);
    }
    return false;
  }
}
