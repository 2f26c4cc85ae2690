/**
 * Encrypted layers (ocicrypt format): what the transfer engine, the CLI and the extension
 * use. layer.ts has the cipher streams and the annotations, jwe.ts the key wrapping.
 */
import { createHash, type KeyObject } from 'node:crypto';
import type { Descriptor } from '../oci/types';
import { OmlmdError } from '../errors';
import { JWE_KEYS_ANNOTATION, unwrapKey, wrapKey } from './jwe';
import {
  DecryptStream, EncryptStream, KEYS_ANNOTATION_PREFIX, decryptFileInPlace, PUBOPTS_ANNOTATION, decryptedMediaType, encodePublicOptions, encryptedMediaType,
  isEncryptedMediaType, newLayerKey, parsePrivateOptions, readPublicOptions, withoutEncryptionAnnotations,
} from './layer';

export { JWE_KEYS_ANNOTATION, parsePrivateKey, parsePublicKey } from './jwe';
export { DecryptStream, EncryptStream, decryptedMediaType, encryptedMediaType, isEncryptedMediaType, PUBOPTS_ANNOTATION } from './layer';

export interface Recipient {
  key: KeyObject;
  /** Where the key came from (a file name), for messages. */
  source: string;
}

/**
 * A layer being encrypted with one key and nonce: `stream()` makes a fresh cipher stream to
 * pipe the plaintext through (the same key each time, so an upload that reads its source
 * again gets the same ciphertext); when one has ended, `descriptor()` gives the encrypted
 * layer's media type and annotations to put beside the ciphertext's digest and size.
 */
export interface LayerEncryption {
  stream(): EncryptStream;
  /** The plaintext's digest, once a stream has ended. */
  plainDigest(): string;
  descriptor(plain: Pick<Descriptor, 'mediaType' | 'annotations'>, cipher: { digest: string; size: number }): Promise<Descriptor>;
}

export function encryptLayer(recipients: Recipient[]): LayerEncryption {
  if (recipients.length === 0) throw new OmlmdError('USAGE', 'encryption needs at least one recipient');
  const { key, nonce } = newLayerKey();
  let finished: EncryptStream | undefined;
  const options = (): ReturnType<EncryptStream['options']> => {
    if (!finished) throw new OmlmdError('USAGE', 'the layer is not encrypted to its end yet');
    return finished.options();
  };
  return {
    stream() {
      const s = new EncryptStream(key, nonce);
      s.once('end', () => (finished = s));
      return s;
    },
    plainDigest: () => options().priv.digest,
    async descriptor(plain, cipher) {
      const { pub, priv } = options();
      const wrapped = await wrapKey(Buffer.from(JSON.stringify(priv)), recipients);
      return {
        mediaType: encryptedMediaType(plain.mediaType),
        digest: cipher.digest,
        size: cipher.size,
        annotations: { ...plain.annotations, [JWE_KEYS_ANNOTATION]: wrapped, [PUBOPTS_ANNOTATION]: encodePublicOptions(pub) },
      };
    },
  };
}

/** Who a layer is encrypted for, as one stable string (for the cache of encrypted layers). */
export function recipientsFingerprint(recipients: Recipient[]): string {
  const ids = recipients.map((r) => createHash('sha256').update(r.key.export({ type: 'spki', format: 'der' })).digest('hex')).sort();
  return createHash('sha256').update(ids.join('\n')).digest('hex');
}

/** Whether a descriptor is an ocicrypt-encrypted layer (by its media type or its key annotations). */
export function isEncrypted(desc: Descriptor): boolean {
  return isEncryptedMediaType(desc.mediaType) || Object.keys(desc.annotations ?? {}).some((k) => k.startsWith(KEYS_ANNOTATION_PREFIX));
}

/** How many recipients a layer's JWE names (for display: "encrypted for N recipients"). */
export function recipientCount(desc: Descriptor): number {
  const raw = desc.annotations?.[JWE_KEYS_ANNOTATION];
  if (!raw) return 0;
  let n = 0;
  for (const entry of raw.split(',')) {
    try {
      const jwe = JSON.parse(Buffer.from(entry, 'base64').toString('utf8')) as { recipients?: unknown[] };
      n += Array.isArray(jwe.recipients) ? jwe.recipients.length : 1;
    } catch {
      n += 1;
    }
  }
  return n;
}

/** An encrypted layer whose key was unwrapped: what it was before, and how to get it back. */
export interface OpenedLayer {
  /** The descriptor the layer had before it was encrypted (plaintext digest, media type, annotations). */
  plain: Descriptor;
  /** A stream to pipe the ciphertext through; fails at its end unless the HMAC and the digest check out. */
  stream(): DecryptStream;
  /** Decrypts a file of verified ciphertext in place. */
  decryptFile(path: string, signal?: AbortSignal): Promise<void>;
}

/**
 * Opens an encrypted layer with the first of `keys` that is one of its recipients. Only
 * the annotations are read: no byte of the layer is needed to know whether a key fits.
 */
export async function openLayer(desc: Descriptor, keys: KeyObject[], what: string): Promise<OpenedLayer> {
  if (keys.length === 0) throw new OmlmdError('DECRYPTION_KEY_NEEDED', `${what} is encrypted and no decryption key was given`, { remedies: [{ kind: 'give-decryption-key' }] });
  const wrapped = desc.annotations?.[JWE_KEYS_ANNOTATION];
  if (!wrapped) {
    const schemes = Object.keys(desc.annotations ?? {}).filter((k) => k.startsWith(KEYS_ANNOTATION_PREFIX)).map((k) => k.slice(KEYS_ANNOTATION_PREFIX.length));
    throw new OmlmdError('DECRYPTION_FAILED', `${what} is encrypted ${schemes.length ? `for ${schemes.join(', ')} keys only` : 'without any wrapped key'}; this version opens JWE-wrapped keys`);
  }
  const pub = readPublicOptions(desc.annotations, what);
  const opened = await unwrapKey(wrapped, keys, what);
  if (!opened) throw new OmlmdError('DECRYPTION_FAILED', `none of the ${keys.length} decryption key(s) given is a recipient of ${what}`, { remedies: [{ kind: 'give-decryption-key' }] });
  const priv = parsePrivateOptions(opened, what);
  if (priv.digest && !/^sha256:[a-f0-9]{64}$/.test(priv.digest)) throw new OmlmdError('DECRYPTION_FAILED', `${what}'s wrapped key names a plaintext digest that is not a sha256 digest`);
  // Checked now, so that a layer that cannot be decrypted fails before any byte is fetched.
  new DecryptStream(pub, priv, what).destroy();
  const annotations = withoutEncryptionAnnotations(desc.annotations);
  const plain: Descriptor = { mediaType: decryptedMediaType(desc.mediaType), digest: priv.digest || desc.digest, size: desc.size, ...(annotations ? { annotations } : {}) };
  return {
    plain,
    stream: () => new DecryptStream(pub, priv, what),
    decryptFile: (path, signal) => decryptFileInPlace(path, pub, priv, what, signal),
  };
}

/** {@link openLayer}, and a stream for its ciphertext. */
export async function decryptLayer(desc: Descriptor, keys: KeyObject[], what: string): Promise<{ stream: DecryptStream; plain: Descriptor }> {
  const opened = await openLayer(desc, keys, what);
  return { stream: opened.stream(), plain: opened.plain };
}
