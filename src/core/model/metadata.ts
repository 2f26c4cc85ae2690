import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import type { ErrorObject } from 'ajv';
import yaml from 'js-yaml';
import { OmlmdError, toOmlmdError } from '../errors';
import { decodeUtf8 } from '../util/utf8';
import { describeValue, explainSchemaError, METADATA_FIELDS, type ModelMetadata } from './fields';
import schema from './metadata.schema.json';
import { pyJsonDumps } from './pyjson';
import { compileMetadataValidator, type MetadataValidator } from './schemaValidator';
import { loadYaml, MAX_METADATA_DEPTH, tooDeepAt } from './yamlload';

export { METADATA_FIELDS } from './fields';
export type { MetadataField, ModelMetadata } from './fields';

/** Metadata with every field present, as it is stored (unset fields are null). */
export type FullMetadata = { [K in keyof ModelMetadata]-?: Exclude<ModelMetadata[K], undefined> } & { customProperties: Record<string, unknown> };

export const metadataSchema = schema;
export { MAX_METADATA_DEPTH } from './yamlload';

/** Metadata nested deeper than every face can show and write back is refused where it enters. */
function checkDepth(doc: unknown, source: string): void {
  const at = tooDeepAt(doc);
  if (at !== undefined) {
    throw new OmlmdError('INVALID_METADATA', `${source}: the metadata nests more than ${MAX_METADATA_DEPTH} levels deep (at ${at.length > 120 ? `${at.slice(0, 117)}...` : at})`, {
      remedies: [{ kind: 'say', text: `keep metadata at most ${MAX_METADATA_DEPTH} levels deep; put deeper data in a model file` }],
    });
  }
}

let validator: MetadataValidator | undefined;
function validate(doc: unknown): ErrorObject[] {
  validator ??= compileMetadataValidator();
  return validator(doc) ? [] : (validator.errors ?? []);
}

/**
 * Checks a parsed metadata document against the schema. `source` names where it came from
 * (a file name, "--name", "the editor") so every message says where to look.
 */
export function validateMetadata(doc: unknown, source: string): ModelMetadata {
  if (doc === null || doc === undefined) {
    throw new OmlmdError('INVALID_METADATA', `${source}: the metadata is empty`, { remedies: [{ kind: 'say', text: 'write at least a name, e.g. "name: my model"' }] });
  }
  if (Array.isArray(doc)) {
    throw new OmlmdError('INVALID_METADATA', `${source}: the top level is a list; it must be a mapping of fields`, { remedies: [{ kind: 'say', text: 'write it as "name: ...", "author: ...", not "- name: ..."' }] });
  }
  if (typeof doc !== 'object') {
    throw new OmlmdError('INVALID_METADATA', `${source}: the top level is ${describeValue(doc)}; it must be a mapping of fields (name, author, ...)`);
  }
  checkDepth(doc, source);
  const errors = validate(doc);
  if (errors.length > 0) {
    const lines = [...new Set(errors.map((e) => explainSchemaError(e, doc as Record<string, unknown>)))];
    throw new OmlmdError('INVALID_METADATA', `${source}: ${lines.join('; ')}`);
  }
  return doc as ModelMetadata;
}

/** Parses metadata text; JSON or YAML by `format`, else by the file extension, else YAML (a superset of JSON). */
export function parseMetadata(text: string, source: string, format?: 'json' | 'yaml'): ModelMetadata {
  const fmt = format ?? (extname(source).toLowerCase() === '.json' ? 'json' : 'yaml');
  if (text.trim() === '') {
    throw new OmlmdError('INVALID_METADATA', `${source}: the file is empty`, { remedies: [{ kind: 'say', text: 'write at least a name, e.g. "name: my model"' }] });
  }
  let doc: unknown;
  if (fmt === 'json') {
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new OmlmdError('INVALID_METADATA', `${source}: not valid JSON: ${(e as Error).message}`, { cause: e });
    }
  } else {
    // The core schema: no timestamps, so "2024-01-01" stays a string as JSON would keep it;
    // aliases and nesting are limited (yamlload.ts).
    const r = loadYaml(text);
    if (!r.ok) throw new OmlmdError('INVALID_METADATA', `${source}: not valid YAML: ${r.reason}${r.line === undefined ? '' : ` at line ${r.line}, column ${r.column}`}`);
    doc = r.value;
  }
  return validateMetadata(doc, source);
}

