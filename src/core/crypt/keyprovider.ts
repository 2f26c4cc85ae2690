/**
 * ocicrypt's key-provider protocol (its keywrap/keyprovider/keyprovider.go and
 * config/keyprovider-config/config.go): a program named in a JSON configuration file wraps
 * and unwraps a layer's private options, so the key can live in a key management service,
 * or, in Confidential Containers, be released by a key broker (Trustee's KBS) to the guest's
 * attestation agent after attestation.
 *
 * - The configuration (the file `OCICRYPT_KEYPROVIDER_CONFIG` names) is
 *   `{"key-providers": {"NAME": {"cmd": {"path": "...", "args": [...]}}}}`, or for a gRPC
 *   provider (Confidential Containers' attestation agent and coco_keyprovider are ones)
 *   `{"NAME": {"grpc": "host:port"}}` (or `unix:/path`), which ocicrypt dials without TLS.
 * - A program gets one JSON document on its standard input and answers one on its standard
 *   output. A gRPC provider gets the same document as the one `bytes` field (number 1) of
 *   `keyprovider.KeyProviderService/WrapKey` or `/UnWrapKey` (ocicrypt's
 *   utils/keyprovider/keyprovider.proto) and answers with the same field (see grpc.ts).
 *   The documents: Go's encoding/json writes []byte as standard base64, so `optsdata` and
 *   `annotation` are base64 strings, and `ec`/`dc` are ocicrypt's EncryptConfig and
 *   DecryptConfig with their Go field names (`Parameters`: name -> list of base64 values;
 *   the value is what follows `provider:NAME:` in a recipient or key, or `Enabled`).
 *   - wrap:   `{"op":"keywrap","keywrapparams":{"ec":{...},"optsdata":B64}}` ->
 *             `{"keywrapresults":{"annotation":B64}}`
 *   - unwrap: `{"op":"keyunwrap","keyunwrapparams":{"dc":{...},"annotation":B64}}` ->
 *             `{"keyunwrapresults":{"optsdata":B64}}`
 * - The layer annotation `org.opencontainers.image.enc.keys.provider.NAME` holds base64 of
 *   the bytes the program returned (comma-separated entries, as for every scheme).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OmlmdError } from '../errors';
import type * as Grpc from './grpc';

type GrpcModule = typeof Grpc;

export const PROVIDER_ANNOTATION_PREFIX = 'org.opencontainers.image.enc.keys.provider.';

export interface KeyProviderCommand {
  path: string;
  args: string[];
}

/** How a provider is reached: a program to run, or a gRPC address. */
export type KeyProviderEndpoint = { cmd: KeyProviderCommand } | { grpc: string };

const describeEndpoint = (e: KeyProviderEndpoint): string => ('cmd' in e ? e.cmd.path : `gRPC ${e.grpc}`);

/** A provider from the configuration, with the parameter given after `provider:NAME:`. */
export interface KeyProviderKey {
  provider: string;
  /** What followed `provider:NAME:` (ocicrypt passes `Enabled` when nothing did). */
  parameter: string;
  endpoint: KeyProviderEndpoint;
  /** How the user named it, for messages. */
  source: string;
}

/** The longest answer a provider may give (a wrapped key is a few KB). */
const MAX_PROVIDER_OUTPUT = 1024 * 1024;
/** How long a provider may take (a key broker behind it may be remote). */
const PROVIDER_TIMEOUT_MS = 60_000;
const GRPC_ADDRESS = /^(unix:\/.+|[A-Za-z0-9._-]+:\d{1,5}|\[[0-9A-Fa-f:.]+\]:\d{1,5})$/;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Reads ocicrypt's key-provider configuration file: its providers, programs and gRPC addresses. */
export function readKeyProviderConfig(path: string): Map<string, KeyProviderEndpoint> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new OmlmdError('USAGE', `cannot read the key-provider configuration ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`, { remedies: [{ kind: 'check-file', path, setting: 'file' }] });
  }
  return parseKeyProviderConfig(text, path);
}

