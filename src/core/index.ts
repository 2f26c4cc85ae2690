/**
 * The omlmd library, `require('omlmd')` (dist/core.js): models with metadata as OCI
 * artifacts. No VS Code, no terminal I/O. This file is the public surface, name by name:
 * what a program needs to do what the CLI, the extension and the search server do.
 * test/unit/library-surface.test.ts holds the same list, so adding or removing a name is
 * deliberate. The CLI, the extension and the server import the module files themselves.
 * How to use it: docs/library.md.
 */

// The client: push, pull, copy, inspect, metadata, tags, the local store.
export { OmlmdClient } from './client';
export type { ClientOptions, Target, ArtifactInfo, LocalEntry } from './client';

// Transfers on any Repository (what OmlmdClient runs), with progress and an AbortSignal.
export { pushModel } from './transfer/push';
export type { PushInput, PushResult } from './transfer/push';
export { pullModel } from './transfer/pull';
export type { PullOptions, PullResult, PulledFile } from './transfer/pull';
export { copyArtifact } from './transfer/copy';
export type { CopyResult } from './transfer/copy';
export { pushMetadataUpdate } from './transfer/remetadata';
export { TransferCache } from './transfer/cache';
export type { TransferOptions, ProgressEvent, ProgressCallback } from './transfer/progress';

// The artifact and its metadata: the schema, validating, reading, writing, what the layers are.
export { metadataSchema, METADATA_FIELDS, validateMetadata, parseMetadata, readMetadataFile, mergeMetadata, metadataToJson, metadataToYaml } from './model/metadata';
export type { ModelMetadata, MetadataField } from './model/metadata';
export { viewArtifact, MODEL_ARTIFACT_TYPE, ModelMediaType, METADATA_JSON_TITLE, METADATA_YAML_TITLE } from './model/artifact';
export type { ArtifactView, ArtifactFile, ArtifactFlavor, LayerRole } from './model/artifact';
export type { ModelFile } from './model/files';
// Model files understood by their headers (bounded reads, never the weights).
export { inspectModelFile, inspectBlobHeader, suggestMetadata, prefillMetadata, modelPackFields } from './model/headers';
export type { HeaderSummary, HeaderFormat, TensorPort, PickleScan, InspectFileOptions, ModelPackHeaderFields } from './model/headers';

// References: `host/repo:tag@digest`, `oci:PATH`, local store names.
export { parseReference, formatReference, refOf, isValidRepository, isValidTag, DEFAULT_TAG } from './oci/reference';
export type { Reference } from './oci/reference';

// OCI: the manifest types, media types, digests.
export type { Descriptor, ImageManifest, ImageIndex, FetchedManifest, Annotations, Platform } from './oci/types';
export { MediaType, Annotation } from './oci/mediatypes';
export { sha256, isDigest } from './oci/digest';

// The Repository contract, its optional capabilities, and its two implementations (advanced use).
export { canListReferrers, canPutManifestIfMatch } from './oci/store';
export type {
  Repository, RepositoryLister, RepositoryPage, CallOptions, BlobInput, BlobRef, PutBlobOptions, OpenBlobOptions, UploadSessionStore,
  ReferrersLister, ReferrersQuery, ReferrersListing, ConditionalManifestWriter,
} from './oci/store';
export { RegistryClient, RegistryRepository } from './oci/registry';
export type { RegistryOptions, Credentials, CredentialsProvider, ProxySettings, TlsSettings, RetryEvent, RetryPolicy } from './oci/registry';
export { OciLayout, LayoutRepository } from './oci/layout';
export type { OpenLayoutOptions } from './oci/layout';
export { createDispatcher } from './oci/http';
export type { DispatcherOptions } from './oci/http';

// Configuration: the config file's per-registry settings, the data directory.
export { loadConfig, parseConfig, configPath, settingsFor, registryOptions } from './config';
export type { OmlmdConfig, RegistrySettings } from './config';
export { omlmdHome } from './home';

