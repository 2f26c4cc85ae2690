/**
 * KServe ModelCar images, built without a container engine: the base image's layers as they
 * are, plus tar layers holding the model's files under /models (at its root: a pushed
 * folder's files relative to it, the rule of model/served.ts), an
 * OCI image config for the base's platform whose rootfs.diff_ids lists every layer, the
 * model's metadata as labels and annotations, and `subject` = the model manifest, so the
 * image is a referrer of the model and discover on the model finds it.
 *
 * The result is reproducible: layers have fixed owners, modes and times, and the image's
 * `created` is the model's, so building twice gives the same digest (which is what makes a
 * redelivered push notification harmless).
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { hostPlatform } from '../transfer/resolve';
import { isArchiveLayer, pullModel } from '../transfer/pull';
import { Readable } from 'node:stream';
import { openLayer, type DecryptionKey, type OpenedLayer } from '../crypt';
import { OmlmdError } from '../errors';
import { METADATA_TITLES, viewArtifact, type ArtifactFile } from '../model/artifact';
import type { ModelMetadata } from '../model/metadata';
import { readModelMetadata } from '../model/modelpack';
import { servedPath, servedRoot } from '../model/served';
import { sha256 } from '../oci/digest';
import { Annotation, MediaType } from '../oci/mediatypes';
import { readSmallBlob, type CallOptions, type Repository } from '../oci/store';
import type { Annotations, Descriptor, ImageManifest, Platform } from '../oci/types';
import { checkTitle } from '../transfer/paths';
import { bytesMoved } from '../transfer/memory';
import { mapLimit } from '../util/limit';
import { DEFAULT_CONCURRENCY, type TransferOptions } from '../transfer/progress';
import { fetchImageManifest } from '../transfer/resolve';
import { BUSYBOX_BASE_NAME, busyboxBase } from './busybox';
import { pushReferrer, type ReferrersSource } from './referrers';
import { parentDirectories, TarLayer, type TarEntry } from './tarlayer';

export const MODELCAR_ARTIFACT_TYPE = 'application/vnd.omlmd.modelcar.v1';
/** Where KServe looks for the model in a ModelCar image. */
export const MODELCAR_MODEL_DIR = 'models';
/** Files at least this large get a layer of their own, so weights shared between versions are stored once. */
export const OWN_LAYER_BYTES = 1 << 20;

export const ModelCarAnnotation = {
  modelDigest: 'dev.omlmd.model.digest',
  modelReference: 'dev.omlmd.model.reference',
  modelName: 'dev.omlmd.model.name',
  modelFormat: 'dev.omlmd.model.format',
  modelFormatVersion: 'dev.omlmd.model.format.version',
  modelMetadata: 'dev.omlmd.model.metadata',
  /** The pushed folder whose files are at /models's root (model/served.ts), when there was one. */
  modelRoot: 'dev.omlmd.model.root',
  baseName: 'org.opencontainers.image.base.name',
  baseDigest: 'org.opencontainers.image.base.digest',
} as const;

const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
/** How a data-only image names its (absent) base. */
export const DATA_ONLY_BASE_NAME = 'scratch (data only)';
const DOCKER_LAYERS: Record<string, string> = {
  'application/vnd.docker.image.rootfs.diff.tar.gzip': MediaType.ociLayerTarGzip,
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip': 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
};
const MAX_CONFIG = 4 << 20;

export interface ModelCarBase {
  repo: Repository;
  reference: string;
  /** How the base is named in `org.opencontainers.image.base.name`. */
  name: string;
}

export interface ModelCarOptions extends TransferOptions {
  /** The base image; default the busybox-static minimal base. */
  base?: ModelCarBase;
  /**
   * No base at all: an image whose only layers are the model's files under /models, with no
   * entrypoint, for Kubernetes image volumes (KEP-4639) and KServe's `oci+native://`; it is
   * mounted, never run. For `platform` (default this machine's), since runtimes pick images by it.
   */
  dataOnly?: boolean;
  /** A static busybox for the minimal base (default OMLMD_BUSYBOX, else /bin/busybox). */
  busybox?: string;
  /** The platform picked from a multi-platform base (default: this machine's). */
  platform?: Platform;
  /** The image's `created` (default: the model's, else 1970-01-01T00:00:00Z: builds are reproducible). */
  created?: string;
  /** How the model is named in the labels (its reference as the user wrote it). */
  modelReference?: string;
  annotations?: Annotations;
  /** Private keys for a model whose files are encrypted (ocicrypt): they are decrypted into the image. */
  decryptionKeys?: DecryptionKey[];
  /** Where a model held in archive layers is unpacked before it goes into the image (a private folder is made inside); default the system's. */
  tmpDir?: string;
}

