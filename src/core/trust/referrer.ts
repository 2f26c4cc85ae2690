/**
 * Bundles as OCI referrers, laid out as cosign's bundle spec (specs/BUNDLE_SPEC.md) says:
 * an image manifest with artifactType `application/vnd.dev.sigstore.bundle.v0.3+json`, the
 * empty config, one layer (the bundle JSON, same media type, titled `sha256-<hex>.sigstore.json`),
 * `subject` = what is signed, annotations `dev.sigstore.bundle.content` and
 * `dev.sigstore.bundle.predicateType` (and `org.opencontainers.image.created`). Listed by the
 * referrers API, else by the `sha256-<hex>` tag schema (lineage's referrers code).
 */
import { Readable } from 'node:stream';
import { OmlmdError } from '../errors';
import { Annotation, EMPTY_JSON_DIGEST, MediaType } from '../oci/mediatypes';
import { sha256 } from '../oci/digest';
import type { CallOptions, Repository } from '../oci/store';
import type { Descriptor, ImageManifest } from '../oci/types';
import { defaultCreated } from '../transfer/push';
import { listReferrers, pushReferrer, type ReferrersSource } from '../lineage/referrers';
import { BUNDLE_MEDIA_TYPE, MAX_BUNDLE_BYTES, parseBundle } from './bundle';
import type { Bundle } from '@sigstore/bundle';

export const BundleAnnotation = {
  content: 'dev.sigstore.bundle.content',
  predicateType: 'dev.sigstore.bundle.predicateType',
} as const;

const EMPTY_BYTES = Buffer.from('{}');

/** The referrer manifest of a bundle, exactly as cosign's spec lays it out. */
export function bundleReferrerManifest(subject: Descriptor, bundleLayer: { digest: string; size: number }, predicateType: string, created: string | null): ImageManifest {
  const annotations: Record<string, string> = { [BundleAnnotation.content]: 'dsse-envelope', [BundleAnnotation.predicateType]: predicateType };
  if (created) annotations[Annotation.created] = created;
  return {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    artifactType: BUNDLE_MEDIA_TYPE,
    config: { mediaType: MediaType.ociEmpty, digest: EMPTY_JSON_DIGEST, size: 2 },
    layers: [{ mediaType: BUNDLE_MEDIA_TYPE, digest: bundleLayer.digest, size: bundleLayer.size, annotations: { [Annotation.title]: `${bundleLayer.digest.replace(':', '-')}.sigstore.json` } }],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations,
  };
}

export interface PushedBundle {
  descriptor: Descriptor;
  manifest: ImageManifest;
  source: ReferrersSource;
}

/** Stores the bundle blob and its referrer manifest, and lists it with its subject. */
export async function pushBundle(repo: Repository, subject: Descriptor, bundleJson: Buffer, predicateType: string, opts: CallOptions & { created?: string | null } = {}): Promise<PushedBundle> {
  const { signal } = opts;
  await repo.putBlob({ open: () => Readable.from([EMPTY_BYTES]), size: 2, digest: EMPTY_JSON_DIGEST }, { signal });
  const digest = sha256(bundleJson);
  await repo.putBlob({ open: () => Readable.from([bundleJson]), size: bundleJson.length, digest, mediaType: BUNDLE_MEDIA_TYPE }, { signal });
  const created = opts.created === undefined ? defaultCreated() : opts.created;
  const manifest = bundleReferrerManifest(subject, { digest, size: bundleJson.length }, predicateType, created);
  const { descriptor, source } = await pushReferrer(repo, Buffer.from(JSON.stringify(manifest), 'utf8'), MediaType.ociManifest, undefined, { signal });
  return { descriptor, manifest, source };
}

/** The bundle referrers of `subjectDigest` (optionally of one predicate type), as the listing describes them. */
export async function listBundleReferrers(repo: Repository, subjectDigest: string, predicateType: string | undefined, opts: CallOptions = {}): Promise<{ referrers: Descriptor[]; source: ReferrersSource }> {
  const { referrers, source } = await listReferrers(repo, subjectDigest, { signal: opts.signal, artifactType: BUNDLE_MEDIA_TYPE });
  // An entry that does not say its predicate type is read anyway: the annotation is optional.
  const fit = referrers.filter((d) => d.artifactType === BUNDLE_MEDIA_TYPE && (predicateType === undefined || d.annotations?.[BundleAnnotation.predicateType] === undefined || d.annotations[BundleAnnotation.predicateType] === predicateType));
  return { referrers: fit, source };
}

async function readCapped(repo: Repository, desc: Descriptor, what: string, opts: CallOptions): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of await repo.openBlob(desc, opts)) {
    n += (c as Buffer).length;
    if (n > desc.size || n > MAX_BUNDLE_BYTES) break;
    chunks.push(c as Buffer);
  }
  const bytes = Buffer.concat(chunks);
  if (bytes.length !== desc.size || sha256(bytes) !== desc.digest) throw new OmlmdError('VERIFICATION_FAILED', `${what} does not match its digest ${desc.digest}`);
  return bytes;
}

export interface FetchedBundle {
  referrer: Descriptor;
  manifest: ImageManifest;
  json: Buffer;
  bundle: Bundle & { content: { $case: 'dsseEnvelope' } };
}

/**
 * Reads a bundle referrer: its manifest (checked against the layout), then its one layer,
 * refused unread when it is larger than a bundle can be, then parsed.
 */
export async function fetchBundle(repo: Repository, referrer: Descriptor, opts: CallOptions = {}): Promise<FetchedBundle> {
  const what = `signature ${referrer.digest.slice(0, 19)}`;
  const fetched = await repo.fetchManifest(referrer.digest, opts);
  if (fetched.kind !== 'manifest') throw new OmlmdError('VERIFICATION_FAILED', `${what} is an index, not a bundle manifest`);
  const m = fetched.manifest;
  if (m.artifactType !== BUNDLE_MEDIA_TYPE || m.layers.length !== 1 || m.layers[0]!.mediaType !== BUNDLE_MEDIA_TYPE) {
    throw new OmlmdError('VERIFICATION_FAILED', `${what} is not laid out as a Sigstore bundle (artifactType and one layer ${BUNDLE_MEDIA_TYPE})`);
  }
  const layer = m.layers[0]!;
  if (layer.size > MAX_BUNDLE_BYTES) throw new OmlmdError('VERIFICATION_FAILED', `${what}: its bundle is ${layer.size} bytes, more than a signature bundle can be (${MAX_BUNDLE_BYTES}); not read`);
  const json = await readCapped(repo, layer, `the bundle of ${what}`, opts);
  return { referrer, manifest: m, json, bundle: parseBundle(json, `the bundle of ${what}`) };
}
