/**
 * Key material on node:crypto: signing keys (ECDSA P-256 and Ed25519, PKCS#8 PEM, optionally
 * encrypted), public keys, X.509 signing certificates from a private CA, and the checks of a
 * certificate chain. The signer is an interface (`Signer`, the same shape as @sigstore/sign's),
 * so keyless Sigstore (Fulcio) can be added as another implementation; none is faked here.
 */
import { createHash, createPrivateKey, createPublicKey, sign as cryptoSign, X509Certificate, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { OmlmdError } from '../errors';

/** What a signer hands the bundle builder: the signature and how a verifier finds the key. */
export interface SignatureResult {
  signature: Buffer;
  key: { $case: 'publicKey'; publicKey: string; hint?: string } | { $case: 'x509Certificate'; certificate: string };
}

/**
 * Signs bytes (the DSSE pre-authentication encoding). @sigstore/sign's `Signer` has this
 * shape, so ours plug into its DSSEBundleBuilder. Keyless Sigstore would be another one.
 */
export interface Signer {
  sign(data: Buffer): Promise<SignatureResult>;
  /** Who signs, in words: `key 1a2b3c4d…` or the certificate's subject. */
  readonly description: string;
}

export type KeyAlgorithm = 'ecdsa-p256' | 'ed25519';

/** The key id we put in a bundle's hint: sha256 of the public key's SubjectPublicKeyInfo (DER), hex. */
export function keyId(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256').update(pub.export({ type: 'spki', format: 'der' })).digest('hex');
}

export function keyAlgorithm(key: KeyObject, where: string): KeyAlgorithm {
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ecdsa-p256';
  const what = key.asymmetricKeyType === 'ec' ? `an EC key on ${key.asymmetricKeyDetails?.namedCurve ?? 'another curve'}` : `a ${key.asymmetricKeyType ?? 'symmetric'} key`;
  throw new OmlmdError('USAGE', `${where} is ${what}: omlmd signs with ECDSA P-256 or Ed25519 keys`, {
    remedies: [{ kind: 'say', text: 'make an Ed25519 or ECDSA P-256 key (openssl genpkey makes both) and sign with it' }],
  });
}

async function readPem(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new OmlmdError('NOT_FOUND', `cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`, {
      cause: e, remedies: [{ kind: 'check-file', path, setting: 'file' }],
    });
  }
}

/** A private key from a PKCS#8 PEM file; `passphrase` for an encrypted one. */
export async function loadPrivateKey(path: string, passphrase?: string): Promise<KeyObject> {
  const pem = await readPem(path, 'the signing key');
  if (!pem.includes('-----BEGIN')) throw new OmlmdError('USAGE', `${path} is not a PEM file`);
  const encrypted = pem.includes('ENCRYPTED PRIVATE KEY');
  if (encrypted && passphrase === undefined) {
    throw new OmlmdError('USAGE', `the signing key ${path} is encrypted and no passphrase was given`, {
      remedies: [{ kind: 'say', text: 'give its passphrase on standard input or in the OMLMD_SIGNING_PASSPHRASE environment variable' }],
    });
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(encrypted ? { key: pem, format: 'pem', passphrase } : { key: pem, format: 'pem' });
  } catch (e) {
    if (encrypted) throw new OmlmdError('USAGE', `cannot decrypt the signing key ${path}: wrong passphrase`, { cause: e });
    throw new OmlmdError('USAGE', `${path} holds no private key omlmd can read (PKCS#8 PEM expected): ${(e as Error).message}`, { cause: e });
  }
  keyAlgorithm(key, `the signing key ${path}`);
  return key;
}

/** Public keys from a PEM file (several PUBLIC KEY blocks: any of them). */
export async function loadPublicKeys(path: string): Promise<KeyObject[]> {
  const pem = await readPem(path, 'the public key');
  const blocks = pem.match(/-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g) ?? [];
  if (blocks.length === 0) {
    throw new OmlmdError('USAGE', `${path} holds no public key (a PEM "PUBLIC KEY" block expected)`, {
      remedies: [{ kind: 'say', text: 'export the public half of the signing key (openssl pkey does it) and verify with that' }],
    });
  }
  return blocks.map((b) => {
    const key = createPublicKey(b);
    keyAlgorithm(key, `the public key in ${path}`);
    return key;
  });
}

/** Every certificate in a PEM file. */
export async function loadCertificates(path: string, what: string): Promise<X509Certificate[]> {
  const pem = await readPem(path, what);
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new OmlmdError('USAGE', `${path} holds no certificate (a PEM "CERTIFICATE" block expected)`);
  return blocks.map((b) => {
    try {
      return new X509Certificate(b);
    } catch (e) {
      throw new OmlmdError('USAGE', `${path} holds a certificate that cannot be read: ${(e as Error).message}`, { cause: e });
    }
  });
}

function signBytes(key: KeyObject, data: Buffer): Buffer {
  // ECDSA: SHA-256, the signature DER-encoded (what Sigstore and cosign verify); Ed25519: pure.
  return keyAlgorithm(key, 'the signing key') === 'ed25519' ? cryptoSign(null, data, key) : cryptoSign('sha256', data, { key, dsaEncoding: 'der' });
}

/** Signs with a local private key; the bundle names the key by its id (the hint). */
export class KeySigner implements Signer {
  readonly keyId: string;
  readonly description: string;
  constructor(private readonly key: KeyObject) {
    this.keyId = keyId(key);
    this.description = `key ${this.keyId.slice(0, 16)}`;
  }
  async sign(data: Buffer): Promise<SignatureResult> {
    const pub = createPublicKey(this.key).export({ type: 'spki', format: 'pem' }).toString();
    return { signature: signBytes(this.key, data), key: { $case: 'publicKey', publicKey: pub, hint: this.keyId } };
  }
}

