import { OmlmdError } from '../errors';
import { Annotation, MediaType } from '../oci/mediatypes';
import type { Annotations, Descriptor, ImageManifest } from '../oci/types';
import { metadataAnnotations, type ModelMetadata } from './metadata';

/**
 * The model artifact. Default layout = omlmd 0.1.x, so Python users of omlmd read what we
 * push: config = metadata JSON (`application/x-config`), one raw layer per model file
 * (`application/x-mlmodel`, titled), the metadata again as JSON and YAML layers, and the
 * first-level fields projected to manifest annotations. Beyond 0.1.x we add an
 * artifactType so crawlers recognise a model, relative paths as titles, and standard
 * OCI annotations. Documented in docs/artifact-format.md.
 */
export const ModelMediaType = {
  model: 'application/x-mlmodel',
  /** Model layers of omlmd before mid-2024; read, never written. */
  legacyModel: 'application/x-artifact',
  config: 'application/x-config',
} as const;

export const MODEL_ARTIFACT_TYPE = 'application/vnd.omlmd.model.v1+json';
export const METADATA_JSON_TITLE = 'model_metadata.omlmd.json';
export const METADATA_YAML_TITLE = 'model_metadata.omlmd.yaml';
export const METADATA_TITLES: readonly string[] = [METADATA_JSON_TITLE, METADATA_YAML_TITLE];
/** Provenance annotations of our own. */
export const OmlmdAnnotation = {
  version: 'dev.omlmd.version',
} as const;

export interface ModelFileLayer {
  /** Relative path with `/` separators, kept as the layer title. */
  title: string;
  digest: string;
  size: number;
  mediaType?: string;
  /** More layer annotations (an encrypted layer's wrapped keys and options). */
  annotations?: Annotations;
}

export interface BuildManifestInput {
  metadata: ModelMetadata;
  config: { digest: string; size: number };
  yaml: { digest: string; size: number };
  files: ModelFileLayer[];
  /** RFC 3339 creation time; omitted when null. */
  created?: string | null;
  annotations?: Annotations;
  subject?: Descriptor;
  /** false writes no artifactType, exactly as omlmd 0.1.x. */
  artifactType?: string | false;
  /**
   * The metadata layers encrypted (push --encrypt-metadata): these descriptors (their title
   * added) stand for the JSON and YAML layers, the config is `config` (metadata-free), and
   * the metadata is not projected into the annotations: only `created` and `annotations` stay.
   */
  encryptedMetadata?: { json: Descriptor; yaml: Descriptor };
}

/** Builds the manifest and its exact bytes (the digest is over these bytes). */
export function buildModelManifest(input: BuildManifestInput): { manifest: ImageManifest; bytes: Buffer } {
  const { metadata } = input;
  const configDesc: Descriptor = { mediaType: ModelMediaType.config, digest: input.config.digest, size: input.config.size };
  const layers: Descriptor[] = input.files.map((f) => ({
    mediaType: f.mediaType ?? ModelMediaType.model,
    digest: f.digest,
    size: f.size,
    annotations: { [Annotation.title]: f.title, ...f.annotations },
  }));
  const sealed = input.encryptedMetadata;
  if (sealed) {
    layers.push({ ...sealed.json, annotations: { [Annotation.title]: METADATA_JSON_TITLE, ...sealed.json.annotations } });
    layers.push({ ...sealed.yaml, annotations: { [Annotation.title]: METADATA_YAML_TITLE, ...sealed.yaml.annotations } });
  } else {
    layers.push({ ...configDesc, annotations: { [Annotation.title]: METADATA_JSON_TITLE } });
    layers.push({ mediaType: ModelMediaType.config, digest: input.yaml.digest, size: input.yaml.size, annotations: { [Annotation.title]: METADATA_YAML_TITLE } });
  }

  const annotations: Annotations = sealed ? {} : { ...metadataAnnotations(metadata) };
  const standard: Annotations = {};
  if (input.created) standard[Annotation.created] = input.created;
  if (!sealed) {
    if (metadata.author) standard[Annotation.authors] = metadata.author;
    if (metadata.description) standard[Annotation.description] = metadata.description;
    if (metadata.name) standard['org.opencontainers.image.title'] = metadata.name;
    const license = metadata.customProperties?.license ?? metadata.customProperties?.licenses;
    if (typeof license === 'string' && license !== '') standard[Annotation.licenses] = license;
  }
  Object.assign(annotations, standard, input.annotations ?? {});

  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    ...(input.artifactType === false ? {} : { artifactType: input.artifactType ?? MODEL_ARTIFACT_TYPE }),
    config: configDesc,
    layers,
    ...(input.subject ? { subject: input.subject } : {}),
    annotations,
  };
  const bytes = Buffer.from(JSON.stringify(manifest), 'utf8');
  if (bytes.length > MAX_MANIFEST_BYTES) throw manifestTooLarge(bytes.length, annotations);
  return { manifest, bytes };
}

/**
 * The largest manifest omlmd writes or reads, in any store: distribution keeps no larger
 * one, and many registries stop well before. A 100 MB description became a 209 MB manifest
 * nothing could read back.
 */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

function manifestTooLarge(size: number, annotations: Annotations): OmlmdError {
  const [key, value] = Object.entries(annotations).sort((a, b) => b[1].length - a[1].length)[0] ?? ['', ''];
  const field = key.replace(/\+json$/, '').replace(/^org\.opencontainers\.image\./, '');
  return new OmlmdError('INVALID_METADATA', `the manifest would be ${size} bytes, over the ${MAX_MANIFEST_BYTES} a registry keeps: the metadata is also written into its annotations, and the largest, ${JSON.stringify(field)}, is ${value.length} characters`, {
    remedies: [{ kind: 'say', text: `shorten ${field}, or push a long text as a file of the model (a README) and keep the metadata to a summary` }],
  });
}

