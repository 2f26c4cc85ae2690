import { OmlmdError } from '../errors';
import { assertDigest } from './digest';
import { INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES, MediaType } from './mediatypes';

export type Annotations = Record<string, string>;

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Annotations;
  artifactType?: string;
  urls?: string[];
  data?: string;
  platform?: Platform;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Annotations;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Annotations;
}

/** A manifest or index as fetched: the exact bytes (digests are over them) and the parsed form. */
export type FetchedManifest =
  | { kind: 'manifest'; descriptor: Descriptor; bytes: Buffer; manifest: ImageManifest }
  | { kind: 'index'; descriptor: Descriptor; bytes: Buffer; index: ImageIndex };

function fail(where: string, what: string): never {
  throw new OmlmdError('INVALID_MANIFEST', `${where}: ${what}`);
}

function checkAnnotations(v: unknown, where: string): void {
  if (v === undefined) return;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(where, 'annotations must be an object');
  for (const [k, val] of Object.entries(v)) if (typeof val !== 'string') fail(where, `annotation ${k} must be a string`);
}

export function parseDescriptor(v: unknown, where: string): Descriptor {
  if (typeof v !== 'object' || v === null) fail(where, 'descriptor must be an object');
  const d = v as Record<string, unknown>;
  if (typeof d.mediaType !== 'string' || d.mediaType === '') fail(where, 'descriptor has no mediaType');
  assertDigest(d.digest, `${where}.digest`);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) fail(where, 'descriptor size must be a non-negative integer');
  checkAnnotations(d.annotations, where);
  return d as unknown as Descriptor;
}

/** Parses manifest or index bytes, checking every field the core relies on. */
export function parseManifestBytes(bytes: Buffer, descriptor: Descriptor, where: string): FetchedManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new OmlmdError('INVALID_MANIFEST', `${where}: manifest is not valid JSON`, { cause: e });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) fail(where, 'manifest must be a JSON object');
  const m = doc as Record<string, unknown>;
  if (m.schemaVersion !== 2) fail(where, `unsupported schemaVersion ${JSON.stringify(m.schemaVersion) ?? typeof m.schemaVersion}`);
  const mediaType = typeof m.mediaType === 'string' ? m.mediaType : descriptor.mediaType;
  const isIndex = (INDEX_MEDIA_TYPES as readonly string[]).includes(mediaType) || (mediaType === '' && Array.isArray(m.manifests));
  checkAnnotations(m.annotations, where);
  if (isIndex || Array.isArray(m.manifests)) {
    if (!Array.isArray(m.manifests)) fail(where, 'index has no manifests array');
    m.manifests.forEach((d, i) => parseDescriptor(d, `${where} manifests[${i}]`));
    if (m.subject !== undefined) parseDescriptor(m.subject, `${where} subject`);
    return { kind: 'index', descriptor: { ...descriptor, mediaType: mediaType || MediaType.ociIndex }, bytes, index: m as unknown as ImageIndex };
  }
  if (!(MANIFEST_MEDIA_TYPES as readonly string[]).includes(mediaType) && mediaType !== '') {
    fail(where, `unsupported manifest media type ${mediaType}`);
  }
  parseDescriptor(m.config, `${where} config`);
  if (!Array.isArray(m.layers)) fail(where, 'manifest has no layers array');
  m.layers.forEach((d, i) => parseDescriptor(d, `${where} layers[${i}]`));
  if (m.subject !== undefined) parseDescriptor(m.subject, `${where} subject`);
  return { kind: 'manifest', descriptor: { ...descriptor, mediaType: mediaType || MediaType.ociManifest }, bytes, manifest: m as unknown as ImageManifest };
}

/** All blobs (not child manifests) a manifest refers to, config first. */
export function manifestBlobs(m: ImageManifest): Descriptor[] {
  return [m.config, ...m.layers];
}
