/**
 * Trust for a client: sign, attest and verify by reference, the way OmlmdClient takes them;
 * the signature beside a pull (`model.sig`); and the ModelCar chain: verify the model, build,
 * attach SLSA provenance (signed when a signer is given), and walk image → provenance →
 * model → model signature back.
 *
 * Layering: trust sits above lineage. Lineage never imports trust: building and signing are
 * composed here (`modelCarWithProvenance`), so lineage needs no signer interface of its own.
 */
import { OmlmdClient, type Target } from '../client';
import { OmlmdError } from '../errors';
import { formatReference, parseReference, refOf, type Reference } from '../oci/reference';
import type { CallOptions } from '../oci/store';
import type { Descriptor } from '../oci/types';
import type { PullOptions, PullResult } from '../transfer/pull';
import { writeFileAtomic } from '../util/atomic';
import { modelCar, type ModelCarRequest } from '../lineage/api';
import { attachBytes } from '../lineage/attach';
import type { ModelCarResult } from '../lineage/modelcar';
import type { ReferrersSource } from '../lineage/referrers';
import { claimedSigner, claimedStatement, describeSigner, signStatement, type TrustRoot, type VerifiedSigner } from './bundle';
import type { Signer } from './keys';
import { fetchBundle, listBundleReferrers, pushBundle } from './referrer';
import {
  IN_TOTO_PAYLOAD_TYPE, MODEL_SIG_FILE, MODEL_SIGNATURE_PREDICATE, modelCarProvenance, modelSignatureStatement, SLSA_PROVENANCE_V1, statementFor, subjectDigest,
  type ModelSignatureResource, type Statement,
} from './statement';
import { verifyDirectory, verifyModelIn, verifyReferrers, type DirectoryVerification, type ModelVerification } from './verify';
import { join } from 'node:path';

/** How a statement's subject is named: the repository, without tag or digest. */
function repositoryName(ref: Reference): string {
  return formatReference({ ...ref, tag: undefined, digest: undefined });
}

async function resolveManifest(client: OmlmdClient, target: Target, opts: CallOptions) {
  const ref = OmlmdClient.parse(target);
  const repo = await client.repository(ref);
  const fetched = await repo.fetchManifest(refOf(ref), opts);
  if (fetched.kind !== 'manifest') throw new OmlmdError('USAGE', `${formatReference(ref)} is an image index: sign or verify one of its manifests by digest`);
  return { ref, repo, fetched };
}

export interface SignResult {
  /** The signed model, by digest. */
  reference: string;
  digest: string;
  /** The signature referrer. */
  signature: Descriptor;
  predicateType: string;
  files?: ModelSignatureResource[];
  source: ReferrersSource;
  signer: string;
  /** The bundle JSON that was pushed. */
  bundle: Buffer;
}

/**
 * `omlmd sign`: a model-signing statement over the manifest the reference names (every file
 * by title with its layer digest: nothing is downloaded or re-hashed), signed into a v0.3
 * bundle and pushed as its referrer.
 */
export async function signModel(client: OmlmdClient, target: Target, signer: Signer, opts: CallOptions = {}): Promise<SignResult> {
  const { ref, repo, fetched } = await resolveManifest(client, target, opts);
  const statement = modelSignatureStatement(repositoryName(ref), fetched.descriptor.digest, fetched.manifest);
  const { json } = await signStatement(statement, signer);
  const pushed = await pushBundle(repo, fetched.descriptor, json, MODEL_SIGNATURE_PREDICATE, opts);
  return {
    reference: formatReference({ ...ref, tag: undefined, digest: fetched.descriptor.digest }), digest: fetched.descriptor.digest, signature: pushed.descriptor,
    predicateType: MODEL_SIGNATURE_PREDICATE, files: statement.predicate.resources, source: pushed.source, signer: signer.description, bundle: json,
  };
}

/** `omlmd attest`: any in-toto predicate about the artifact, signed and attached the same way. */
export async function attest(client: OmlmdClient, target: Target, predicateType: string, predicate: unknown, signer: Signer, opts: CallOptions = {}): Promise<SignResult> {
  const { ref, repo, fetched } = await resolveManifest(client, target, opts);
  const statement = statementFor(repositoryName(ref), fetched.descriptor.digest, predicateType, predicate);
  const { json } = await signStatement(statement, signer);
  const pushed = await pushBundle(repo, fetched.descriptor, json, predicateType, opts);
  return { reference: formatReference({ ...ref, tag: undefined, digest: fetched.descriptor.digest }), digest: fetched.descriptor.digest, signature: pushed.descriptor, predicateType, source: pushed.source, signer: signer.description, bundle: json };
}

