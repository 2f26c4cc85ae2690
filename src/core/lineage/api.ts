/**
 * Lineage for a client: the same operations as the modules beside this one, taking
 * references (`host/repo:tag`, `oci:PATH:TAG`, `repo:tag`) the way OmlmdClient does.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OmlmdClient, type Target } from '../client';
import type { Recipient } from '../crypt';
import { encryptImageLayers } from '../crypt/image';
import { MediaType } from '../oci/mediatypes';
import { OciLayout } from '../oci/layout';
import { OmlmdError } from '../errors';
import { ModelMediaType } from '../model/artifact';
import { metadataFromConfig } from '../model/metadata';
import { sha256 } from '../oci/digest';
import { formatReference, refOf, DEFAULT_TAG, type Reference } from '../oci/reference';
import type { CallOptions } from '../oci/store';
import type { Descriptor } from '../oci/types';
import type { TransferOptions } from '../transfer/progress';
import { fetchImageManifest } from '../transfer/resolve';
import { attachBytes, attachFiles, type AttachFile, type AttachOptions, type AttachResult } from './attach';
import { copyWithReferrers, type RecursiveCopyResult } from './copy';
import { discoverReferrers, type DiscoverOptions, type DiscoverResult } from './discover';
import { buildModelCar, pushBusyboxBase, type ModelCarOptions, type ModelCarResult } from './modelcar';
import { generateModelCard, MODEL_CARD_ARTIFACT_TYPE, MODEL_CARD_TITLE } from './modelcard';
import { deleteReferrer, pushReferrer, type ReferrersSource } from './referrers';
import { initializeStorage, parseStorageUri, type StorageInitializerOptions } from './storage';
import type { PullResult } from '../transfer/pull';

function sameRepository(a: Reference, b: Reference): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'registry' && b.kind === 'registry') return a.registry === b.registry && a.repository === b.repository;
  if (a.kind === 'layout' && b.kind === 'layout') return a.path === b.path;
  return a.kind === 'local' && b.kind === 'local' && a.repository === b.repository;
}

/** The descriptor of the manifest a reference names (tag or digest). */
export async function resolveSubject(client: OmlmdClient, target: Target, opts: CallOptions = {}): Promise<{ ref: Reference; subject: Descriptor }> {
  const ref = OmlmdClient.parse(target);
  const repo = await client.repository(ref);
  const subject = await repo.resolve(refOf(ref), opts);
  return { ref, subject };
}

/** `omlmd attach`: files as an artifact whose subject is `target`, in the subject's repository. */
export async function attach(client: OmlmdClient, target: Target, files: (string | AttachFile)[], opts: AttachOptions = {}): Promise<AttachResult & { reference: string }> {
  const { ref, subject } = await resolveSubject(client, target, opts);
  const repo = await client.repository(ref);
  const res = await attachFiles(repo, subject, files, opts);
  return { ...res, reference: formatReference({ ...ref, tag: opts.tag, digest: res.descriptor.digest }) };
}

/** `omlmd discover`: the referrers of `target`, as a tree `depth` levels deep. */
export async function discover(client: OmlmdClient, target: Target, opts: DiscoverOptions = {}): Promise<DiscoverResult & { reference: string }> {
  const { ref, subject } = await resolveSubject(client, target, opts);
  const res = await discoverReferrers(await client.repository(ref), subject, opts);
  return { ...res, reference: formatReference({ ...ref, digest: subject.digest }) };
}

/** `omlmd detach`: deletes a referrer by digest and removes it from its subject's referrers list. */
export async function detach(client: OmlmdClient, target: Target, opts: CallOptions = {}): Promise<{ reference: string; subject?: string; source: ReferrersSource }> {
  const ref = OmlmdClient.parse(target);
  const repo = await client.repository(ref);
  const digest = ref.digest ?? (await repo.resolve(refOf(ref), opts)).digest;
  const res = await deleteReferrer(repo, digest, opts);
  return { reference: formatReference({ ...ref, tag: undefined, digest }), ...res };
}

