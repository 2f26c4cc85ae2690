/**
 * The CNCF ModelPack format (modelpack/model-spec v0.0.7: specs-go/v1/mediatype.go,
 * annotations.go, config.go, schema/config-schema.json), written by `push --format modelpack`
 * and read back by inspect, metadata and pull.
 *
 * What we write: artifactType `application/vnd.cncf.model.manifest.v1+json`; a config that is
 * valid against the spec's schema (descriptor, config, modelfs; nothing else, since the root
 * has additionalProperties false); every file as one raw layer (the spec's `.raw` media
 * types, uncompressed, so a runtime that mounts layers as files sees the file itself, and the
 * layer digest is the file's sha256: a copy to or from the omlmd layout moves no weight byte),
 * typed by role (weight, weight config, doc, code, dataset) and annotated with
 * `org.cncf.model.filepath` and `org.cncf.model.file.metadata+json`. What ModelPack has no
 * field for (customProperties, uri, the model format) is kept whole in the manifest
 * annotation `dev.omlmd.model.metadata+json`, which ModelPack readers ignore and we read back.
 */
import { OmlmdError } from '../errors';
import { Annotation } from '../oci/mediatypes';
import type { Annotations, Descriptor, ImageManifest } from '../oci/types';
import { DOCKER_MODEL_CONFIG_TYPES, KITOPS_CONFIG_TYPE, MAX_MANIFEST_BYTES } from './artifact';
import { metadataFromConfig, normalizeMetadata, type ModelMetadata } from './metadata';

export const ModelPackMediaType = {
  manifest: 'application/vnd.cncf.model.manifest.v1+json',
  config: 'application/vnd.cncf.model.config.v1+json',
  weight: 'application/vnd.cncf.model.weight.v1.raw',
  weightConfig: 'application/vnd.cncf.model.weight.config.v1.raw',
  doc: 'application/vnd.cncf.model.doc.v1.raw',
  code: 'application/vnd.cncf.model.code.v1.raw',
  dataset: 'application/vnd.cncf.model.dataset.v1.raw',
} as const;

export const ModelPackAnnotation = {
  filepath: 'org.cncf.model.filepath',
  fileMetadata: 'org.cncf.model.file.metadata+json',
} as const;

/** Where our metadata rides in a ModelPack manifest, whole (ModelPack readers ignore it). */
export const OMLMD_METADATA_ANNOTATION = 'dev.omlmd.model.metadata+json';

export type ModelPackRole = 'weight' | 'weightConfig' | 'doc' | 'code' | 'dataset';

const WEIGHT_EXT = /\.(safetensors|gguf|ggml|bin|pt|pth|ckpt|onnx|joblib|pkl|pickle|h5|hdf5|keras|tflite|pb|mlmodel|pmml|mar|npz|npy|ubj|cbm|lgb|model|pdparams|msgpack|mlpackage|engine|plan|params)$/i;
const CONFIG_NAMES = /(^|\/)(config|generation_config|preprocessor_config|tokenizer|tokenizer_config|special_tokens_map|added_tokens|vocab|merges|chat_template)(\.[\w.]+)?$|\.(json|ya?ml|toml|ini|cfg|txt\.model|spm|vocab|tiktoken)$/i;
const DOC_NAMES = /(^|\/)(readme|license|licence|notice|copying|model_card|modelcard|changelog|citation)(\.[\w.]+)?$|\.(md|rst|txt|pdf|html)$/i;
const CODE_EXT = /\.(py|ipynb|sh|js|ts|go|rs|c|cc|cpp|h|java|scala|r|jl|lua)$/i;
const DATASET_EXT = /\.(csv|tsv|parquet|arrow|jsonl|avro|feather|tfrecord)$/i;

/** The ModelPack role of a file, from its path: weights by extension, then configuration, docs, code, datasets; anything else is configuration. */
export function roleOf(path: string): ModelPackRole {
  if (WEIGHT_EXT.test(path)) return 'weight';
  if (DOC_NAMES.test(path)) return 'doc';
  if (CODE_EXT.test(path)) return 'code';
  if (DATASET_EXT.test(path)) return 'dataset';
  if (CONFIG_NAMES.test(path)) return 'weightConfig';
  return 'weightConfig';
}

export interface ModelPackFile {
  title: string;
  digest: string;
  size: number;
  /** File mode bits and modification time, for `org.cncf.model.file.metadata+json`. */
  mode: number;
  mtime: Date;
}

