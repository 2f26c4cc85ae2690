import { stat } from 'node:fs/promises';
import { readMetadataFile } from '../../core/model/metadata';
import { basename, dirname, extname, join } from 'node:path';
import type { OmlmdClient } from '../../core/client';
import { OmlmdError } from '../../core/errors';
import type { ModelMetadata } from '../../core/model/metadata';
import { formatReference, isValidRepository, isValidTag } from '../../core/oci/reference';
import type { Annotations } from '../../core/oci/types';
import type { ProgressCallback } from '../../core/transfer/progress';
import { collectModelFiles } from '../../core/model/files';
import { describeHeader, inspectModelFile, MODEL_FILE_EXTENSIONS, prefillMetadata as prefillFromHeaders, suggestMetadata, type HeaderSummary } from '../../core/model/headers';
import { referenceFor, type StoreRef } from './browser';
import { formatForFile } from './notebookScan';
import { encryptionRecipientsFor } from './keysFlow';
import { l10n } from './l10n';

/**
 * The Push Model flow without VS Code: pre-fill metadata, ask the editor, ask the target,
 * push with progress. The extension supplies the UI; tests supply scripted answers.
 */

export interface PushTarget {
  store: StoreRef;
  repository: string;
  tag: string;
}

export interface PushUi {
  /** The metadata editor; undefined when the user cancels. */
  editMetadata(initial: ModelMetadata, title: string, targetHint?: string, found?: HeaderFindings): Promise<ModelMetadata | undefined>;
  /** Registry, repository and tag pickers; undefined when the user cancels. */
  pickTarget(proposed: PushTarget): Promise<PushTarget | undefined>;
  /** Runs the transfer with a cancellable progress display. */
  withProgress<T>(title: string, run: (onProgress: ProgressCallback, signal: AbortSignal) => Promise<T>): Promise<T>;
}

export interface PushRequest {
  paths: string[];
  /** Fields that win over what is guessed from the files (e.g. from a notebook). */
  metadata?: ModelMetadata;
  annotations?: Annotations;
  /** A starting point for the target (from a tree node, or the last choice). */
  target?: Partial<PushTarget>;
  author?: string;
  /** The artifact layout (omlmd.push.format): omlmd's (default) or ModelPack. */
  format?: 'omlmd' | 'modelpack';
  /** omlmd.push.encryptRecipients: encrypt the model files for these (`jwe:PUB.pem`, `provider:NAME`). */
  encryptRecipients?: string[];
  /**
   * omlmd.push.mountable: after the push, build a data-only image of the files and tag an image
   * index holding both at the tag (what `omlmd push --mountable` does).
   */
  mountable?: boolean;
}

export interface PushOutcome {
  target: PushTarget;
  reference: string;
  digest: string;
  metadata: ModelMetadata;
  /** How many recipients the model files were encrypted for (0: in clear). */
  recipients: number;
  /** With mountable: the data-only image the index holds beside the model (`digest` is then the index's). */
  image?: { digest: string; platform: string };
}

/** "encrypted for 2 recipients" */
export function encryptedFor(n: number): string {
  return n === 1 ? l10n.t('encrypted for {0} recipient', n) : l10n.t('encrypted for {0} recipients', n);
}

/** A repository name a file or folder suggests: lowercase, invalid characters folded to '-'. */
export function repositoryFromName(name: string): string {
  const stem = basename(name, extname(name)).toLowerCase();
  const cleaned = stem.replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '').replace(/[._-]{2,}/g, '-');
  return cleaned && isValidRepository(cleaned) ? cleaned : 'model';
}

/** The next version tag after the highest `vN` (or `N`), else v1. */
export function suggestNextTag(existing: string[]): string {
  let max = 0;
  let prefix = 'v';
  for (const t of existing) {
    const m = /^(v?)(\d+)$/.exec(t);
    if (m && Number(m[2]) >= max) {
      max = Number(m[2]);
      prefix = m[1]!;
    }
  }
  return `${prefix}${max + 1}`;
}