// Credentials: the chain of sources, Docker's files and helpers, login and logout.
export {
  createCredentialsProvider, credentialSources, findCredentials, envSource, explicitSource, authFileSource, envHostKey,
  verifyCredentials, storeLogin, eraseLogin,
} from './credentials';
export type { CredentialSource, CredentialChainOptions, VerifyResult, LoginStoreOptions } from './credentials';

// Errors as data: a code, the problem, the operation, typed remedies.
export { OmlmdError, describeOperation } from './errors';
export type { ErrorCode, Operation, OperationVerb, Remedy, FileSetting, OmlmdErrorOptions, RegistryErrorDetail } from './errors';

// Search: open an index, crawl into it, query it with JSONPath.
export {
  openIndex, openWritableIndex, defaultIndexPath, query, fieldPaths, crawlToIndex, indexTag, isWritable,
  MemoryIndex, SqliteIndex, PostgresIndex, RemoteIndex, compileQuery, QueryError,
} from './search';
export type {
  OpenIndexOptions, QueryOptions, QueryResult, CrawlOptions, CrawlReport, CrawlEvent, CrawlProblem, SearchIndex, WritableIndex, FindOptions,
  PostgresIndexOptions, RemoteIndexOptions, CompiledQuery, PathStep, JsonValue, ArtifactDocument, ArtifactKind, DocumentFields, ArtifactFileEntry,
} from './search';

// Lineage: referrers (attach, discover, detach, copy with referrers), ModelCar images, the
// KServe storage initializer, pipelines run on a model push.
export {
  attach, discover, detach, copyRecursive, attachModelCard, generateModelCard, modelCar, modelCarBase, storageInitializer,
  ATTACHMENT_ARTIFACT_TYPE, MODELCAR_ARTIFACT_TYPE, MODEL_CARD_ARTIFACT_TYPE, Pipeline,
} from './lineage';
export type {
  AttachFile, AttachOptions, AttachResult, DiscoverOptions, DiscoverResult, ReferrerNode, ReferrersSource, RecursiveCopyResult,
  ModelCarRequest, ModelCarResult, StorageInitializerOptions,
  PipelineActionSpec, PipelineOptions, PipelineLogger, PipelineRun, ModelPush, RunStatus, ModelCarBuilder,
} from './lineage';

// Trust: sign and attest models and images (Sigstore bundles in cosign's referrer layout),
// verify them from the registry without the weights, a pulled folder against its model.sig,
// the ModelCar chain image → provenance → model → signature, and the trust policy (docs/trust.md).
export {
  signModel, attest, verifyModel, verifyModelDirectory, verifyAttestation, verifyImageChain, writeModelSignature, pullWithSignature, modelCarWithProvenance,
  listSignatures, describeSignature, KeySigner, CertificateSigner, loadPrivateKey, loadPublicKeys, loadCertificates, keyId,
  BUNDLE_MEDIA_TYPE, signStatement, parseBundle, verifyBundle, describeSigner, BundleAnnotation, bundleReferrerManifest, pushBundle,
  IN_TOTO_PAYLOAD_TYPE, IN_TOTO_STATEMENT_V1, MODEL_SIGNATURE_PREDICATE, SLSA_PROVENANCE_V1, MODEL_SIG_FILE, modelSignatureStatement, statementFor,
  loadPolicy, parsePolicy, enforcePolicy, checkRegistryAllowed, policySchema,
} from './trust';
export type {
  SignResult, AttestationVerification, SignedModelCarRequest, SignedModelCarResult, ChainLink, SignatureListing, Signer, SignatureResult, TrustRoot, VerifiedSigner,
  Statement, ResourceDescriptor, ModelSignaturePredicate, ModelSignatureResource, ModelVerification, DirectoryVerification,
  TrustPolicy, TrustPolicyDocument, PolicyRule, PolicyDecision,
} from './trust';
