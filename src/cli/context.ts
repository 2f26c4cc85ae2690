import { parse as parseYamlScalar } from 'yaml';
import { mergeMetadata, readMetadataFile, validateMetadata, type ModelMetadata } from '../core/model/metadata';
import type { Command } from 'commander';
import { OmlmdClient } from '../core/client';
import { loadConfig, settingsFor, type RegistrySettings } from '../core/config';
import { createCredentialsProvider } from '../core/credentials';
import { OmlmdError } from '../core/errors';
import type { Credentials, RetryEvent } from '../core/oci/registry';
import type { ProgressCallback } from '../core/transfer/progress';
import { progressEnabled, ProgressBars } from './output';

import { version } from './state';

/** What every command module shares: options, the client, output, cancellation. */
export { controller, state, version } from './state';

export interface Common {
  plainHttp?: boolean;
  json?: boolean;
  progress?: boolean;
  debug?: boolean;
  concurrency?: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  insecure?: boolean;
  username?: string;
  passwordStdin?: boolean;
  connectTimeout?: string;
  readTimeout?: string;
  retries?: string;
}


function positive(flag: string, v: string | undefined, whole = false): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || (whole && !Number.isInteger(n)) || (!whole && n === 0)) {
    throw new OmlmdError('USAGE', `${flag} takes a ${whole ? 'whole number ≥ 0' : 'positive number of seconds'}, got ${v}`);
  }
  return n;
}

/** The registry settings the flags give; they win over the config file's. */
export function settingsFromFlags(o: Common): RegistrySettings {
  const s: RegistrySettings = {};
  if (o.caFile) s.caFile = o.caFile;
  if (o.certFile) s.certFile = o.certFile;
  if (o.keyFile) s.keyFile = o.keyFile;
  if (o.insecure) s.insecure = true;
  if (o.plainHttp) s.plainHttp = true;
  const connect = positive('--connect-timeout', o.connectTimeout);
  if (connect !== undefined) s.connectTimeout = connect;
  const read = positive('--read-timeout', o.readTimeout);
  if (read !== undefined) s.readTimeout = read;
  const retries = positive('--retries', o.retries, true);
  if (retries !== undefined) s.retries = retries;
  return s;
}

let stdinText: Promise<string> | undefined;

/** Standard input, read once, without its final newline (as `docker login --password-stdin`). */
export function readStdinOnce(): Promise<string> {
  stdinText ??= (async () => {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  })();
  return stdinText;
}

/** -u USER with --password-stdin, checked; the password is read only when a registry asks. */
export function explicitCredentials(o: Common): (() => Promise<Credentials>) | undefined {
  if (o.passwordStdin && !o.username) throw new OmlmdError('USAGE', '--password-stdin needs a user name', { remedies: [{ kind: 'say', text: 'pass -u USER as well' }] });
  if (o.username === undefined) return undefined;
  if (!o.passwordStdin) throw new OmlmdError('USAGE', `-u ${o.username} needs a password`, { remedies: [{ kind: 'say', text: 'pipe it in with --password-stdin, e.g. echo "$TOKEN" | omlmd … -u USER --password-stdin' }] });
  const username = o.username;
  return async () => {
    const password = await readStdinOnce();
    if (password === '') throw new OmlmdError('USAGE', '--password-stdin: standard input held no password');
    return { username, password };
  };
}

/** The progress bars being drawn, so that a message goes above them instead of through them. */
let bars: ProgressBars | undefined;

function stderrLine(line: string): void {
  if (bars) bars.note(line);
  else process.stderr.write(`${process.stderr.isTTY ? '\r\x1b[2K' : ''}${line}\n`);
}

export function warn(message: string): void {
  stderrLine(`omlmd: warning: ${message}`);
}

export function noteRetry(e: RetryEvent): void {
  const secs = e.delayMs >= 1000 ? `${(e.delayMs / 1000).toFixed(1)} s` : `${e.delayMs} ms`;
  stderrLine(`omlmd: ${e.reason} while trying to ${e.action}; retry ${e.attempt} of ${e.retries} in ${secs}`);
}

export function client(o: Common): OmlmdClient {
  const config = loadConfig();
  const flags = settingsFromFlags(o);
  const explicit = explicitCredentials(o);
  return new OmlmdClient({
    plainHttp: o.plainHttp,
    userAgent: `omlmd/${version}`,
    registrySettings: (registry) => settingsFor(config, registry, flags),
    credentials: createCredentialsProvider({ explicit: explicit ? { credentials: explicit } : undefined }),
    onWarning: warn,
    onRetry: noteRetry,
  });
}

export function print(s: string): void {
  process.stdout.write(s.endsWith('\n') ? s : s + '\n');
}

export function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

export function concurrency(o: Common): number | undefined {
  if (o.concurrency === undefined) return undefined;
  const n = Number(o.concurrency);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new OmlmdError('USAGE', `--concurrency takes a whole number from 1 to 64, got ${o.concurrency}`);
  return n;
}