/** The ModelPack config for our metadata: the descriptor fields ModelPack has, nothing else. */
export function modelPackConfig(metadata: ModelMetadata, files: ModelPackFile[], created: string | undefined): Record<string, unknown> {
  const md = normalizeMetadata(metadata) as ModelMetadata & Record<string, unknown>;
  const descriptor: Record<string, unknown> = {};
  if (created) descriptor.createdAt = created;
  if (md.author) descriptor.authors = [md.author];
  if (md.name) descriptor.name = md.name;
  if (md.description) descriptor.description = md.description;
  const cp = md.customProperties ?? {};
  const license = cp.license ?? cp.licenses;
  if (typeof license === 'string' && license) descriptor.licenses = [license];
  if (typeof md.model_format_version === 'string' && md.model_format_version) descriptor.version = md.model_format_version;
  if (typeof md.uri === 'string' && /^https?:\/\//.test(md.uri)) descriptor.sourceURL = md.uri;
  const config: Record<string, unknown> = {};
  if (md.model_format_name) config.format = md.model_format_name;
  for (const [k, field] of [['architecture', 'architecture'], ['parameters', 'paramSize'], ['dtype', 'precision'], ['quantization', 'quantization']] as const) {
    const v = cp[k];
    if ((typeof v === 'string' && v) || typeof v === 'number') config[field] = String(v);
  }
  // Raw layers: the uncompressed content is the blob, so each diff id is the layer digest.
  return { descriptor, config, modelfs: { type: 'layers', diffIds: files.length ? files.map((f) => f.digest) : [] } };
}

/** One raw layer per file, typed by role, with ModelPack's file annotations. */
export function modelPackLayer(f: ModelPackFile): Descriptor {
  const name = f.title.split('/').pop()!;
  const fileMetadata = { name, mode: f.mode & 0o7777, uid: 0, gid: 0, size: f.size, mtime: f.mtime.toISOString(), typeflag: 48 };
  return {
    mediaType: ModelPackMediaType[roleOf(f.title)],
    digest: f.digest,
    size: f.size,
    annotations: {
      [Annotation.title]: f.title,
      [ModelPackAnnotation.filepath]: f.title,
      [ModelPackAnnotation.fileMetadata]: JSON.stringify(fileMetadata),
    },
  };
}

export function buildModelPackManifest(input: { config: { digest: string; size: number }; layers: Descriptor[]; metadata: ModelMetadata; created?: string; annotations?: Annotations; subject?: Descriptor }): { manifest: ImageManifest; bytes: Buffer } {
  const annotations: Annotations = { [OMLMD_METADATA_ANNOTATION]: JSON.stringify(normalizeMetadata(input.metadata)) };
  if (input.created) annotations[Annotation.created] = input.created;
  if (input.metadata.name) annotations['org.opencontainers.image.title'] = input.metadata.name;
  if (input.metadata.description) annotations[Annotation.description] = input.metadata.description;
  Object.assign(annotations, input.annotations ?? {});
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: ModelPackMediaType.manifest,
    config: { mediaType: ModelPackMediaType.config, digest: input.config.digest, size: input.config.size },
    layers: input.layers,
    ...(input.subject ? { subject: input.subject } : {}),
    annotations,
  };
  const bytes = Buffer.from(JSON.stringify(manifest), 'utf8');
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw new OmlmdError('INVALID_METADATA', `the ModelPack manifest would be ${bytes.length} bytes, over the ${MAX_MANIFEST_BYTES} a registry keeps: the metadata rides in its annotations`, {
      remedies: [{ kind: 'say', text: 'shorten the metadata (the description, customProperties), or push long texts as files of the model' }],
    });
  }
  return { manifest, bytes };
}

export function isModelPack(m: ImageManifest): boolean {
  return m.artifactType === ModelPackMediaType.manifest || m.config.mediaType === ModelPackMediaType.config;
}

const WEIGHT_TYPES = /^application\/vnd\.cncf\.model\.weight\.v1\.(raw|tar(\+gzip|\+zstd)?)$/;

/** Whether a ModelPack layer holds weights (the model files proper). */
export function isModelPackWeight(mediaType: string): boolean {
  return WEIGHT_TYPES.test(mediaType);
}

/**
 * Our metadata from a ModelPack artifact: the annotation we wrote, whole; else (another
 * tool's) the descriptor mapped back: name, description, authors, licenses, format.
 */
export function metadataFromModelPack(manifest: ImageManifest, config: Record<string, unknown>, where: string): { metadata: ModelMetadata & Record<string, unknown>; warnings: string[] } {
  const raw = manifest.annotations?.[OMLMD_METADATA_ANNOTATION];
  if (raw !== undefined) {
    try {
      const md = JSON.parse(raw) as unknown;
      if (typeof md === 'object' && md !== null && !Array.isArray(md)) return { metadata: md as ModelMetadata & Record<string, unknown>, warnings: [] };
    } catch {
      // fall through to the descriptor
    }
    return { metadata: fromDescriptor(config), warnings: [`${where}: the ${OMLMD_METADATA_ANNOTATION} annotation is not a JSON object; read the ModelPack descriptor instead`] };
  }
  return { metadata: fromDescriptor(config), warnings: [] };
}

