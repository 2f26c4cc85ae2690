/**
 * Attach: files (a model card, an evaluation report, an SBOM) pushed as an artifact whose
 * `subject` is another manifest, into the subject's repository, so that discover on the
 * subject finds it. The manifest follows image-spec's guidance for artifacts: the empty
 * config, `artifactType` set, one layer per file titled with its name.
 */
import { createReadStream } from 'node:fs';
import { basename, extname } from 'node:path';
import { Readable } from 'node:stream';
import { OmlmdError } from '../errors';
import { collectModelFiles } from '../model/files';
import { EMPTY_JSON_DIGEST, MediaType, Annotation } from '../oci/mediatypes';
import type { Repository } from '../oci/store';
import type { Annotations, Descriptor, ImageManifest } from '../oci/types';
import { bytesMoved } from '../transfer/memory';
import { mapLimit } from '../util/limit';
import { DEFAULT_CONCURRENCY, type TransferOptions } from '../transfer/progress';
import { defaultCreated } from '../transfer/push';
import { pushReferrer, type ReferrersSource } from './referrers';

/** artifactType of an attachment when none is given. */
export const ATTACHMENT_ARTIFACT_TYPE = 'application/vnd.omlmd.attachment.v1';

export const EMPTY_CONFIG: Descriptor = { mediaType: MediaType.ociEmpty, digest: EMPTY_JSON_DIGEST, size: 2, data: 'e30=' };
const EMPTY_BYTES = Buffer.from('{}');

export interface AttachFile {
  path: string;
  /** Default: from the file name (`.md` text/markdown, `.spdx.json` application/spdx+json, ...). */
  mediaType?: string;
  /** Default: the file name (a folder's files: `folder/relative/path`). */
  title?: string;
}

export interface AttachOptions extends TransferOptions {
  artifactType?: string;
  annotations?: Annotations;
  /** RFC 3339; default now (or SOURCE_DATE_EPOCH); null for none. */
  created?: string | null;
  /** Also tag the attachment (default: by digest only, as ORAS does). */
  tag?: string;
  cwd?: string;
}

export interface AttachResult {
  descriptor: Descriptor;
  manifest: ImageManifest;
  subject: Descriptor;
  source: ReferrersSource;
}

const BY_SUFFIX: [string, string][] = [
  ['.spdx.json', 'application/spdx+json'],
  ['.cdx.json', 'application/vnd.cyclonedx+json'],
  ['.intoto.json', 'application/vnd.in-toto+json'],
  ['.intoto.jsonl', 'application/vnd.in-toto+json'],
];
const BY_EXT: Record<string, string> = {
  '.md': 'text/markdown',
  '.markdown': 'text/markdown',
  '.txt': 'text/plain',
  '.json': 'application/json',
  '.yaml': 'application/yaml',
  '.yml': 'application/yaml',
  '.html': 'text/html',
  '.csv': 'text/csv',
  '.pdf': 'application/pdf',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/** The media type a file gets as an attachment layer, from its name. */
export function mediaTypeForFile(name: string): string {
  const lower = name.toLowerCase();
  for (const [suffix, type] of BY_SUFFIX) if (lower.endsWith(suffix)) return type;
  if (basename(lower) === 'bom.json') return 'application/vnd.cyclonedx+json';
  return BY_EXT[extname(lower)] ?? 'application/octet-stream';
}

/** The manifest of an attachment and its exact bytes. */
export function buildAttachmentManifest(subject: Descriptor, layers: Descriptor[], artifactType: string, annotations: Annotations): { manifest: ImageManifest; bytes: Buffer } {
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    artifactType,
    config: EMPTY_CONFIG,
    layers: layers.length > 0 ? layers : [{ ...EMPTY_CONFIG }],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
  };
  return { manifest, bytes: Buffer.from(JSON.stringify(manifest), 'utf8') };
}

/**
 * Pushes `files` as an artifact that refers to `subject` (a manifest in `repo`), and records
 * it as a referrer. Each file is read once, hashed while it is stored.
 */
