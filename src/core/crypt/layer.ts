/**
 * Layer encryption in the ocicrypt format (github.com/containers/ocicrypt, the scheme
 * skopeo, podman, buildah, containerd's imgcrypt and Confidential Containers' image-rs
 * read and write), as a stream: no blob is ever held in memory.
 *
 * What ocicrypt does, and so what this does (read from its blockcipher/blockcipher_aes_ctr.go,
 * blockcipher/blockcipher.go and encryption.go):
 * - one fresh 32-byte key and 16-byte nonce per layer; the layer is AES-256-CTR encrypted,
 *   and HMAC-SHA256 (keyed with the same key) is computed over the *ciphertext*
 *   (cipher `AES_256_CTR_HMAC_SHA256`);
 * - the public options `{"cipher","hmac","cipheroptions"}` go, as base64 of their JSON, into
 *   the descriptor's `org.opencontainers.image.enc.pubopts` annotation;
 * - the private options `{"symkey","digest","cipheroptions":{"nonce"}}` (`digest` is the
 *   plaintext layer's) are wrapped for each recipient (see jwe.ts) into
 *   `org.opencontainers.image.enc.keys.<scheme>` (comma-separated base64 entries);
 * - Go's encoding/json writes []byte as standard base64, which is what the JSON here holds.
 *
 * Decryption authenticates: the HMAC of the ciphertext is checked when the stream ends, and
 * the plaintext digest against the private options. ocicrypt hands out plaintext before
 * the HMAC is known (a delayed reader); so does this, which is why a caller writes it to a
 * partial file and renames it into place only after `end` without error — the transfer
 * engine already does exactly that.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, timingSafeEqual, type Hash, type Hmac } from 'node:crypto';
import { open } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { OmlmdError } from '../errors';

export const CIPHER_AES_256_CTR_HMAC_SHA256 = 'AES_256_CTR_HMAC_SHA256';
export const ENC_ANNOTATION_PREFIX = 'org.opencontainers.image.enc.';
export const PUBOPTS_ANNOTATION = 'org.opencontainers.image.enc.pubopts';
export const KEYS_ANNOTATION_PREFIX = 'org.opencontainers.image.enc.keys.';
export const ENCRYPTED_SUFFIX = '+encrypted';

/** `org.opencontainers.image.enc.pubopts`, decoded. */
export interface PublicOptions {
  cipher: string;
  /** base64 */
  hmac: string;
  cipheroptions: Record<string, string>;
}

/** What a recipient's wrapped key opens to. */
export interface PrivateOptions {
  /** base64 of the 32-byte key */
  symkey: string;
  /** the plaintext layer's digest */
  digest: string;
  /** base64 values; `nonce` for AES-CTR */
  cipheroptions: Record<string, string>;
}

/** A fresh key and nonce for one layer (never reuse one for two layers: CTR). */
export function newLayerKey(): { key: Buffer; nonce: Buffer } {
  return { key: randomBytes(32), nonce: randomBytes(16) };
}

/**
 * Encrypts a layer: plaintext in, ciphertext out. When the stream has ended,
 * `options()` gives the public and private options of the result; until then it throws.
 */
export class EncryptStream extends Transform {
  private readonly hmac: Hmac;
  private readonly plainHash: Hash = createHash('sha256');
  private readonly cipher;
  private done?: { pub: PublicOptions; priv: PrivateOptions };

  constructor(private readonly key: Buffer, private readonly nonce: Buffer) {
    super();
    if (key.length !== 32 || nonce.length !== 16) throw new OmlmdError('USAGE', 'an AES-256-CTR layer key is 32 bytes and its nonce 16');
    this.cipher = createCipheriv('aes-256-ctr', key, nonce);
    this.hmac = createHmac('sha256', key);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.plainHash.update(chunk);
    const out = this.cipher.update(chunk);
    this.hmac.update(out);
    cb(null, out);
  }

  override _flush(cb: TransformCallback): void {
    const last = this.cipher.final();
    if (last.length) {
      this.hmac.update(last);
      this.push(last);
    }
    this.done = {
      pub: { cipher: CIPHER_AES_256_CTR_HMAC_SHA256, hmac: this.hmac.digest('base64'), cipheroptions: {} },
      priv: { symkey: this.key.toString('base64'), digest: `sha256:${this.plainHash.digest('hex')}`, cipheroptions: { nonce: this.nonce.toString('base64') } },
    };
    cb();
  }

  options(): { pub: PublicOptions; priv: PrivateOptions } {
    if (!this.done) throw new OmlmdError('USAGE', 'the layer is not encrypted to its end yet');
    return this.done;
  }
}

/**
 * Decrypts a layer: ciphertext in, plaintext out; the stream fails (DECRYPTION_FAILED) at
 * its end when the ciphertext's HMAC or the plaintext's digest is not what the options say.
 */