/** Metadata guessed from the files: the name from the first file, the format from its extension. */
export function prefillMetadata(paths: string[], opts: { author?: string; framework?: string } = {}): ModelMetadata {
  const first = paths[0];
  const md: ModelMetadata = {};
  if (first) {
    md.name = basename(first, extname(first));
    const fmt = formatForFile(first, opts.framework);
    if (fmt) md.model_format_name = fmt;
  }
  if (opts.author) md.author = opts.author;
  return md;
}

/** What the model files' headers say (one line per file) and what to beware of, for the editor. */
export interface HeaderFindings {
  headers: string[];
  warnings: string[];
}

const MAX_HEADER_FILES = 256;

/**
 * Reads the headers of the files to push (bounded reads, never the weights): the metadata
 * they suggest, filled in where the user has nothing yet, and what the editor shows. A
 * header that cannot be read is a warning there, never a failed push.
 */
export async function headerFindings(paths: string[], metadata: ModelMetadata): Promise<{ metadata: ModelMetadata; found: HeaderFindings }> {
  const found: HeaderFindings = { headers: [], warnings: [] };
  const summaries: HeaderSummary[] = [];
  let files: { path: string; title: string }[] = [];
  try {
    const all = await collectModelFiles(paths, undefined, { followSymlinks: true });
    // Links are shown, so a link to a key or a file elsewhere is seen before the push refuses it.
    for (const f of all) if (f.link) found.warnings.push(l10n.t('{0}: a symbolic link to {1}', f.title, f.link));
    files = all.filter((f) => MODEL_FILE_EXTENSIONS.has(extname(f.path).toLowerCase())).slice(0, MAX_HEADER_FILES);
  } catch {
    return { metadata, found };
  }
  for (const f of files) {
    try {
      const s = await inspectModelFile(f.path);
      found.headers.push(`${f.title}: ${describeHeader(s)}`);
      for (const w of s.warnings) found.warnings.push(`${f.title}: ${w}`);
      if (s.complete) summaries.push(s);
    } catch (e) {
      if (!OmlmdError.is(e, 'INVALID_MODEL_FILE', 'NOT_FOUND', 'IO')) throw e;
      found.warnings.push(`${f.title}: ${e.problem}`);
    }
  }
  return { metadata: prefillFromHeaders(metadata, suggestMetadata(summaries)).metadata, found };
}

export function targetReference(t: PushTarget): string {
  return formatReference(referenceFor(t.store, t.repository, t.tag));
}

export function checkTarget(t: PushTarget): void {
  if (!isValidRepository(t.repository)) throw new OmlmdError('INVALID_REFERENCE', l10n.t('"{0}" is not a valid repository name (lowercase letters, digits, . _ - and /)', t.repository));
  if (!isValidTag(t.tag)) throw new OmlmdError('INVALID_REFERENCE', l10n.t('"{0}" is not a valid tag (letters, digits, _ . -, at most 128)', t.tag));
}

/** Names of a metadata file beside a model (ours, and what a pull writes), in the order they are looked for. */
export const METADATA_BESIDE = ['metadata.yaml', 'metadata.yml', 'metadata.json', 'model_metadata.omlmd.yaml', 'model_metadata.omlmd.json'];

/**
 * The metadata file next to the first path (in it, when it is a folder), read and validated:
 * it pre-fills the editor. A file that does not read is a warning, never a failed push.
 */
export async function metadataBeside(paths: string[]): Promise<{ metadata?: ModelMetadata; file?: string; warning?: string }> {
  const first = paths[0];
  if (!first) return {};
  const st = await stat(first).catch(() => undefined);
  const dir = st?.isDirectory() ? first : dirname(first);
  for (const name of METADATA_BESIDE) {
    const file = join(dir, name);
    if (!(await stat(file).catch(() => undefined))?.isFile()) continue;
    try {
      return { metadata: await readMetadataFile(file), file };
    } catch (e) {
      return { file, warning: l10n.t('{0} beside the model was not used: {1}', name, (e as Error).message) };
    }
  }
  return {};
}