/** The certificate's subject in one line: `CN=ml-team, O=Example`. */
export function certificateSubject(cert: X509Certificate): string {
  return cert.subject.split('\n').filter(Boolean).join(', ');
}

/** Signs with a private key and its X.509 signing certificate (model-signing's certificate method). */
export class CertificateSigner implements Signer {
  readonly description: string;
  private constructor(private readonly key: KeyObject, private readonly certificate: X509Certificate) {
    this.description = `certificate ${certificateSubject(certificate)}`;
  }

  /**
   * Checks that the certificate belongs to the key, may sign, is valid now, and (with
   * `chain`) chains up through those certificates, so a bad setup fails here, not at verify.
   */
  static async create(key: KeyObject, certPath: string, chainPath?: string): Promise<CertificateSigner> {
    const [cert] = await loadCertificates(certPath, 'the signing certificate');
    if (!cert!.checkPrivateKey(key)) throw new OmlmdError('USAGE', `the signing certificate ${certPath} is not for this signing key (their public keys differ)`);
    checkLeafUsage(cert!, `the signing certificate ${certPath}`);
    const now = new Date();
    if (!validAt(cert!, now)) throw new OmlmdError('USAGE', `the signing certificate ${certPath} is not valid now (valid from ${cert!.validFrom} to ${cert!.validTo})`);
    if (chainPath) {
      const chain = await loadCertificates(chainPath, 'the certificate chain');
      verifyCertificateChain(cert!, chain, now, { certificate: `the signing certificate ${certPath}`, ca: chainPath });
    }
    return new CertificateSigner(key, cert!);
  }

  async sign(data: Buffer): Promise<SignatureResult> {
    return { signature: signBytes(this.key, data), key: { $case: 'x509Certificate', certificate: this.certificate.toString() } };
  }
}

export function validAt(cert: X509Certificate, at: Date): boolean {
  return new Date(cert.validFrom).getTime() <= at.getTime() && at.getTime() <= new Date(cert.validTo).getTime();
}

/** A signing certificate must not be a CA and, when it says what it is for, be for signatures (keyUsage digitalSignature or EKU codeSigning). */
export function checkLeafUsage(cert: X509Certificate, what: string): void {
  if (cert.ca) throw new OmlmdError('VERIFICATION_FAILED', `${what} is a CA certificate, not a signing certificate`);
  const eku = cert.keyUsage;
  // node exposes the extended key usage OIDs; codeSigning is 1.3.6.1.5.5.7.3.3.
  if (eku && eku.length > 0 && !eku.includes('1.3.6.1.5.5.7.3.3')) {
    throw new OmlmdError('VERIFICATION_FAILED', `${what} may not sign code (its extended key usage lacks codeSigning)`);
  }
}

export interface ChainWords {
  certificate: string;
  ca: string;
}

/**
 * The path from `leaf` up to a self-signed certificate among `trusted` (intermediates may be
 * among them too): each link issued and signed by the next, every issuer a CA, every
 * certificate valid at `at`. Throws VERIFICATION_FAILED naming what is wrong.
 */
export function verifyCertificateChain(leaf: X509Certificate, trusted: X509Certificate[], at: Date, words: ChainWords): X509Certificate[] {
  const path = [leaf];
  let current = leaf;
  for (let depth = 0; depth < 8; depth++) {
    const issuer = trusted.find((c) => current.checkIssued(c) && current.verify(c.publicKey));
    if (!issuer) {
      if (depth === 0) throw new OmlmdError('VERIFICATION_FAILED', `untrusted certificate: ${words.certificate} (${certificateSubject(leaf)}, issued by ${current.issuer.split('\n').filter(Boolean).join(', ')}) was not issued by a CA in ${words.ca}`);
      throw new OmlmdError('VERIFICATION_FAILED', `untrusted certificate: the chain of ${words.certificate} ends at ${certificateSubject(current)}, which no certificate in ${words.ca} issued`);
    }
    if (!issuer.ca) throw new OmlmdError('VERIFICATION_FAILED', `untrusted certificate: ${certificateSubject(issuer)} in ${words.ca} issued ${words.certificate} but is not a CA`);
    if (issuer !== current) path.push(issuer);
    const selfSigned = issuer.checkIssued(issuer) && issuer.verify(issuer.publicKey);
    if (selfSigned) break;
    current = issuer;
  }
  for (const c of path) {
    if (!validAt(c, at)) {
      const expired = new Date(c.validTo).getTime() < at.getTime();
      throw new OmlmdError('VERIFICATION_FAILED', `${expired ? 'expired' : 'not yet valid'} certificate: ${c === leaf ? words.certificate : certificateSubject(c)} is valid from ${c.validFrom} to ${c.validTo}`, {
        remedies: [{ kind: 'say', text: 'sign again with a certificate valid now, or check this machine\'s clock' }],
      });
    }
  }
  return path;
}

/** Whether a certificate names `identity`: one of its subject alternative names (email, URI, DNS), or its subject's CN. */
export function certificateHasIdentity(cert: X509Certificate, identity: string): boolean {
  const sans = (cert.subjectAltName ?? '').split(/,\s*/).map((s) => s.replace(/^(email|URI|DNS|IP Address):/, ''));
  if (sans.includes(identity)) return true;
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1];
  return cn === identity;
}
