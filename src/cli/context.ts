import yaml from 'js-yaml';
import { mergeMetadata, readMetadataFile, validateMetadata, type ModelMetadata } from '../core/model/metadata';
import type { Command } from 'commander';
import { OmlmdClient } from '../core/client';
import { OmlmdError } from '../core/errors';
import type { ProgressCallback } from '../core/transfer/progress';
import { progressEnabled, ProgressLine } from './output';

/** What every command module shares: options, the client, output, cancellation. */
declare const OMLMD_VERSION: string | undefined;
export const version = typeof OMLMD_VERSION === 'string' ? OMLMD_VERSION : '0.0.0-dev';

export interface Common {
  plainHttp?: boolean;
  json?: boolean;
  progress?: boolean;
  debug?: boolean;
  concurrency?: string;
}

export const controller = new AbortController();
export const state = { interrupted: false };

export function client(o: Common): OmlmdClient {
  return new OmlmdClient({ plainHttp: o.plainHttp, userAgent: `omlmd/${version}` });
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

/** Runs a transfer with a progress line when stderr is a terminal. */
export async function withProgress<T>(label: string, o: Common, run: (onProgress?: ProgressCallback) => Promise<T>): Promise<T> {
  if (o.json || !progressEnabled(o.progress)) return run(undefined);
  const line = new ProgressLine(label);
  try {
    return await run(line.onProgress);
  } finally {
    line.finish();
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
    value = yaml.load(raw, { schema: yaml.CORE_SCHEMA });
  } catch {
    value = raw;
  }
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
    throw new OmlmdError('USAGE', 'no metadata given', { hint: 'pass -m FILE (YAML or JSON), metadata flags such as --name, or --empty-metadata' });
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
  if (transfer) {
    cmd.option('--no-progress', 'no progress bar (also OMLMD_NO_PROGRESS=1, or when stderr is not a terminal)')
      .option('--concurrency <n>', 'how many files move at once (default 4)');
  }
  return cmd;
}

