/**
 * Docker credential helpers: `docker-credential-NAME get|store|erase` programs on PATH that
 * keep secrets in the OS keychain, `pass`, a cloud's token service. The protocol: the server
 * URL (get, erase) or `{"ServerURL","Username","Secret"}` (store) on stdin, JSON on stdout.
 */
import { spawn } from 'node:child_process';
import { OmlmdError } from '../errors';
import type { Credentials } from '../oci/auth';

/** Helpers may ask for a passphrase (gpg for `pass`): give a person time to type it. */
const HELPER_TIMEOUT_MS = 120_000;
const MAX_OUTPUT = 1024 * 1024;
/** Docker's marker for "the Secret is an identity token, not a password". */
const TOKEN_USERNAME = '<token>';

export interface HelperResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function helperProgram(name: string): string {
  return `docker-credential-${name}`;
}

/** Runs a helper with `input` on stdin. Its stderr is kept short: a helper's chatter is no place for a secret, but be sure. */
export function runHelper(name: string, action: 'get' | 'store' | 'erase', input: string, env: NodeJS.ProcessEnv = process.env): Promise<HelperResult> {
  const program = helperProgram(name);
  if (!/^[A-Za-z0-9._-]+$/.test(name)) {
    return Promise.reject(new OmlmdError('USAGE', `${JSON.stringify(name)} is not a credential helper name`, { remedies: [{ kind: 'say', text: 'check credsStore and credHelpers in the Docker config file' }] }));
  }
  return new Promise((resolve, reject) => {
    const child = spawn(program, [action], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    // Our own timer, cleared however the helper ends: spawn's `timeout` outlives a helper that was never found.
    const timer = setTimeout(() => child.kill('SIGKILL'), HELPER_TIMEOUT_MS);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    const take = (into: Buffer[]) => (b: Buffer): void => {
      size += b.length;
      if (size <= MAX_OUTPUT) into.push(b);
    };
    child.stdout.on('data', take(out));
    child.stderr.on('data', take(err));
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (e.code === 'ENOENT') {
        reject(new OmlmdError('UNAUTHORIZED', `the credential helper ${program} is not installed (not found on PATH)`, {
          cause: e,
          remedies: [{ kind: 'say', text: `install ${program}, or remove it from credsStore/credHelpers in the Docker config file` }],
        }));
      } else {
        reject(new OmlmdError('UNAUTHORIZED', `cannot run the credential helper ${program}: ${e.message}`, { cause: e }));
      }
    });
    // A helper that exits without reading stdin makes the write fail with EPIPE; the exit code tells the story.
    child.stdin.on('error', () => undefined);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8').trim().split('\n')[0]?.slice(0, 200) ?? '',
      });
    });
    child.stdin.end(input);
  });
}

/** What a helper says when it has nothing for that server; not an error. */
function isNotFound(r: HelperResult): boolean {
  return /credentials not found/i.test(r.stdout + r.stderr);
}

/** `get`: the credentials the helper keeps for `serverUrl`, or undefined when it keeps none. */
export async function helperGet(name: string, serverUrl: string, env?: NodeJS.ProcessEnv): Promise<Credentials | undefined> {
  const r = await runHelper(name, 'get', serverUrl, env);
  if (r.code !== 0) {
    if (isNotFound(r)) return undefined;
    throw new OmlmdError('UNAUTHORIZED', `the credential helper ${helperProgram(name)} failed to get the credentials for ${serverUrl}${r.stderr ? `: ${r.stderr}` : ` (exit ${r.code})`}`, {
      remedies: [{ kind: 'say', text: `check that ${helperProgram(name)} works: echo ${serverUrl} | ${helperProgram(name)} get` }],
    });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(r.stdout);
  } catch {
    throw new OmlmdError('UNAUTHORIZED', `the credential helper ${helperProgram(name)} gave an answer that is not JSON`);
  }
  const d = (typeof doc === 'object' && doc !== null ? doc : {}) as Record<string, unknown>;
  const username = typeof d.Username === 'string' ? d.Username : '';
  const secret = typeof d.Secret === 'string' ? d.Secret : '';
  if (secret === '') return undefined;
  if (username === TOKEN_USERNAME) return { identityToken: secret };
  return { username, password: secret };
}

export async function helperStore(name: string, serverUrl: string, creds: Credentials, env?: NodeJS.ProcessEnv): Promise<void> {
  let payload: { ServerURL: string; Username: string; Secret: string };
  if ('password' in creds) payload = { ServerURL: serverUrl, Username: creds.username, Secret: creds.password };
  else if ('identityToken' in creds) payload = { ServerURL: serverUrl, Username: TOKEN_USERNAME, Secret: creds.identityToken };
  else throw new OmlmdError('USAGE', 'a registry token cannot be stored in a credential helper; store a user name and password');
  const r = await runHelper(name, 'store', JSON.stringify(payload), env);
  if (r.code !== 0) {
    throw new OmlmdError('IO', `the credential helper ${helperProgram(name)} could not store the credentials for ${serverUrl}${r.stderr ? `: ${r.stderr}` : ` (exit ${r.code})`}`);
  }
}

/** `erase`: true when the helper removed something. */
export async function helperErase(name: string, serverUrl: string, env?: NodeJS.ProcessEnv): Promise<boolean> {
  const r = await runHelper(name, 'erase', serverUrl, env);
  if (r.code === 0) return true;
  if (isNotFound(r)) return false;
  throw new OmlmdError('IO', `the credential helper ${helperProgram(name)} could not erase the credentials for ${serverUrl}${r.stderr ? `: ${r.stderr}` : ` (exit ${r.code})`}`);
}