/** Runs a transfer with progress bars (total and per file) when stderr is a terminal. */
export async function withProgress<T>(label: string, o: Common, run: (onProgress?: ProgressCallback) => Promise<T>): Promise<T> {
  if (o.json || !progressEnabled(o.progress)) return run();
  const drawing = new ProgressBars(label);
  bars = drawing;
  try {
    return await run(drawing.onProgress);
  } finally {
    bars = undefined;
    drawing.finish();
  }
}

/** `KEY=VALUE`, the value read as a YAML scalar so numbers and booleans keep their type. */
export function parseProperty(kv: string): [string, unknown] {
  const eq = kv.indexOf('=');
  if (eq <= 0) throw new OmlmdError('USAGE', `--property takes KEY=VALUE, got ${JSON.stringify(kv)}`);
  const key = kv.slice(0, eq);
  const raw = kv.slice(eq + 1);
  let value: unknown = raw;
  try {
    value = parseYamlScalar(raw, { schema: 'core', maxAliasCount: 0, logLevel: 'error' }) as unknown;
  } catch {
    value = raw;
  }
  // Only a written null is null: an empty value or a comment stays the text it is.
  if (value === null && !/^\s*(~|null|Null|NULL)\s*$/.test(raw)) value = raw;
  if (value === undefined || (typeof value === 'object' && value !== null)) value = raw;
  return [key, value];
}

export function parseAnnotation(kv: string): [string, string] {
  const eq = kv.indexOf('=');
  if (eq <= 0) throw new OmlmdError('USAGE', `--annotation takes KEY=VALUE, got ${JSON.stringify(kv)}`);
  return [kv.slice(0, eq), kv.slice(eq + 1)];
}

export interface PushOpts extends Common {
  metadata?: string;
  emptyMetadata?: boolean;
  name?: string;
  description?: string;
  author?: string;
  uri?: string;
  modelFormatName?: string;
  modelFormatVersion?: string;
  property?: string[];
  annotation?: string[];
  artifactType?: boolean;
  encryptRecipient?: string[];
}

export async function metadataFromOptions(o: PushOpts): Promise<ModelMetadata> {
  const fromFlags: ModelMetadata = {};
  if (o.name !== undefined) fromFlags.name = o.name;
  if (o.description !== undefined) fromFlags.description = o.description;
  if (o.author !== undefined) fromFlags.author = o.author;
  if (o.uri !== undefined) fromFlags.uri = o.uri;
  if (o.modelFormatName !== undefined) fromFlags.model_format_name = o.modelFormatName;
  if (o.modelFormatVersion !== undefined) fromFlags.model_format_version = o.modelFormatVersion;
  if (o.property?.length) fromFlags.customProperties = Object.fromEntries(o.property.map(parseProperty));
  const hasFlags = Object.keys(fromFlags).length > 0;
  if (!o.metadata && !hasFlags && !o.emptyMetadata) {
    throw new OmlmdError('USAGE', 'no metadata given', { remedies: [{ kind: 'say', text: 'pass -m FILE (YAML or JSON), metadata flags such as --name, or --empty-metadata' }] });
  }
  if (o.emptyMetadata && (o.metadata || hasFlags)) {
    throw new OmlmdError('USAGE', '--empty-metadata cannot be combined with -m or metadata flags');
  }
  const fromFile = o.metadata ? await readMetadataFile(o.metadata) : {};
  return validateMetadata(mergeMetadata(fromFile, fromFlags), o.metadata && hasFlags ? `${o.metadata} with the metadata flags` : (o.metadata ?? 'the metadata flags'));
}

export function example(cmd: Command, text: string): Command {
  return cmd.addHelpText('after', `\nExample:\n  ${text}`);
}

export function withCommon(cmd: Command, transfer = false): Command {
  cmd.option('--plain-http', 'use plain HTTP, not HTTPS (default for localhost and 127.0.0.1)')
    .option('--json', 'print machine-readable JSON')
    .option('--debug', 'show error details and stack traces');
  withRegistryOptions(cmd);
  if (transfer) {
    cmd.option('--no-progress', 'no progress bar (also OMLMD_NO_PROGRESS=1, or when stderr is not a terminal)')
      .option('--concurrency <n>', 'how many files (and, pulling, parallel ranged parts of large files) move at once (default 4)');
  }
  return cmd;
}


/** Connection and credential flags; the config file (omlmd config path: see README) sets them per registry. */
export function withRegistryOptions(cmd: Command, credentials = true): Command {
  cmd.option('--ca-file <pem>', 'trust this certificate authority for the registry (besides the system\'s)')
    .option('--cert-file <pem>', 'client certificate for registries that ask for one (mTLS)')
    .option('--key-file <pem>', 'private key of --cert-file')
    .option('--insecure', 'skip TLS certificate verification (unsafe)')
    .option('--connect-timeout <seconds>', 'give up connecting after this long (default 30)')
    .option('--read-timeout <seconds>', 'give up when the registry is silent this long (default 300)')
    .option('--retries <n>', 'retries of a step after a connection error, 408, 429 or 5xx (default 4)');
  if (credentials) {
    cmd.option('-u, --username <user>', 'registry user name (with --password-stdin)')
      .option('--password-stdin', 'read the registry password or token from standard input');
  }
  return cmd;
}