/** `omlmd verify REF`: the model's signature from the registry (manifest and bundle only). */
export async function verifyModel(client: OmlmdClient, target: Target, trust: TrustRoot, opts: CallOptions = {}): Promise<ModelVerification & { reference: string }> {
  const ref = OmlmdClient.parse(target);
  const repo = await client.repository(ref);
  const res = await verifyModelIn(repo, refOf(ref), trust, formatReference(ref), opts);
  return { ...res, reference: formatReference({ ...ref, tag: undefined, digest: res.digest }) };
}

/** `omlmd verify --path DIR`: a pulled folder against its `model.sig`. */
export async function verifyModelDirectory(dir: string, trust: TrustRoot): Promise<DirectoryVerification> {
  return verifyDirectory(dir, trust);
}

export interface AttestationVerification {
  reference: string;
  digest: string;
  signature: Descriptor;
  signer: VerifiedSigner;
  statement: Statement;
}

/** Verifies an attestation of `predicateType` about the artifact (its subject must be the artifact's digest). */
export async function verifyAttestation(client: OmlmdClient, target: Target, predicateType: string, trust: TrustRoot, opts: CallOptions = {}): Promise<AttestationVerification> {
  const { ref, repo, fetched } = await resolveManifest(client, target, opts);
  const digest = fetched.descriptor.digest;
  const name = formatReference(ref);
  const res = await verifyReferrers(repo, fetched.descriptor, predicateType, trust, name, (s) => {
    const d = subjectDigest(s);
    if (d !== digest) throw new OmlmdError('VERIFICATION_FAILED', `signature for another digest: the ${predicateType} attestation of ${name} is about ${d ?? 'no sha256 digest'}, not ${digest}`);
  }, opts);
  return { reference: formatReference({ ...ref, tag: undefined, digest }), digest, signature: res.signature, signer: res.signer, statement: res.statement };
}

/**
 * Writes the model's signature bundle beside a pulled model as `model.sig` (model-signing's
 * name), when the model has one: one referrers lookup and one small blob. Returns its path.
 * The bundle is not verified here (that needs trust material): `verify --path` does it.
 */
export async function writeModelSignature(client: OmlmdClient, target: Target, dir: string, opts: CallOptions = {}): Promise<string | undefined> {
  const ref = OmlmdClient.parse(target);
  if (!ref.digest) throw new OmlmdError('USAGE', `the signature is written for a model named by digest, got ${formatReference(ref)}`);
  const repo = await client.repository(ref);
  const { referrers } = await listBundleReferrers(repo, ref.digest, MODEL_SIGNATURE_PREDICATE, opts);
  for (const r of referrers) {
    try {
      const fetched = await fetchBundle(repo, r, opts);
      const statement = claimedStatement(fetched.bundle);
      if (statement?.predicateType !== MODEL_SIGNATURE_PREDICATE || subjectDigest(statement) !== ref.digest) continue;
      const path = join(dir, MODEL_SIG_FILE);
      await writeFileAtomic(path, fetched.json);
      return path;
    } catch (e) {
      if (!OmlmdError.is(e, 'VERIFICATION_FAILED')) throw e;
    }
  }
  return undefined;
}

/**
 * A pull that also writes `model.sig` when the model is signed. With `trust`, the model is
 * verified first and pulled by the verified digest, so a tag moved between the check and the
 * pull cannot slip other bytes in (the pull checks every blob against that manifest).
 */
export async function pullWithSignature(client: OmlmdClient, target: Target, outDir: string, opts: PullOptions & { trust?: TrustRoot } = {}): Promise<PullResult & { reference: string; signature?: string; verified?: ModelVerification }> {
  const ref = OmlmdClient.parse(target);
  let verified: ModelVerification | undefined;
  let pinned: Reference = ref;
  if (opts.trust) {
    verified = await verifyModel(client, ref, opts.trust, opts);
    pinned = { ...ref, digest: verified.digest };
  }
  const res = await client.pull(pinned, outDir, opts);
  const byDigest = { ...ref, digest: res.descriptor.digest };
  let signature: string | undefined;
  try {
    signature = await writeModelSignature(client, byDigest, outDir, opts);
  } catch (e) {
    // The files are there and verified against their digests; a registry that will not list
    // referrers only means no model.sig. Under a trust root the pull already verified it.
    if (verified || !OmlmdError.is(e)) throw e;
  }
  return { ...res, reference: formatReference({ ...ref, digest: res.descriptor.digest }), ...(signature ? { signature } : {}), ...(verified ? { verified } : {}) };
}

