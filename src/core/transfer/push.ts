import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { OmlmdError } from '../errors';
import { buildModelManifest } from '../model/artifact';
import { collectModelFiles, type ModelFile } from '../model/files';
import { metadataToJson, metadataToYaml, validateMetadata, type ModelMetadata } from '../model/metadata';
import { sha256 } from '../oci/digest';
import type { Repository } from '../oci/store';
import type { Annotations, Descriptor, ImageManifest } from '../oci/types';
import { mapLimit } from './pool';
import { DEFAULT_CONCURRENCY, type TransferOptions } from './progress';

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
}

export interface PushResult {
  descriptor: Descriptor;
  manifest: ImageManifest;
  files: ModelFile[];
}

const READ_CHUNK = 1 << 20;

export function defaultCreated(env: NodeJS.ProcessEnv = process.env): string {
  const epoch = env.SOURCE_DATE_EPOCH;
  const ms = epoch !== undefined && /^\d+$/.test(epoch) ? Number(epoch) * 1000 : Date.now();
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Pushes model files with their metadata as one artifact. Each file is read once: the store
 * hashes while the bytes go out. Nothing is written next to the model files.
 */
export async function pushModel(repo: Repository, tag: string | undefined, input: PushInput, opts: TransferOptions = {}): Promise<PushResult> {
  const metadata = validateMetadata(input.metadata, 'metadata');
  const files = await collectModelFiles(input.paths, input.cwd);
  if (files.length === 0 && !metadata.uri) {
    throw new OmlmdError('USAGE', 'nothing to push: no model file was given and the metadata has no uri', {
      hint: 'give model files or folders, or set uri (--uri s3://bucket/model) for a metadata-only artifact',
    });
  }
  const configBytes = metadataToJson(metadata);
  const yamlBytes = metadataToYaml(metadata);
  const { signal, onProgress } = opts;
  onProgress?.({ type: 'plan', items: files.map((f) => ({ title: f.title, size: f.size })), totalBytes: files.reduce((n, f) => n + f.size, 0) });

  const small = async (bytes: Buffer) => {
    const digest = sha256(bytes);
    await repo.putBlob({ open: () => Readable.from([bytes]), size: bytes.length, digest }, { signal });
    return { digest, size: bytes.length };
  };
  const [config, yaml] = [await small(configBytes), await small(yamlBytes)];

  const layers = await mapLimit(files, opts.concurrency ?? DEFAULT_CONCURRENCY, async (f, sig) => {
    const ref = await repo.putBlob(
      { open: () => createReadStream(f.path, { highWaterMark: READ_CHUNK }), size: f.size },
      { signal: sig, onBytes: (n) => onProgress?.({ type: 'bytes', title: f.title, bytes: n }) },
    );
    onProgress?.({ type: 'done', title: f.title, digest: ref.digest, size: ref.size });
    return { title: f.title, digest: ref.digest, size: ref.size };
  }, signal);

  const { manifest, bytes } = buildModelManifest({
    metadata,
    config,
    yaml,
    files: layers,
    created: input.created === undefined ? defaultCreated() : input.created,
    annotations: input.annotations,
    subject: input.subject,
    artifactType: input.artifactType,
  });
  const descriptor = await repo.putManifest(bytes, manifest.mediaType!, tag, { signal });
  return { descriptor, manifest, files };
}

