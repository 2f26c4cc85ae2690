/**
 * Per-registry connection settings (TLS, plain HTTP, timeouts, retries), so nobody repeats
 * flags. The CLI reads them from a YAML file and lays its flags over them; the extension
 * passes the same shape from its settings. Nothing here is secret: credentials live in
 * the credential chain, never in this file.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { OmlmdError } from './errors';
import type { RegistryOptions } from './oci/registry';
import { normalizeHost } from './util/host';

export interface RegistrySettings {
  /** Talk plain HTTP (default for loopback hosts without TLS settings). */
  plainHttp?: boolean;
  /** PEM file of the authority that signed the registry's certificate, trusted besides the system's. */
  caFile?: string;
  /** PEM client certificate, for registries that ask for one (mTLS). */
  certFile?: string;
  /** PEM private key of certFile. */
  keyFile?: string;
  /** Skip TLS certificate verification (unsafe; warned about). */
  insecure?: boolean;
  /** Seconds to wait for a connection and TLS handshake. */
  connectTimeout?: number;
  /** Seconds of silence from the registry after which a request fails. */
  readTimeout?: number;
  /** Retries of an idempotent step after a connection error, 408, 429 or 5xx. */
  retries?: number;
  /** Largest upload request in MiB; bigger blobs go in chunks (Quay caps one PUT at 20 GB). */
  chunkSizeMiB?: number;
}

export interface OmlmdConfig {
  /** The file read, when one was. */
  path?: string;
  /** Settings for every registry, under those of the registry itself. */
  defaults: RegistrySettings;
  /** By `host[:port]`; an entry without a port also applies to every port of that host. */
  registries: Record<string, RegistrySettings>;
}

const BOOLEAN_KEYS = ['plainHttp', 'insecure'] as const;
const PATH_KEYS = ['caFile', 'certFile', 'keyFile'] as const;
const NUMBER_KEYS = ['connectTimeout', 'readTimeout', 'retries', 'chunkSizeMiB'] as const;
const KNOWN_KEYS: ReadonlySet<string> = new Set<string>([...BOOLEAN_KEYS, ...PATH_KEYS, ...NUMBER_KEYS]);

/**
 * The config file: `OMLMD_CONFIG` when set; else `config.yaml` in `$XDG_CONFIG_HOME/omlmd`
 * (`~/.config/omlmd`) on Linux and macOS, `%APPDATA%\omlmd` on Windows.
 */
export function configPath(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  if (env.OMLMD_CONFIG) return env.OMLMD_CONFIG;
  const home = env.HOME || homedir();
  if (platform === 'win32') return join(env.APPDATA || join(home, 'AppData', 'Roaming'), 'omlmd', 'config.yaml');
  return join(env.XDG_CONFIG_HOME || join(home, '.config'), 'omlmd', 'config.yaml');
}

function expandPath(p: string, baseDir: string | undefined, home: string): string {
  const expanded = p === '~' ? home : p.startsWith('~/') ? join(home, p.slice(2)) : p;
  if (isAbsolute(expanded) || baseDir === undefined) return expanded;
  return resolve(baseDir, expanded);
}

/** Checks one settings object; relative paths are resolved against `baseDir` (the config file's folder). */
export function checkSettings(v: unknown, where: string, baseDir?: string, env: NodeJS.ProcessEnv = process.env): RegistrySettings {
  if (v === null || v === undefined) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new OmlmdError('USAGE', `${where} must be a mapping of settings`);
  const home = env.HOME || homedir();
  const out: RegistrySettings = {};
  for (const [key, value] of Object.entries(v as Record<string, unknown>)) {
    const at = `${where}.${key}`;
    if (!KNOWN_KEYS.has(key)) {
      throw new OmlmdError('USAGE', `${at} is not a setting`, { remedies: [{ kind: 'say', text: `known settings: ${[...KNOWN_KEYS].join(', ')}` }] });
    }
    if ((BOOLEAN_KEYS as readonly string[]).includes(key)) {
      if (typeof value !== 'boolean') throw new OmlmdError('USAGE', `${at} must be true or false, got ${JSON.stringify(value)}`);
      out[key as (typeof BOOLEAN_KEYS)[number]] = value;
    } else if ((PATH_KEYS as readonly string[]).includes(key)) {
      if (typeof value !== 'string' || value === '') throw new OmlmdError('USAGE', `${at} must be a file path, got ${JSON.stringify(value)}`);
      out[key as (typeof PATH_KEYS)[number]] = expandPath(value, baseDir, home);
    } else {
      const whole = key === 'retries';
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (whole && !Number.isInteger(value)) || (!whole && value === 0)) {
        throw new OmlmdError('USAGE', `${at} must be a ${whole ? 'whole number ≥ 0' : 'positive number'}, got ${JSON.stringify(value)}`);
      }
      out[key as (typeof NUMBER_KEYS)[number]] = value;
    }
  }
  return out;
}