export interface SignedModelCarRequest extends ModelCarRequest {
  /** Refuse to build unless the model's signature verifies with this. */
  verify?: TrustRoot;
  /** Sign the provenance with this (else it is attached unsigned, as a plain in-toto statement). */
  signer?: Signer;
  /** omlmd's version, for the provenance's builder. */
  builderVersion: string;
}

export interface SignedModelCarResult extends ModelCarResult {
  reference: string;
  sameRepository: boolean;
  model: { reference: string; digest: string; verified?: ModelVerification };
  provenance: { digest: string; signed: boolean; signer?: string; source: ReferrersSource };
}

export const PROVENANCE_TITLE = 'provenance.intoto.json';

function dependencyUri(ref: Reference): string {
  const s = formatReference(ref);
  return ref.kind === 'registry' ? `oci://${s}` : s;
}

/**
 * `omlmd modelcar build` with trust: verifies the model first (when `verify` is given) and
 * builds from the verified digest, then attaches SLSA v1 provenance to the image (subject:
 * the image digest; resolved dependencies: the model's manifest and the base image), signed
 * when `signer` is given.
 */
export async function modelCarWithProvenance(client: OmlmdClient, model: Target, image: Target, opts: SignedModelCarRequest): Promise<SignedModelCarResult> {
  const m = OmlmdClient.parse(model);
  const startedOn = new Date();
  let verified: ModelVerification | undefined;
  let pinned: Reference = m;
  if (opts.verify) {
    // Built from the digest that verified: a tag moved after the check cannot change what goes in.
    verified = await verifyModel(client, m, opts.verify, opts);
    pinned = { ...m, digest: verified.digest };
  }
  const { verify: _v, signer, builderVersion, ...build } = opts;
  const res = await modelCar(client, pinned, image, build);
  const img = parseReference(res.reference);
  const baseDigest = res.manifest.annotations?.['org.opencontainers.image.base.digest'];
  const statement = modelCarProvenance({
    image: { name: repositoryName(img), digest: res.descriptor.digest },
    model: { uri: dependencyUri({ ...m, tag: undefined, digest: res.subject.digest }), digest: res.subject.digest },
    // The minimal base is made here from busybox: its one layer is what it resolves to.
    base: baseDigest ? { uri: dependencyUri({ ...OmlmdClient.parse(res.baseName), digest: baseDigest }), digest: baseDigest } : { uri: res.baseName, digest: res.manifest.layers[0]?.digest },
    builderVersion, startedOn, finishedOn: new Date(), platform: `${res.platform.os}/${res.platform.architecture}${res.platform.variant ? `/${res.platform.variant}` : ''}`,
  });
  const repo = await client.repository(img);
  let provenance: SignedModelCarResult['provenance'];
  if (signer) {
    const { json } = await signStatement(statement, signer);
    const pushed = await pushBundle(repo, res.descriptor, json, SLSA_PROVENANCE_V1, opts);
    provenance = { digest: pushed.descriptor.digest, signed: true, signer: signer.description, source: pushed.source };
  } else {
    const a = await attachBytes(repo, res.descriptor, Buffer.from(JSON.stringify(statement), 'utf8'), PROVENANCE_TITLE, {
      artifactType: IN_TOTO_PAYLOAD_TYPE, mediaType: IN_TOTO_PAYLOAD_TYPE, annotations: { 'dev.sigstore.bundle.predicateType': SLSA_PROVENANCE_V1 }, signal: opts.signal,
    });
    provenance = { digest: a.descriptor.digest, signed: false, source: a.source };
  }
  return { ...res, model: { reference: formatReference({ ...pinned, digest: res.subject.digest }), digest: res.subject.digest, ...(verified ? { verified } : {}) }, provenance };
}

export interface ChainLink {
  kind: 'image' | 'provenance' | 'model' | 'signature';
  reference: string;
  digest: string;
  signer?: string;
  detail?: string;
}

function chainBroken(at: string, e: unknown): never {
  if (OmlmdError.is(e, 'VERIFICATION_FAILED')) throw new OmlmdError('VERIFICATION_FAILED', `chain broken at ${at}: ${e.problem}`, { remedies: [...e.remedies] });
  throw e;
}

/**
 * `omlmd verify IMAGE --chain`: the image's signed SLSA provenance, the model it names (which
 * must be the image's subject too), the model's signature; the links in order, or
 * VERIFICATION_FAILED at the first broken one.
 */
