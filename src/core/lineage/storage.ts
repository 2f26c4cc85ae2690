/**
 * KServe's storage initializer contract: a container (named `storage-initializer`, declared
 * by a `ClusterStorageContainer` for a URI prefix) is started with `SRC_URI DEST_PATH` and
 * must leave the model's files in DEST_PATH (KServe passes /mnt/models). We take
 * `oci-artifact://HOST/REPO:TAG` and `oci://HOST/REPO[:TAG|@DIGEST]` and pull the model
 * files (not the metadata layers, unless asked) with every digest verified.
 */
import { OmlmdError } from '../errors';
import { ModelMediaType, viewArtifact } from '../model/artifact';
import { servedRoot } from '../model/served';
import { formatReference, parseReference, refOf, type Reference } from '../oci/reference';
import type { Repository } from '../oci/store';
import { pullModel, type PullOptions, type PullResult } from '../transfer/pull';
import type { TransferOptions } from '../transfer/progress';
import { fetchImageManifest } from '../transfer/resolve';

export const STORAGE_URI_PREFIXES = ['oci-artifact://', 'oci://'] as const;

export interface StorageInitializerOptions extends TransferOptions {
  /** Also write the metadata files (model_metadata.omlmd.json/.yaml). */
  withMetadata?: boolean;
  /** Private keys for encrypted model files (a key file mounted into the init container). */
  decryptionKeys?: PullOptions['decryptionKeys'];
}

/** The registry reference a storage URI names. */
export function parseStorageUri(uri: string): Extract<Reference, { kind: 'registry' }> {
  const prefix = STORAGE_URI_PREFIXES.find((p) => uri.startsWith(p));
  if (!prefix) {
    throw new OmlmdError('USAGE', `${JSON.stringify(uri)} is not a storage URI this initializer serves`, { remedies: [{ kind: 'say', text: `use ${STORAGE_URI_PREFIXES.map((p) => `${p}HOST/REPO:TAG`).join(' or ')}` }] });
  }
  const rest = uri.slice(prefix.length);
  const ref = parseReference(rest);
  if (ref.kind !== 'registry') {
    throw new OmlmdError('USAGE', `${JSON.stringify(uri)} names no registry: write ${prefix}HOST/REPO:TAG`, { remedies: [{ kind: 'say', text: 'for Docker Hub write docker.io/ORG/REPO' }] });
  }
  return ref;
}

/**
 * Pulls what the model is into `dest`: the model files of an omlmd model (the metadata files
 * too with `withMetadata`), every file of another kind of artifact. A pushed folder's files
 * land at `dest`'s root, where KServe's runtimes look (model/served.ts); the metadata files,
 * when asked for, beside them.
 */
export async function initializeStorage(repo: Repository, ref: Reference, dest: string, opts: StorageInitializerOptions = {}): Promise<PullResult & { reference: string; root?: string }> {
  const reference = refOf(ref);
  const { fetched } = await fetchImageManifest(repo, reference, { signal: opts.signal });
  const view = viewArtifact(fetched.manifest);
  const hasModelFiles = view.files.some((f) => f.role === 'model');
  if (!hasModelFiles && view.metadataOnly) {
    throw new OmlmdError('NOT_A_MODEL', `${formatReference(ref)} holds no model file: it is metadata only (the model lives at its uri)`);
  }
  // An omlmd model: its model files (the metadata layers on request). Any other artifact
  // (ModelPack, KitOps, Docker) whole: its weights' configuration and docs are part of what serves.
  const omlmd = view.flavor === 'omlmd' || view.flavor === 'omlmd-0.1';
  const mediaTypes = omlmd && hasModelFiles && !opts.withMetadata ? [ModelMediaType.model, ModelMediaType.legacyModel] : undefined;
  // The root is the model files' folder: the metadata layers sit beside it, not in it.
  const root = servedRoot(fetched.manifest, view.files.filter((f) => (omlmd && hasModelFiles ? f.role === 'model' : f.role !== 'metadata')));
  // By digest: the tag could move between the look and the pull.
  const res = await pullModel(repo, fetched.descriptor.digest, dest, { ...opts, mediaTypes, ...(root !== undefined ? { root } : {}) });
  return { ...res, reference: formatReference({ ...ref, digest: res.descriptor.digest }), ...(root !== undefined ? { root } : {}) };
}
