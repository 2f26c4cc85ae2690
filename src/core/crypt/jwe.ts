/**
 * ocicrypt's JWE key wrapping (its keywrap/jwe/keywrapper_jwe.go), through `jose`, the
 * maintained JOSE library for JavaScript (no hand-written JWE):
 * - the private options JSON is encrypted once with A256GCM for every recipient together
 *   (General JSON serialisation; one recipient serialises as the flattened form, as go-jose's
 *   FullSerialize does), the content key wrapped per recipient with RSA-OAEP for RSA keys and
 *   ECDH-ES+A256KW for EC keys;
 * - the annotation `org.opencontainers.image.enc.keys.jwe` holds base64 of that JSON; several
 *   entries, comma-separated, are tried in turn (another tool may have added its own);
 * - unwrapping accepts what ocicrypt accepts: RSA-OAEP, RSA-OAEP-256, ECDH-ES+A128KW/A192KW/
 *   A256KW, and the content encryptions of RFC 7518 section 5.1.
 */
import { createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
// jose is loaded by the first wrap or unwrap (import() below): a push or pull in clear never
// compiles it (the CLI's split bundle puts it in a chunk of its own).
import type { FlattenedJWE, GeneralJWE } from 'jose';
import { OmlmdError } from '../errors';
import { MAX_ENCRYPTION_ANNOTATION } from './layer';

export const JWE_KEYS_ANNOTATION = 'org.opencontainers.image.enc.keys.jwe';

const KEY_ALGORITHMS = ['RSA-OAEP', 'RSA-OAEP-256', 'ECDH-ES+A128KW', 'ECDH-ES+A192KW', 'ECDH-ES+A256KW'];
const CONTENT_ENCRYPTIONS = ['A128CBC-HS256', 'A192CBC-HS384', 'A256CBC-HS512', 'A128GCM', 'A192GCM', 'A256GCM'];

/** A recipient's public key, read from PEM (SPKI or PKCS#1) or a JWK. */
export function parsePublicKey(pem: string | Buffer, source: string): KeyObject {
  try {
    const text = pem.toString();
    const key = text.trimStart().startsWith('{') ? createPublicKey({ key: JSON.parse(text) as JsonWebKey, format: 'jwk' }) : createPublicKey(pem);
    keyAlgorithm(key, source);
    return key;
  } catch (e) {
    if (e instanceof OmlmdError) throw e;
    throw new OmlmdError('INVALID_KEY', `${source} is not a public key in PEM or JWK (${(e as Error).message})`);
  }
}

/** A private key from PEM (PKCS#8, PKCS#1 or SEC1), with its passphrase when it has one. */
export function parsePrivateKey(pem: string | Buffer, source: string, passphrase?: string): KeyObject {
  try {
    return createPrivateKey({ key: pem, ...(passphrase === undefined ? {} : { passphrase }) });
  } catch (e) {
    const msg = (e as Error).message;
    if (/passphrase|bad decrypt/i.test(msg)) throw new OmlmdError('INVALID_KEY', `${source} is encrypted and ${passphrase === undefined ? 'no passphrase was given' : 'the passphrase does not open it'}`);
    throw new OmlmdError('INVALID_KEY', `${source} is not a private key in PEM (${msg})`);
  }
}

function keyAlgorithm(key: KeyObject, source: string): string {
  if (key.asymmetricKeyType === 'rsa') return 'RSA-OAEP';
  if (key.asymmetricKeyType === 'ec') return 'ECDH-ES+A256KW';
  throw new OmlmdError('INVALID_KEY', `${source} is a ${key.asymmetricKeyType ?? 'symmetric'} key; JWE recipients are RSA or EC keys`);
}

/** The private options JSON wrapped for every recipient: one annotation entry (base64 of the JWE JSON). */
export async function wrapKey(privateOptions: Uint8Array, recipients: { key: KeyObject; source: string }[]): Promise<string> {
  if (recipients.length === 0) throw new OmlmdError('USAGE', 'encryption needs at least one recipient');
  const { GeneralEncrypt } = await import('jose');
  const enc = new GeneralEncrypt(privateOptions).setProtectedHeader({ enc: 'A256GCM' });
  for (const r of recipients) enc.addRecipient(r.key).setUnprotectedHeader({ alg: keyAlgorithm(r.key, r.source) });
  const general = await enc.encrypt();
  // go-jose (ocicrypt) writes the flattened form for one recipient; both forms parse everywhere.
  const json = general.recipients.length === 1 ? flatten(general) : general;
  return Buffer.from(JSON.stringify(json)).toString('base64');
}

function flatten(g: GeneralJWE): FlattenedJWE {
  const r = g.recipients[0]!;
  const { recipients: _r, ...rest } = g;
  return { ...rest, ...(r.header ? { header: r.header } : {}), ...(r.encrypted_key ? { encrypted_key: r.encrypted_key } : {}) };
}

/**
 * Opens the wrapped key with the first private key that can: the private options JSON.
 * `null` when none of the keys is a recipient (so another key scheme may be tried).
 */
export async function unwrapKey(annotation: string, keys: KeyObject[], what: string): Promise<Uint8Array | null> {
  if (annotation.length > MAX_ENCRYPTION_ANNOTATION) throw new OmlmdError('DECRYPTION_FAILED', `${what}'s ${JWE_KEYS_ANNOTATION} annotation is ${annotation.length} bytes, more than the ${MAX_ENCRYPTION_ANNOTATION} allowed`);
  const { flattenedDecrypt, generalDecrypt } = await import('jose');
  for (const entry of annotation.split(',')) {
    let jwe: GeneralJWE & FlattenedJWE;
    try {
      jwe = JSON.parse(Buffer.from(entry, 'base64').toString('utf8')) as GeneralJWE & FlattenedJWE;
      if (!jwe || typeof jwe !== 'object' || typeof jwe.ciphertext !== 'string') throw new Error('no ciphertext');
    } catch {
      throw new OmlmdError('DECRYPTION_FAILED', `${what}'s ${JWE_KEYS_ANNOTATION} annotation is not base64 of a JWE in JSON`);
    }
    for (const key of keys) {
      try {
        const opts = { keyManagementAlgorithms: KEY_ALGORITHMS, contentEncryptionAlgorithms: CONTENT_ENCRYPTIONS };
        const res = Array.isArray(jwe.recipients) ? await generalDecrypt(jwe, key, opts) : await flattenedDecrypt(jwe, key, opts);
        return res.plaintext;
      } catch {
        // not this key's recipient, or not this key's algorithm: try the next one
      }
    }
  }
  return null;
}