export function parseKeyProviderConfig(text: string, source: string): Map<string, KeyProviderEndpoint> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new OmlmdError('USAGE', `the key-provider configuration ${source} is not JSON`);
  }
  const providers = (doc as { 'key-providers'?: unknown } | null)?.['key-providers'];
  if (!providers || typeof providers !== 'object' || Array.isArray(providers)) throw new OmlmdError('USAGE', `the key-provider configuration ${source} has no "key-providers" object`);
  const out = new Map<string, KeyProviderEndpoint>();
  for (const [name, attrs] of Object.entries(providers as Record<string, unknown>)) {
    const { cmd, grpc } = (attrs ?? {}) as { cmd?: { path?: unknown; args?: unknown }; grpc?: unknown };
    if (!cmd) {
      // ocicrypt tries the command first, then gRPC; an entry with neither is skipped, as there.
      if (grpc === undefined || grpc === '') continue;
      if (typeof grpc !== 'string') throw new OmlmdError('USAGE', `the key provider ${JSON.stringify(name)} in ${source} needs "grpc" as a string ("host:port" or "unix:/path")`);
      // The address is checked when the provider is chosen (keyProviderKey): another entry's typo does not stop this one.
      out.set(name, { grpc });
      continue;
    }
    if (typeof cmd.path !== 'string' || cmd.path === '' || (cmd.args !== undefined && cmd.args !== null && (!Array.isArray(cmd.args) || cmd.args.some((a) => typeof a !== 'string')))) {
      throw new OmlmdError('USAGE', `the key provider ${JSON.stringify(name)} in ${source} needs "cmd": {"path": string, "args": [strings]}`);
    }
    out.set(name, { cmd: { path: cmd.path, args: (cmd.args as string[] | undefined) ?? [] } });
  }
  return out;
}

/**
 * `provider:NAME[:PARAMETER]` (skopeo's form, for a recipient or a decryption key) resolved
 * against the configuration read from `configPath`.
 */
export function keyProviderKey(spec: string, configPath: string | undefined): KeyProviderKey {
  const rest = spec.replace(/^provider:/, '');
  const at = rest.indexOf(':');
  const name = at > 0 ? rest.slice(0, at) : rest;
  const parameter = at > 0 ? rest.slice(at + 1) : 'Enabled';
  if (!NAME_RE.test(name)) throw new OmlmdError('USAGE', `${spec}: a key provider's name is letters, digits, '.', '_' and '-'`);
  if (!configPath) throw new OmlmdError('USAGE', `${spec} names a key provider, and no key-provider configuration is set (OCICRYPT_KEYPROVIDER_CONFIG names ocicrypt's JSON file)`);
  const providers = readKeyProviderConfig(configPath);
  const endpoint = providers.get(name);
  if (!endpoint) throw new OmlmdError('USAGE', `the key provider ${JSON.stringify(name)} is not in ${configPath}${providers.size ? ` (it has ${[...providers.keys()].slice(0, 5).join(', ')})` : ''}`, { remedies: [{ kind: 'check-file', path: configPath, setting: 'file' }] });
  if ('grpc' in endpoint && !GRPC_ADDRESS.test(endpoint.grpc)) {
    throw new OmlmdError('USAGE', `the key provider ${JSON.stringify(name)} in ${configPath} has "grpc": ${JSON.stringify(endpoint.grpc).slice(0, 80)}; it takes "host:port" or "unix:/path"`, { remedies: [{ kind: 'check-file', path: configPath, setting: 'file' }] });
  }
  return { provider: name, parameter, endpoint, source: spec };
}

const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64');

function parametersOf(keys: KeyProviderKey[]): Record<string, string[]> {
  const p: Record<string, string[]> = {};
  for (const k of keys) (p[k.provider] ??= []).push(b64(k.parameter));
  return p;
}

/** Wraps a layer's private options with one provider (all the recipients that name it): the annotation bytes. */
export async function providerWrap(keys: KeyProviderKey[], optsData: Uint8Array): Promise<Buffer> {
  const k = keys[0]!;
  const input = { op: 'keywrap', keywrapparams: { ec: { Parameters: parametersOf(keys), DecryptConfig: { Parameters: null } }, optsdata: b64(Buffer.from(optsData)) }, keyunwrapparams: { dc: null, annotation: null } };
  const out = await runProvider(k, input, 'wrap the layer key');
  const annotation = (out as { keywrapresults?: { annotation?: unknown } }).keywrapresults?.annotation;
  if (typeof annotation !== 'string' || annotation === '') throw providerFailed(k, 'wrap the layer key', 'its answer has no keywrapresults.annotation');
  return decodeB64(annotation, k, 'keywrapresults.annotation');
}

