/**
 * The public library surface, name by name: what `require('omlmd')` (dist/core.js, built
 * from src/core/index.ts) gives at run time, and the type-only names beside it. A change
 * of the surface changes this list too, so it is always deliberate (docs/library.md).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import ts from 'typescript';

const CORE = join(__dirname, '..', '..', 'src', 'core');

/** Names a program gets at run time. */
const VALUES = [
  // the client, transfers
  'OmlmdClient', 'pushModel', 'pullModel', 'copyArtifact', 'pushMetadataUpdate', 'TransferCache',
  // the artifact and its metadata
  'metadataSchema', 'METADATA_FIELDS', 'validateMetadata', 'parseMetadata', 'readMetadataFile', 'mergeMetadata', 'metadataToJson', 'metadataToYaml',
  'viewArtifact', 'MODEL_ARTIFACT_TYPE', 'ModelMediaType', 'METADATA_JSON_TITLE', 'METADATA_YAML_TITLE',
  'inspectModelFile', 'inspectBlobHeader', 'suggestMetadata', 'prefillMetadata', 'modelPackFields',
  // references, OCI
  'parseReference', 'formatReference', 'refOf', 'isValidRepository', 'isValidTag', 'DEFAULT_TAG', 'MediaType', 'Annotation', 'sha256', 'isDigest',
  // the Repository contract and its implementations
  'canListReferrers', 'canPutManifestIfMatch', 'RegistryClient', 'RegistryRepository', 'OciLayout', 'LayoutRepository', 'createDispatcher',
  // configuration, credentials
  'loadConfig', 'parseConfig', 'configPath', 'settingsFor', 'registryOptions', 'omlmdHome',
  'createCredentialsProvider', 'credentialSources', 'findCredentials', 'envSource', 'explicitSource', 'authFileSource', 'envHostKey',
  'verifyCredentials', 'storeLogin', 'eraseLogin',
  // errors
  'OmlmdError', 'describeOperation',
  // search
  'openIndex', 'openWritableIndex', 'defaultIndexPath', 'query', 'fieldPaths', 'crawlToIndex', 'indexTag', 'isWritable',
  'MemoryIndex', 'SqliteIndex', 'PostgresIndex', 'RemoteIndex', 'compileQuery', 'QueryError',
  // lineage
  'attach', 'discover', 'detach', 'copyRecursive', 'attachModelCard', 'generateModelCard', 'modelCar', 'modelCarBase', 'storageInitializer',
  'ATTACHMENT_ARTIFACT_TYPE', 'MODELCAR_ARTIFACT_TYPE', 'MODEL_CARD_ARTIFACT_TYPE', 'Pipeline',
  // trust
  'signModel', 'attest', 'verifyModel', 'verifyModelDirectory', 'verifyAttestation', 'verifyImageChain', 'writeModelSignature', 'pullWithSignature', 'modelCarWithProvenance',
  'listSignatures', 'describeSignature', 'KeySigner', 'CertificateSigner', 'loadPrivateKey', 'loadPublicKeys', 'loadCertificates', 'keyId',
  'BUNDLE_MEDIA_TYPE', 'signStatement', 'parseBundle', 'verifyBundle', 'describeSigner', 'BundleAnnotation', 'bundleReferrerManifest', 'pushBundle',
  'IN_TOTO_PAYLOAD_TYPE', 'IN_TOTO_STATEMENT_V1', 'MODEL_SIGNATURE_PREDICATE', 'SLSA_PROVENANCE_V1', 'MODEL_SIG_FILE', 'modelSignatureStatement', 'statementFor',
  'loadPolicy', 'parsePolicy', 'enforcePolicy', 'checkRegistryAllowed', 'policySchema',
];