export async function verifyImageChain(client: OmlmdClient, image: Target, trust: TrustRoot, opts: CallOptions = {}): Promise<ChainLink[]> {
  const { ref, repo, fetched } = await resolveManifest(client, image, opts);
  const name = formatReference(ref);
  const digest = fetched.descriptor.digest;
  const links: ChainLink[] = [{ kind: 'image', reference: formatReference({ ...ref, tag: undefined, digest }), digest }];
  let prov;
  try {
    prov = await verifyReferrers(repo, fetched.descriptor, SLSA_PROVENANCE_V1, trust, name, (s) => {
      const d = subjectDigest(s);
      if (d !== digest) throw new OmlmdError('VERIFICATION_FAILED', `signature for another digest: the provenance is about ${d ?? 'no sha256 digest'}, not the image ${digest}`);
    }, opts);
  } catch (e) {
    chainBroken('image → provenance', e);
  }
  const deps = (prov.statement.predicate as { buildDefinition?: { resolvedDependencies?: { name?: string; uri?: string; digest?: { sha256?: string } }[] } })?.buildDefinition?.resolvedDependencies;
  const dep = Array.isArray(deps) ? deps.find((d) => d?.name === 'model') : undefined;
  links.push({ kind: 'provenance', reference: `${repositoryName(ref)}@${prov.signature.digest}`, digest: prov.signature.digest, signer: describeSigner(prov.signer), detail: SLSA_PROVENANCE_V1 });
  if (!dep || typeof dep.uri !== 'string' || typeof dep.digest?.sha256 !== 'string' || !/^[a-f0-9]{64}$/.test(dep.digest.sha256)) {
    throw new OmlmdError('VERIFICATION_FAILED', 'chain broken at provenance → model: the provenance names no model (a resolved dependency "model" with a uri and a sha256 digest)');
  }
  const modelDigest = `sha256:${dep.digest.sha256}`;
  const subject = fetched.manifest.subject?.digest;
  if (subject !== undefined && subject !== modelDigest) {
    throw new OmlmdError('VERIFICATION_FAILED', `chain broken at provenance → model: the provenance names model ${modelDigest} but the image's subject is ${subject}`);
  }
  let modelRef: Reference;
  try {
    modelRef = { ...parseReference(dep.uri.startsWith('oci://') ? dep.uri.slice(6) : dep.uri), digest: modelDigest };
  } catch (e) {
    chainBroken('provenance → model', new OmlmdError('VERIFICATION_FAILED', `the provenance's model uri ${JSON.stringify(dep.uri)} is not a reference`, { cause: e }));
  }
  links.push({ kind: 'model', reference: formatReference(modelRef), digest: modelDigest });
  let model;
  try {
    model = await verifyModel(client, modelRef, trust, opts);
  } catch (e) {
    chainBroken('model → signature', e);
  }
  links.push({ kind: 'signature', reference: `${repositoryName(modelRef)}@${model.signature.digest}`, digest: model.signature.digest, signer: describeSigner(model.signer), detail: `${model.files.length} file${model.files.length === 1 ? '' : 's'}` });
  return links;
}

export interface SignatureListing {
  digest: string;
  predicateType?: string;
  /** Who the bundle says signed it (not verified). */
  signer?: string;
  /** Why the bundle could not be read, when it could not. */
  problem?: string;
}

/** What a bundle referrer in the repository of `target` claims (for listings; nothing is verified). */
export async function describeSignature(client: OmlmdClient, target: Target, referrer: Descriptor, opts: CallOptions = {}): Promise<SignatureListing> {
  const repo = await client.repository(OmlmdClient.parse(target));
  try {
    const f = await fetchBundle(repo, referrer, opts);
    return { digest: referrer.digest, predicateType: claimedStatement(f.bundle)?.predicateType, signer: claimedSigner(f.bundle) };
  } catch (e) {
    if (!OmlmdError.is(e)) throw e;
    return { digest: referrer.digest, predicateType: referrer.annotations?.['dev.sigstore.bundle.predicateType'], problem: e.problem };
  }
}

/** The signatures and attestations of an artifact, with their predicate type and claimed signer. */
export async function listSignatures(client: OmlmdClient, target: Target, opts: CallOptions = {}): Promise<SignatureListing[]> {
  const ref = OmlmdClient.parse(target);
  const repo = await client.repository(ref);
  const digest = ref.digest ?? (await repo.resolve(refOf(ref), opts)).digest;
  const { referrers } = await listBundleReferrers(repo, digest, undefined, opts);
  const out: SignatureListing[] = [];
  for (const r of referrers) out.push(await describeSignature(client, ref, r, opts));
  return out;
}
