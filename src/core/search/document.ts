/**
 * The document a search query sees for one tagged model artifact: the metadata (the
 * config's fields, at the top level, so `@.customProperties.accuracy` reads as in omlmd)
 * plus where the artifact is and what it is.
 */
import { DOCKER_MODEL_CONFIG_TYPES } from '../model/artifact';
import { OmlmdError } from '../errors';
import { layerTitle, MODEL_ARTIFACT_TYPE, ModelMediaType } from '../model/artifact';
import { Annotation } from '../oci/mediatypes';
import type { ImageManifest } from '../oci/types';
import type { JsonValue } from './ast';

export type ArtifactKind = 'omlmd' | 'omlmd-0.1' | 'modelpack' | 'kitops' | 'docker';

export const ModelPackMediaType = {
  manifest: 'application/vnd.cncf.model.manifest.v1+json',
  config: 'application/vnd.cncf.model.config.v1+json',
} as const;
export const KITOPS_CONFIG_MEDIA_TYPE = 'application/vnd.kitops.modelkit.config.v1+json';

export type ArtifactFileEntry = {
  path: string;
  mediaType: string;
  size: number;
};

/** The fields every document has; the metadata's own fields sit beside them. */
export type DocumentFields = {
  /** `registry/repository:tag`, as a user writes it to pull the artifact. */
  reference: string;
  /** `host[:port]` of a registry, `local` for the local store, or `oci:PATH`. */
  registry: string;
  repository: string;
  tag: string;
  /** The digest the tag resolves to (an image index's, when it names one). */
  digest: string;
  /** The model manifest's digest when the tag names an image index. */
  manifestDigest?: string;
  kind: ArtifactKind;
  mediaType: string;
  artifactType: string | null;
  /** `org.opencontainers.image.created`, or ModelPack's `descriptor.createdAt`; null when unknown. */
  created: string | null;
  annotations: Record<string, string>;
  /** Bytes of the config and layers together. */
  size: number;
  files: ArtifactFileEntry[];
};

export type ArtifactDocument = DocumentFields & { [field: string]: JsonValue | undefined };

export const DOCUMENT_FIELDS: readonly string[] = [
  'reference', 'registry', 'repository', 'tag', 'digest', 'manifestDigest', 'kind', 'mediaType', 'artifactType', 'created', 'annotations', 'size', 'files',
];

/** Which model format a manifest is, or undefined when it is no model we know. */
export function artifactKind(m: ImageManifest): ArtifactKind | undefined {
  if (m.artifactType === MODEL_ARTIFACT_TYPE) return 'omlmd';
  if (m.artifactType === ModelPackMediaType.manifest || m.config.mediaType === ModelPackMediaType.config) return 'modelpack';
  if (m.config.mediaType === KITOPS_CONFIG_MEDIA_TYPE) return 'kitops';
  if (DOCKER_MODEL_CONFIG_TYPES.includes(m.config.mediaType)) return 'docker';
  if (m.config.mediaType === ModelMediaType.config) return 'omlmd-0.1';
  return undefined;
}

function badText(s: string): string | undefined {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0) return 'U+0000';
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++;
        continue;
      }
      return 'an unpaired surrogate';
    }
    if (c >= 0xdc00 && c <= 0xdfff) return 'an unpaired surrogate';
  }
  return undefined;
}

/**
 * Checks that every backend can hold a value exactly: PostgreSQL's jsonb refuses U+0000
 * and unpaired surrogates, so such documents are refused everywhere, and every backend
 * answers the same. Numbers are JavaScript doubles, so a config's `1.00000000000000001`
 * reads as `1` on every backend.
 */
