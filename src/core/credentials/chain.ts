/**
 * Where credentials for a registry come from, first answer wins: explicit arguments; the
 * environment (CI); sources a host adds in front (the extension's SecretStorage); omlmd's
 * login store; Docker's config (with its helpers); containers' auth.json.
 */
import { OmlmdError } from '../errors';
import type { Credentials, CredentialsProvider } from '../oci/auth';
import { containersAuthPaths, dockerConfigPath, lookupAuthFile, registryKey } from './dockerconfig';

export interface CredentialSource {
  /** How a person names it in a message (`environment`, a file's path, a helper): never a secret. */
  readonly name: string;
  get(registry: string): Promise<Credentials | undefined>;
}

export interface CredentialChainOptions {
  /** Explicit credentials (the CLI's -u/--password-stdin): for every registry, or those listed. */
  explicit?: { credentials: Credentials | (() => Promise<Credentials>); registries?: string[] };
  /** Sources asked right after the environment: the extension's SecretStorage goes here. */
  sources?: CredentialSource[];
  env?: NodeJS.ProcessEnv;
  /** Leave out the files (the login store, Docker's config, auth.json). */
  files?: boolean;
}

/** `quay.io` → `QUAY_IO`, `localhost:5000` → `LOCALHOST_5000`: the HOST in OMLMD_REGISTRY_<HOST>_USERNAME. */
export function envHostKey(registry: string): string {
  return registryKey(registry).toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/**
 * CI credentials from the environment. Per registry: OMLMD_REGISTRY_<HOST>_USERNAME and
 * OMLMD_REGISTRY_<HOST>_PASSWORD. For any registry: OMLMD_REGISTRY_USERNAME and
 * OMLMD_REGISTRY_PASSWORD, limited to the hosts in OMLMD_REGISTRY_HOST (comma-separated)
 * when that is set, so a CI secret is not offered to every registry a job touches.
 */
export function envSource(env: NodeJS.ProcessEnv = process.env): CredentialSource {
  const pair = (user: string, pass: string): Credentials | undefined => {
    // An empty variable counts as unset (CI systems often define every variable).
    const u = env[user] || undefined;
    const p = env[pass] || undefined;
    if (u === undefined && p === undefined) return undefined;
    if (!u || !p) throw new OmlmdError('USAGE', `${u ? pass : user} is not set, but ${u ? user : pass} is`, { remedies: [{ kind: 'say', text: 'set both, or neither' }] });
    return { username: u, password: p };
  };
  return {
    name: 'environment',
    async get(registry) {
      const key = envHostKey(registry);
      const own = pair(`OMLMD_REGISTRY_${key}_USERNAME`, `OMLMD_REGISTRY_${key}_PASSWORD`);
      if (own) return own;
      const only = env.OMLMD_REGISTRY_HOST?.split(',').map((h) => h.trim()).filter(Boolean);
      if (only && only.length > 0 && !only.some((h) => registryKey(h) === registryKey(registry))) return undefined;
      return pair('OMLMD_REGISTRY_USERNAME', 'OMLMD_REGISTRY_PASSWORD');
    },
  };
}

export function explicitSource(explicit: NonNullable<CredentialChainOptions['explicit']>): CredentialSource {
  let resolved: Promise<Credentials> | undefined;
  return {
    name: 'the command line',
    async get(registry) {
      if (explicit.registries && !explicit.registries.some((r) => registryKey(r) === registryKey(registry))) return undefined;
      resolved ??= typeof explicit.credentials === 'function' ? explicit.credentials() : Promise.resolve(explicit.credentials);
      return resolved;
    },
  };
}

/** A docker-format auth file (and the helpers it names) as a source. */
export function authFileSource(path: string, env?: NodeJS.ProcessEnv): CredentialSource {
  return {
    name: path,
    async get(registry) {
      return (await lookupAuthFile(path, registry, env))?.credentials;
    },
  };
}

/** omlmd's login store: OMLMD_AUTH_FILE when set, else Docker's config file (which `omlmd login` writes, like `docker login`). */
export function loginStorePath(env: NodeJS.ProcessEnv = process.env): string {
  return env.OMLMD_AUTH_FILE || dockerConfigPath(env);
}

/** The sources in the order they are asked. */
export function credentialSources(opts: CredentialChainOptions = {}): CredentialSource[] {
  const env = opts.env ?? process.env;
  const sources: CredentialSource[] = [];
  if (opts.explicit) sources.push(explicitSource(opts.explicit));
  sources.push(envSource(env));
  sources.push(...(opts.sources ?? []));
  if (opts.files !== false) {
    const files = [loginStorePath(env), dockerConfigPath(env), ...containersAuthPaths(env)];
    for (const f of [...new Set(files)]) sources.push(authFileSource(f, env));
  }
  return sources;
}

/** The first source that has credentials for the registry, and its name (for a message); undefined for anonymous. */
export async function findCredentials(registry: string, opts: CredentialChainOptions = {}): Promise<{ credentials: Credentials; source: string } | undefined> {
  for (const s of credentialSources(opts)) {
    const c = await s.get(registry);
    if (c) return { credentials: c, source: s.name };
  }
  return undefined;
}

/**
 * The credentials provider for OmlmdClient and RegistryClient. The extension passes its
 * SecretStorage as the first of `sources`; the CLI passes -u/--password-stdin as `explicit`.
 */
export function createCredentialsProvider(opts: CredentialChainOptions = {}): CredentialsProvider {
  return async (registry) => (await findCredentials(registry, opts))?.credentials;
}