export type LayerRole = 'model' | 'metadata' | 'other';

export interface ArtifactFile {
  /** Where the file goes relative to the output directory; from the title, or made from the digest. */
  path: string;
  /** Whether `path` came from a title annotation (false: named after the digest). */
  titled: boolean;
  role: LayerRole;
  descriptor: Descriptor;
  /** An ocicrypt-encrypted layer (`+encrypted` media type): its bytes are ciphertext. */
  encrypted: boolean;
}

export type ArtifactFlavor = 'omlmd' | 'omlmd-0.1' | 'modelpack' | 'kitops' | 'docker' | 'other';

export interface ArtifactView {
  flavor: ArtifactFlavor;
  artifactType?: string;
  files: ArtifactFile[];
  /** No model file: the metadata's `uri` says where the model lives. */
  metadataOnly: boolean;
}

const MODEL_TYPES: readonly string[] = [ModelMediaType.model, ModelMediaType.legacyModel];
/** ModelPack's weight layers (modelpack.ts has the other roles). */
const WEIGHT_TYPES = /^application\/vnd\.(cncf\.model\.weight\.v1\.(raw|tar(\+gzip|\+zstd)?)|kitops\.modelkit\.(model|modelpart)\.v1\.tar(\+gzip|\+zstd)?)$/;
/** Docker Model Runner's configs (docker/model-runner pkg/distribution/types/config.go). */
export const DOCKER_MODEL_CONFIG_TYPES: readonly string[] = ['application/vnd.docker.ai.model.config.v0.1+json', 'application/vnd.docker.ai.model.config.v0.2+json'];
/** Docker Model Runner's weight layers, and the file extension an untitled one is given. */
const DOCKER_FILE_TYPES: Record<string, { ext: string; model: boolean }> = {
  'application/vnd.docker.ai.gguf.v3': { ext: '.gguf', model: true },
  'application/vnd.docker.ai.safetensors': { ext: '.safetensors', model: true },
  'application/vnd.docker.ai.dduf': { ext: '.dduf', model: true },
  'application/vnd.docker.ai.license': { ext: '.license', model: false },
  'application/vnd.docker.ai.mmproj': { ext: '.mmproj', model: false },
  'application/vnd.docker.ai.chat.template.jinja': { ext: '.jinja', model: false },
};
/** A KitOps ModelKit's config: its Kitfile as JSON. */
export const KITOPS_CONFIG_TYPE = 'application/vnd.kitops.modelkit.config.v1+json';
/** ocicrypt's suffix on the media type of an encrypted layer (src/core/crypt). */
const ENCRYPTED_SUFFIX = '+encrypted';

/** The title other tools give a file: OCI's title, or ModelPack's file path. */
export function layerTitle(d: Descriptor): string | undefined {
  return d.annotations?.[Annotation.title] ?? d.annotations?.['org.cncf.model.filepath'];
}

/** Reads any manifest as a model artifact: which layers are model files, which metadata. */
export function viewArtifact(m: ImageManifest): ArtifactView {
  const files: ArtifactFile[] = m.layers.map((d) => {
    const title = layerTitle(d);
    const encrypted = d.mediaType.endsWith(ENCRYPTED_SUFFIX);
    const mediaType = encrypted ? d.mediaType.slice(0, -ENCRYPTED_SUFFIX.length) : d.mediaType;
    const docker = DOCKER_FILE_TYPES[mediaType];
    const role: LayerRole = MODEL_TYPES.includes(mediaType) || WEIGHT_TYPES.test(mediaType) || docker?.model === true
      ? 'model'
      : mediaType === ModelMediaType.config && title !== undefined && METADATA_TITLES.includes(title)
        ? 'metadata'
        : 'other';
    return { path: title ?? `${d.digest.replace(':', '-')}${docker?.ext ?? ''}`, titled: title !== undefined, role, descriptor: d, encrypted };
  });
  const isOmlmdConfig = m.config.mediaType === ModelMediaType.config;
  const modelpack = m.artifactType === 'application/vnd.cncf.model.manifest.v1+json' || m.config.mediaType === 'application/vnd.cncf.model.config.v1+json';
  const kitops = m.config.mediaType === KITOPS_CONFIG_TYPE;
  const docker = DOCKER_MODEL_CONFIG_TYPES.includes(m.config.mediaType);
  const flavor: ArtifactFlavor = m.artifactType === MODEL_ARTIFACT_TYPE ? 'omlmd' : isOmlmdConfig ? 'omlmd-0.1' : modelpack ? 'modelpack' : kitops ? 'kitops' : docker ? 'docker' : 'other';
  return { flavor, artifactType: m.artifactType ?? m.config.mediaType, files, metadataOnly: flavor !== 'other' && !files.some((f) => f.role === 'model') };
}

/** Throws unless the manifest is an omlmd model (ours or 0.1.x), for commands that need its metadata. */
export function assertModel(m: ImageManifest, ref: string): void {
  if (m.config.mediaType !== ModelMediaType.config && m.config.mediaType !== 'application/vnd.cncf.model.config.v1+json' && m.config.mediaType !== KITOPS_CONFIG_TYPE && !DOCKER_MODEL_CONFIG_TYPES.includes(m.config.mediaType)) {
    throw new OmlmdError('NOT_A_MODEL', `${ref} is not an omlmd model artifact (its config is ${m.config.mediaType}, not ${ModelMediaType.config})`, {
      remedies: [{ kind: 'inspect-artifact', reference: ref }],
    });
  }
}
