/**
 * A container image's layers encrypted the way skopeo (containers/image + ocicrypt) does it,
 * so that skopeo, podman, CRI-O and Confidential Containers' image-rs decrypt them:
 * - a layer that is an uncompressed tar is gzip-compressed first (containers/image compresses
 *   a layer before it encrypts it: ciphertext does not compress), so its media type becomes
 *   `application/vnd.oci.image.layer.v1.tar+gzip+encrypted`; a compressed layer is encrypted
 *   as it is (`…tar+gzip+encrypted`, `…tar+zstd+encrypted`);
 * - each layer gets its own key (AES-256-CTR + HMAC-SHA256), wrapped for every recipient into
 *   `org.opencontainers.image.enc.keys.*`, and its `enc.pubopts` (see layer.ts);
 * - the config stays as it was: `rootfs.diff_ids` are the digests of the uncompressed tars,
 *   which neither compression nor encryption changes, so a decrypted image is the same image.
 *
 * The source image is read from `src` (a staging store) and only ciphertext and the config
 * are written to `dst`: a plaintext layer never reaches the target.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { MediaType } from '../oci/mediatypes';
import type { BlobRef, CallOptions, Repository } from '../oci/store';
import type { Descriptor, ImageManifest } from '../oci/types';
import { mapLimit } from '../util/limit';
import { encryptLayer, isEncrypted, type Recipient } from './index';

const UNCOMPRESSED_LAYERS = new Set([MediaType.ociLayerTar, 'application/vnd.docker.image.rootfs.diff.tar']);

export interface EncryptImageOptions extends CallOptions {
  /** Where a layer is compressed before it is encrypted (a private temporary folder is made inside). */
  tmpDir: string;
  concurrency?: number;
  /** Ciphertext bytes sent, as they go. */
  onBytes?: (title: string, n: number) => void;
  /** Which layers to encrypt (default all); the others are copied as they are. */
  encrypt?: (layer: Descriptor) => boolean;
}

/**
 * Encrypts the layers of the image `manifest` (stored in `src`) for `recipients` into `dst`:
 * the config is copied, every layer compressed when it is a plain tar and encrypted on its
 * way out. Returns the encrypted image's manifest (to store in `dst`; nothing else changes:
 * subject, artifactType and annotations are kept). Layers already encrypted are copied as
 * they are.
 */
export async function encryptImageLayers(src: Repository, manifest: ImageManifest, dst: Repository, recipients: Recipient[], opts: EncryptImageOptions): Promise<ImageManifest> {
  const { signal } = opts;
  const work = await mkdtemp(join(opts.tmpDir, 'omlmd-encrypt-'));
  try {
    const copy = async (d: Descriptor, sig: AbortSignal): Promise<void> => {
      if ((await dst.statBlob(d.digest, { signal: sig })) === d.size) return;
      await dst.putBlob({ open: () => src.openBlob(d, { signal: sig }), size: d.size, digest: d.digest, mediaType: d.mediaType }, { signal: sig });
    };
    await copy(manifest.config, signal ?? new AbortController().signal);
    const layers = await mapLimit(manifest.layers, opts.concurrency ?? 2, async (l, sig): Promise<Descriptor> => {
      if (isEncrypted(l) || (opts.encrypt && !opts.encrypt(l))) {
        await copy(l, sig);
        return l;
      }
      let mediaType = l.mediaType;
      let size = l.size;
      let open: () => Promise<Readable> | Readable = () => src.openBlob(l, { signal: sig });
      if (UNCOMPRESSED_LAYERS.has(l.mediaType)) {
        // Compressed once to a private file: its size is needed before the upload starts.
        const file = join(work, l.digest.replace(':', '-'));
        await pipeline(await src.openBlob(l, { signal: sig }), createGzip({ level: 1 }), createWriteStream(file, { mode: 0o600 }), { signal: sig });
        size = (await stat(file)).size;
        mediaType = MediaType.ociLayerTarGzip;
        open = () => createReadStream(file, { highWaterMark: 1024 * 1024 });
      }
      const enc = encryptLayer(recipients);
      const title = l.annotations?.['org.opencontainers.image.title'] ?? l.digest;
      const ref: BlobRef = await dst.putBlob({
        size,
        open: async () => {
          const plain = await open();
          const cipher = enc.stream();
          plain.on('error', (e) => cipher.destroy(e));
          return plain.pipe(cipher);
        },
        mediaType: `${mediaType}+encrypted`,
      }, { signal: sig, onBytes: (n) => opts.onBytes?.(title, n) });
      if (UNCOMPRESSED_LAYERS.has(l.mediaType)) await rm(join(work, l.digest.replace(':', '-')), { force: true });
      return enc.descriptor({ mediaType, annotations: l.annotations }, ref);
    }, signal);
    return { ...manifest, layers };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
