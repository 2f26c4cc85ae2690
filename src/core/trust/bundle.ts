/**
 * Sigstore bundles v0.3 holding a DSSE envelope: made with @sigstore/sign's DSSEBundleBuilder
 * (our Signer, no witnesses: no transparency log or timestamp authority can be reached
 * here), serialised with @sigstore/bundle, and checked with @sigstore/verify's Verifier with
 * our key or CA as the trust material and the log, CT-log and timestamp thresholds at 0.
 *
 * @sigstore/verify checks a certificate chain only at the times its timestamps give, and a
 * bundle without log entries or timestamps has none; so with a CA the chain is checked here
 * (node:crypto, at the time of verification) and the Verifier then checks the signature
 * with the certificate's key.
 */
import type { KeyObject, X509Certificate as NodeX509 } from 'node:crypto';
import { X509Certificate } from 'node:crypto';
import { bundleFromJSON, bundleToJSON, BUNDLE_V03_MEDIA_TYPE, type Bundle, type SerializedBundle } from '@sigstore/bundle';
import { DSSEBundleBuilder } from '@sigstore/sign/dist/bundler/dsse';
import { toSignedEntity, Verifier, type SignedEntity, type TrustMaterial } from '@sigstore/verify';
import { OmlmdError } from '../errors';
import { certificateHasIdentity, certificateSubject, checkLeafUsage, keyId, verifyCertificateChain, type Signer } from './keys';
import { IN_TOTO_PAYLOAD_TYPE, parseStatement, type Statement } from './statement';

/** The media type of the bundle JSON, the referrer's artifactType and its one layer (cosign's bundle spec). */
export const BUNDLE_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
/** A bundle larger than this is refused unread: ours are a few KiB. */
export const MAX_BUNDLE_BYTES = 1 << 20;

/** Signs a statement: a v0.3 bundle with a DSSE envelope, as JSON bytes. */
export async function signStatement(statement: Statement, signer: Signer): Promise<{ json: Buffer; bundle: SerializedBundle }> {
  const builder = new DSSEBundleBuilder({ signer, witnesses: [] });
  const bundle = await builder.create({ data: Buffer.from(JSON.stringify(statement), 'utf8'), type: IN_TOTO_PAYLOAD_TYPE });
  const serialized = bundleToJSON(bundle);
  return { json: Buffer.from(JSON.stringify(serialized), 'utf8'), bundle: serialized };
}

/** What to trust: public keys, or CA certificates (root and intermediates) with an optional identity the certificate must name. */
export type TrustRoot =
  | { kind: 'keys'; keys: KeyObject[]; source: string }
  | { kind: 'ca'; certificates: NodeX509[]; identity?: string; source: string };

/** Who signed, as far as the verification proved. */
export type VerifiedSigner =
  | { kind: 'key'; keyId: string }
  | { kind: 'certificate'; subject: string; subjectAltName?: string; issuer: string; fingerprint256: string };

export function describeSigner(s: VerifiedSigner): string {
  return s.kind === 'key' ? `key ${s.keyId.slice(0, 16)}` : `certificate ${s.subject}${s.subjectAltName ? ` (${s.subjectAltName})` : ''}`;
}

/** Parses bundle bytes: JSON, a v0.3 Sigstore bundle, a DSSE envelope with one signature. */
export function parseBundle(bytes: Buffer, what: string): Bundle & { content: { $case: 'dsseEnvelope' } } {
  if (bytes.length > MAX_BUNDLE_BYTES) throw new OmlmdError('VERIFICATION_FAILED', `${what} is ${bytes.length} bytes, more than a signature bundle can be (${MAX_BUNDLE_BYTES})`);
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new OmlmdError('VERIFICATION_FAILED', `${what} is not JSON, so not a Sigstore bundle`);
  }
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(doc);
  } catch (e) {
    throw new OmlmdError('VERIFICATION_FAILED', `${what} is not a valid Sigstore bundle: ${(e as Error).message}`, { cause: e });
  }
  if (bundle.mediaType !== BUNDLE_V03_MEDIA_TYPE && bundle.mediaType !== 'application/vnd.dev.sigstore.bundle+json;version=0.3') {
    throw new OmlmdError('VERIFICATION_FAILED', `${what} is a ${bundle.mediaType} bundle: omlmd verifies v0.3 bundles`);
  }
  if (bundle.content.$case !== 'dsseEnvelope') throw new OmlmdError('VERIFICATION_FAILED', `${what} holds a message signature, not a DSSE envelope`);
  if (bundle.content.dsseEnvelope.signatures.length !== 1) throw new OmlmdError('VERIFICATION_FAILED', `${what} holds ${bundle.content.dsseEnvelope.signatures.length} signatures, not one`);
  return bundle as Bundle & { content: { $case: 'dsseEnvelope' } };
}

function publicKeyMaterial(key: KeyObject): TrustMaterial {
  return { certificateAuthorities: [], timestampAuthorities: [], tlogs: [], ctlogs: [], publicKey: () => ({ publicKey: key, validFor: () => true }) };
}

/**
 * How little a failure says about the signature (for choosing which of several to report):
 * 2 a bundle of the other kind (key vs certificate), 1 another signer's key; else 0.
 */
export const failureWeakness = new WeakMap<OmlmdError, number>();

function weak(e: OmlmdError, level: number): OmlmdError {
  failureWeakness.set(e, level);
  return e;
}

const THRESHOLDS = { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 } as const;

