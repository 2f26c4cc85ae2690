/**
 * `omlmd login` and `omlmd logout`, and the check behind the extension's "Sign in": verify
 * credentials against the registry before anything is saved.
 */
import { OmlmdError } from '../errors';
import type { Credentials } from '../oci/auth';
import { RegistryClient, type RegistryOptions } from '../oci/registry';
import type { CallOptions } from '../oci/store';
import { loginStorePath } from './chain';
import { eraseFromAuthFile, registryKey, storeInAuthFile } from './dockerconfig';

export interface VerifyResult {
  /** false when the registry never asked for credentials (anonymous access is allowed): they were not checked. */
  verified: boolean;
}

/**
 * Checks credentials with `GET /v2/` (through the token service when the registry uses
 * one). Throws UNAUTHORIZED when they are refused, NETWORK/TLS when the registry cannot be
 * reached; the error never contains the secret.
 */
export async function verifyCredentials(
  registry: string,
  credentials: Credentials,
  options: Omit<RegistryOptions, 'credentials'> & CallOptions = {},
): Promise<VerifyResult> {
  const { signal, ...rest } = options;
  const client = new RegistryClient(registry, { ...rest, credentials: async () => credentials });
  try {
    await client.ping({ signal });
  } catch (e) {
    if (OmlmdError.is(e, 'UNAUTHORIZED', 'DENIED')) {
      throw new OmlmdError('UNAUTHORIZED', `${registry} refused the credentials${'username' in credentials && credentials.username ? ` of ${credentials.username}` : ''}`, {
        cause: e,
        status: e.status,
        url: e.url,
        registryErrors: e.registryErrors,
        remedies: [{ kind: 'say', text: 'check the user name and password (or access token)' }],
      });
    }
    throw e;
  }
  return { verified: client.authRequested };
}

export interface LoginStoreOptions {
  env?: NodeJS.ProcessEnv;
  /** The auth file to use instead of the login store (OMLMD_AUTH_FILE, else Docker's config). */
  path?: string;
}

/** Stores credentials as `docker login` does; returns where they went (a helper's name or the file's path). */
export async function storeLogin(registry: string, credentials: Credentials, opts: LoginStoreOptions = {}): Promise<{ where: string }> {
  const env = opts.env ?? process.env;
  const where = await storeInAuthFile(opts.path ?? loginStorePath(env), registryKey(registry), credentials, env);
  return { where };
}

/** Forgets a registry's credentials in the login store and its helper; `removed` lists where something was. */
export async function eraseLogin(registry: string, opts: LoginStoreOptions = {}): Promise<{ path: string; removed: string[] }> {
  const env = opts.env ?? process.env;
  const path = opts.path ?? loginStorePath(env);
  return { path, removed: await eraseFromAuthFile(path, registryKey(registry), env) };
}
