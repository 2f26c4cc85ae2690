import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey, randomBytes, sign } from 'node:crypto';
import { openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { connect as netConnect, createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { tempDir } from './tmp';

const REGISTRY_BIN = '/usr/bin/docker-registry';
const START_TIMEOUT_MS = 15_000;

export interface RunningRegistry {
  /** `127.0.0.1:PORT` */
  host: string;
  /** The temp dir holding config, storage and log. */
  root: string;
  /** The registry's process id (the benchmark reads its CPU time). */
  pid?: number;
  stop(): Promise<void>;
}

export interface RegistryAuthOptions {
  /** Serve HTTPS with this certificate and key (PEM paths); `clientCas` makes it demand a client certificate. */
  tls?: { cert: string; key: string; clientCas?: string[] };
  /** An htpasswd file (bcrypt): Basic auth. */
  htpasswd?: string;
  /** Bearer tokens from a token server: `rootcertbundle` holds the certificate of the key that signs them. */
  token?: { realm: string; service: string; issuer: string; rootCertBundle: string };
}

// Registries still running when the test process exits (a failed `after` hook, a crash)
// would otherwise outlive it and keep their ports.
const running = new Map<ChildProcess, string>();
function killAll(): void {
  for (const [child, root] of running) {
    child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
  running.clear();
}
process.on('exit', killAll);
// 'exit' does not fire when a signal ends the process; kill the registries, then let the
// signal do what it would have done (unless someone else, like the test runner, handles it).
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    killAll();
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function readLog(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '(no log)';
  }
}

/** Starts the real registry binary on a loopback port with storage in a fresh temp dir. */
/** A notifications endpoint: the registry POSTs its events (push, pull, delete) there. */
export interface RegistryNotifications {
  url: string;
  /** Headers on every delivery, e.g. `{ Authorization: ['Bearer TOKEN'] }`. */
  headers?: Record<string, string[]>;
}

export async function startRegistry(opts: { deleteEnabled?: boolean; notifications?: RegistryNotifications } & RegistryAuthOptions = {}): Promise<RunningRegistry> {
  const root = tempDir('omlmd-registry-');
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const config = join(root, 'config.yml');
  const logPath = join(root, 'registry.log');
  await writeFile(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(root, 'data')}`,
      '  delete:',
      `    enabled: ${opts.deleteEnabled ?? true}`,
      'http:',
      `  addr: ${host}`,
      ...(opts.tls
        ? ['  tls:', `    certificate: ${opts.tls.cert}`, `    key: ${opts.tls.key}`, ...(opts.tls.clientCas ? ['    clientcas:', ...opts.tls.clientCas.map((c) => `      - ${c}`)] : [])]
        : []),
      ...(opts.htpasswd ? ['auth:', '  htpasswd:', '    realm: omlmd-test', `    path: ${opts.htpasswd}`] : []),
      ...(opts.token
        ? ['auth:', '  token:', `    realm: ${opts.token.realm}`, `    service: ${opts.token.service}`, `    issuer: ${opts.token.issuer}`, `    rootcertbundle: ${opts.token.rootCertBundle}`]
        : []),
      ...(opts.notifications
        ? [
          'notifications:',
          '  endpoints:',
          '    - name: omlmd-test',
          `      url: ${opts.notifications.url}`,
          ...(opts.notifications.headers ? ['      headers:', ...Object.entries(opts.notifications.headers).map(([k, v]) => `        ${k}: ${JSON.stringify(v)}`)] : []),
          '      timeout: 5s',
          '      threshold: 3',
          '      backoff: 200ms',
        ]
        : []),
      '',
    ].join('\n'),
  );

  const logFd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(REGISTRY_BIN, ['serve', config], { stdio: ['ignore', logFd, logFd] });
  } finally {
    closeSync(logFd);
  }
  running.set(child, root);
  let exited = false;
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      running.delete(child);
      resolve();
    });
    // A spawn failure (binary missing) emits 'error' and maybe no 'exit'.
    child.once('error', () => {
      exited = true;
      running.delete(child);
      resolve();
    });
  });

  const stop = async (): Promise<void> => {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exitedPromise;
      clearTimeout(timer);
    }
    await rm(root, { recursive: true, force: true });
  };

  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (exited) {
      const log = readLog(logPath);
      await stop();
      throw new Error(`docker-registry exited before answering on ${host}; log:\n${log}`);
    }
    if (opts.tls) {
      // A TLS registry (maybe demanding a client certificate) is ready once it listens.
      if (await listening(port)) break;
    } else {
      try {
        const res = await request(`http://${host}/v2/`, { signal: AbortSignal.timeout(1000) });
        await res.body.dump();
        if (res.statusCode === 200 || res.statusCode === 401) break;
      } catch {
        // not listening yet
      }
    }
    if (Date.now() > deadline) {
      const log = readLog(logPath);
      await stop();
      throw new Error(`docker-registry did not answer GET /v2/ on ${host} within ${START_TIMEOUT_MS / 1000} s; log:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { host, root, stop, pid: child.pid };
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = netConnect(port, '127.0.0.1');
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

// ---- certificates ---------------------------------------------------------------------

const exec = promisify(execFile);

export interface Pki {
  dir: string;
  /** The test CA: it signs the server and client certificates. */
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A self-signed certificate and key that sign tokens (distribution's rootcertbundle). */
  tokenCert: string;
  tokenKey: string;
  /** Another CA, which signed nothing here. */
  otherCaCert: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  await exec('openssl', args, { cwd });
}

/** A CA, a server certificate for 127.0.0.1 and localhost, a client certificate, and a token-signing pair, made with openssl. */
export async function makePki(): Promise<Pki> {
  const dir = tempDir('omlmd-pki-');
  const p = (f: string): string => join(dir, f);
  const ca = ['-newkey', 'rsa:2048', '-nodes', '-x509', '-days', '2', '-sha256'];
  await openssl(['req', ...ca, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=omlmd test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  await openssl(['req', ...ca, '-keyout', 'other-ca.key', '-out', 'other-ca.crt', '-subj', '/CN=some other CA', '-addext', 'basicConstraints=critical,CA:TRUE'], dir);
  await writeFile(p('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n');
  await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1'], dir);
  await openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-sha256', '-extfile', 'server.ext'], dir);
  await writeFile(p('client.ext'), 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n');
  await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=omlmd test client'], dir);
  await openssl(['x509', '-req', '-in', 'client.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.crt', '-days', '2', '-sha256', '-extfile', 'client.ext'], dir);
  await openssl(['req', ...ca, '-keyout', 'token.key', '-out', 'token.crt', '-subj', '/CN=omlmd test token signer'], dir);
  return {
    dir,
    caCert: p('ca.crt'),
    serverCert: p('server.crt'),
    serverKey: p('server.key'),
    clientCert: p('client.crt'),
    clientKey: p('client.key'),
    tokenCert: p('token.crt'),
    tokenKey: p('token.key'),
    otherCaCert: p('other-ca.crt'),
  };
}

/** An htpasswd file with bcrypt hashes (the only kind distribution accepts), made by `htpasswd -B`. */
export async function makeHtpasswd(path: string, users: Record<string, string>): Promise<string> {
  const lines: string[] = [];
  // Cost 4, the least: the registry checks the hash on every request.
  for (const [u, pw] of Object.entries(users)) lines.push((await exec('htpasswd', ['-Bbn', '-C', '4', u, pw])).stdout.trim());
  await writeFile(path, lines.join('\n') + '\n');
  return path;
}

// ---- a token server (distribution's token auth spec) -------------------------------------

export interface TokenLog {
  method: string;
  /** The user the request authenticated as; undefined for anonymous. */
  user?: string;
  scopes: string[];
  service: string | null;
  grant?: string;
  /** The access granted, `repository:NAME:ACTIONS`. */
  granted: string[];
}

export interface TokenServer {
  /** The realm: `http://127.0.0.1:PORT/token`. */
  realm: string;
  service: string;
  issuer: string;
  log: TokenLog[];
  /** Seconds the answer says a token lives (expires_in); the JWT's exp follows it. */
  expiresIn: number;
  /** The next this-many tokens carry an `exp` long past, while the answer still says they are fresh. */
  staleTokens: number;
  /** Refresh tokens (OAuth2, Docker's identity tokens) and their users. */
  refreshTokens: Map<string, string>;
  close(): Promise<void>;
}

function b64url(b: Buffer | string): string {
  return Buffer.from(b).toString('base64url');
}

/**
 * A token server as the distribution token spec describes: GET with Basic credentials (or
 * none), `service` and `scope`s; or an OAuth2 POST with a refresh token. It answers a JWT
 * signed RS256 whose header carries the signing certificate (`x5c`), which distribution 2.8
 * checks against its `rootcertbundle`. Named users get what they ask for; anonymous users
 * may only pull when `anonymousPull`.
 */
export async function startTokenServer(opts: { users: Record<string, string>; certPath: string; keyPath: string; anonymousPull?: boolean; service?: string; issuer?: string }): Promise<TokenServer> {
  const key = createPrivateKey(await readFile(opts.keyPath));
  const certDer = (await readFile(opts.certPath, 'utf8')).replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, '');
  const service = opts.service ?? 'omlmd-test-registry';
  const issuer = opts.issuer ?? 'omlmd-test-issuer';

  const grant = (user: string | undefined, scopes: string[]): { type: string; name: string; actions: string[] }[] => {
    const out: { type: string; name: string; actions: string[] }[] = [];
    for (const scope of scopes) {
      const parts = scope.split(':');
      if (parts.length < 3) continue;
      const type = parts[0] as string;
      const actions = (parts.pop() as string).split(',').filter(Boolean);
      const name = parts.slice(1).join(':');
      const allowed = user !== undefined ? actions : opts.anonymousPull ? actions.filter((a) => a === 'pull') : [];
      out.push({ type, name, actions: allowed });
    }
    return out;
  };

  const issue = (user: string | undefined, scopes: string[]): { token: string; granted: string[] } => {
    const now = Math.floor(Date.now() / 1000);
    const stale = server.staleTokens > 0;
    if (stale) server.staleTokens--;
    const access = grant(user, scopes);
    const header = { typ: 'JWT', alg: 'RS256', x5c: [certDer] };
    const claims = {
      iss: issuer,
      sub: user ?? '',
      aud: service,
      // distribution allows 60 s of clock skew: a stale token is an hour old.
      exp: stale ? now - 3600 : now + server.expiresIn,
      nbf: stale ? now - 7200 : now - 10,
      iat: stale ? now - 7200 : now,
      jti: randomBytes(8).toString('hex'),
      access,
    };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = sign('sha256', Buffer.from(signingInput), key);
    return { token: `${signingInput}.${b64url(signature)}`, granted: access.map((a) => `${a.type}:${a.name}:${a.actions.join(',')}`) };
  };

  const readBody = async (req: IncomingMessage): Promise<string> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  };

  const http = createHttpServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://token');
      const send = (status: number, doc: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(doc));
      };
      if (url.pathname !== '/token') return send(404, { error: 'not found' });
      if (req.method === 'POST') {
        const form = new URLSearchParams(await readBody(req));
        const scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
        const user = server.refreshTokens.get(form.get('refresh_token') ?? '');
        if (form.get('grant_type') !== 'refresh_token' || user === undefined) {
          server.log.push({ method: 'POST', scopes, service: form.get('service'), grant: form.get('grant_type') ?? undefined, granted: [] });
          return send(400, { error: 'invalid_grant' });
        }
        const { token, granted } = issue(user, scopes);
        server.log.push({ method: 'POST', user, scopes, service: form.get('service'), grant: 'refresh_token', granted });
        return send(200, { access_token: token, expires_in: server.expiresIn, scope: scopes.join(' ') });
      }
      const scopes = url.searchParams.getAll('scope');
      let user: string | undefined;
      const auth = req.headers.authorization;
      if (auth !== undefined) {
        const decoded = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString('utf8') : '';
        const colon = decoded.indexOf(':');
        const u = decoded.slice(0, colon);
        if (colon <= 0 || opts.users[u] !== decoded.slice(colon + 1)) {
          server.log.push({ method: 'GET', scopes, service: url.searchParams.get('service'), granted: [] });
          return send(401, { details: 'incorrect username or password' });
        }
        user = u;
      }
      const { token, granted } = issue(user, scopes);
      server.log.push({ method: 'GET', user, scopes, service: url.searchParams.get('service'), granted });
      send(200, { token, access_token: token, expires_in: server.expiresIn, issued_at: new Date().toISOString() });
    })().catch((e: unknown) => res.writeHead(500).end(String(e)));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const addr = http.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const server: TokenServer = {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    log: [],
    expiresIn: 300,
    staleTokens: 0,
    refreshTokens: new Map(),
    close: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
  return server;
}