export async function runPush(client: OmlmdClient, ui: PushUi, req: PushRequest): Promise<PushOutcome | undefined> {
  // Recipients are read first: a key that cannot be used stops the push before the editor opens.
  const encryptFor = req.encryptRecipients?.length ? await encryptionRecipientsFor(req.encryptRecipients) : undefined;
  if (encryptFor && req.mountable) {
    throw new OmlmdError('USAGE', l10n.t('a mountable image holds the model files in clear, so an encrypted push cannot be mountable'), { remedies: [{ kind: 'say', text: l10n.t('Turn off omlmd.push.mountable for encrypted pushes, or empty omlmd.push.encryptRecipients') }] });
  }
  if (encryptFor && req.format === 'modelpack') {
    throw new OmlmdError('USAGE', l10n.t('encrypted model files are not part of the ModelPack layout'), { remedies: [{ kind: 'say', text: l10n.t('Set omlmd.push.format to omlmd to push encrypted models, or empty omlmd.push.encryptRecipients to push this one in clear') }] });
  }
  // Guessed from the file name < the metadata file beside it < what the caller gives (a notebook's).
  const beside = await metadataBeside(req.paths);
  const { metadata: initial, found } = await headerFindings(req.paths, { ...prefillMetadata(req.paths, { author: req.author }), ...(beside.metadata ?? {}), ...(req.metadata ?? {}) });
  if (beside.warning) found.warnings.unshift(beside.warning);
  else if (beside.file) found.headers.unshift(l10n.t('Metadata from {0} beside the model', basename(beside.file)));
  if (encryptFor) found.headers.unshift(l10n.t('Model files will be {0} (omlmd.push.encryptRecipients); the metadata stays readable', encryptedFor(encryptFor.length)));
  const proposed: PushTarget = {
    store: req.target?.store ?? { kind: 'local' },
    repository: req.target?.repository ?? repositoryFromName(beside.metadata?.name ?? req.paths[0] ?? initial.name ?? 'model'),
    tag: req.target?.tag ?? 'v1',
  };
  // The target is chosen after the editor: the header names only what the caller chose (a tree node), never a guess.
  const hint = req.target?.store && req.target.repository ? l10n.t('{0} (the tag is chosen next)', formatReference(referenceFor(req.target.store, req.target.repository))) : undefined;
  const metadata = await ui.editMetadata(initial, l10n.t('Push {0}', req.paths.map((p) => basename(p)).join(', ') || l10n.t('metadata')), hint, found);
  if (!metadata) return undefined;
  const target = await ui.pickTarget(proposed);
  if (!target) return undefined;
  checkTarget(target);
  const reference = targetReference(target);
  const res = await ui.withProgress(encryptFor ? l10n.t('Pushing {0} ({1})', reference, encryptedFor(encryptFor.length)) : l10n.t('Pushing {0}', reference), (onProgress, signal) =>
    client.push(referenceFor(target.store, target.repository, target.tag), { paths: req.paths, metadata, annotations: req.annotations, format: req.format, ...(encryptFor ? { encryptFor } : {}) }, { onProgress, signal }));
  if (req.mountable) {
    const { mountableIndex } = await import('../../core/lineage/api');
    const pinned = `${formatReference(referenceFor(target.store, target.repository))}@${res.descriptor.digest}`;
    const idx = await ui.withProgress(l10n.t('Building the data-only image of {0}', reference), (onProgress, signal) => mountableIndex(client, pinned, target.tag, { onProgress, signal }));
    return { target, reference, digest: idx.descriptor.digest, metadata, recipients: 0, image: { digest: idx.image.digest, platform: `${idx.image.platform.os}/${idx.image.platform.architecture}` } };
  }
  return { target, reference, digest: res.descriptor.digest, metadata, recipients: encryptFor?.length ?? 0 };
}