/** Reads a metadata file, which must be UTF-8: a byte that is not is refused with its offset, never replaced. */
export async function readMetadataFile(path: string): Promise<ModelMetadata> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw toOmlmdError(e, `cannot read metadata file ${path}`);
  }
  const decoded = decodeUtf8(bytes);
  if (!decoded.ok) {
    throw new OmlmdError('INVALID_METADATA', `${path}: not valid UTF-8: byte 0x${bytes[decoded.offset]!.toString(16).padStart(2, '0')} at offset ${decoded.offset} is not part of a UTF-8 character`, {
      remedies: [{ kind: 'say', text: 'save the file as UTF-8' }],
    });
  }
  return parseMetadata(decoded.text, path, undefined);
}

/** Every field present, in omlmd's order, unset ones null, customProperties an object. */
export function normalizeMetadata(md: ModelMetadata): FullMetadata {
  return {
    name: md.name ?? null,
    description: md.description ?? null,
    author: md.author ?? null,
    customProperties: md.customProperties ?? {},
    uri: md.uri ?? null,
    model_format_name: md.model_format_name ?? null,
    model_format_version: md.model_format_version ?? null,
  };
}

/** Later sources win field by field; customProperties are merged key by key. */
export function mergeMetadata(...parts: ModelMetadata[]): ModelMetadata {
  const out: ModelMetadata = {};
  for (const p of parts) {
    for (const k of METADATA_FIELDS) {
      const v = p[k];
      if (v === undefined) continue;
      if (k === 'customProperties') out.customProperties = { ...(out.customProperties ?? {}), ...(v as Record<string, unknown>) };
      else (out as Record<string, unknown>)[k] = v;
    }
  }
  return out;
}

/** The config blob and `model_metadata.omlmd.json`: Python's `json.dumps(indent=4)`, as omlmd 0.1.x. */
export function metadataToJson(md: ModelMetadata): Buffer {
  return Buffer.from(pyJsonDumps(normalizeMetadata(md), 4), 'utf8');
}

/** `model_metadata.omlmd.yaml`: keys sorted and nulls written, as PyYAML's `yaml.dump`. */
export function metadataToYaml(md: ModelMetadata): Buffer {
  return Buffer.from(yaml.dump(normalizeMetadata(md), { sortKeys: true, noArrayIndent: true, lineWidth: -1 }), 'utf8');
}

/** First-level fields as manifest annotations: strings as they are, nulls skipped, the rest `key+json`. */
export function metadataAnnotations(md: ModelMetadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(normalizeMetadata(md))) {
    if (v === null || v === undefined) continue;
    if (typeof v === 'string') out[k] = v;
    else out[`${k}+json`] = pyJsonDumps(v);
  }
  return out;
}

/**
 * Reads a config blob someone else wrote (omlmd 0.1.x, or us). Lenient: unknown fields are
 * kept and reported as warnings rather than refused, because the artifact already exists.
 */
export function metadataFromConfig(bytes: Buffer, source: string): { metadata: ModelMetadata & Record<string, unknown>; warnings: string[] } {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new OmlmdError('NOT_A_MODEL', `${source}: the config is not JSON, so this is not an omlmd model artifact`, { cause: e });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new OmlmdError('NOT_A_MODEL', `${source}: the config is not a JSON object, so this is not an omlmd model artifact`);
  }
  // Not a warning: nothing past this (JSON, YAML, the editor) could show or write it back.
  checkDepth(doc, source);
  const warnings: string[] = [];
  try {
    validateMetadata(doc, source);
  } catch (e) {
    if (e instanceof OmlmdError) warnings.push(e.message);
    else throw e;
  }
  return { metadata: doc as ModelMetadata & Record<string, unknown>, warnings };
}
