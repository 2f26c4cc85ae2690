/**
 * Encrypted layers (ocicrypt format): what the transfer engine, the CLI and the extension
 * use. layer.ts has the cipher streams and the annotations, jwe.ts the key wrapping.
 */
import { createHash, KeyObject } from 'node:crypto';
import type { Descriptor } from '../oci/types';
import { OmlmdError } from '../errors';
import { JWE_KEYS_ANNOTATION, unwrapKey, wrapKey } from './jwe';
import { PROVIDER_ANNOTATION_PREFIX, providerUnwrap, providerWrap, type KeyProviderKey } from './keyprovider';
import {
  CIPHER_AES_256_CTR_HMAC_SHA256, DecryptStream, EncryptStream, KEYS_ANNOTATION_PREFIX, checkPlainDigest, decryptFileInPlace, PUBOPTS_ANNOTATION, decryptedMediaType, encodePublicOptions, encryptedMediaType,
  isEncryptedMediaType, MAX_ENCRYPTION_ANNOTATION, newLayerKey, parsePrivateOptions, readPublicOptions, withoutEncryptionAnnotations,
} from './layer';

export { JWE_KEYS_ANNOTATION, parsePrivateKey, parsePublicKey } from './jwe';
export { keyProviderKey, PROVIDER_ANNOTATION_PREFIX, type KeyProviderKey } from './keyprovider';
export { DecryptStream, EncryptStream, decryptedMediaType, encryptedMediaType, isEncryptedMediaType, PUBOPTS_ANNOTATION } from './layer';

/** A JWE recipient (an RSA or EC public key). */
export interface KeyRecipient {
  key: KeyObject;
  /** Where the key came from (a file name), for messages. */
  source: string;
}

/** Whom a layer is encrypted for: a public key (JWE), or an ocicrypt key provider that wraps the key. */
export type Recipient = KeyRecipient | KeyProviderKey;

/** What opens a layer: a private key (JWE), or a key provider that unwraps the key. */
export type DecryptionKey = KeyObject | KeyProviderKey;

const isProvider = (r: Recipient | DecryptionKey): r is KeyProviderKey => !(r instanceof KeyObject) && 'provider' in r;

