/**
 * in-toto Statement v1 payloads: the model signature (OpenSSF model-signing's
 * `https://model_signing/signature/v1.0` predicate, every file with its sha256), SLSA v1
 * provenance for a ModelCar image, and any predicate a user attests. Parsing checks the
 * shape before anything is trusted from it.
 */
import { OmlmdError } from '../errors';
import { viewArtifact } from '../model/artifact';
import { digestHex } from '../oci/digest';
import type { ImageManifest } from '../oci/types';

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const IN_TOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
export const MODEL_SIGNATURE_PREDICATE = 'https://model_signing/signature/v1.0';
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
/** model-signing's name for the detached signature beside the files. */
export const MODEL_SIG_FILE = 'model.sig';
/** buildType of the provenance `omlmd modelcar build` writes. */
export const MODELCAR_BUILD_TYPE = 'https://omlmd.dev/modelcar/build/v1';

export interface ResourceDescriptor {
  name: string;
  digest: Record<string, string>;
  uri?: string;
  [key: string]: unknown;
}

export interface Statement<P = unknown> {
  _type: typeof IN_TOTO_STATEMENT_V1;
  subject: ResourceDescriptor[];
  predicateType: string;
  predicate: P;
}

export interface ModelSignatureResource {
  name: string;
  algorithm: 'sha256';
  digest: string;
}

export interface ModelSignaturePredicate {
  serialization: { method: 'files'; hash_type: 'sha256'; allow_symlinks: boolean; ignore_paths: string[] };
  resources: ModelSignatureResource[];
}

/** The files a model signature lists: every layer of the manifest, by its path (its title), with its digest. */
export function signedFiles(manifest: ImageManifest): ModelSignatureResource[] {
  const byName = new Map<string, string>();
  for (const f of viewArtifact(manifest).files) {
    const digest = f.descriptor.digest;
    if (!digest.startsWith('sha256:')) throw new OmlmdError('USAGE', `layer ${f.path} has a ${digest.split(':')[0]} digest: a model signature lists sha256 digests`);
    const had = byName.get(f.path);
    if (had !== undefined && had !== digest) throw new OmlmdError('CONFLICT', `two layers are both titled ${JSON.stringify(f.path)} with different content: the signature cannot name them apart`);
    byName.set(f.path, digest);
  }
  return [...byName.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, digest]) => ({ name, algorithm: 'sha256', digest: digestHex(digest) }));
}

/** The model-signing statement for a manifest: subject = the manifest digest, named by the repository. */
export function modelSignatureStatement(repositoryName: string, manifestDigest: string, manifest: ImageManifest): Statement<ModelSignaturePredicate> {
  return {
    _type: IN_TOTO_STATEMENT_V1,
    subject: [{ name: repositoryName, digest: { sha256: digestHex(manifestDigest) } }],
    predicateType: MODEL_SIGNATURE_PREDICATE,
    predicate: {
      serialization: { method: 'files', hash_type: 'sha256', allow_symlinks: false, ignore_paths: [MODEL_SIG_FILE] },
      resources: signedFiles(manifest),
    },
  };
}

/** A statement for any predicate: `predicateType` must be a URI. */
export function statementFor(repositoryName: string, digest: string, predicateType: string, predicate: unknown): Statement {
  if (!/^[a-z][a-z0-9+.-]*:\S+$/i.test(predicateType)) {
    throw new OmlmdError('USAGE', `predicate type ${JSON.stringify(predicateType)} is not a URI (e.g. https://slsa.dev/provenance/v1)`);
  }
  if (typeof predicate !== 'object' || predicate === null || Array.isArray(predicate)) throw new OmlmdError('USAGE', 'an in-toto predicate is a JSON object');
  return { _type: IN_TOTO_STATEMENT_V1, subject: [{ name: repositoryName, digest: { sha256: digestHex(digest) } }], predicateType, predicate };
}

export interface ProvenanceInput {
  image: { name: string; digest: string };
  model: { uri: string; digest: string };
  base: { uri: string; digest?: string };
  builderVersion: string;
  startedOn: Date;
  finishedOn: Date;
  platform?: string;
}