/** Parses the YAML text of a config file. */
export function parseConfig(text: string, path?: string, env: NodeJS.ProcessEnv = process.env): OmlmdConfig {
  const where = path ?? 'config';
  let doc: unknown;
  try {
    // The `yaml` package (not js-yaml): it caps alias expansion, so a YAML bomb fails fast.
    const parsed = parseDocument(text, { schema: 'core', merge: true, uniqueKeys: true, logLevel: 'error' });
    if (parsed.errors[0]) throw parsed.errors[0];
    doc = parsed.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new OmlmdError('USAGE', `${where}: not valid YAML: ${(e as Error).message.split('\n')[0]}`, { cause: e });
  }
  if (doc === undefined || doc === null) return { path, defaults: {}, registries: {} };
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new OmlmdError('USAGE', `${where}: expected a mapping with "defaults" and "registries"`);
  const d = doc as Record<string, unknown>;
  for (const k of Object.keys(d)) {
    if (k !== 'defaults' && k !== 'registries') throw new OmlmdError('USAGE', `${where}: unknown key "${k}"`, { remedies: [{ kind: 'say', text: 'the file has two sections: defaults and registries' }] });
  }
  const baseDir = path ? dirname(resolve(path)) : undefined;
  const defaults = checkSettings(d.defaults, `${where}: defaults`, baseDir, env);
  const registries: Record<string, RegistrySettings> = {};
  if (d.registries !== undefined && d.registries !== null) {
    if (typeof d.registries !== 'object' || Array.isArray(d.registries)) throw new OmlmdError('USAGE', `${where}: registries must be a mapping of host[:port] to settings`);
    for (const [host, settings] of Object.entries(d.registries as Record<string, unknown>)) {
      registries[normalizeHost(host)] = checkSettings(settings, `${where}: registries.${host}`, baseDir, env);
    }
  }
  return { path, defaults, registries };
}

/** Reads the config file; a missing file is an empty config. */
export function loadConfig(path: string = configPath(), env: NodeJS.ProcessEnv = process.env): OmlmdConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { defaults: {}, registries: {} };
    throw new OmlmdError('USAGE', `cannot read the config file ${path}: ${(e as Error).message}`, { cause: e });
  }
  return parseConfig(text, path, env);
}

/** `https://Quay.io/` → `quay.io`: the spelling registries are keyed by (util/host's, Docker Hub's aliases folded). */
export { normalizeHost };

/** A registry's settings: defaults, then the host's entry without port, then with port, then `overrides` (flags). */
export function settingsFor(config: OmlmdConfig, registry: string, overrides: RegistrySettings = {}): RegistrySettings {
  const host = normalizeHost(registry);
  const bare = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d+$/, '');
  const defined = (s: RegistrySettings | undefined): RegistrySettings =>
    Object.fromEntries(Object.entries(s ?? {}).filter(([, v]) => v !== undefined)) as RegistrySettings;
  return {
    ...defined(config.defaults),
    ...(bare !== host ? defined(config.registries[bare]) : {}),
    ...defined(config.registries[host]),
    ...defined(overrides),
  };
}

/** The extension's form: a list of `{ host, ...settings }` (its `omlmd.registries` setting). */
export function configFromList(list: readonly (RegistrySettings & { host: string })[], defaults: RegistrySettings = {}): OmlmdConfig {
  const registries: Record<string, RegistrySettings> = {};
  for (const { host, ...settings } of list) registries[normalizeHost(host)] = settings;
  return { defaults, registries };
}

/** The RegistryClient options these settings stand for. */
export function registryOptions(s: RegistrySettings): Partial<RegistryOptions> {
  const o: Partial<RegistryOptions> = {};
  if (s.plainHttp !== undefined) o.plainHttp = s.plainHttp;
  if (s.caFile || s.certFile || s.keyFile || s.insecure) o.tls = { caFile: s.caFile, certFile: s.certFile, keyFile: s.keyFile, insecure: s.insecure };
  if (s.connectTimeout !== undefined) o.connectTimeoutMs = Math.round(s.connectTimeout * 1000);
  if (s.readTimeout !== undefined) o.readTimeoutMs = Math.round(s.readTimeout * 1000);
  if (s.retries !== undefined) o.retry = { retries: s.retries };
  if (s.chunkSizeMiB !== undefined) o.chunkSize = Math.max(1, Math.round(s.chunkSizeMiB * 1024 * 1024));
  return o;
}
