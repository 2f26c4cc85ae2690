/**
 * Trust: signatures and attestations of models and images as Sigstore bundles (v0.3, DSSE,
 * in-toto Statement v1) stored as OCI referrers in cosign's layout; verification from the
 * registry without the weights, of a pulled folder against its model.sig, and of the
 * ModelCar chain. What the library exports of trust (src/core/index.ts re-exports this list).
 */
export { signModel, attest, verifyModel, verifyModelDirectory, verifyAttestation, verifyImageChain, writeModelSignature, pullWithSignature, modelCarWithProvenance, listSignatures, describeSignature } from './api';
export type { SignResult, AttestationVerification, SignedModelCarRequest, SignedModelCarResult, ChainLink, SignatureListing } from './api';
export { KeySigner, CertificateSigner, loadPrivateKey, loadPublicKeys, loadCertificates, keyId } from './keys';
export type { Signer, SignatureResult } from './keys';
export { BUNDLE_MEDIA_TYPE, signStatement, parseBundle, verifyBundle, describeSigner } from './bundle';
export type { TrustRoot, VerifiedSigner } from './bundle';
export { BundleAnnotation, bundleReferrerManifest, pushBundle } from './referrer';
export { IN_TOTO_PAYLOAD_TYPE, IN_TOTO_STATEMENT_V1, MODEL_SIGNATURE_PREDICATE, SLSA_PROVENANCE_V1, MODEL_SIG_FILE, modelSignatureStatement, statementFor } from './statement';
export type { Statement, ResourceDescriptor, ModelSignaturePredicate, ModelSignatureResource } from './statement';
export type { ModelVerification, DirectoryVerification } from './verify';
export { loadPolicy, parsePolicy, enforcePolicy, checkRegistryAllowed, policySchema } from './policy';
export type { TrustPolicy, TrustPolicyDocument, PolicyRule, PolicyDecision } from './policy';