export interface ModelCarResult {
  descriptor: Descriptor;
  manifest: ImageManifest;
  subject: Descriptor;
  platform: Platform;
  /** The model layers: digest, size and the files under /models each holds (paths under /models). */
  layers: { digest: string; size: number; files: string[] }[];
  baseName: string;
  /** The pushed folder whose files are at /models's root, when there was one (model/served.ts). */
  root?: string;
  source: ReferrersSource;
}

interface ImageConfig {
  created?: string;
  architecture: string;
  os: string;
  variant?: string;
  config?: Record<string, unknown> & { Labels?: Record<string, string> };
  rootfs: { type: string; diff_ids: string[] };
  history?: Record<string, unknown>[];
  [key: string]: unknown;
}

const readBlob = (repo: Repository, desc: Descriptor, what: string, opts: CallOptions): Promise<Buffer> => readSmallBlob(repo, desc, what, opts, MAX_CONFIG);

/** The files of a model artifact that go under /models: its model files, or every titled file of another kind of artifact (archive layers are unpacked first: see buildModelCar). */
export function modelCarFiles(manifest: ImageManifest): ArtifactFile[] {
  const view = viewArtifact(manifest);
  // A ModelPack artifact is served whole (weights, their configuration, docs), as its own tools do.
  // Docker Model Runner's layers are whole files (the GGUF, its licence), untitled in v0.1: served all, named as pull names them.
  const files = view.flavor === 'other' || view.flavor === 'modelpack' ? view.files.filter((f) => f.titled) : view.flavor === 'docker' ? view.files.filter((f) => f.role !== 'metadata') : view.files.filter((f) => f.role === 'model');
  for (const f of files) checkTitle(f.path);
  return files;
}

/** Groups files into layers: each large file alone, the small ones together (first). */
function planLayers(files: CarFile[]): CarFile[][] {
  const small = files.filter((f) => f.size < OWN_LAYER_BYTES);
  const large = files.filter((f) => f.size >= OWN_LAYER_BYTES);
  return [...(small.length > 0 ? [small] : []), ...large.map((f) => [f])];
}

function labelsFor(model: ImageManifest, modelDigest: string, metadata: ModelMetadata | undefined, modelReference: string | undefined, root: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  const ann = model.annotations ?? {};
  for (const k of [Annotation.title, Annotation.description, Annotation.authors, Annotation.licenses, Annotation.source, 'org.opencontainers.image.version', 'org.opencontainers.image.url', 'org.opencontainers.image.documentation']) {
    const v = ann[k];
    if (v !== undefined) labels[k] = v;
  }
  labels[ModelCarAnnotation.modelDigest] = modelDigest;
  if (modelReference) labels[ModelCarAnnotation.modelReference] = modelReference;
  if (root !== undefined) labels[ModelCarAnnotation.modelRoot] = root;
  if (metadata) {
    if (metadata.name) labels[ModelCarAnnotation.modelName] = metadata.name;
    if (metadata.model_format_name) labels[ModelCarAnnotation.modelFormat] = metadata.model_format_name;
    if (metadata.model_format_version) labels[ModelCarAnnotation.modelFormatVersion] = metadata.model_format_version;
    labels[ModelCarAnnotation.modelMetadata] = JSON.stringify(Object.fromEntries(Object.entries(metadata).filter(([, v]) => v !== null && v !== undefined)));
  }
  return labels;
}

interface ResolvedBase {
  layers: Descriptor[];
  config: ImageConfig;
  copyFrom?: Repository;
  name: string;
  digest?: string;
  /** The busybox layer, when the minimal base is built here. */
  own?: TarLayer;
}