export function checkStorable(v: unknown, where: string, path = '$', depth = 0): void {
  if (depth > 64) throw new OmlmdError('INVALID_METADATA', `${where}: the metadata is nested more than 64 levels deep at ${path}`);
  if (typeof v === 'string') {
    const bad = badText(v);
    if (bad) throw new OmlmdError('INVALID_METADATA', `${where}: the text at ${path} holds ${bad}, which the index cannot store`);
  } else if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new OmlmdError('INVALID_METADATA', `${where}: the number at ${path} is out of range`);
  } else if (Array.isArray(v)) {
    v.forEach((x, i) => checkStorable(x, where, `${path}[${i}]`, depth + 1));
  } else if (typeof v === 'object' && v !== null) {
    for (const [k, x] of Object.entries(v)) {
      const bad = badText(k);
      if (bad) throw new OmlmdError('INVALID_METADATA', `${where}: a field name under ${path} holds ${bad}, which the index cannot store`);
      checkStorable(x, where, `${path}[${JSON.stringify(k)}]`, depth + 1);
    }
  }
}

/** The config blob parsed as a JSON object, or a NOT_A_MODEL / INVALID_METADATA error saying why not. */
export function parseConfig(bytes: Buffer, where: string): Record<string, JsonValue> {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new OmlmdError('INVALID_METADATA', `${where}: the config is not valid JSON`, { cause: e });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new OmlmdError('INVALID_METADATA', `${where}: the config is not a JSON object`);
  checkStorable(doc, where);
  return doc as Record<string, JsonValue>;
}

export interface BuildDocumentInput {
  registry: string;
  repository: string;
  tag: string;
  reference: string;
  digest: string;
  manifestDigest?: string;
  mediaType: string;
  manifest: ImageManifest;
  kind: ArtifactKind;
  config: Record<string, JsonValue>;
}

function str(v: JsonValue | undefined): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function obj(v: JsonValue | undefined): Record<string, JsonValue> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? v : undefined;
}

/**
 * The document of one tagged artifact. The config's fields come first; where one has the
 * name of a document field, the document's wins and a warning says so. ModelPack and
 * KitOps configs keep their own shape and also get a top-level `name` when they have one.
 */
export function buildDocument(input: BuildDocumentInput): { document: ArtifactDocument; warnings: string[] } {
  const { manifest, config } = input;
  const warnings: string[] = [];
  const hidden = Object.keys(config).filter((k) => DOCUMENT_FIELDS.includes(k));
  if (hidden.length) warnings.push(`${input.reference}: config field${hidden.length === 1 ? '' : 's'} ${hidden.join(', ')} hidden by the document's own`);
  const annotations = manifest.annotations ?? {};
  let created = annotations[Annotation.created] ?? null;
  let name: string | undefined;
  if (input.kind === 'modelpack') {
    const d = obj(config.descriptor);
    created ??= str(d?.createdAt) ?? null;
    name = str(d?.name);
  } else if (input.kind === 'kitops') {
    name = str(obj(config.package)?.name);
  }
  const files: ArtifactFileEntry[] = manifest.layers.map((l) => ({ path: layerTitle(l) ?? l.digest, mediaType: l.mediaType, size: l.size }));
  const fields: DocumentFields = {
    reference: input.reference,
    registry: input.registry,
    repository: input.repository,
    tag: input.tag,
    digest: input.digest,
    ...(input.manifestDigest && input.manifestDigest !== input.digest ? { manifestDigest: input.manifestDigest } : {}),
    kind: input.kind,
    mediaType: input.mediaType,
    artifactType: manifest.artifactType ?? null,
    created,
    annotations: { ...annotations },
    size: manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0),
    files,
  };
  const document: ArtifactDocument = { ...(name !== undefined && !('name' in config) ? { name } : {}), ...config, ...fields };
  checkStorable(document, input.reference);
  return { document, warnings };
}

/** The same document for another tag of the same manifest. */
export function retag(doc: ArtifactDocument, tag: string, reference: string): ArtifactDocument {
  return { ...doc, tag, reference };
}

/** Every string value of a document, depth first: what the indexes narrow match() and search() by. */
export function stringsOf(v: unknown, out: string[] = []): string[] {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) for (const x of v) stringsOf(x, out);
  else if (v !== null && typeof v === 'object') for (const k of Object.keys(v)) stringsOf((v as Record<string, unknown>)[k], out);
  return out;
}