/** `omlmd copy --recursive`: the artifact and all its referrers, keeping the graph. */
export async function copyRecursive(client: OmlmdClient, source: Target, destination: Target, opts: TransferOptions = {}): Promise<RecursiveCopyResult & { reference: string }> {
  const src = OmlmdClient.parse(source);
  const dst = OmlmdClient.parse(destination);
  if (dst.digest) throw new OmlmdError('USAGE', `cannot copy to a digest (${formatReference(dst)})`, { remedies: [{ kind: 'say', text: 'name a tag, or no tag to keep the source tag' }] });
  const tag = dst.tag ?? src.tag ?? (src.digest ? undefined : DEFAULT_TAG);
  const res = await copyWithReferrers(await client.repository(src), refOf(src), await client.repository(dst, { create: true }), tag, opts);
  return { ...res, reference: formatReference({ ...dst, tag, digest: res.descriptor.digest }) };
}

export interface ModelCarRequest extends Omit<ModelCarOptions, 'base' | 'modelReference'> {
  /** The base image reference; default the busybox-static minimal base. */
  base?: Target;
  /**
   * Encrypt the image's layers for these recipients, as skopeo does (crypt/image.ts): the
   * image is built in a private temporary layout, and only its ciphertext reaches `image`.
   */
  encryptFor?: Recipient[];
}

