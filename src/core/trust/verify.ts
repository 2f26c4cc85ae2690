/**
 * Verifying a model: in a registry from its manifest and its signature referrer alone (no
 * weight is read: a raw layer's digest is the sha256 the signature lists), or in a pulled
 * directory file by file against the `model.sig` beside it. Every failure is a
 * VERIFICATION_FAILED naming the check: unsigned, unknown key, bad signature, untrusted or
 * expired certificate, a signature for another digest, which file's digest differs, a file
 * the signature does not list.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { OmlmdError } from '../errors';
import type { CallOptions, Repository } from '../oci/store';
import type { Descriptor, ImageManifest } from '../oci/types';
import { checkTitle } from '../transfer/paths';
import type { ReferrersSource } from '../lineage/referrers';
import { failureWeakness, MAX_BUNDLE_BYTES, parseBundle, verifyBundle, type TrustRoot, type VerifiedSigner } from './bundle';
import { fetchBundle, listBundleReferrers } from './referrer';
import { MODEL_SIG_FILE, MODEL_SIGNATURE_PREDICATE, modelSignatureResources, signedFiles, subjectDigest, type ModelSignatureResource, type Statement } from './statement';

export interface VerifiedStatement {
  /** The signature referrer that verified. */
  signature: Descriptor;
  signer: VerifiedSigner;
  statement: Statement;
}

export interface ModelVerification extends VerifiedStatement {
  /** The manifest digest the reference resolved to (what was signed). */
  digest: string;
  files: ModelSignatureResource[];
  source: ReferrersSource;
}

function fail(problem: string): OmlmdError {
  return new OmlmdError('VERIFICATION_FAILED', problem);
}

/** Compares the files a signature lists with the layers of the manifest; the first difference, in words. */
export function compareFiles(signed: ModelSignatureResource[], manifest: ImageManifest): string | undefined {
  const actual = new Map(signedFiles(manifest).map((f) => [f.name, f.digest]));
  const listed = new Map(signed.map((f) => [f.name, f.digest]));
  for (const [name, digest] of listed) {
    const have = actual.get(name);
    if (have === undefined) return `the signature lists ${name}, which the model does not have`;
    if (have !== digest) return `the digest of ${name} differs: signed sha256:${digest.slice(0, 12)}…, the model has sha256:${have.slice(0, 12)}…`;
  }
  for (const name of actual.keys()) if (!listed.has(name)) return `unsigned file: ${name} is in the model but the signature does not list it`;
  return undefined;
}

/**
 * Finds the signature referrers of `subject` with `predicateType` and returns the first that
 * verifies with `trust` and passes `check`; when none does, throws the first failure (a
 * referrer that cannot even be read counts as a failure too, never as a pass).
 */
export async function verifyReferrers(
  repo: Repository,
  subject: Descriptor,
  predicateType: string,
  trust: TrustRoot,
  what: string,
  check: (statement: Statement) => void,
  opts: CallOptions = {},
): Promise<VerifiedStatement & { source: ReferrersSource }> {
  const { referrers, source } = await listBundleReferrers(repo, subject.digest, predicateType, opts);
  if (referrers.length === 0) {
    throw new OmlmdError('VERIFICATION_FAILED', `unsigned: no ${predicateType === MODEL_SIGNATURE_PREDICATE ? 'signature' : `${predicateType} attestation`} refers to ${what} (${subject.digest})`, {
      remedies: [{ kind: 'say', text: 'sign it first, or check that its signature was copied along with it' }],
    });
  }
  const failures: OmlmdError[] = [];
  for (const r of referrers) {
    try {
      const fetched = await fetchBundle(repo, r, opts);
      const { statement, signer } = verifyBundle(fetched.bundle, trust, `the signature ${r.digest.slice(0, 19)} of ${what}`);
      if (statement.predicateType !== predicateType) throw fail(`the signature ${r.digest.slice(0, 19)} of ${what} signs a ${statement.predicateType} statement, not ${predicateType}`);
      check(statement);
      return { signature: r, signer, statement, source };
    } catch (e) {
      if (!OmlmdError.is(e, 'VERIFICATION_FAILED')) throw e;
      failures.push(e);
    }
  }
  // Report the failure that says most: a signature of ours that broke before another signer's, before one of the other kind.
  const first = [...failures].sort((a, b) => (failureWeakness.get(a) ?? 0) - (failureWeakness.get(b) ?? 0))[0]!;
  if (failures.length === 1) throw first;
  throw new OmlmdError('VERIFICATION_FAILED', `${first.problem} (and ${failures.length - 1} other signature${failures.length > 2 ? 's' : ''} did not verify either)`, { remedies: [...first.remedies] });
}