async function resolveBase(opts: ModelCarOptions, created: string): Promise<ResolvedBase> {
  const signal = opts.signal;
  if (opts.dataOnly) {
    if (opts.base) throw new OmlmdError('USAGE', 'a data-only image has no base: give a base or ask for data only, not both');
    const p = opts.platform ?? hostPlatform();
    return {
      layers: [],
      name: DATA_ONLY_BASE_NAME,
      config: { created, architecture: p.architecture, os: p.os, ...(p.variant ? { variant: p.variant } : {}), config: {}, rootfs: { type: 'layers', diff_ids: [] }, history: [] },
    };
  }
  if (!opts.base) {
    const bb = await busyboxBase(opts.busybox);
    return {
      layers: [],
      own: bb.layer,
      name: BUSYBOX_BASE_NAME,
      config: {
        created,
        architecture: bb.platform.architecture,
        os: bb.platform.os,
        ...(bb.platform.variant ? { variant: bb.platform.variant } : {}),
        config: { ...bb.config },
        rootfs: { type: 'layers', diff_ids: [] },
        history: [{ created, created_by: bb.history }],
      },
    };
  }
  const { repo, reference, name } = opts.base;
  const { fetched } = await fetchImageManifest(repo, reference, { signal, platform: opts.platform });
  const m = fetched.manifest;
  if (m.config.mediaType !== MediaType.ociImageConfig && m.config.mediaType !== DOCKER_CONFIG) {
    throw new OmlmdError('USAGE', `the base ${name} is not a container image (its config is ${m.config.mediaType})`, { remedies: [{ kind: 'choose-base-image' }] });
  }
  const raw = await readBlob(repo, m.config, `the config of base ${name}`, { signal });
  let config: ImageConfig;
  try {
    config = JSON.parse(raw.toString('utf8')) as ImageConfig;
  } catch (e) {
    throw new OmlmdError('INVALID_MANIFEST', `the config of base ${name} is not JSON`, { cause: e });
  }
  if (typeof config !== 'object' || config === null || !config.rootfs || !Array.isArray(config.rootfs.diff_ids) || config.rootfs.diff_ids.length !== m.layers.length) {
    throw new OmlmdError('INVALID_MANIFEST', `the config of base ${name} does not list one diff_id per layer`);
  }
  const layers = m.layers.map((l) => ({ ...l, mediaType: DOCKER_LAYERS[l.mediaType] ?? l.mediaType }));
  return { layers, config, copyFrom: repo, name, digest: fetched.descriptor.digest };
}

/**
 * Builds the ModelCar image of the model `modelRef` in `modelRepo` and stores it in `dst`
 * (under `tag`, or by digest only), recorded as a referrer of the model in `dst`.
 */