function signatureVerifies(entity: SignedEntity, key: KeyObject): boolean {
  try {
    new Verifier(publicKeyMaterial(key), THRESHOLDS).verify(entity);
    return true;
  } catch (e) {
    if ((e as { code?: string }).code === 'SIGNATURE_ERROR') return false;
    throw new OmlmdError('VERIFICATION_FAILED', `bad signature: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Checks a bundle's signature against the trust root and returns the statement it signs and
 * who signed it. Throws VERIFICATION_FAILED: unknown key, bad signature, untrusted, expired
 * or misused certificate, wrong identity, a payload that is not an in-toto statement.
 */
export function verifyBundle(bundle: Bundle & { content: { $case: 'dsseEnvelope' } }, trust: TrustRoot, what: string, at: Date = new Date()): { statement: Statement; signer: VerifiedSigner } {
  const env = bundle.content.dsseEnvelope;
  const entity = toSignedEntity(bundle);
  const material = bundle.verificationMaterial.content;
  let signer: VerifiedSigner;
  if (trust.kind === 'keys') {
    if (material.$case !== 'publicKey') {
      throw weak(new OmlmdError('VERIFICATION_FAILED', `${what} was signed with a certificate, not a key: verify it with the CA that issued the certificate`), 2);
    }
    const hint = material.publicKey.hint;
    const key = trust.keys.find((k) => signatureVerifies(entity, k));
    if (!key) {
      const ours = trust.keys.map(keyId);
      if (hint && !ours.includes(hint)) {
        throw weak(new OmlmdError('VERIFICATION_FAILED', `unknown key: ${what} was signed by key ${hint.slice(0, 16)}, not by ${ours.length === 1 ? `the key in ${trust.source} (${ours[0]!.slice(0, 16)})` : `any key in ${trust.source}`}`, {
          remedies: [{ kind: 'say', text: 'verify with the public key of whoever signed it, if you trust them' }],
        }), 1);
      }
      throw new OmlmdError('VERIFICATION_FAILED', `bad signature: ${what} does not verify with ${trust.source}: its signature or signed payload was changed`);
    }
    signer = { kind: 'key', keyId: keyId(key) };
  } else {
    if (material.$case !== 'certificate' && material.$case !== 'x509CertificateChain') {
      throw weak(new OmlmdError('VERIFICATION_FAILED', `${what} was signed with a key, not a certificate: verify it with the signer's public key`), 2);
    }
    const raw = material.$case === 'certificate' ? material.certificate.rawBytes : material.x509CertificateChain.certificates[0]?.rawBytes;
    let leaf: NodeX509;
    try {
      leaf = new X509Certificate(Buffer.from(raw ?? []));
    } catch (e) {
      throw new OmlmdError('VERIFICATION_FAILED', `${what} holds a certificate that cannot be read`, { cause: e });
    }
    const extra = material.$case === 'x509CertificateChain' ? material.x509CertificateChain.certificates.slice(1).map((c) => new X509Certificate(Buffer.from(c.rawBytes))) : [];
    // Intermediates the bundle carries may link the chain, but only a CA from the trust root anchors it.
    const path = verifyCertificateChain(leaf, [...trust.certificates, ...extra], at, { certificate: `the certificate of ${what}`, ca: trust.source });
    if (!trust.certificates.some((c) => path.some((p) => p.fingerprint256 === c.fingerprint256 && p !== leaf))) {
      throw new OmlmdError('VERIFICATION_FAILED', `untrusted certificate: the chain of ${what} does not reach a CA in ${trust.source}`);
    }
    checkLeafUsage(leaf, `the certificate of ${what}`);
    if (trust.identity !== undefined && !certificateHasIdentity(leaf, trust.identity)) {
      throw new OmlmdError('VERIFICATION_FAILED', `wrong identity: the certificate of ${what} is for ${certificateSubject(leaf)}${leaf.subjectAltName ? ` (${leaf.subjectAltName})` : ''}, not ${trust.identity}`);
    }
    // The chain is ours to check (see the file comment); the signature is the Verifier's, with the certificate's key.
    // (An empty key hint: the Verifier's key finder below answers with the certificate's key whatever it asks.)
    const keyed: SignedEntity = { ...entity, key: { $case: 'public-key', hint: String() } };
    if (!signatureVerifies(keyed, leaf.publicKey)) throw new OmlmdError('VERIFICATION_FAILED', `bad signature: ${what} does not verify with its certificate's key: its signature or signed payload was changed`);
    signer = { kind: 'certificate', subject: certificateSubject(leaf), subjectAltName: leaf.subjectAltName, issuer: leaf.issuer.split('\n').filter(Boolean).join(', '), fingerprint256: leaf.fingerprint256 };
  }
  return { statement: parseStatement(Buffer.from(env.payload), env.payloadType, what), signer };
}

/** Who a bundle says signed it, unverified (for listings): the key hint or the certificate subject. */
export function claimedSigner(bundle: Bundle): string {
  const m = bundle.verificationMaterial.content;
  if (m.$case === 'publicKey') return m.publicKey.hint ? `key ${m.publicKey.hint.slice(0, 16)}` : 'a key';
  const raw = m.$case === 'certificate' ? m.certificate.rawBytes : m.x509CertificateChain.certificates[0]?.rawBytes;
  try {
    return `certificate ${certificateSubject(new X509Certificate(Buffer.from(raw ?? [])))}`;
  } catch {
    return 'an unreadable certificate';
  }
}

/** The statement a bundle carries, unverified (for listings). */
export function claimedStatement(bundle: Bundle & { content: { $case: 'dsseEnvelope' } }): Statement | undefined {
  try {
    return parseStatement(Buffer.from(bundle.content.dsseEnvelope.payload), bundle.content.dsseEnvelope.payloadType, 'bundle');
  } catch {
    return undefined;
  }
}