/** The CTR counter block `blocks` blocks after `nonce` (128-bit big-endian addition, wrapping). */
export function counterAt(nonce: Buffer, blocks: number): Buffer {
  const out = Buffer.from(nonce);
  let carry = BigInt(blocks);
  for (let i = 15; i >= 0 && carry > 0n; i--) {
    const sum = BigInt(out[i]!) + (carry & 0xffn);
    out[i] = Number(sum & 0xffn);
    carry = (carry >> 8n) + (sum >> 8n);
  }
  return out;
}

export class DecryptStream extends Transform {
  private readonly hmac: Hmac;
  private readonly plainHash: Hash = createHash('sha256');
  private decipher;
  private readonly key: Buffer;
  private readonly nonce: Buffer;
  private readonly expectedHmac: Buffer;

  /**
   * `hashPlaintext: false` leaves the plaintext's digest to the caller (one who hashes it on
   * another thread): `finish()` then checks the HMAC only; `mac: false` leaves the HMAC to
   * the caller too (checkHmac), and the stream only deciphers.
   */
  constructor(private readonly pub: PublicOptions, private readonly priv: PrivateOptions, private readonly what = 'the layer', private readonly hashPlaintext = true, private readonly mac = true) {
    super();
    if (pub.cipher !== CIPHER_AES_256_CTR_HMAC_SHA256) {
      throw new OmlmdError('DECRYPTION_FAILED', `${what} is encrypted with ${JSON.stringify(String(pub.cipher).slice(0, 64))}, a cipher this version does not know (only ${CIPHER_AES_256_CTR_HMAC_SHA256})`);
    }
    const key = decodeBase64(priv.symkey, 'symkey', what);
    const nonce = decodeBase64(priv.cipheroptions?.nonce ?? '', 'nonce', what);
    this.expectedHmac = decodeBase64(pub.hmac ?? '', 'hmac', what);
    if (key.length !== 32 || nonce.length !== 16 || this.expectedHmac.length !== 32) {
      throw new OmlmdError('DECRYPTION_FAILED', `${what}'s encryption options are malformed (key ${key.length} bytes, nonce ${nonce.length}, HMAC ${this.expectedHmac.length}; expected 32, 16, 32)`);
    }
    this.key = key;
    this.nonce = nonce;
    this.decipher = createDecipheriv('aes-256-ctr', key, nonce);
    this.hmac = createHmac('sha256', key);
  }

  /** Ciphertext in, plaintext out (the same length: CTR). */
  update(chunk: Buffer): Buffer {
    if (this.mac) this.hmac.update(chunk);
    const out = this.decipher.update(chunk);
    if (this.hashPlaintext) this.plainHash.update(out);
    return out;
  }

  /**
   * Plaintext in (a prefix an interrupted download already decrypted), its ciphertext out,
   * checked into the HMAC: AES-CTR's keystream is the same both ways.
   */
  updatePlain(chunk: Buffer): Buffer {
    const cipher = this.decipher.update(chunk);
    if (this.mac) this.hmac.update(cipher);
    if (this.hashPlaintext) this.plainHash.update(chunk);
    return cipher;
  }

  /** Throws unless the ciphertext's HMAC and the plaintext's digest are what the options say. */
  finish(): Buffer {
    const last = this.decipher.final();
    if (last.length && this.hashPlaintext) this.plainHash.update(last);
    if (this.mac) this.checkHmac(this.hmac.digest());
    if (this.hashPlaintext) checkPlainDigest(`sha256:${this.plainHash.digest('hex')}`, this.priv, this.what);
    return last;
  }

  /**
   * Starts the keystream `n` bytes in (a prefix deciphered by an earlier run, hashed and MACed
   * elsewhere): CTR's counter block is the nonce plus the block number (128-bit big-endian, as
   * OpenSSL and Go's crypto/cipher count), so no byte of the prefix is deciphered again.
   */
  advanceKeystream(n: number): void {
    this.decipher = createDecipheriv('aes-256-ctr', this.key, counterAt(this.nonce, Math.floor(n / 16)));
    if (n % 16) this.decipher.update(Buffer.alloc(n % 16));
  }

  /** Throws unless `mac` (the ciphertext's HMAC, computed elsewhere) is the one the options name. */
  checkHmac(mac: Buffer): void {
    if (mac.length !== this.expectedHmac.length || !timingSafeEqual(mac, this.expectedHmac)) {
      throw new OmlmdError('DECRYPTION_FAILED', `${this.what} failed authentication: its ciphertext does not match the HMAC it was encrypted with (tampered or truncated)`);
    }
  }

  /** The layer's key and nonce (base64), for a hashing worker that encrypts the plaintext again. */
  keyMaterial(): { key: string; nonce: string } {
    return { key: this.priv.symkey, nonce: this.priv.cipheroptions.nonce ?? '' };
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    cb(null, this.update(chunk));
  }

  override _flush(cb: TransformCallback): void {
    try {
      const last = this.finish();
      if (last.length) this.push(last);
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }
}

/** Throws unless `digest` is the plaintext digest the wrapped key names (when it names one). */
export function checkPlainDigest(digest: string, priv: PrivateOptions, what: string): void {
  if (priv.digest && priv.digest !== digest) {
    throw new OmlmdError('DECRYPTION_FAILED', `${what} decrypted to ${digest}, not the ${priv.digest} it was encrypted from`);
  }
}

function decodeBase64(value: string, field: string, what: string): Buffer {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) {
    throw new OmlmdError('DECRYPTION_FAILED', `${what}'s encryption options hold a ${field} that is not base64`);
  }
  return Buffer.from(value, 'base64');
}