/** `omlmd modelcar build`: the KServe ModelCar image of `model`, stored at `image`. */
export async function modelCar(client: OmlmdClient, model: Target, image: Target, opts: ModelCarRequest = {}): Promise<ModelCarResult & { reference: string; sameRepository: boolean }> {
  const parse = OmlmdClient.parse;
  const m = parse(model);
  const img = parse(image);
  if (img.digest) throw new OmlmdError('USAGE', `cannot build to a digest (${formatReference(img)}): the digest comes from the content`, { remedies: [{ kind: 'name-a-tag', example: 'REPO:v1-modelcar' }] });
  const tag = img.tag ?? DEFAULT_TAG;
  const baseRef = opts.base === undefined ? undefined : parse(opts.base);
  const { encryptFor, ...rest } = opts;
  const build = (dst: Awaited<ReturnType<OmlmdClient['repository']>>, t: string | undefined) => buildModelCar(modelRepo, refOf(m), dst, t, {
    ...rest,
    base: baseRef ? { repo: baseRepo!, reference: refOf(baseRef), name: formatReference(baseRef) } : undefined,
    modelReference: formatReference(m),
  });
  const modelRepo = await client.repository(m);
  const baseRepo = baseRef ? await client.repository(baseRef) : undefined;
  const dst = await client.repository(img, { create: true });
  let res: ModelCarResult;
  if (!encryptFor?.length) {
    res = await build(dst, tag);
  } else {
    const staging = await mkdtemp(join(tmpdir(), 'omlmd-modelcar-'));
    try {
      const built = await build((await OciLayout.open(staging, { create: true })).repository(), undefined);
      const manifest = await encryptImageLayers((await OciLayout.open(staging)).repository(), built.manifest, dst, encryptFor, { tmpDir: staging, signal: opts.signal, concurrency: opts.concurrency });
      const { descriptor, source } = await pushReferrer(dst, Buffer.from(JSON.stringify(manifest), 'utf8'), MediaType.ociManifest, tag, { signal: opts.signal });
      const own = manifest.layers.slice(manifest.layers.length - built.layers.length);
      res = { ...built, descriptor, manifest, source, layers: built.layers.map((l, i) => ({ ...l, digest: own[i]!.digest, size: own[i]!.size })) };
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }
  return { ...res, reference: formatReference({ ...img, tag, digest: res.descriptor.digest }), sameRepository: sameRepository(m, img) };
}

/** `omlmd modelcar base`: the minimal busybox-static base alone, as an image. */
export async function modelCarBase(client: OmlmdClient, image: Target, opts: CallOptions & { busybox?: string } = {}): Promise<{ reference: string; descriptor: Descriptor }> {
  const img = OmlmdClient.parse(image);
  const tag = img.tag ?? DEFAULT_TAG;
  const { descriptor } = await pushBusyboxBase(await client.repository(img, { create: true }), tag, opts);
  return { reference: formatReference({ ...img, tag, digest: descriptor.digest }), descriptor };
}

/** Attaches a model card generated from the model's metadata and files. */
export async function attachModelCard(client: OmlmdClient, model: Target, opts: Omit<AttachOptions, 'cwd' | 'artifactType'> = {}): Promise<AttachResult & { reference: string }> {
  const ref = OmlmdClient.parse(model);
  const repo = await client.repository(ref);
  const { fetched } = await fetchImageManifest(repo, refOf(ref), opts);
  let metadata;
  if (fetched.manifest.config.mediaType === ModelMediaType.config && fetched.manifest.config.size <= 4 << 20) {
    const chunks: Buffer[] = [];
    for await (const c of await repo.openBlob(fetched.manifest.config, opts)) chunks.push(c as Buffer);
    const bytes = Buffer.concat(chunks);
    if (sha256(bytes) !== fetched.manifest.config.digest) throw new OmlmdError('DIGEST_MISMATCH', `the metadata of ${formatReference(ref)} does not match its digest`);
    metadata = metadataFromConfig(bytes, formatReference(ref)).metadata;
  }
  // The repository, not the tag: however the model was named, the same card (and digest) comes out.
  const reference = formatReference({ ...ref, tag: undefined, digest: undefined });
  const card = generateModelCard({ reference, digest: fetched.descriptor.digest, manifest: fetched.manifest, metadata });
  // The model's time, not now: the same model gives the same card and the same referrer.
  const created = fetched.manifest.annotations?.['org.opencontainers.image.created'] ?? null;
  const subject: Descriptor = { mediaType: fetched.descriptor.mediaType, digest: fetched.descriptor.digest, size: fetched.descriptor.size };
  const res = await attachBytes(repo, subject, card, MODEL_CARD_TITLE, { created, ...opts, artifactType: MODEL_CARD_ARTIFACT_TYPE, mediaType: 'text/markdown' });
  return { ...res, reference: formatReference({ ...ref, tag: opts.tag, digest: res.descriptor.digest }) };
}

/** The KServe storage initializer: `SRC_URI` (`oci-artifact://` or `oci://`) into `dest`. */
export async function storageInitializer(client: OmlmdClient, uri: string, dest: string, opts: StorageInitializerOptions = {}): Promise<PullResult & { reference: string; root?: string }> {
  const ref = parseStorageUri(uri);
  return initializeStorage(await client.repository(ref), ref, dest, opts);
}

export interface MountableResult {
  /** The index, by tag and digest. */
  reference: string;
  descriptor: Descriptor;
  /** The model artifact and the data-only image it lists. */
  model: Descriptor;
  image: Descriptor & { platform: { os: string; architecture: string; variant?: string } };
}

/**
 * One reference for every consumer: an image index at `tag` listing the data-only model
 * image (with its platform: containerd, CRI-O, podman and KServe's oci+native:// pick it)
 * and the model artifact itself (by its artifactType: omlmd, modctl and KitOps pick it).
 * The model must be in the same repository; the image is built there, untagged (the index
 * keeps it).
 */
export async function mountableIndex(client: OmlmdClient, model: Target, tag: string, opts: TransferOptions = {}): Promise<MountableResult> {
  const ref = OmlmdClient.parse(model);
  const repo = await client.repository(ref);
  const { fetched } = await fetchImageManifest(repo, refOf(ref), { signal: opts.signal });
  const m = fetched.manifest;
  const built = await buildModelCar(repo, fetched.descriptor.digest, repo, undefined, { ...opts, dataOnly: true, modelReference: formatReference(ref) });
  const image = { mediaType: built.descriptor.mediaType, digest: built.descriptor.digest, size: built.descriptor.size, platform: built.platform };
  const modelDesc: Descriptor = { mediaType: fetched.descriptor.mediaType, digest: fetched.descriptor.digest, size: fetched.descriptor.size, ...(m.artifactType ? { artifactType: m.artifactType } : { artifactType: m.config.mediaType }) };
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [image, modelDesc],
    annotations: { 'org.opencontainers.image.created': built.manifest.annotations?.['org.opencontainers.image.created'] ?? '1970-01-01T00:00:00Z' },
  };
  const bytes = Buffer.from(JSON.stringify(index), 'utf8');
  const descriptor = await repo.putManifest(bytes, index.mediaType, tag, { signal: opts.signal });
  return { reference: formatReference({ ...ref, tag, digest: descriptor.digest }), descriptor, model: modelDesc, image };
}
