import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isEncrypted, openLayer, type DecryptionKey, type OpenedLayer, type Recipient } from '../crypt';
import { encryptImageLayers } from '../crypt/image';
import { OmlmdError } from '../errors';
import { buildModelManifest, METADATA_JSON_TITLE, METADATA_YAML_TITLE, ModelMediaType } from '../model/artifact';
import { metadataFromConfig } from '../model/metadata';
import { Annotation } from '../oci/mediatypes';
import { readSmallBlob, type Repository } from '../oci/store';
import type { Descriptor, FetchedManifest, ImageIndex, ImageManifest } from '../oci/types';
import { manifestBlobs } from '../oci/types';
import { bytesMoved } from './memory';
import { mapLimit } from '../util/limit';
import { DEFAULT_CONCURRENCY, type TransferOptions } from './progress';
import { rememberLocation } from './push';

export interface CopyResult {
  descriptor: Descriptor;
  /** Blobs sent, and blobs the target already had. */
  copied: number;
  skipped: number;
  bytes: number;
  /** Blobs the target registry linked from the source repository (cross-repository mount) instead of receiving them. */
  mounted: number;
  /** With decryption keys: the encrypted layers the copy holds in clear (decrypted on their way, or already there in clear); the artifact then has a new digest. */
  decrypted?: number;
  /** With recipients: the layers encrypted on their way. */
  encrypted?: number;
}

export interface CopyOptions extends TransferOptions {
  /**
   * Decrypt every encrypted layer on its way with one of these keys (skopeo copy
   * --decryption-key): the target gets the plaintext layers, so the manifest (and an index
   * above it) changes digest. Without keys, ciphertext moves untouched.
   */
  decryptionKeys?: DecryptionKey[];
  /**
   * Encrypt every layer in clear for these recipients on its way (skopeo copy
   * --encryption-key): image layers as skopeo does (a plain tar gzip-compressed first), a
   * model's files as push --encrypt-recipient does; the config and a model's metadata layers
   * stay in clear. Each copy draws fresh layer keys: a new digest every time.
   */
  encryptFor?: Recipient[];
  /** Where a plain tar layer is compressed before it is encrypted (a private folder is made inside); default the system's. */
  tmpDir?: string;
}

/**
 * Copies an artifact (manifest or index, with everything it refers to) between any two
 * stores. The manifest bytes move unchanged, so the digest is preserved; blobs the target
 * already has are not sent; within one registry they are mounted from the source repository
 * rather than sent; the target verifies every blob it receives.
 */
export async function copyArtifact(src: Repository, reference: string, dst: Repository, tag: string | undefined, opts: CopyOptions = {}): Promise<CopyResult> {
  const stats: Omit<CopyResult, 'descriptor'> = { copied: 0, skipped: 0, bytes: 0, mounted: 0, ...(opts.decryptionKeys?.length ? { decrypted: 0 } : {}) };
  const top = await src.fetchManifest(reference, { signal: opts.signal });
  const keys = opts.decryptionKeys?.length ? opts.decryptionKeys : undefined;
  if (keys && opts.encryptFor?.length) throw new OmlmdError('USAGE', 'a copy either decrypts or encrypts, not both at once', { remedies: [{ kind: 'say', text: 'decrypt into one copy, then encrypt that copy for the new recipients' }] });
  // With keys, every encrypted layer's key is unwrapped first (annotations only): a key
  // that opens none of them fails the copy before any byte moves.
  const opened = keys ? await openAll(src, top, keys, opts.signal) : undefined;
  const descriptor = await copyNode(src, dst, top, tag, opts, stats, opened);
  return { descriptor, ...stats };
}

/** The encrypted layers under `top` (its children too, for an index), each opened with `keys`. */
async function openAll(src: Repository, top: FetchedManifest, keys: DecryptionKey[], signal: AbortSignal | undefined): Promise<Map<string, OpenedLayer>> {
  const opened = new Map<string, OpenedLayer>();
  const visit = async (node: FetchedManifest): Promise<void> => {
    if (node.kind === 'index') {
      for (const child of node.index.manifests) await visit(await src.fetchManifest(child.digest, { signal }));
      return;
    }
    for (const l of node.manifest.layers) {
      if (!isEncrypted(l) || opened.has(l.digest)) continue;
      const title = l.annotations?.[Annotation.title];
      opened.set(l.digest, await openLayer(l, keys, `${title ? `${title} (${l.digest})` : l.digest} from ${src.description}`));
    }
  };
  await visit(top);
  return opened;
}

