import { readFile } from 'node:fs/promises';
import type { OmlmdClient } from '../../core/client';
import { OmlmdError } from '../../core/errors';
import { formatReference } from '../../core/oci/reference';
import {
  CertificateSigner, describeSigner, enforcePolicy, KeySigner, listSignatures, loadCertificates, loadPolicy, loadPrivateKey, loadPublicKeys,
  attest, MODEL_SIGNATURE_PREDICATE, signModel, SLSA_PROVENANCE_V1, verifyModel,
  type ModelVerification, type PolicyDecision, type SignResult, type Signer, type TrustPolicy, type TrustRoot,
} from '../../core/trust';
import { l10n } from './l10n';

/**
 * Sign…, Verify and the signature state of tag nodes, and the trust policy of Pull to
 * Workspace, without VS Code: the extension supplies the settings, the file pickers and
 * the passphrase prompt (SecretStorage when remembered); tests supply scripted answers.
 */

/** The `omlmd.trust.*` settings: paths to key material and the policy file. */
export interface TrustSettings {
  /** PKCS#8 PEM private key (Ed25519 or ECDSA P-256) to sign with. */
  signingKey?: string;
  /** With `signingKey`: an X.509 signing certificate from a private CA, and the chain to it. */
  signingCertificate?: string;
  certificateChain?: string;
  /** What signatures are verified against: public keys (PEM) or CA certificates (and whom they must name). */
  verifyKey?: string;
  verifyCa?: string;
  certIdentity?: string;
  /** The trust policy Pull to Workspace enforces. */
  policyFile?: string;
}

export interface TrustUi {
  /** A key file when the setting names none; undefined when the user cancels. */
  pickFile(title: string): Promise<string | undefined>;
  /** The passphrase of an encrypted signing key (from SecretStorage, or asked); undefined when the user cancels. */
  passphrase(keyPath: string): Promise<string | undefined>;
  /** The remembered passphrase was wrong: drop it. */
  forgetPassphrase(keyPath: string): Promise<void>;
}

async function isEncryptedKey(path: string): Promise<boolean> {
  try {
    return (await readFile(path, 'utf8')).includes('ENCRYPTED PRIVATE KEY');
  } catch {
    return false;
  }
}

/** The signer the settings (or the picked file) name; undefined when the user cancels. */
export async function signerFor(settings: TrustSettings, ui: TrustUi): Promise<Signer | undefined> {
  const keyPath = settings.signingKey || (await ui.pickFile(l10n.t('Signing key (PKCS#8 PEM, Ed25519 or ECDSA P-256)')));
  if (!keyPath) return undefined;
  let passphrase: string | undefined;
  if (await isEncryptedKey(keyPath)) {
    passphrase = await ui.passphrase(keyPath);
    if (passphrase === undefined) return undefined;
  }
  let key;
  try {
    key = await loadPrivateKey(keyPath, passphrase);
  } catch (e) {
    if (passphrase !== undefined) await ui.forgetPassphrase(keyPath);
    throw e;
  }
  if (settings.certificateChain && !settings.signingCertificate) {
    throw new OmlmdError('USAGE', l10n.t('a certificate chain is set without the signing certificate it leads to'));
  }
  return settings.signingCertificate ? CertificateSigner.create(key, settings.signingCertificate, settings.certificateChain || undefined) : new KeySigner(key);
}

/** What signatures are checked against, from the settings; undefined when none is set. */
export async function trustRootFor(settings: TrustSettings): Promise<TrustRoot | undefined> {
  if (settings.verifyKey && settings.verifyCa) throw new OmlmdError('USAGE', l10n.t('both a verification key and a verification CA are set: keep one'));
  if (settings.verifyKey) return { kind: 'keys', keys: await loadPublicKeys(settings.verifyKey), source: settings.verifyKey };
  if (settings.verifyCa) return { kind: 'ca', certificates: await loadCertificates(settings.verifyCa, 'the CA certificates'), identity: settings.certIdentity || undefined, source: settings.verifyCa };
  return undefined;
}

/** Sign… on an artifact node: the model signed and the bundle pushed as its referrer. */
export async function runSign(client: OmlmdClient, reference: string, settings: TrustSettings, ui: TrustUi, signal?: AbortSignal): Promise<SignResult | undefined> {
  const signer = await signerFor(settings, ui);
  if (!signer) return undefined;
  return signModel(client, reference, signer, { signal });
}

/** Verify on an artifact node: manifest and signature only, no weights. */
export async function runVerify(client: OmlmdClient, reference: string, settings: TrustSettings, ui: TrustUi, signal?: AbortSignal): Promise<(ModelVerification & { reference: string }) | undefined> {
  let trust = await trustRootFor(settings);
  if (!trust) {
    const key = await ui.pickFile(l10n.t('Public key to verify with (PEM)'));
    if (!key) return undefined;
    trust = { kind: 'keys', keys: await loadPublicKeys(key), source: key };
  }
  return verifyModel(client, reference, trust, { signal });
}

