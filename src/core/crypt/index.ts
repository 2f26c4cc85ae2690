/**
 * Encrypted layers (ocicrypt format): what the transfer engine, the CLI and the extension
 * use. layer.ts has the cipher streams and the annotations, jwe.ts the key wrapping.
 */
import type { KeyObject } from 'node:crypto';
import type { Descriptor } from '../oci/types';
import { OmlmdError } from '../errors';
import { JWE_KEYS_ANNOTATION, unwrapKey, wrapKey } from './jwe';
import {
  DecryptStream, EncryptStream, KEYS_ANNOTATION_PREFIX, PUBOPTS_ANNOTATION, decryptedMediaType, encodePublicOptions, encryptedMediaType,
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
 * A layer being encrypted: pipe the plaintext through `stream`; when it has ended,
 * `descriptor()` gives the encrypted layer's media type and annotations to put beside the
 * ciphertext's digest and size.
 */
export interface LayerEncryption {
  stream: EncryptStream;
  descriptor(plain: Descriptor, cipher: { digest: string; size: number }): Promise<Descriptor>;
}

export function encryptLayer(recipients: Recipient[]): LayerEncryption {
  if (recipients.length === 0) throw new OmlmdError('USAGE', 'encryption needs at least one recipient');
  const { key, nonce } = newLayerKey();
  const stream = new EncryptStream(key, nonce);
  return {
    stream,
    async descriptor(plain, cipher) {
      const { pub, priv } = stream.options();
      const wrapped = await wrapKey(Buffer.from(JSON.stringify(priv)), recipients);
      return {
        ...plain,
        mediaType: encryptedMediaType(plain.mediaType),
        digest: cipher.digest,
        size: cipher.size,
        annotations: { ...plain.annotations, [JWE_KEYS_ANNOTATION]: wrapped, [PUBOPTS_ANNOTATION]: encodePublicOptions(pub) },
      };
    },
  };
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

/**
 * Opens an encrypted layer with the first of `keys` that is one of its recipients: a
 * stream to pipe the ciphertext through (it fails at the end unless the HMAC and the
 * plaintext digest check out), and the descriptor the layer had before it was encrypted.
 */
export async function decryptLayer(desc: Descriptor, keys: KeyObject[], what: string): Promise<{ stream: DecryptStream; plain: Descriptor }> {
  if (keys.length === 0) throw new OmlmdError('DECRYPTION_KEY_NEEDED', `${what} is encrypted and no decryption key was given`, { remedies: [{ kind: 'say', text: 'give the private key of one of its recipients' }] });
  const wrapped = desc.annotations?.[JWE_KEYS_ANNOTATION];
  if (!wrapped) {
    const schemes = Object.keys(desc.annotations ?? {}).filter((k) => k.startsWith(KEYS_ANNOTATION_PREFIX)).map((k) => k.slice(KEYS_ANNOTATION_PREFIX.length));
    throw new OmlmdError('DECRYPTION_FAILED', `${what} is encrypted ${schemes.length ? `for ${schemes.join(', ')} keys only` : 'without any wrapped key'}; this version opens JWE-wrapped keys`);
  }
  const pub = readPublicOptions(desc.annotations, what);
  const opened = await unwrapKey(wrapped, keys, what);
  if (!opened) throw new OmlmdError('DECRYPTION_FAILED', `none of the ${keys.length} decryption key(s) given is a recipient of ${what}`, { remedies: [{ kind: 'say', text: 'give the private key matching one of the public keys it was encrypted for' }] });
  const priv = parsePrivateOptions(opened, what);
  const plain: Descriptor = {
    ...desc,
    mediaType: decryptedMediaType(desc.mediaType),
    digest: priv.digest || desc.digest,
    annotations: withoutEncryptionAnnotations(desc.annotations),
  };
  if (!plain.annotations) delete plain.annotations;
  return { stream: new DecryptStream(pub, priv, what), plain };
}
