import { createReadStream, type BigIntStats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { encryptLayer, recipientsFingerprint, type Recipient } from '../crypt';
import { OmlmdError, toOmlmdError } from '../errors';
import { buildModelManifest, ModelMediaType, type ModelFileLayer } from '../model/artifact';
import { collectModelFiles, type ModelFile } from '../model/files';
import { commonFolder, SERVED_ROOT_ANNOTATION } from '../model/served';
import { buildModelPackManifest, modelPackConfig, modelPackLayer } from '../model/modelpack';
import { metadataToJson, metadataToYaml, validateMetadata, type ModelMetadata } from '../model/metadata';
import { sha256 } from '../oci/digest';
import type { BlobInput, BlobRef, Repository } from '../oci/store';
import type { Annotations, Descriptor, ImageManifest } from '../oci/types';
import { sameStamp, stampOf, type TransferCache } from './cache';
import { HashPool } from './hashpool';
import { bytesMoved } from './memory';
import { anySignal } from '../util/abort';
import { mapLimit, Semaphore } from '../util/limit';
import { openLentFile } from './lent-file';
import { DEFAULT_CONCURRENCY, type ProgressCallback, type TransferOptions } from './progress';

export interface PushInput {
  /** Model files and directories; none for a metadata-only artifact (then `metadata.uri` is required). */
  paths: string[];
  metadata: ModelMetadata;
  /** Extra manifest annotations (they win over the projected ones). */
  annotations?: Annotations;
  /** RFC 3339 creation time; default now (or SOURCE_DATE_EPOCH); null for none. */
  created?: string | null;
  /** Our artifactType by default; false for the exact omlmd 0.1.x manifest. */
  artifactType?: string | false;
  subject?: Descriptor;
  /** Relative paths are resolved against it; default the process's working directory. */
  cwd?: string;
  /** Encrypt the model files (ocicrypt, JWE) for these recipients; the metadata stays in clear. */
  encryptFor?: Recipient[];
  /**
   * With `encryptFor`: encrypt the metadata layers too; the config is then `{}` and the
   * metadata is not projected into the annotations (only `created` and `annotations` stay).
   */
  encryptMetadata?: boolean;
  /** Push what symbolic links under a pushed folder lead to outside it (default: refuse such links). */
  followSymlinks?: boolean;
  /**
   * The artifact layout: `omlmd` (default; omlmd 0.1.x's, byte-compatible) or `modelpack`
   * (CNCF ModelPack v1: raw layers typed by role, the spec's config; src/core/model/modelpack.ts).
   */
  format?: 'omlmd' | 'modelpack';
}

export interface PushResult {
  descriptor: Descriptor;
  manifest: ImageManifest;
  files: ModelFile[];
}

export function defaultCreated(env: NodeJS.ProcessEnv = process.env): string {
  const epoch = env.SOURCE_DATE_EPOCH;
  const ms = epoch !== undefined && /^\d+$/.test(epoch) ? Number(epoch) * 1000 : Date.now();
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Makes a blob present in `repo` without sending it when that is possible: the repository
 * has it already (HEAD), or another repository of the same registry has it (mount, where
 * the cache remembers one). Returns how, or undefined when it has to be sent.
 */
export async function presentWithoutSending(repo: Repository, desc: Descriptor, cache: TransferCache | undefined, signal?: AbortSignal): Promise<'exists' | 'mounted' | undefined> {
  const have = await repo.statBlob(desc.digest, { signal });
  if (have === desc.size) return 'exists';
  const at = repo.locator;
  if (!at || !cache || !repo.mountBlob) return undefined;
  for (const from of await cache.locations(at.registry, desc.digest)) {
    if (from !== at.repository && (await repo.mountBlob(desc, from, { signal }))) return 'mounted';
  }
  return undefined;
}

/** Remembers that a repository of a registry holds a blob, for later mounts. */
export async function rememberLocation(repo: Repository, digest: string, cache: TransferCache | undefined): Promise<void> {
  const at = repo.locator;
  if (at && cache) await cache.addLocation(at.registry, digest, at.repository);
}

/** Files whose stat and cache entry are looked up ahead of their turn. */
const LOOKUPS_AT_ONCE = 8;

/** A file's stat before it is read, and its digest when the cache knows the file unchanged since. */
interface Lookup {
  before: BigIntStats;
  known?: string;
}

async function lookUp(f: ModelFile, cache: TransferCache | undefined): Promise<Lookup> {
  let before: BigIntStats;
  try {
    before = await stat(f.path, { bigint: true });
  } catch (e) {
    throw toOmlmdError(e, `cannot push ${f.path}`);
  }
  if (Number(before.size) !== f.size) throw new OmlmdError('CONFLICT', `${f.path} changed while the push was being prepared; push again`);
  return { before, known: await cache?.digestOf(f.path, before) };
}

/**
 * One model file to a repository. With its digest in the cache (the file unchanged since),
 * the push costs a HEAD, or a mount, and no read of the file. Otherwise the file is read once,
 * by a worker thread that hashes it while its bytes go out; an upload an earlier run left open
 * goes on from where the registry says it stopped.
 */
/** What each file's push gets from pushModel. */
interface FileOptions {
  cache?: TransferCache;
  signal: AbortSignal;
  onProgress?: ProgressCallback;
  uploads: Semaphore;
  /** The file's lookUp(), started ahead of its turn. */
  looked: Promise<Lookup>;
  /** Work the push waits for at its end (blob locations recorded beside the next HEADs, not before them). */
  later: Promise<void>[];
}

async function pushFile(repo: Repository, f: ModelFile, pool: HashPool, opts: FileOptions): Promise<BlobRef> {
  const { cache, signal, onProgress } = opts;
  const { before, known } = await opts.looked;
  if (known !== undefined) {
    const how = await presentWithoutSending(repo, { mediaType: 'application/octet-stream', digest: known, size: f.size }, cache, signal);
    if (how) {
      onProgress?.({ type: 'skipped', title: f.title, size: f.size, reason: how });
      opts.later.push(rememberLocation(repo, known, cache));
      return { digest: known, size: f.size };
    }
  }
  const input: BlobInput = {
    size: f.size,
    digest: known,
    open: () => pool.read(f.path, f.size, 0, `cannot read ${f.path}`).stream,
    openHashing: async (offset) => pool.read(f.path, f.size, offset, `cannot read ${f.path}`),
    openLent: (offset) => openLentFile(f.path, f.size, offset, pool, `cannot read ${f.path}`),
  };
  const at = repo.locator;
  // One upload per hashing worker: more would only share the same cores (with the registry's
  // own hashing, on a machine that runs both) and hold more buffers.
  const release = await opts.uploads.acquire(signal);
  let ref: BlobRef;
  try {
    ref = await repo.putBlob(input, {
      signal,
      onBytes: (n) => (bytesMoved('upload', n), onProgress?.({ type: 'bytes', title: f.title, bytes: n })),
      onResumed: (n) => onProgress?.({ type: 'resumed', title: f.title, bytes: n }),
      session: cache && at && known === undefined ? cache.uploadSession(at.registry, at.repository, f.path, before) : undefined,
    });
  } finally {
    release();
  }
  // Bytes read while the file changed are not one version of it: refuse rather than publish a mix.
  const after = await stat(f.path, { bigint: true }).catch(() => undefined);
  if (!after || !sameStamp(stampOf(after), stampOf(before))) {
    await cache?.forgetDigest(f.path);
    throw new OmlmdError('CONFLICT', `${f.path} changed while it was being pushed; push again once it is written`);
  }
  if (known === undefined) await cache?.recordDigest(f.path, before, ref.digest);
  await rememberLocation(repo, ref.digest, cache);
  return ref;
}

/** A model file pushed as an encrypted layer: its ciphertext, and the annotations that open it. */
interface EncryptedRef extends BlobRef {
  mediaType: string;
  annotations: Record<string, string>;
}

/**
 * One model file encrypted for `recipients` on its way to the repository (ocicrypt's
 * AES-256-CTR + HMAC, the key wrapped by JWE for each recipient). The ciphertext is made as
 * the bytes go out, never stored; an upload that reads its source again gets the same
 * ciphertext (one key and nonce per file and push). A fresh key makes a new ciphertext each
 * time, so the cache remembers what an unchanged file became for the same recipients (the
 * ciphertext's digest and the wrapped keys, never a key in clear): pushing it again costs a
 * HEAD. An interrupted encrypted upload starts that file again (its ciphertext is not the
 * one a new key would make); files already sent are not sent again.
 */
async function pushEncryptedFile(repo: Repository, f: ModelFile, recipients: Recipient[], pool: HashPool, opts: FileOptions): Promise<EncryptedRef> {
  const { cache, signal, onProgress } = opts;
  const { before, known } = await opts.looked;
  const who = recipientsFingerprint(recipients);
  const remembered = known === undefined ? undefined : await cache?.encryptedLayer(known, who);
  if (remembered) {
    const how = await presentWithoutSending(repo, { mediaType: remembered.mediaType, digest: remembered.digest, size: remembered.size }, cache, signal);
    if (how) {
      onProgress?.({ type: 'skipped', title: f.title, size: f.size, reason: how });
      opts.later.push(rememberLocation(repo, remembered.digest, cache));
      return remembered;
    }
  }
  const enc = encryptLayer(recipients);
  const input: BlobInput = {
    // AES-CTR keeps the size.
    size: f.size,
    open: () => {
      const source = createReadStream(f.path, { highWaterMark: 1024 * 1024 });
      const cipher = enc.stream();
      source.on('error', (e) => cipher.destroy(toOmlmdError(e, `cannot read ${f.path}`)));
      return source.pipe(cipher);
    },
    // Where the store takes it: a worker reads, hashes, encrypts, hashes and MACs the file, off
    // this thread, and hands the ciphertext over (the same key each time it is opened again).
    openHashing: async (offset) => {
      const r = pool.read(f.path, f.size, offset, `cannot read ${f.path}`, enc.keyMaterial());
      void r.encrypted.then((done) => done && enc.encryptedElsewhere(done), () => undefined);
      const digest = r.digest.then(async (d) => (await r.encrypted, d));
      return { stream: r.stream, digest };
    },
  };
  const release = await opts.uploads.acquire(signal);
  let ref: BlobRef;
  try {
    ref = await repo.putBlob(input, {
      signal,
      onBytes: (n) => (bytesMoved('upload', n), onProgress?.({ type: 'bytes', title: f.title, bytes: n })),
    });
  } finally {
    release();
  }
  const after = await stat(f.path, { bigint: true }).catch(() => undefined);
  if (!after || !sameStamp(stampOf(after), stampOf(before))) {
    await cache?.forgetDigest(f.path);
    throw new OmlmdError('CONFLICT', `${f.path} changed while it was being pushed; push again once it is written`);
  }
  const desc = await enc.descriptor({ mediaType: ModelMediaType.model }, ref);
  const layer = { digest: ref.digest, size: ref.size, mediaType: desc.mediaType, annotations: desc.annotations ?? {} };
  const plain = enc.plainDigest();
  if (known === undefined) await cache?.recordDigest(f.path, before, plain);
  await cache?.recordEncryptedLayer(plain, who, layer);
  await rememberLocation(repo, ref.digest, cache);
  return layer;
}

/** The config of an artifact whose metadata is encrypted: an empty metadata document. */
const SEALED_CONFIG = Buffer.from('{}', 'utf8');

/**
 * The metadata JSON and YAML as encrypted layers (push --encrypt-metadata), each with its own
 * key like every encrypted layer. The cache remembers what the same metadata became for the
 * same recipients, so an unchanged re-push sends nothing and makes the same manifest.
 */
async function sealMetadata(repo: Repository, json: Buffer, yaml: Buffer, recipients: Recipient[], cache: TransferCache | undefined, signal: AbortSignal | undefined): Promise<{ json: Descriptor; yaml: Descriptor }> {
  const who = recipientsFingerprint(recipients);
  const one = async (bytes: Buffer): Promise<Descriptor> => {
    const plain = sha256(bytes);
    const mediaType = `${ModelMediaType.config}+encrypted`;
    const remembered = await cache?.encryptedLayer(plain, who);
    if (remembered && remembered.mediaType === mediaType && (await presentWithoutSending(repo, remembered, cache, signal))) return remembered;
    const enc = encryptLayer(recipients);
    const chunks: Buffer[] = [];
    const cipher = enc.stream();
    cipher.on('data', (c: Buffer) => chunks.push(c));
    await new Promise<void>((resolve, reject) => {
      cipher.once('end', resolve).once('error', reject);
      cipher.end(bytes);
    });
    const out = Buffer.concat(chunks);
    const digest = sha256(out);
    await repo.putBlob({ open: () => Readable.from([out]), size: out.length, digest }, { signal });
    const desc = await enc.descriptor({ mediaType: ModelMediaType.config }, { digest, size: out.length });
    const layer = { digest, size: out.length, mediaType: desc.mediaType, annotations: desc.annotations ?? {} };
    await cache?.recordEncryptedLayer(plain, who, layer);
    await rememberLocation(repo, digest, cache);
    return layer;
  };
  return { json: await one(json), yaml: await one(yaml) };
}

/**
 * Pushes model files with their metadata as one artifact. Each file is read at most once (a
 * worker thread hashes while the bytes go out) and not at all when the digest cache knows it
 * and the target has it. Nothing is written next to the model files.
 */
export async function pushModel(repo: Repository, tag: string | undefined, input: PushInput, opts: TransferOptions = {}): Promise<PushResult> {
  const metadata = validateMetadata(input.metadata, 'metadata');
  const files = await collectModelFiles(input.paths, input.cwd, { followSymlinks: input.followSymlinks });
  if (files.length === 0 && !metadata.uri) {
    throw new OmlmdError('USAGE', 'nothing to push: no model file was given and the metadata has no uri', {
      remedies: [{ kind: 'give-files-or-uri' }],
    });
  }
  const modelpack = input.format === 'modelpack';
  if (modelpack && files.length === 0) {
    throw new OmlmdError('USAGE', 'a ModelPack artifact holds model files (its modelfs lists at least one): give files, or push a metadata-only artifact in the omlmd layout', { remedies: [{ kind: 'give-files-or-uri' }] });
  }
  if (modelpack && input.encryptFor?.length) throw new OmlmdError('USAGE', 'encrypted layers are not part of ModelPack: push encrypted models in the omlmd layout');
  const configBytes = metadataToJson(metadata);
  const yamlBytes = metadataToYaml(metadata);
  const { signal, onProgress } = opts;
  onProgress?.({ type: 'plan', items: files.map((f) => ({ title: f.title, size: f.size })), totalBytes: files.reduce((n, f) => n + f.size, 0) });

  const small = async (bytes: Buffer) => {
    const digest = sha256(bytes);
    if (!(await presentWithoutSending(repo, { mediaType: 'application/octet-stream', digest, size: bytes.length }, opts.cache, signal))) {
      await repo.putBlob({ open: () => Readable.from([bytes]), size: bytes.length, digest }, { signal });
    }
    await rememberLocation(repo, digest, opts.cache);
    return { digest, size: bytes.length };
  };
  if (input.encryptMetadata && !input.encryptFor?.length) throw new OmlmdError('USAGE', 'encrypting the metadata needs at least one recipient');
  // The metadata blobs (a HEAD each when the registry has them) go beside the model files rather than before them.
  const metadataBlobs = (async () => {
    const sealed = input.encryptMetadata && !modelpack ? await sealMetadata(repo, configBytes, yamlBytes, input.encryptFor!, opts.cache, signal) : undefined;
    const [config, yaml] = modelpack ? [undefined, undefined] : sealed ? [await small(SEALED_CONFIG), { digest: '', size: 0 }] : await Promise.all([small(configBytes), small(yamlBytes)]);
    return { sealed, config, yaml };
  })();
  // A metadata blob that fails stops the model files' uploads: its error is the push's.
  const metadataFailed = new AbortController();
  metadataBlobs.catch((error: unknown) => metadataFailed.abort(error));

  const concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;
  const pool = new HashPool(concurrency);
  const uploads = new Semaphore(pool.size);
  const recipients = input.encryptFor?.length ? input.encryptFor : undefined;
  // Each file's stat and cache entry ahead of its turn, and the blob locations recorded beside
  // the next HEADs rather than before them: a re-push of an unchanged model is its HEADs back to
  // back (16 files, from the first HEAD to the manifest's answer: 43 ms before, 31-37 ms after).
  // A few at a time: each reads a cache file (thousands at once could run out of descriptors),
  // and the first files' lookups should not wait behind the last ones'.
  const lookups = new Semaphore(LOOKUPS_AT_ONCE);
  const looked = new Map(files.map((f) => [f, lookups.run(() => lookUp(f, opts.cache))]));
  // A lookup whose file is never reached (the push failed first) must not be an unhandled rejection.
  for (const l of looked.values()) l.catch(() => undefined);
  const later: Promise<void>[] = [];
  let layers: ModelFileLayer[];
  try {
    layers = await mapLimit(files, concurrency, async (f, sig): Promise<ModelFileLayer> => {
      const o: FileOptions = { cache: opts.cache, signal: sig, onProgress, uploads, looked: looked.get(f)!, later };
      const ref: BlobRef & Partial<EncryptedRef> = recipients ? await pushEncryptedFile(repo, f, recipients, pool, o) : await pushFile(repo, f, pool, o);
      onProgress?.({ type: 'done', title: f.title, digest: ref.digest, size: ref.size });
      return { title: f.title, digest: ref.digest, size: ref.size, ...(ref.mediaType ? { mediaType: ref.mediaType, annotations: ref.annotations } : {}) };
    }, anySignal(signal, metadataFailed.signal));
  } catch (e) {
    await Promise.allSettled([metadataBlobs]);
    throw metadataFailed.signal.aborted ? metadataFailed.signal.reason : e;
  } finally {
    await Promise.all(later);
    await pool.close();
  }
  const { sealed, config, yaml } = await metadataBlobs;

  const created = input.created === undefined ? defaultCreated() : input.created;
  // A pushed folder is named, so serving puts its files at the served root (model/served.ts);
  // the titles keep it, so a pull (ours or omlmd 0.1.x's) brings the folder back as it was.
  const folder = input.artifactType === false ? undefined : commonFolder(files.map((f) => f.title));
  const annotations = folder !== undefined ? { [SERVED_ROOT_ANNOTATION]: folder, ...input.annotations } : input.annotations;
  if (modelpack) {
    const stats = await Promise.all(files.map((f) => stat(f.path)));
    const packed = layers.map((l, i) => ({ title: l.title, digest: l.digest, size: l.size, mode: stats[i]!.mode, mtime: stats[i]!.mtime }));
    const cfg = await small(Buffer.from(JSON.stringify(modelPackConfig(metadata, packed, created ?? undefined)), 'utf8'));
    const { manifest, bytes } = buildModelPackManifest({ config: cfg, layers: packed.map(modelPackLayer), metadata, created: created ?? undefined, annotations, subject: input.subject });
    const descriptor = await repo.putManifest(bytes, manifest.mediaType!, tag, { signal });
    return { descriptor, manifest, files };
  }
  const { manifest, bytes } = buildModelManifest({
    metadata,
    config: config!,
    yaml: yaml!,
    files: layers,
    created,
    annotations,
    subject: input.subject,
    artifactType: input.artifactType,
    ...(sealed ? { encryptedMetadata: sealed } : {}),
  });
  const descriptor = await repo.putManifest(bytes, manifest.mediaType!, tag, { signal });
  return { descriptor, manifest, files };
}