/** The annotations that mark a descriptor as encrypted, taken out (what the layer was before). */
export function withoutEncryptionAnnotations(annotations: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!annotations) return undefined;
  const out = Object.fromEntries(Object.entries(annotations).filter(([k]) => !k.startsWith(ENC_ANNOTATION_PREFIX)));
  return Object.keys(out).length ? out : undefined;
}

export function isEncryptedMediaType(mediaType: string): boolean {
  return mediaType.endsWith(ENCRYPTED_SUFFIX);
}

export function encryptedMediaType(mediaType: string): string {
  return isEncryptedMediaType(mediaType) ? mediaType : `${mediaType}${ENCRYPTED_SUFFIX}`;
}

export function decryptedMediaType(mediaType: string): string {
  return isEncryptedMediaType(mediaType) ? mediaType.slice(0, -ENCRYPTED_SUFFIX.length) : mediaType;
}

/** The largest annotation we decode (a JWE per recipient is a few KB; a huge one is hostile). */
export const MAX_ENCRYPTION_ANNOTATION = 256 * 1024;

/** `org.opencontainers.image.enc.pubopts` of a descriptor, decoded and checked. */
export function readPublicOptions(annotations: Record<string, string> | undefined, what: string): PublicOptions {
  const raw = annotations?.[PUBOPTS_ANNOTATION];
  if (raw === undefined) throw new OmlmdError('DECRYPTION_FAILED', `${what} is marked encrypted but has no ${PUBOPTS_ANNOTATION} annotation`);
  if (raw.length > MAX_ENCRYPTION_ANNOTATION) throw new OmlmdError('DECRYPTION_FAILED', `${what}'s ${PUBOPTS_ANNOTATION} annotation is ${raw.length} bytes, more than the ${MAX_ENCRYPTION_ANNOTATION} allowed`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(decodeBase64(raw, 'pubopts', what).toString('utf8'));
  } catch (e) {
    if (e instanceof OmlmdError) throw e;
    throw new OmlmdError('DECRYPTION_FAILED', `${what}'s ${PUBOPTS_ANNOTATION} annotation is not base64 of JSON`);
  }
  const p = parsed as Partial<PublicOptions>;
  if (!p || typeof p !== 'object' || typeof p.cipher !== 'string' || typeof p.hmac !== 'string') {
    throw new OmlmdError('DECRYPTION_FAILED', `${what}'s ${PUBOPTS_ANNOTATION} annotation lacks its cipher or HMAC`);
  }
  return { cipher: p.cipher, hmac: p.hmac, cipheroptions: p.cipheroptions ?? {} };
}

export function encodePublicOptions(pub: PublicOptions): string {
  return Buffer.from(JSON.stringify(pub)).toString('base64');
}

export function parsePrivateOptions(json: Uint8Array, what: string): PrivateOptions {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(json).toString('utf8'));
  } catch {
    throw new OmlmdError('DECRYPTION_FAILED', `${what}'s wrapped key did not open to JSON`);
  }
  const p = parsed as Partial<PrivateOptions>;
  if (!p || typeof p !== 'object' || typeof p.symkey !== 'string') throw new OmlmdError('DECRYPTION_FAILED', `${what}'s wrapped key holds no symmetric key`);
  return { symkey: p.symkey, digest: typeof p.digest === 'string' ? p.digest : '', cipheroptions: p.cipheroptions ?? {} };
}

/** Bytes read and written back per turn when a file is decrypted in place. */
const IN_PLACE_CHUNK = 1024 * 1024;

/**
 * Decrypts a file of ciphertext in place (AES-CTR keeps the size): read a chunk, check it
 * into the HMAC, decrypt it, write it back where it was. Fails (DECRYPTION_FAILED) when the
 * HMAC or the plaintext digest is wrong; the file then holds neither text and must be dropped.
 * For a download that has just verified the ciphertext's digest: no second copy on disk.
 */
export async function decryptFileInPlace(path: string, pub: PublicOptions, priv: PrivateOptions, what: string, signal?: AbortSignal, onBytes?: (n: number) => void): Promise<void> {
  const d = new DecryptStream(pub, priv, what);
  const fh = await open(path, 'r+');
  try {
    const buf = Buffer.allocUnsafe(IN_PLACE_CHUNK);
    for (let at = 0; ; ) {
      signal?.throwIfAborted();
      const { bytesRead } = await fh.read(buf, 0, buf.length, at);
      if (bytesRead === 0) break;
      const plain = d.update(buf.subarray(0, bytesRead));
      let off = 0;
      while (off < plain.length) off += (await fh.write(plain, off, plain.length - off, at + off)).bytesWritten;
      at += bytesRead;
      onBytes?.(bytesRead);
    }
    d.finish();
  } finally {
    await fh.close();
  }
}
