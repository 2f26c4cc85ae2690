/**
 * Docker's `config.json` and containers' `auth.json`: the files `docker login`, `podman
 * login`, `oras login` and `omlmd login` write. Same shape: `auths.<host>` with a base64
 * `auth` (user:password) or an `identitytoken`, and `credsStore` / `credHelpers.<host>`
 * naming a helper that keeps the secret instead.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { OmlmdError } from '../errors';
import type { Credentials } from '../oci/auth';
import { writeFileAtomic } from '../util/atomic';
import { isDockerHub, normalizeHost } from '../util/host';
import { helperErase, helperGet, helperProgram, helperStore } from './helpers';

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
}

export interface AuthFile {
  auths?: Record<string, AuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [other: string]: unknown;
}

/** The key Docker uses for Docker Hub, in files and in helpers. */
const DOCKER_HUB_SERVER = 'https://index.docker.io/v1/';

/** `https://index.docker.io/v1/` → `docker.io`, `https://Quay.io` → `quay.io`: how keys are compared (util/host's normaliser). */
export function registryKey(key: string): string {
  return normalizeHost(key);
}

/** The server URL a helper and a config file know a registry by. */
export function serverUrl(registry: string): string {
  return isDockerHub(registry) ? DOCKER_HUB_SERVER : normalizeHost(registry);
}

/** `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker'), 'config.json');
}

/** containers' auth files, in the order podman and skopeo read them. */
export function containersAuthPaths(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.REGISTRY_AUTH_FILE) return [env.REGISTRY_AUTH_FILE];
  const paths: string[] = [];
  if (env.XDG_RUNTIME_DIR) paths.push(join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  paths.push(join(env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config'), 'containers', 'auth.json'));
  return paths;
}

/** Reads an auth file; a missing one is empty. A broken one is an error naming it (and never quoting it). */
export async function readAuthFile(path: string): Promise<AuthFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return {};
    throw new OmlmdError('IO', `cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  if (text.trim() === '') return {};
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new OmlmdError('USAGE', `${path} is not valid JSON`, { remedies: [{ kind: 'say', text: 'fix or remove the file (it holds registry credentials)' }] });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new OmlmdError('USAGE', `${path} is not a JSON object`);
  return doc as AuthFile;
}

function findKey<T>(map: Record<string, T> | undefined, registry: string): string | undefined {
  if (!map || typeof map !== 'object') return undefined;
  const want = registryKey(registry);
  // An exact key wins over a spelling that only normalises to the same host.
  if (Object.prototype.hasOwnProperty.call(map, registry)) return registry;
  return Object.keys(map).find((k) => {
    // containers' per-repository entries (`quay.io/org/repo`) are not for a whole registry.
    if (!/^[a-z]+:\/\//i.test(k) && k.includes('/')) return false;
    return registryKey(k) === want;
  });
}

function fromEntry(entry: AuthEntry | undefined, path: string, key: string): Credentials | undefined {
  if (!entry || typeof entry !== 'object') return undefined;
  if (typeof entry.identitytoken === 'string' && entry.identitytoken !== '') {
    const username = typeof entry.username === 'string' ? entry.username : undefined;
    return username ? { identityToken: entry.identitytoken, username } : { identityToken: entry.identitytoken };
  }
  if (typeof entry.registrytoken === 'string' && entry.registrytoken !== '') return { token: entry.registrytoken };
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) throw new OmlmdError('USAGE', `the "auth" of ${key} in ${path} is not base64 of user:password`, { remedies: [{ kind: 'log-in-again', registry: registryKey(key) }] });
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (typeof entry.username === 'string' && typeof entry.password === 'string' && entry.password !== '') {
    return { username: entry.username, password: entry.password };
  }
  return undefined;
}

/** Where an auth file sends a registry: a helper, or its own `auths`. */
export function helperFor(file: AuthFile, registry: string): string | undefined {
  const key = findKey(file.credHelpers, registry);
  const named = key !== undefined ? file.credHelpers?.[key] : undefined;
  if (typeof named === 'string' && named !== '') return named;
  return typeof file.credsStore === 'string' && file.credsStore !== '' ? file.credsStore : undefined;
}

/** The credentials an auth file holds (or points to) for a registry. */
export async function lookupAuthFile(path: string, registry: string, env?: NodeJS.ProcessEnv): Promise<{ credentials: Credentials; via: string } | undefined> {
  const file = await readAuthFile(path);
  const helper = helperFor(file, registry);
  if (helper !== undefined) {
    const c = await helperGet(helper, serverUrl(registry), env);
    if (c) return { credentials: c, via: `${helperProgram(helper)} (named in ${path})` };
  }
  const key = findKey(file.auths, registry);
  if (key === undefined) return undefined;
  const c = fromEntry(file.auths?.[key], path, key);
  return c ? { credentials: c, via: path } : undefined;
}

async function writeAuthFile(path: string, file: AuthFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  try {
    // Created 0600, written, renamed over: never a moment with the secrets readable by others.
    await writeFileAtomic(path, JSON.stringify(file, null, '\t') + '\n', { mode: 0o600 });
  } catch (e) {
    throw new OmlmdError('IO', `cannot write ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Stores credentials the way `docker login` does: through the file's helper when it names one
 * (the file then only records the host), else base64 in `auths` of the file, mode 0600.
 */
export async function storeInAuthFile(path: string, registry: string, creds: Credentials, env?: NodeJS.ProcessEnv): Promise<string> {
  const file = await readAuthFile(path);
  const helper = helperFor(file, registry);
  const auths = (file.auths && typeof file.auths === 'object' ? file.auths : {}) as Record<string, AuthEntry>;
  const key = findKey(auths, registry) ?? serverUrl(registry);
  if (helper !== undefined) {
    await helperStore(helper, serverUrl(registry), creds, env);
    // Docker keeps an empty entry so that `docker logout` and tools listing logins see the host.
    if (!file.credHelpers || findKey(file.credHelpers, registry) === undefined) {
      auths[key] = {};
      await writeAuthFile(path, { ...file, auths });
    }
    return helperProgram(helper);
  }
  if ('password' in creds) auths[key] = { auth: Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64') };
  else if ('identityToken' in creds) auths[key] = { identitytoken: creds.identityToken, ...(creds.username ? { username: creds.username } : {}) };
  else auths[key] = { registrytoken: creds.token };
  await writeAuthFile(path, { ...file, auths });
  return path;
}

/** Removes a registry's credentials from the file's helper and from the file. Returns where something was removed. */
export async function eraseFromAuthFile(path: string, registry: string, env?: NodeJS.ProcessEnv): Promise<string[]> {
  const file = await readAuthFile(path);
  const removed: string[] = [];
  const helper = helperFor(file, registry);
  if (helper !== undefined && (await helperErase(helper, serverUrl(registry), env))) removed.push(helperProgram(helper));
  const auths = file.auths && typeof file.auths === 'object' ? { ...file.auths } : undefined;
  if (auths) {
    let changed = false;
    for (let key = findKey(auths, registry); key !== undefined; key = findKey(auths, registry)) {
      const hadSecret = fromEntry(auths[key], path, key) !== undefined;
      delete auths[key];
      changed = true;
      if (hadSecret && !removed.includes(path)) removed.push(path);
    }
    if (changed) await writeAuthFile(path, { ...file, auths });
  }
  return removed;
}