export async function attachFiles(repo: Repository, subject: Descriptor, files: (string | AttachFile)[], opts: AttachOptions = {}): Promise<AttachResult> {
  const artifactType = opts.artifactType ?? ATTACHMENT_ARTIFACT_TYPE;
  if (!/^[A-Za-z0-9][\w!#$&^.+-]*\/[A-Za-z0-9][\w!#$&^.+-]*$/.test(artifactType)) {
    throw new OmlmdError('USAGE', `artifact type ${JSON.stringify(artifactType)} is not a media type (type/subtype, e.g. application/vnd.example.sbom.v1+json)`);
  }
  const given = files.map((f) => (typeof f === 'string' ? { path: f } : f));
  if (given.length === 0) throw new OmlmdError('USAGE', 'nothing to attach: name at least one file');
  const expanded: { path: string; title: string; size: number; mediaType: string }[] = [];
  for (const f of given) {
    const found = await collectModelFiles([f.path], opts.cwd);
    for (const m of found) {
      const title = found.length === 1 && f.title ? f.title : m.title;
      expanded.push({ path: m.path, title, size: m.size, mediaType: f.mediaType ?? mediaTypeForFile(title) });
    }
  }
  const titles = new Set<string>();
  for (const f of expanded) {
    if (titles.has(f.title)) throw new OmlmdError('CONFLICT', `two attached files are both named ${JSON.stringify(f.title)}`, { remedies: [{ kind: 'say', text: 'attach their folders, or rename one' }] });
    titles.add(f.title);
  }
  const { signal, onProgress } = opts;
  onProgress?.({ type: 'plan', items: expanded.map((f) => ({ title: f.title, size: f.size })), totalBytes: expanded.reduce((n, f) => n + f.size, 0) });
  await repo.putBlob({ open: () => Readable.from([EMPTY_BYTES]), size: 2, digest: EMPTY_JSON_DIGEST }, { signal });
  const layers = await mapLimit(expanded, opts.concurrency ?? DEFAULT_CONCURRENCY, async (f, sig): Promise<Descriptor> => {
    const ref = await repo.putBlob(
      { open: () => createReadStream(f.path, { highWaterMark: 1 << 20 }), size: f.size },
      { signal: sig, onBytes: (n) => (bytesMoved('upload', n), onProgress?.({ type: 'bytes', title: f.title, bytes: n })) },
    );
    onProgress?.({ type: 'done', title: f.title, digest: ref.digest, size: ref.size });
    return { mediaType: f.mediaType, digest: ref.digest, size: ref.size, annotations: { [Annotation.title]: f.title } };
  }, signal);
  const annotations: Annotations = {};
  const created = opts.created === undefined ? defaultCreated() : opts.created;
  if (created) annotations[Annotation.created] = created;
  Object.assign(annotations, opts.annotations ?? {});
  const { manifest, bytes } = buildAttachmentManifest(subject, layers, artifactType, annotations);
  const { descriptor, source } = await pushReferrer(repo, bytes, MediaType.ociManifest, opts.tag, { signal });
  return { descriptor, manifest, subject: manifest.subject!, source };
}

/** Attaches bytes made in memory (a generated model card): one layer, titled `title`. */
export async function attachBytes(repo: Repository, subject: Descriptor, content: Buffer, title: string, opts: Omit<AttachOptions, 'cwd'> & { mediaType?: string } = {}): Promise<AttachResult> {
  const artifactType = opts.artifactType ?? ATTACHMENT_ARTIFACT_TYPE;
  const { signal } = opts;
  await repo.putBlob({ open: () => Readable.from([EMPTY_BYTES]), size: 2, digest: EMPTY_JSON_DIGEST }, { signal });
  const ref = await repo.putBlob({ open: () => Readable.from([content]), size: content.length }, { signal });
  const layer: Descriptor = { mediaType: opts.mediaType ?? mediaTypeForFile(title), digest: ref.digest, size: ref.size, annotations: { [Annotation.title]: title } };
  const annotations: Annotations = {};
  const created = opts.created === undefined ? defaultCreated() : opts.created;
  if (created) annotations[Annotation.created] = created;
  Object.assign(annotations, opts.annotations ?? {});
  const { manifest, bytes } = buildAttachmentManifest(subject, [layer], artifactType, annotations);
  const { descriptor, source } = await pushReferrer(repo, bytes, MediaType.ociManifest, opts.tag, { signal });
  return { descriptor, manifest, subject: manifest.subject!, source };
}