/** Unwraps one annotation entry (its bytes) with a provider: the private options JSON. */
export async function providerUnwrap(key: KeyProviderKey, annotation: Buffer): Promise<Buffer> {
  const input = { op: 'keyunwrap', keywrapparams: { ec: null, optsdata: null }, keyunwrapparams: { dc: { Parameters: parametersOf([key]) }, annotation: b64(annotation) } };
  const out = await runProvider(key, input, 'unwrap the layer key');
  const opts = (out as { keyunwrapresults?: { optsdata?: unknown } }).keyunwrapresults?.optsdata;
  if (typeof opts !== 'string' || opts === '') throw providerFailed(key, 'unwrap the layer key', 'its answer has no keyunwrapresults.optsdata');
  return decodeB64(opts, key, 'keyunwrapresults.optsdata');
}

function decodeB64(s: string, k: KeyProviderKey, field: string): Buffer {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s)) throw providerFailed(k, 'answer', `its ${field} is not base64`);
  return Buffer.from(s, 'base64');
}

function providerFailed(k: KeyProviderKey, what: string, why: string): OmlmdError {
  return new OmlmdError('INVALID_KEY', `the key provider ${k.provider} (${describeEndpoint(k.endpoint)}) did not ${what}: ${why}`);
}

async function runProvider(k: KeyProviderKey, input: { op: string }, what: string): Promise<unknown> {
  if ('cmd' in k.endpoint) return runCommand(k, k.endpoint.cmd, input, what);
  const { callKeyProvider } = await loadGrpc();
  let answer: Buffer;
  try {
    answer = await callKeyProvider(k.endpoint.grpc, input.op === 'keywrap' ? 'WrapKey' : 'UnWrapKey', Buffer.from(JSON.stringify(input)), { timeoutMs: PROVIDER_TIMEOUT_MS, maxBytes: MAX_PROVIDER_OUTPUT });
  } catch (e) {
    throw providerFailed(k, what, (e as Error).message);
  }
  try {
    return JSON.parse(answer.toString('utf8'));
  } catch {
    throw providerFailed(k, what, 'its answer is not JSON');
  }
}

/**
 * The gRPC client, loaded on first use. Bundled, it is dist/grpc.js beside the bundle that
 * runs (core.js, extension.js) or in the folder above it (the CLI's chunks in dist/cli/), so
 * that grpc-js and protobufjs are not parsed by every activation and command; from source
 * (tests through tsx) the module itself. Names in variables, so that no bundler inlines it.
 */
async function loadGrpc(): Promise<GrpcModule> {
  if (__filename.endsWith('.ts')) {
    const source = './grpc';
    return (await import(source)) as GrpcModule;
  }
  const beside = join(__dirname, 'grpc.js');
  const path = existsSync(beside) ? beside : join(__dirname, '..', 'grpc.js');
  const load = require;
  return load(path) as GrpcModule;
}

function runCommand(k: KeyProviderKey, command: KeyProviderCommand, input: unknown, what: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let child;
    try {
      child = spawn(command.path, command.args, { stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (e) {
      reject(providerFailed(k, what, (e as Error).message));
      return;
    }
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    let failed: OmlmdError | undefined;
    const timer = setTimeout(() => {
      failed = providerFailed(k, what, `no answer within ${PROVIDER_TIMEOUT_MS / 1000} s`);
      child.kill('SIGKILL');
    }, PROVIDER_TIMEOUT_MS);
    child.stdout.on('data', (c: Buffer) => {
      outBytes += c.length;
      if (outBytes > MAX_PROVIDER_OUTPUT) {
        failed ??= providerFailed(k, what, `its answer is over ${MAX_PROVIDER_OUTPUT} bytes`);
        child.kill('SIGKILL');
      } else out.push(c);
    });
    child.stderr.on('data', (c: Buffer) => {
      if (err.length < 2000) err += c.toString('utf8');
    });
    child.stdin.on('error', () => undefined); // a provider that exits without reading: its exit status says why
    child.on('error', (e) => {
      failed ??= providerFailed(k, what, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such program' : e.message);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (failed) return reject(failed);
      if (code !== 0) return reject(providerFailed(k, what, `it exited with ${code ?? signal}${err.trim() ? `: ${err.trim().split('\n')[0]!.slice(0, 300)}` : ''}`));
      try {
        resolve(JSON.parse(Buffer.concat(out).toString('utf8')));
      } catch {
        reject(providerFailed(k, what, 'its answer is not JSON'));
      }
    });
    child.stdin.end(JSON.stringify(input));
  });
}