async function copyNode(src: Repository, dst: Repository, node: FetchedManifest, tag: string | undefined, opts: TransferOptions, stats: Omit<CopyResult, 'descriptor'>, opened?: Map<string, OpenedLayer>): Promise<Descriptor> {
  const { signal } = opts;
  if (node.kind === 'index') {
    let changed = false;
    const manifests: Descriptor[] = [];
    for (const child of node.index.manifests) {
      const fetched = await src.fetchManifest(child.digest, { signal });
      const copied = await copyNode(src, dst, fetched, undefined, opts, stats, opened);
      changed ||= copied.digest !== child.digest;
      manifests.push(copied.digest === child.digest ? child : { ...child, digest: copied.digest, size: copied.size, mediaType: copied.mediaType });
    }
    if (changed) {
      const index: ImageIndex = { ...node.index, manifests };
      return dst.putManifest(Buffer.from(JSON.stringify(index), 'utf8'), node.descriptor.mediaType, tag, { signal });
    }
  } else if (opened?.size && node.manifest.layers.some(isEncrypted)) {
    return copyDecrypted(src, dst, node.manifest, node.descriptor.mediaType, tag, opts, stats, opened);
  } else if ((opts as CopyOptions).encryptFor?.length && node.manifest.layers.some(toEncrypt)) {
    return copyEncrypted(src, dst, node.manifest, node.descriptor.mediaType, tag, opts as CopyOptions, stats);
  } else {
    await copyBlobs(src, dst, dedupe(manifestBlobs(node.manifest)), opts, stats);
  }
  return dst.putManifest(node.bytes, node.descriptor.mediaType, tag, { signal });
}

/** What a copy encrypts: a layer in clear that is not a model's metadata (which stays readable, as push leaves it). */
const toEncrypt = (l: Descriptor): boolean => !isEncrypted(l) && l.mediaType !== ModelMediaType.config;