/** What a tag node shows of its signature. */
export type SignatureState =
  | { kind: 'unsigned' }
  /** Verified against the configured keys or CA. */
  | { kind: 'verified'; signer: string }
  /** A signature is there, and nothing is configured to check it with: who it claims. */
  | { kind: 'signed'; claimed?: string }
  | { kind: 'invalid'; problem: string };

export function describeState(s: SignatureState): { label: string; detail: string } {
  switch (s.kind) {
    case 'unsigned': return { label: l10n.t('unsigned'), detail: l10n.t('No signature') };
    case 'verified': return { label: l10n.t('✓ signed'), detail: l10n.t('Signature verified: signed by {0}', s.signer) };
    case 'signed': return { label: l10n.t('signed'), detail: s.claimed ? l10n.t('Signed, it says by {0}; not checked (set a verification key to check it)', s.claimed) : l10n.t('Signed; not checked (set a verification key to check it)') };
    case 'invalid': return { label: l10n.t('✗ signature'), detail: l10n.t('The signature does not verify: {0}', s.problem) };
  }
}

/**
 * Signature states by manifest digest (and trust material): computed once, on demand, from
 * the manifest and the bundle only. A failure to list is not remembered (a network error
 * is not "unsigned").
 */
export class SignatureStates {
  private readonly cache = new Map<string, Promise<SignatureState>>();

  constructor(private readonly client: () => OmlmdClient, private readonly trust: () => Promise<TrustRoot | undefined>) {}

  clear(): void {
    this.cache.clear();
  }

  /** `pinned`: the artifact's reference by digest (`host/repo@sha256:…`). */
  state(pinned: string, digest: string, signal?: AbortSignal): Promise<SignatureState> {
    const key = digest;
    const hit = this.cache.get(key);
    if (hit) return hit;
    const p = this.compute(pinned, signal);
    this.cache.set(key, p);
    p.catch(() => this.cache.delete(key));
    if (this.cache.size > 5000) this.cache.delete(this.cache.keys().next().value as string);
    return p;
  }

  private async compute(pinned: string, signal?: AbortSignal): Promise<SignatureState> {
    const client = this.client();
    const all = await listSignatures(client, pinned, { signal });
    const sigs = all.filter((s) => s.predicateType === undefined || s.predicateType === MODEL_SIGNATURE_PREDICATE);
    if (sigs.length === 0) return { kind: 'unsigned' };
    const trust = await this.trust();
    if (!trust) return { kind: 'signed', claimed: sigs.find((s) => s.signer)?.signer };
    try {
      const v = await verifyModel(client, pinned, trust, { signal });
      return { kind: 'verified', signer: describeSigner(v.signer) };
    } catch (e) {
      if (OmlmdError.is(e, 'VERIFICATION_FAILED')) return { kind: 'invalid', problem: e.problem };
      throw e;
    }
  }
}

/** The policy file the settings name, read once per path and change time; undefined when none. */
export async function policyFor(settings: TrustSettings): Promise<TrustPolicy | undefined> {
  return settings.policyFile ? loadPolicy(settings.policyFile) : undefined;
}

/**
 * Pull to Workspace under the policy: verified first, pulled by the digest that verified;
 * a refusal writes nothing. Without a policy, the reference as given.
 */
export async function pullTarget(client: OmlmdClient, reference: string, settings: TrustSettings, signal?: AbortSignal): Promise<{ reference: string; decision?: PolicyDecision }> {
  const policy = await policyFor(settings);
  if (!policy) return { reference };
  const decision = await enforcePolicy(client, reference, policy, { signal });
  return { reference: formatReference(decision.reference), decision };
}

/** The build type of a model pushed from a notebook, in its provenance statement. */
export const NOTEBOOK_BUILD_TYPE = 'https://omlmd.dev/notebook-push/v1';

/**
 * A push from a notebook, recorded as a signed SLSA v1 provenance attestation of the model
 * (subject: its manifest digest): the notebook (workspace path, content digest) as the build's
 * input, the metadata it was pushed with, and the extension's version as the builder.
 */
export async function attestNotebookPush(
  client: OmlmdClient,
  pinned: string,
  notebook: { path: string; digest: string },
  metadata: unknown,
  signer: Signer,
  builder: string,
  signal?: AbortSignal,
): Promise<SignResult> {
  const hex = notebook.digest.replace(/^sha256:/, '');
  const predicate = {
    buildDefinition: {
      buildType: NOTEBOOK_BUILD_TYPE,
      externalParameters: { notebook: notebook.path, metadata },
      resolvedDependencies: [{ name: notebook.path, uri: `file:${notebook.path}`, digest: { sha256: hex } }],
    },
    runDetails: { builder: { id: builder }, metadata: { finishedOn: new Date().toISOString() } },
  };
  return attest(client, pinned, SLSA_PROVENANCE_V1, predicate, signer, { signal });
}