function fromDescriptor(config: Record<string, unknown>): ModelMetadata & Record<string, unknown> {
  const d = (typeof config.descriptor === 'object' && config.descriptor !== null ? config.descriptor : {}) as Record<string, unknown>;
  const c = (typeof config.config === 'object' && config.config !== null ? config.config : {}) as Record<string, unknown>;
  const s = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
  const list = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
  const md: ModelMetadata & Record<string, unknown> = {};
  if (s(d.name)) md.name = s(d.name);
  if (s(d.description)) md.description = s(d.description);
  if (list(d.authors).length) md.author = list(d.authors).join(', ');
  if (s(c.format)) md.model_format_name = s(c.format);
  if (s(d.version)) md.model_format_version = s(d.version);
  const custom: Record<string, unknown> = {};
  if (list(d.licenses).length) custom.license = list(d.licenses).join(', ');
  for (const [field, k] of [['architecture', 'architecture'], ['paramSize', 'parameters'], ['precision', 'dtype'], ['quantization', 'quantization']] as const) if (s(c[field])) custom[k] = s(c[field]);
  if (Object.keys(custom).length) md.customProperties = custom as ModelMetadata['customProperties'];
  return md;
}

/** The metadata of a model artifact from its config bytes, in whichever layout it is (omlmd, 0.1.x, ModelPack). */
export function readModelMetadata(manifest: ImageManifest, bytes: Buffer, where: string): { metadata: ModelMetadata & Record<string, unknown>; warnings: string[] } {
  const kitops = manifest.config.mediaType === KITOPS_CONFIG_TYPE;
  const docker = DOCKER_MODEL_CONFIG_TYPES.includes(manifest.config.mediaType);
  if (!isModelPack(manifest) && !kitops && !docker) return metadataFromConfig(bytes, where);
  let config: unknown;
  try {
    config = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new OmlmdError('NOT_A_MODEL', `${where}: the ModelPack config is not JSON`, { cause: e });
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new OmlmdError('NOT_A_MODEL', `${where}: the ModelPack config is not a JSON object`);
  if (kitops) return { metadata: fromKitfile(config as Record<string, unknown>), warnings: [] };
  if (docker) return { metadata: fromDockerConfig(manifest, config as Record<string, unknown>), warnings: [] };
  return metadataFromModelPack(manifest, config as Record<string, unknown>, where);
}

/**
 * A KitOps Kitfile (the ModelKit's config, pkg/artifact/kitfile.go): package.name,
 * description, authors, license; model.name/framework/version; model.parameters (any
 * JSON) as customProperties.
 */
function fromKitfile(k: Record<string, unknown>): ModelMetadata & Record<string, unknown> {
  const o = (v: unknown) => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
  const s = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
  const pkg = o(k.package);
  const model = o(k.model);
  const md: ModelMetadata & Record<string, unknown> = {};
  const name = s(pkg.name) ?? s(model.name);
  if (name) md.name = name;
  const description = s(pkg.description) ?? s(model.description);
  if (description) md.description = description;
  if (Array.isArray(pkg.authors) && pkg.authors.length) md.author = pkg.authors.filter((a): a is string => typeof a === 'string').join(', ');
  if (s(model.framework)) md.model_format_name = s(model.framework);
  if (s(model.version) ?? s(pkg.version)) md.model_format_version = s(model.version) ?? s(pkg.version);
  const custom: Record<string, unknown> = { ...o(model.parameters) };
  const license = s(pkg.license) ?? s(model.license);
  if (license) custom.license = license;
  if (Object.keys(custom).length) md.customProperties = custom as ModelMetadata['customProperties'];
  return md;
}

/**
 * A Docker Model Runner config (pkg/distribution/types/config.go: `config` with format,
 * quantization, parameters, architecture, size, context_size, gguf; `descriptor.created`).
 * It has no name: the manifest's title annotation when there is one.
 */
function fromDockerConfig(manifest: ImageManifest, c: Record<string, unknown>): ModelMetadata & Record<string, unknown> {
  const cfg = (typeof c.config === 'object' && c.config !== null ? c.config : {}) as Record<string, unknown>;
  const s = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
  const md: ModelMetadata & Record<string, unknown> = {};
  const title = s(manifest.annotations?.['org.opencontainers.image.title']);
  if (title) md.name = title;
  if (s(cfg.format)) md.model_format_name = s(cfg.format);
  const custom: Record<string, unknown> = {};
  for (const k of ['architecture', 'parameters', 'quantization', 'size'] as const) if (s(cfg[k])) custom[k] = s(cfg[k]);
  if (typeof cfg.context_size === 'number') custom.context_size = cfg.context_size;
  if (Object.keys(custom).length) md.customProperties = custom as ModelMetadata['customProperties'];
  return md;
}