/** The checks of a model signature statement against the manifest the reference resolved to. */
export function checkModelStatement(statement: Statement, digest: string, manifest: ImageManifest, what: string): ModelSignatureResource[] {
  const files = modelSignatureResources(statement, what);
  const signedFor = subjectDigest(statement);
  if (signedFor !== digest) {
    const diff = compareFiles(files, manifest);
    throw fail(`signature for another digest: ${what} signs ${signedFor ?? 'no sha256 digest'}, but the reference resolves to ${digest}${diff ? `; ${diff}` : ''}`);
  }
  const diff = compareFiles(files, manifest);
  if (diff) throw fail(`${what}: ${diff}`);
  return files;
}

/** Verifies the model `reference` (tag or digest) in `repo`: the manifest and its signature, no weights. */
export async function verifyModelIn(repo: Repository, reference: string, trust: TrustRoot, name: string, opts: CallOptions = {}): Promise<ModelVerification> {
  const fetched = await repo.fetchManifest(reference, opts);
  if (fetched.kind !== 'manifest') throw new OmlmdError('USAGE', `${name} is an image index: verify one of its manifests by digest`);
  const digest = fetched.descriptor.digest;
  let files: ModelSignatureResource[] = [];
  const res = await verifyReferrers(repo, fetched.descriptor, MODEL_SIGNATURE_PREDICATE, trust, name, (s) => {
    files = checkModelStatement(s, digest, fetched.manifest, `the signature of ${name}`);
  }, opts);
  return { ...res, digest, files };
}

async function hashFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(c as Buffer);
  return h.digest('hex');
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(relative(dir, p).split(sep).join('/'));
    }
  };
  await walk(dir);
  return out;
}

export interface DirectoryVerification {
  dir: string;
  signer: VerifiedSigner;
  statement: Statement;
  /** The manifest digest the signature names. */
  digest?: string;
  files: ModelSignatureResource[];
}

/**
 * Verifies a pulled directory against the `model.sig` beside its files: the bundle's
 * signature, then every file the signature lists hashed and compared, and no other file
 * present (model.sig aside). Symbolic links are refused, as model-signing's default does.
 */
export async function verifyDirectory(dir: string, trust: TrustRoot): Promise<DirectoryVerification> {
  const sigPath = join(dir, MODEL_SIG_FILE);
  let st;
  try {
    st = await lstat(sigPath);
  } catch {
    throw new OmlmdError('VERIFICATION_FAILED', `unsigned: ${dir} has no ${MODEL_SIG_FILE}`, {
      remedies: [{ kind: 'say', text: `pull the model again from a registry where it is signed: the pull writes ${MODEL_SIG_FILE} beside the files` }],
    });
  }
  if (!st.isFile()) throw fail(`${sigPath} is not a file`);
  if (st.size > MAX_BUNDLE_BYTES) throw fail(`${sigPath} is ${st.size} bytes, more than a signature bundle can be (${MAX_BUNDLE_BYTES})`);
  const bundle = parseBundle(await readFile(sigPath), sigPath);
  const { statement, signer } = verifyBundle(bundle, trust, sigPath);
  const files = modelSignatureResources(statement, sigPath);
  const listed = new Set<string>();
  for (const f of files) {
    try {
      checkTitle(f.name);
    } catch {
      throw fail(`${sigPath} lists ${JSON.stringify(f.name)}, which is not a path inside the folder`);
    }
    listed.add(f.name);
    const p = join(dir, ...f.name.split('/'));
    let fst;
    try {
      fst = await lstat(p);
    } catch {
      throw fail(`missing file: ${f.name} is signed but not in ${dir}`);
    }
    if (fst.isSymbolicLink()) throw fail(`${f.name} in ${dir} is a symbolic link: signed files must be regular files`);
    if (fst.isDirectory()) throw fail(`${f.name} in ${dir} is a folder (an unpacked tar layer): its files cannot be checked against the layer's digest; pull it with the tar kept`);
    const got = await hashFile(p);
    if (got !== f.digest) throw fail(`the digest of ${f.name} differs: signed sha256:${f.digest.slice(0, 12)}…, the file has sha256:${got.slice(0, 12)}…`);
  }
  for (const rel of await listFiles(dir)) {
    if (rel === MODEL_SIG_FILE || listed.has(rel)) continue;
    throw fail(`unsigned file: ${rel} is in ${dir} but ${MODEL_SIG_FILE} does not list it`);
  }
  const digest = subjectDigest(statement);
  return { dir, signer, statement, files, ...(digest ? { digest } : {}) };
}