async function copyEncrypted(src: Repository, dst: Repository, manifest: ImageManifest, mediaType: string, tag: string | undefined, opts: CopyOptions, stats: Omit<CopyResult, 'descriptor'>): Promise<Descriptor> {
  const { onProgress } = opts;
  const work = await mkdtemp(join(opts.tmpDir ?? tmpdir(), 'omlmd-copy-'));
  try {
    const layers = manifest.layers.filter(toEncrypt);
    onProgress?.({ type: 'plan', items: layers.map((b) => ({ title: b.digest, size: b.size })), totalBytes: layers.reduce((n, b) => n + b.size, 0) });
    const encrypted = await encryptImageLayers(src, manifest, dst, opts.encryptFor!, {
      tmpDir: work, signal: opts.signal, concurrency: opts.concurrency, encrypt: toEncrypt,
      onBytes: (_title, n) => (bytesMoved('upload', n), (stats.bytes += n)),
    });
    stats.encrypted = layers.length;
    stats.copied += layers.length;
    const bytes = Buffer.from(JSON.stringify(encrypted), 'utf8');
    return await dst.putManifest(bytes, mediaType, tag, { signal: opts.signal });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

const SEALED_CONFIG_DIGEST = `sha256:${createHash('sha256').update('{}').digest('hex')}`;

/**
 * An image manifest whose encrypted layers are decrypted on their way to `dst`: each
 * ciphertext is streamed from `src` through its decipher into the target, which verifies
 * the plaintext digest the wrapped key names (and the decipher the HMAC, failing the upload
 * before it completes). The layers get back the media type and annotations they had before
 * encryption; an omlmd artifact whose metadata was encrypted (push --encrypt-metadata) gets
 * its metadata back as config and annotations, as a push in clear writes them.
 */
async function copyDecrypted(src: Repository, dst: Repository, manifest: ImageManifest, mediaType: string, tag: string | undefined, opts: TransferOptions, stats: Omit<CopyResult, 'descriptor'>, opened: Map<string, OpenedLayer>): Promise<Descriptor> {
  const { signal, onProgress } = opts;
  const clear = dedupe([manifest.config, ...manifest.layers.filter((l) => !isEncrypted(l))]);
  await copyBlobs(src, dst, clear, opts, stats);
  const encrypted = dedupe(manifest.layers.filter(isEncrypted));
  onProgress?.({ type: 'plan', items: encrypted.map((b) => ({ title: b.digest, size: b.size })), totalBytes: encrypted.reduce((n, b) => n + b.size, 0) });
  await mapLimit(encrypted, opts.concurrency ?? DEFAULT_CONCURRENCY, async (l, sig) => {
    const layer = opened.get(l.digest)!;
    const plain = layer.plain;
    stats.decrypted = (stats.decrypted ?? 0) + 1;
    if ((await dst.statBlob(plain.digest, { signal: sig })) === plain.size) {
      stats.skipped++;
      onProgress?.({ type: 'skipped', title: l.digest, size: l.size, reason: 'exists' });
      return;
    }
    await dst.putBlob({
      open: async () => {
        const cipher = await src.openBlob(l, { signal: sig });
        // pipeline: an error on either side (the source, the HMAC at the end) fails the upload.
        return pipeline(cipher, layer.stream(), () => undefined);
      },
      size: plain.size,
      digest: plain.digest,
      mediaType: plain.mediaType,
    }, { signal: sig, onBytes: (n) => (bytesMoved('upload', n), onProgress?.({ type: 'bytes', title: l.digest, bytes: n })) });
    stats.copied++;
    stats.bytes += plain.size;
    await rememberLocation(dst, plain.digest, opts.cache);
    onProgress?.({ type: 'done', title: l.digest, digest: plain.digest, size: plain.size });
  }, signal);
  const layers = manifest.layers.map((l) => (isEncrypted(l) ? opened.get(l.digest)!.plain : l));
  const unsealed = await unsealMetadata(dst, manifest, layers, signal);
  const decrypted: ImageManifest = unsealed ?? { ...manifest, layers };
  const bytes = Buffer.from(JSON.stringify(decrypted), 'utf8');
  return dst.putManifest(bytes, mediaType, tag, { signal });
}

/**
 * An omlmd artifact pushed with --encrypt-metadata (config `{}`, the metadata JSON and YAML
 * as its last two layers, encrypted) as it would have been pushed in clear: the decrypted
 * metadata JSON is the config again and its fields the manifest's annotations. Anything
 * else: undefined (the layers alone change).
 */
async function unsealMetadata(dst: Repository, manifest: ImageManifest, layers: Descriptor[], signal: AbortSignal | undefined): Promise<ImageManifest | undefined> {
  if (manifest.config.digest !== SEALED_CONFIG_DIGEST || manifest.config.mediaType !== ModelMediaType.config || layers.length < 2) return undefined;
  const [json, yaml] = layers.slice(-2) as [Descriptor, Descriptor];
  const [wasJson, wasYaml] = manifest.layers.slice(-2) as [Descriptor, Descriptor];
  if (!isEncrypted(wasJson) || !isEncrypted(wasYaml) || json.annotations?.[Annotation.title] !== METADATA_JSON_TITLE || yaml.annotations?.[Annotation.title] !== METADATA_YAML_TITLE) return undefined;
  const bytes = await readSmallBlob(dst, json, 'the decrypted metadata', { signal }, 4 << 20, 'NOT_A_MODEL');
  const { metadata } = metadataFromConfig(bytes, 'the decrypted metadata');
  const { [Annotation.created]: created, ...annotations } = manifest.annotations ?? {};
  const files = layers.slice(0, -2).map((l) => {
    const { [Annotation.title]: title, ...rest } = l.annotations ?? {};
    if (title === undefined) throw new OmlmdError('INVALID_MANIFEST', `a layer of the encrypted artifact (${l.digest}) has no title`);
    return { title, digest: l.digest, size: l.size, mediaType: l.mediaType, ...(Object.keys(rest).length ? { annotations: rest } : {}) };
  });
  return buildModelManifest({
    metadata,
    config: { digest: json.digest, size: json.size },
    yaml: { digest: yaml.digest, size: yaml.size },
    files,
    created: created ?? null,
    annotations,
    subject: manifest.subject,
    artifactType: manifest.artifactType ?? false,
  }).manifest;
}

/**
 * Puts `blobs` into `dst` from `src`: skipped when there, mounted within one registry, else
 * sent (and verified by the target).
 */
export async function copyBlobs(src: Repository, dst: Repository, blobs: Descriptor[], opts: TransferOptions, stats: Omit<CopyResult, 'descriptor'>): Promise<void> {
  const { signal, onProgress } = opts;
  onProgress?.({ type: 'plan', items: blobs.map((b) => ({ title: b.digest, size: b.size })), totalBytes: blobs.reduce((n, b) => n + b.size, 0) });
  await mapLimit(blobs, opts.concurrency ?? DEFAULT_CONCURRENCY, async (b, sig) => {
    if ((await dst.statBlob(b.digest, { signal: sig })) === b.size) {
      stats.skipped++;
      onProgress?.({ type: 'skipped', title: b.digest, size: b.size, reason: 'exists' });
      return;
    }
    if (await dst.mountBlob?.(b, src, { signal: sig })) {
      stats.mounted++;
      onProgress?.({ type: 'skipped', title: b.digest, size: b.size, reason: 'mounted' });
      await rememberLocation(dst, b.digest, opts.cache);
      return;
    }
    await dst.putBlob(
      { open: () => src.openBlob(b, { signal: sig }), size: b.size, digest: b.digest, mediaType: b.mediaType },
      { signal: sig, onBytes: (n) => (bytesMoved('upload', n), onProgress?.({ type: 'bytes', title: b.digest, bytes: n })) },
    );
    stats.copied++;
    stats.bytes += b.size;
    await rememberLocation(dst, b.digest, opts.cache);
    onProgress?.({ type: 'done', title: b.digest, digest: b.digest, size: b.size });
  }, signal);
}

export function dedupe(ds: Descriptor[]): Descriptor[] {
  const seen = new Set<string>();
  return ds.filter((d) => !seen.has(d.digest) && (seen.add(d.digest), true));
}