/** The key annotations of a layer: its private options wrapped for every recipient, by scheme. */
async function wrapFor(privateOptions: Uint8Array, recipients: Recipient[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const keys = recipients.filter((r): r is KeyRecipient => !isProvider(r));
  if (keys.length) out[JWE_KEYS_ANNOTATION] = await wrapKey(privateOptions, keys);
  const byProvider = new Map<string, KeyProviderKey[]>();
  for (const r of recipients) if (isProvider(r)) byProvider.set(r.provider, [...(byProvider.get(r.provider) ?? []), r]);
  for (const [name, list] of byProvider) out[`${PROVIDER_ANNOTATION_PREFIX}${name}`] = (await providerWrap(list, privateOptions)).toString('base64');
  return out;
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
  /** The key and nonce (base64), for a worker thread that encrypts the file itself. */
  keyMaterial(): { key: string; nonce: string };
  /** The layer was encrypted elsewhere with `keyMaterial()` (a worker thread): its plaintext digest and HMAC. */
  encryptedElsewhere(done: { plainDigest: string; hmac: string }): void;
  descriptor(plain: Pick<Descriptor, 'mediaType' | 'annotations'>, cipher: { digest: string; size: number }): Promise<Descriptor>;
}

export function encryptLayer(recipients: Recipient[]): LayerEncryption {
  if (recipients.length === 0) throw new OmlmdError('USAGE', 'encryption needs at least one recipient');
  const { key, nonce } = newLayerKey();
  let finished: EncryptStream | undefined;
  let elsewhere: ReturnType<EncryptStream['options']> | undefined;
  const options = (): ReturnType<EncryptStream['options']> => {
    if (elsewhere) return elsewhere;
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
    keyMaterial: () => ({ key: key.toString('base64'), nonce: nonce.toString('base64') }),
    encryptedElsewhere(done) {
      elsewhere = {
        pub: { cipher: CIPHER_AES_256_CTR_HMAC_SHA256, hmac: done.hmac, cipheroptions: {} },
        priv: { symkey: key.toString('base64'), digest: done.plainDigest, cipheroptions: { nonce: nonce.toString('base64') } },
      };
    },
    async descriptor(plain, cipher) {
      const { pub, priv } = options();
      const wrapped = await wrapFor(Buffer.from(JSON.stringify(priv)), recipients);
      return {
        mediaType: encryptedMediaType(plain.mediaType),
        digest: cipher.digest,
        size: cipher.size,
        annotations: { ...plain.annotations, ...wrapped, [PUBOPTS_ANNOTATION]: encodePublicOptions(pub) },
      };
    },
  };
}

/** Who a layer is encrypted for, as one stable string (for the cache of encrypted layers). */
export function recipientsFingerprint(recipients: Recipient[]): string {
  const ids = recipients.map((r) => (isProvider(r)
    ? `provider:${r.provider}:${r.parameter}:${JSON.stringify(r.endpoint)}`
    : createHash('sha256').update(r.key.export({ type: 'spki', format: 'der' })).digest('hex'))).sort();
  return createHash('sha256').update(ids.join('\n')).digest('hex');
}

/** Whether a descriptor is an ocicrypt-encrypted layer (by its media type or its key annotations). */
export function isEncrypted(desc: Descriptor): boolean {
  return isEncryptedMediaType(desc.mediaType) || Object.keys(desc.annotations ?? {}).some((k) => k.startsWith(KEYS_ANNOTATION_PREFIX));
}

/** How many recipients a layer's JWE names (for display: "encrypted for N recipients"). */
export function recipientCount(desc: Descriptor): number {
  // A key provider's wrapped key is opaque: one recipient (the provider) per entry.
  const providers = Object.entries(desc.annotations ?? {}).filter(([k]) => k.startsWith(PROVIDER_ANNOTATION_PREFIX)).reduce((n, [, v]) => n + v.split(',').length, 0);
  const raw = desc.annotations?.[JWE_KEYS_ANNOTATION];
  if (!raw) return providers;
  let n = providers;
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
  /**
   * A stream to pipe the ciphertext through; fails at its end unless the HMAC and the digest
   * check out. `hashPlaintext: false`: the HMAC only, the caller checks the digest it hashed
   * elsewhere with `checkDigest`.
   */
  stream(hashPlaintext?: boolean, mac?: boolean): DecryptStream;
  /** Throws (DECRYPTION_FAILED) unless `digest` is the plaintext's, as the wrapped key names it. */
  checkDigest(digest: string): void;
  /** Decrypts a file of verified ciphertext in place; `onBytes` hears of every chunk (for pacing collections: each leaves a buffer behind). */
  decryptFile(path: string, signal?: AbortSignal, onBytes?: (n: number) => void): Promise<void>;
}

/**
 * Opens an encrypted layer with the first of `keys` that is one of its recipients. Only
 * the annotations are read: no byte of the layer is needed to know whether a key fits.
 */
export async function openLayer(desc: Descriptor, keys: DecryptionKey[], what: string): Promise<OpenedLayer> {
  if (keys.length === 0) throw new OmlmdError('DECRYPTION_KEY_NEEDED', `${what} is encrypted and no decryption key was given`, { remedies: [{ kind: 'give-decryption-key' }] });
  const annotations = desc.annotations ?? {};
  const schemes = Object.keys(annotations).filter((k) => k.startsWith(KEYS_ANNOTATION_PREFIX)).map((k) => k.slice(KEYS_ANNOTATION_PREFIX.length));
  const privateKeys = keys.filter((k): k is KeyObject => !isProvider(k));
  const providers = keys.filter(isProvider);
  const wrapped = annotations[JWE_KEYS_ANNOTATION];
  const usable = (wrapped && privateKeys.length > 0) || providers.some((p) => annotations[`${PROVIDER_ANNOTATION_PREFIX}${p.provider}`]);
  if (!usable) {
    if (schemes.length === 0) throw new OmlmdError('DECRYPTION_FAILED', `${what} is encrypted without any wrapped key`);
    const known = schemes.filter((s) => s === 'jwe' || s.startsWith('provider.'));
    throw new OmlmdError('DECRYPTION_FAILED', `${what} is encrypted for ${schemes.join(', ')} keys${known.length ? ', and none of the keys given is of that kind' : '; this version opens JWE-wrapped keys and key providers'}`, { remedies: [{ kind: 'give-decryption-key' }] });
  }
  const pub = readPublicOptions(desc.annotations, what);
  let opened: Uint8Array | null = wrapped && privateKeys.length ? await unwrapKey(wrapped, privateKeys, what) : null;
  const failures: string[] = [];
  for (const p of providers) {
    if (opened) break;
    const raw = annotations[`${PROVIDER_ANNOTATION_PREFIX}${p.provider}`];
    if (!raw) continue;
    if (raw.length > MAX_ENCRYPTION_ANNOTATION) throw new OmlmdError('DECRYPTION_FAILED', `${what}'s ${PROVIDER_ANNOTATION_PREFIX}${p.provider} annotation is ${raw.length} bytes, more than the ${MAX_ENCRYPTION_ANNOTATION} allowed`);
    for (const entry of raw.split(',')) {
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(entry)) throw new OmlmdError('DECRYPTION_FAILED', `${what}'s ${PROVIDER_ANNOTATION_PREFIX}${p.provider} annotation is not base64`);
      try {
        opened = await providerUnwrap(p, Buffer.from(entry, 'base64'));
        break;
      } catch (e) {
        failures.push((e as Error).message);
      }
    }
  }
  if (!opened) {
    // A JWE that does not open is a key that is not a recipient or a JWE altered on the way
    // (jose cannot tell them apart: RSA-OAEP answers a wrong key with a random content key).
    const jweTried = Boolean(wrapped && privateKeys.length);
    throw new OmlmdError('DECRYPTION_FAILED', `none of the ${keys.length} decryption key(s) given is a recipient of ${what}${jweTried ? ', or its wrapped key was altered' : ''}${failures.length ? ` (${failures[0]})` : ''}`, { remedies: [{ kind: 'give-decryption-key' }] });
  }
  const priv = parsePrivateOptions(opened, what);
  if (priv.digest && !/^sha256:[a-f0-9]{64}$/.test(priv.digest)) throw new OmlmdError('DECRYPTION_FAILED', `${what}'s wrapped key names a plaintext digest that is not a sha256 digest`);
  // Checked now, so that a layer that cannot be decrypted fails before any byte is fetched.
  new DecryptStream(pub, priv, what).destroy();
  const kept = withoutEncryptionAnnotations(desc.annotations);
  const plain: Descriptor = { mediaType: decryptedMediaType(desc.mediaType), digest: priv.digest || desc.digest, size: desc.size, ...(kept ? { annotations: kept } : {}) };
  return {
    plain,
    stream: (hashPlaintext = true, mac = true) => new DecryptStream(pub, priv, what, hashPlaintext, mac),
    checkDigest: (digest) => checkPlainDigest(digest, priv, what),
    decryptFile: (path, signal, onBytes) => decryptFileInPlace(path, pub, priv, what, signal, onBytes),
  };
}

/** {@link openLayer}, and a stream for its ciphertext. */
export async function decryptLayer(desc: Descriptor, keys: DecryptionKey[], what: string): Promise<{ stream: DecryptStream; plain: Descriptor }> {
  const opened = await openLayer(desc, keys, what);
  return { stream: opened.stream(), plain: opened.plain };
}
