/**
 * `copy --format`: an artifact rewritten in another layout (omlmd 0.1.x's ↔ ModelPack) at
 * the destination. Files are raw layers in both, so their blobs are the same and keep their
 * digests: within one registry they are mounted, and a store that has them is sent nothing.
 * Only the new config (and, for omlmd, the two metadata layers) and the manifest are written.
 */
import { OmlmdError } from '../errors';
import { buildModelManifest, viewArtifact } from '../model/artifact';
import { metadataToJson, metadataToYaml } from '../model/metadata';
import { buildModelPackManifest, modelPackConfig, modelPackLayer, readModelMetadata } from '../model/modelpack';
import { sha256 } from '../oci/digest';
import { readSmallBlob, type Repository } from '../oci/store';
import { Annotation } from '../oci/mediatypes';
import { Readable } from 'node:stream';
import { copyBlobs, dedupe, type CopyResult } from './copy';
import type { TransferOptions } from './progress';
import { fetchImageManifest } from './resolve';

export type ArtifactFormat = 'omlmd' | 'modelpack';

export async function convertArtifact(src: Repository, reference: string, dst: Repository, tag: string | undefined, format: ArtifactFormat, opts: TransferOptions = {}): Promise<CopyResult> {
  const { signal } = opts;
  const { fetched } = await fetchImageManifest(src, reference, { signal });
  const m = fetched.manifest;
  const view = viewArtifact(m);
  if (view.flavor === 'other') throw new OmlmdError('NOT_A_MODEL', `${src.description}:${reference} is not a model artifact (omlmd, ModelPack or KitOps): copy it without --format`);
  if (view.flavor === 'kitops') throw new OmlmdError('UNSUPPORTED', 'a KitOps ModelKit holds archives, not files: pull it, then push the files with --format');
  const files = view.files.filter((f) => f.role !== 'metadata' && f.titled);
  const archive = files.find((f) => f.encrypted || /\.tar(\+gzip|\+zstd)?$/.test(f.descriptor.mediaType));
  if (archive) throw new OmlmdError('UNSUPPORTED', `${archive.path} is ${archive.encrypted ? 'encrypted' : 'an archive layer'} (${archive.descriptor.mediaType}), which --format does not rewrite: pull the model and push it again`);
  const configBytes = await readSmallBlob(src, m.config, `the config of ${src.description}:${reference}`, { signal }, 4 << 20, 'NOT_A_MODEL');
  const { metadata } = readModelMetadata(m, configBytes, `${src.description}:${reference}`);
  let created = m.annotations?.[Annotation.created];
  if (!created) {
    const c = JSON.parse(configBytes.toString('utf8')) as { descriptor?: { createdAt?: unknown } };
    if (typeof c.descriptor?.createdAt === 'string') created = c.descriptor.createdAt;
  }

  const stats = { copied: 0, skipped: 0, bytes: 0, mounted: 0 };
  await copyBlobs(src, dst, dedupe(files.map((f) => f.descriptor)), opts, stats);
  const small = async (bytes: Buffer): Promise<{ digest: string; size: number }> => {
    const digest = sha256(bytes);
    if ((await dst.statBlob(digest, { signal })) !== bytes.length) await dst.putBlob({ open: () => Readable.from([bytes]), size: bytes.length, digest }, { signal });
    return { digest, size: bytes.length };
  };
  let out: { manifest: { mediaType?: string }; bytes: Buffer };
  if (format === 'modelpack') {
    // Times from the source's creation, so a conversion is reproducible.
    const when = created ? new Date(created) : new Date(0);
    const packed = files.map((f) => ({ title: f.path, digest: f.descriptor.digest, size: f.descriptor.size, mode: 0o644, mtime: Number.isNaN(when.getTime()) ? new Date(0) : when }));
    const cfg = await small(Buffer.from(JSON.stringify(modelPackConfig(metadata, packed, created)), 'utf8'));
    out = buildModelPackManifest({ config: cfg, layers: packed.map(modelPackLayer), metadata, created });
  } else {
    const config = await small(metadataToJson(metadata));
    const yaml = await small(metadataToYaml(metadata));
    out = buildModelManifest({ metadata, config, yaml, files: files.map((f) => ({ title: f.path, digest: f.descriptor.digest, size: f.descriptor.size })), created: created ?? null });
  }
  const descriptor = await dst.putManifest(out.bytes, out.manifest.mediaType!, tag, { signal });
  return { descriptor, ...stats };
}