export async function buildModelCar(modelRepo: Repository, modelRef: string, dst: Repository, tag: string | undefined, opts: ModelCarOptions = {}): Promise<ModelCarResult> {
  const { signal } = opts;
  const { fetched } = await fetchImageManifest(modelRepo, modelRef, { signal });
  const model = fetched.manifest;
  if (!servedFromArchives(model)) return buildFrom(modelRepo, fetched, dst, tag, opts);
  // Archive layers (a KitOps ModelKit; ModelPack or Docker tar layers): the model is pulled
  // into a private folder first, unpacked with pull's path safety and every digest checked,
  // and the image is built from those files, at the paths the archives hold them (peers pack
  // files relative to their context folder: that is the served root already).
  const stage = await mkdtemp(join(opts.tmpDir ?? tmpdir(), 'omlmd-modelcar-stage-'));
  try {
    const dir = join(stage, 'model');
    await pullModel(modelRepo, fetched.descriptor.digest, dir, { signal, concurrency: opts.concurrency, decryptionKeys: opts.decryptionKeys, exclude: [...METADATA_TITLES] });
    const sources: CarFile[] = [];
    for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
      if (!e.isFile()) continue;
      const abs = join(e.parentPath, e.name);
      sources.push({ path: checkTitle(relative(dir, abs).split(sep).join('/')), size: (await stat(abs)).size, open: () => createReadStream(abs, { highWaterMark: 1 << 20 }) });
    }
    sources.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    return await buildFrom(modelRepo, fetched, dst, tag, opts, { sources, root: undefined });
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/** Whether what a ModelCar serves of `model` is held in archive layers, which have to be unpacked first. */
function servedFromArchives(model: ImageManifest): boolean {
  const view = viewArtifact(model);
  return view.flavor === 'kitops' || view.files.some((f) => f.role !== 'metadata' && isArchiveLayer(f.descriptor.mediaType));
}

/** A file going under /models: its path there, its size, how to read it, and what it must hash to. */
interface CarFile {
  path: string;
  size: number;
  open: () => Readable | Promise<Readable>;
  verify?: Pick<Descriptor, 'digest' | 'size'>;
}

async function buildFrom(modelRepo: Repository, fetched: Awaited<ReturnType<typeof fetchImageManifest>>['fetched'], dst: Repository, tag: string | undefined, opts: ModelCarOptions, prepared?: { sources: CarFile[]; root: string | undefined }): Promise<ModelCarResult> {
  const { signal, onProgress } = opts;
  const concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;
  const model = fetched.manifest;
  const modelRef = fetched.descriptor.digest;
  const subject: Descriptor = { mediaType: fetched.descriptor.mediaType, digest: fetched.descriptor.digest, size: fetched.descriptor.size };
  const files = prepared ? [] : modelCarFiles(model);
  if ((prepared ? prepared.sources.length : files.length) === 0) {
    throw new OmlmdError('NOT_A_MODEL', `${modelRepo.description} ${modelRef} has no model files to put under /models`, {
      remedies: viewArtifact(model).metadataOnly ? [{ kind: 'say', text: 'it is metadata only: its model lives at its uri' }] : [],
    });
  }
  let metadata: ModelMetadata | undefined;
  if (viewArtifact(model).flavor !== 'other') {
    metadata = readModelMetadata(model, await readBlob(modelRepo, model.config, `the metadata of ${modelRef}`, { signal }), modelRef).metadata;
  }
  const created = opts.created ?? model.annotations?.[Annotation.created] ?? '1970-01-01T00:00:00Z';
  const base = await resolveBase(opts, created);
  let root: string | undefined;
  let sources: CarFile[];
  if (prepared) {
    ({ root, sources } = prepared);
  } else {
    // The served root: a pushed folder's files at /models itself, where KServe's runtimes look.
    root = servedRoot(model, files);
    // Encrypted model files are opened (their keys unwrapped) before any byte moves, and decrypted
    // on their way into the tar, checked against the plaintext digest their wrapped key names.
    const opened = new Map<ArtifactFile, OpenedLayer>();
    for (const f of files) if (f.encrypted) opened.set(f, await openLayer(f.descriptor, opts.decryptionKeys ?? [], f.path));
    const readFile = (f: ArtifactFile): Promise<Readable> | Readable => {
      const o = opened.get(f);
      if (!o) return modelRepo.openBlob(f.descriptor, { signal });
      return modelRepo.openBlob(f.descriptor, { signal }).then((cipher) => {
        const plain = o.stream();
        cipher.on('error', (e) => plain.destroy(e));
        return cipher.pipe(plain);
      });
    };
    sources = files.map((f) => ({ path: checkTitle(servedPath(f.path, root)), size: f.descriptor.size, open: () => readFile(f), verify: opened.get(f)?.plain ?? f.descriptor }));
  }
  const tarLayers = planLayers(sources).map((group) => {
    const paths = group.map((f) => `${MODELCAR_MODEL_DIR}/${f.path}`);
    const entries: TarEntry[] = [
      ...parentDirectories(paths).map((p): TarEntry => ({ type: 'Directory', path: p })),
      ...group.map((f, i): TarEntry => ({ type: 'File', path: paths[i]!, size: f.size, open: f.open, ...(f.verify ? { verify: f.verify } : {}) })),
    ];
    return { layer: new TarLayer(entries), files: group.map((f) => f.path) };
  });

  onProgress?.({
    type: 'plan',
    items: [...base.layers.map((l) => ({ title: l.digest, size: l.size })), ...(base.own ? [{ title: 'base', size: base.own.size }] : []), ...tarLayers.map((t) => ({ title: t.files.join(', '), size: t.layer.size }))],
    totalBytes: base.layers.reduce((n, l) => n + l.size, 0) + (base.own?.size ?? 0) + tarLayers.reduce((n, t) => n + t.layer.size, 0),
  });

  // The base's layers, as they are: only what the target lacks moves.
  await mapLimit(base.layers, concurrency, async (l, sig) => {
    if ((await dst.statBlob(l.digest, { signal: sig })) === l.size) {
      onProgress?.({ type: 'skipped', title: l.digest, size: l.size, reason: 'exists' });
      return;
    }
    const from = base.copyFrom!;
    await dst.putBlob({ open: () => from.openBlob(l, { signal: sig }), size: l.size, digest: l.digest, mediaType: l.mediaType }, { signal: sig, onBytes: (n) => (bytesMoved('upload', n), onProgress?.({ type: 'bytes', title: l.digest, bytes: n })) });
    onProgress?.({ type: 'done', title: l.digest, digest: l.digest, size: l.size });
  }, signal);
  const baseLayers = [...base.layers];
  if (base.own) {
    const own = base.own;
    const ref = await dst.putBlob({ open: () => own.open(), size: own.size }, { signal, onBytes: (n) => (bytesMoved('upload', n), onProgress?.({ type: 'bytes', title: 'base', bytes: n })) });
    onProgress?.({ type: 'done', title: 'base', digest: ref.digest, size: ref.size });
    baseLayers.push({ mediaType: MediaType.ociLayerTar, digest: ref.digest, size: ref.size });
    base.config.rootfs.diff_ids.push(ref.digest);
  }

  // The model's layers: tar framed here, the bytes streamed from the model's blobs, verified
  // against their digests on the way, the layer hashed by the store as it is written.
  const modelLayers = await mapLimit(tarLayers, concurrency, async (t, sig) => {
    const title = t.files.join(', ');
    const ref = await dst.putBlob({ open: () => t.layer.open(), size: t.layer.size, mediaType: MediaType.ociLayerTar }, { signal: sig, onBytes: (n) => (bytesMoved('upload', n), onProgress?.({ type: 'bytes', title, bytes: n })) });
    onProgress?.({ type: 'done', title, digest: ref.digest, size: ref.size });
    return { digest: ref.digest, size: ref.size, files: t.files };
  }, signal);

  const labels = labelsFor(model, subject.digest, metadata, opts.modelReference, root);
  const baseHistory = Array.isArray(base.config.history) ? base.config.history : undefined;
  const config: ImageConfig = {
    ...base.config,
    created,
    config: { ...(base.config.config ?? {}), Labels: { ...(base.config.config?.Labels ?? {}), ...labels } },
    rootfs: { type: 'layers', diff_ids: [...base.config.rootfs.diff_ids, ...modelLayers.map((l) => l.digest)] },
    ...(baseHistory
      ? { history: [...baseHistory, ...modelLayers.map((l) => ({ created, created_by: 'omlmd modelcar build', comment: `model files under /${MODELCAR_MODEL_DIR}: ${l.files.join(', ')}` }))] }
      : {}),
  };
  const configBytes = Buffer.from(JSON.stringify(config), 'utf8');
  const configDigest = sha256(configBytes);
  await dst.putBlob({ open: () => Readable.from([configBytes]), size: configBytes.length, digest: configDigest }, { signal });

  const annotations: Annotations = {
    ...labels,
    [Annotation.created]: created,
    [ModelCarAnnotation.baseName]: base.name,
    ...(base.digest ? { [ModelCarAnnotation.baseDigest]: base.digest } : {}),
    ...(opts.annotations ?? {}),
  };
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    artifactType: MODELCAR_ARTIFACT_TYPE,
    config: { mediaType: MediaType.ociImageConfig, digest: configDigest, size: configBytes.length },
    layers: [...baseLayers, ...modelLayers.map((l) => ({ mediaType: MediaType.ociLayerTar, digest: l.digest, size: l.size }))],
    subject,
    annotations,
  };
  const bytes = Buffer.from(JSON.stringify(manifest), 'utf8');
  const { descriptor, source } = await pushReferrer(dst, bytes, MediaType.ociManifest, tag, { signal });
  const platform: Platform = { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) };
  return { descriptor, manifest, subject, platform, layers: modelLayers, baseName: base.name, ...(root !== undefined ? { root } : {}), source };
}