/** SLSA v1 provenance of a ModelCar image: built from the model and the base, by omlmd. */
export function modelCarProvenance(p: ProvenanceInput): Statement {
  const deps: ResourceDescriptor[] = [{ name: 'model', uri: p.model.uri, digest: { sha256: digestHex(p.model.digest) } }];
  deps.push(p.base.digest ? { name: 'base', uri: p.base.uri, digest: { sha256: digestHex(p.base.digest) } } : { name: 'base', uri: p.base.uri, digest: {} });
  return {
    _type: IN_TOTO_STATEMENT_V1,
    subject: [{ name: p.image.name, digest: { sha256: digestHex(p.image.digest) } }],
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: MODELCAR_BUILD_TYPE,
        externalParameters: { model: p.model.uri, base: p.base.uri, ...(p.platform ? { platform: p.platform } : {}) },
        resolvedDependencies: deps,
      },
      runDetails: {
        builder: { id: 'https://omlmd.dev/builder/omlmd', version: { omlmd: p.builderVersion } },
        metadata: { startedOn: p.startedOn.toISOString(), finishedOn: p.finishedOn.toISOString() },
      },
    },
  };
}

const HEX64 = /^[a-f0-9]{64}$/;

/** Parses a DSSE payload as an in-toto Statement v1; `what` names it in errors. */
export function parseStatement(payload: Buffer, payloadType: string, what: string): Statement {
  if (payloadType !== IN_TOTO_PAYLOAD_TYPE) throw new OmlmdError('VERIFICATION_FAILED', `${what}: the signed payload is ${JSON.stringify(payloadType)}, not an in-toto statement (${IN_TOTO_PAYLOAD_TYPE})`);
  let doc: unknown;
  try {
    doc = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new OmlmdError('VERIFICATION_FAILED', `${what}: the signed payload is not JSON`);
  }
  const s = doc as Partial<Statement>;
  if (typeof doc !== 'object' || doc === null || s._type !== IN_TOTO_STATEMENT_V1) throw new OmlmdError('VERIFICATION_FAILED', `${what}: the signed payload is not an in-toto Statement v1`);
  if (!Array.isArray(s.subject) || s.subject.length === 0 || typeof s.predicateType !== 'string') throw new OmlmdError('VERIFICATION_FAILED', `${what}: the statement has no subject or no predicate type`);
  for (const sub of s.subject) {
    if (typeof sub !== 'object' || sub === null || typeof sub.digest !== 'object' || sub.digest === null) throw new OmlmdError('VERIFICATION_FAILED', `${what}: a subject of the statement has no digest`);
  }
  return s as Statement;
}

/** The resources of a model signature predicate, each checked (name, sha256 hex). */
export function modelSignatureResources(statement: Statement, what: string): ModelSignatureResource[] {
  if (statement.predicateType !== MODEL_SIGNATURE_PREDICATE) throw new OmlmdError('VERIFICATION_FAILED', `${what}: its predicate is ${statement.predicateType}, not a model signature (${MODEL_SIGNATURE_PREDICATE})`);
  const p = statement.predicate as Partial<ModelSignaturePredicate> | null;
  if (typeof p !== 'object' || p === null || !Array.isArray(p.resources)) throw new OmlmdError('VERIFICATION_FAILED', `${what}: the model signature lists no resources`);
  const seen = new Set<string>();
  return p.resources.map((r) => {
    if (typeof r !== 'object' || r === null || typeof r.name !== 'string' || r.algorithm !== 'sha256' || typeof r.digest !== 'string' || !HEX64.test(r.digest)) {
      throw new OmlmdError('VERIFICATION_FAILED', `${what}: a resource of the model signature is not {name, algorithm: sha256, digest}`);
    }
    if (seen.has(r.name)) throw new OmlmdError('VERIFICATION_FAILED', `${what}: the model signature lists ${JSON.stringify(r.name)} twice`);
    seen.add(r.name);
    return { name: r.name, algorithm: 'sha256', digest: r.digest };
  });
}

/** The sha256 digest (`sha256:<hex>`) a statement gives its first subject, or undefined. */
export function subjectDigest(statement: Statement): string | undefined {
  const hex = statement.subject[0]?.digest?.sha256;
  return typeof hex === 'string' && HEX64.test(hex) ? `sha256:${hex}` : undefined;
}