/** Names for TypeScript only (options, results, the contract): nothing at run time. */
const TYPES = [
  'ClientOptions', 'Target', 'ArtifactInfo', 'LocalEntry',
  'PushInput', 'PushResult', 'PullOptions', 'PullResult', 'PulledFile', 'CopyResult', 'TransferOptions', 'ProgressEvent', 'ProgressCallback',
  'ModelMetadata', 'MetadataField', 'ArtifactView', 'ArtifactFile', 'ArtifactFlavor', 'LayerRole', 'ModelFile',
  'HeaderSummary', 'HeaderFormat', 'TensorPort', 'PickleScan', 'InspectFileOptions', 'ModelPackHeaderFields',
  'Reference', 'Descriptor', 'ImageManifest', 'ImageIndex', 'FetchedManifest', 'Annotations', 'Platform',
  'Repository', 'RepositoryLister', 'RepositoryPage', 'CallOptions', 'BlobInput', 'BlobRef', 'PutBlobOptions', 'OpenBlobOptions', 'UploadSessionStore',
  'ReferrersLister', 'ReferrersQuery', 'ReferrersListing', 'ConditionalManifestWriter',
  'RegistryOptions', 'Credentials', 'CredentialsProvider', 'ProxySettings', 'TlsSettings', 'RetryEvent', 'RetryPolicy', 'OpenLayoutOptions', 'DispatcherOptions',
  'OmlmdConfig', 'RegistrySettings', 'CredentialSource', 'CredentialChainOptions', 'VerifyResult', 'LoginStoreOptions',
  'ErrorCode', 'Operation', 'OperationVerb', 'Remedy', 'FileSetting', 'OmlmdErrorOptions', 'RegistryErrorDetail',
  'OpenIndexOptions', 'QueryOptions', 'QueryResult', 'CrawlOptions', 'CrawlReport', 'CrawlEvent', 'CrawlProblem', 'SearchIndex', 'WritableIndex', 'FindOptions',
  'PostgresIndexOptions', 'RemoteIndexOptions', 'CompiledQuery', 'PathStep', 'JsonValue', 'ArtifactDocument', 'ArtifactKind', 'DocumentFields', 'ArtifactFileEntry',
  'AttachFile', 'AttachOptions', 'AttachResult', 'DiscoverOptions', 'DiscoverResult', 'ReferrerNode', 'ReferrersSource', 'RecursiveCopyResult',
  'ModelCarRequest', 'ModelCarResult', 'StorageInitializerOptions',
  'PipelineActionSpec', 'PipelineOptions', 'PipelineLogger', 'PipelineRun', 'ModelPush', 'RunStatus', 'ModelCarBuilder',
  'SignResult', 'AttestationVerification', 'SignedModelCarRequest', 'SignedModelCarResult', 'ChainLink', 'SignatureListing', 'Signer', 'SignatureResult', 'TrustRoot', 'VerifiedSigner',
  'Statement', 'ResourceDescriptor', 'ModelSignaturePredicate', 'ModelSignatureResource', 'ModelVerification', 'DirectoryVerification',
  'TrustPolicy', 'TrustPolicyDocument', 'PolicyRule', 'PolicyDecision',
];

const sorted = (names: Iterable<string>): string[] => [...names].sort();

/** The names an index file exports, read from its syntax: `export { a, type B }`, `export type { C }`. */
function declaredExports(file: string): { values: string[]; types: string[]; star: number } {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const values: string[] = [];
  const types: string[] = [];
  let star = 0;
  for (const s of sf.statements) {
    if (!ts.isExportDeclaration(s)) {
      assert.ok(!ts.canHaveModifiers(s) || !ts.getModifiers(s)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword), `${file}: only re-exports, no declarations`);
      continue;
    }
    if (!s.exportClause) star++;
    else if (ts.isNamedExports(s.exportClause)) {
      for (const e of s.exportClause.elements) (s.isTypeOnly || e.isTypeOnly ? types : values).push(e.name.text);
    } else star++;
  }
  return { values, types, star };
}

describe('the public library surface', () => {
  test('the lists hold no name twice', () => {
    assert.equal(new Set([...VALUES, ...TYPES]).size, VALUES.length + TYPES.length);
  });

  test('src/core/index.ts exports these values at run time, and no other', async () => {
    const core = (await import('../../src/core/index')) as Record<string, unknown>;
    assert.deepEqual(sorted(Object.keys(core).filter((k) => k !== 'default' && k !== '__esModule')), sorted(VALUES));
    for (const name of VALUES) assert.notEqual(core[name], undefined, name);
  });

  test('src/core/index.ts names each export: these values and these type-only names, no export *', () => {
    const { values, types, star } = declaredExports(join(CORE, 'index.ts'));
    assert.equal(star, 0);
    assert.deepEqual(sorted(values), sorted(VALUES));
    assert.deepEqual(sorted(types), sorted(TYPES));
  });

  test('the search, lineage, trust and credentials barrels name their exports too, and export nothing the library does not', () => {
    const all = new Set([...VALUES, ...TYPES]);
    for (const part of ['search', 'lineage', 'trust', 'credentials']) {
      const { values, types, star } = declaredExports(join(CORE, part, 'index.ts'));
      assert.equal(star, 0, part);
      assert.deepEqual([...values, ...types].filter((n) => !all.has(n)), [], part);
    }
  });
});