/** Pushes the minimal busybox-static base alone, as a runnable image (to use as --base, or to inspect). */
export async function pushBusyboxBase(dst: Repository, tag: string | undefined, opts: CallOptions & { busybox?: string } = {}): Promise<{ descriptor: Descriptor; platform: Platform }> {
  const bb = await busyboxBase(opts.busybox);
  const ref = await dst.putBlob({ open: () => bb.layer.open(), size: bb.layer.size }, opts);
  const created = '1970-01-01T00:00:00Z';
  const config = {
    created,
    architecture: bb.platform.architecture,
    os: bb.platform.os,
    ...(bb.platform.variant ? { variant: bb.platform.variant } : {}),
    config: bb.config,
    rootfs: { type: 'layers', diff_ids: [ref.digest] },
    history: [{ created, created_by: bb.history }],
  };
  const configBytes = Buffer.from(JSON.stringify(config), 'utf8');
  const configDigest = sha256(configBytes);
  await dst.putBlob({ open: () => Readable.from([configBytes]), size: configBytes.length, digest: configDigest }, opts);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociImageConfig, digest: configDigest, size: configBytes.length },
    layers: [{ mediaType: MediaType.ociLayerTar, digest: ref.digest, size: ref.size }],
    annotations: { [Annotation.created]: created, [Annotation.title]: BUSYBOX_BASE_NAME },
  };
  const descriptor = await dst.putManifest(Buffer.from(JSON.stringify(manifest), 'utf8'), MediaType.ociManifest, tag, opts);
  return { descriptor, platform: bb.platform };
}
