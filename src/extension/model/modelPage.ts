/**
 * What the model page shows, computed from the core without VS Code (tested against the real
 * registry): the page itself from the manifest and config, then, each on its own and posted
 * as it arrives, the files' headers (bounded ranged reads), the lineage (referrers), the
 * model card, the signature state and the versions chart (at most MAX_VERSION_TAGS tags).
 * Everything a registry wrote is passed on as strings; the webview shows them as text.
 */
import { extname } from 'node:path';
import type { ArtifactInfo, OmlmdClient } from '../../core/client';
import { OmlmdError } from '../../core/errors';
import { discover } from '../../core/lineage/api';
import type { ReferrerNode } from '../../core/lineage/discover';
import { ATTACHMENT_ARTIFACT_TYPE } from '../../core/lineage/attach';
import { MODELCAR_ARTIFACT_TYPE } from '../../core/lineage/modelcar';
import { MODEL_CARD_ARTIFACT_TYPE, MODEL_CARD_TITLE } from '../../core/lineage/modelcard';
import { layerTitle, viewArtifact } from '../../core/model/artifact';
import { describeHeader, inspectBlobHeader, MODEL_FILE_EXTENSIONS } from '../../core/model/headers';
import { formatReference, parseReference, type Reference } from '../../core/oci/reference';
import { isReferrersTag } from '../../core/oci/referrers-tag';
import { readSmallBlob } from '../../core/oci/store';
import { fetchImageManifest } from '../../core/transfer/resolve';
import { BUNDLE_MEDIA_TYPE, MODEL_SIGNATURE_PREDICATE } from '../../core/trust';
import { humanSize } from '../../core/units';
import { mapLimit } from '../../core/util/limit';
import type {
  CompareResultParams, FieldChange, FileChange, HeadersParams, LineageKind, LineageNode, LineageParams, ModelCardParams, ModelPageParams, PageFile, PropertyRow, SignatureView, VersionPoint, VersionsParams,
} from '../../../webview/pageProtocol';
import { describeState, type SignatureState } from './trustFlow';
import { l10n } from './l10n';

/** The versions chart reads at most this many tags (the newest by name), so a page with thousands of tags still opens at once. */
export const MAX_VERSION_TAGS = 150;
/** Manifests and configs read at once for the chart. */
const VERSION_CONCURRENCY = 8;
/** Model files whose headers are read (each at most the core's default budget, 1 MiB). */
const MAX_HEADER_FILES = 8;
/** The model card shown, at most (it is text). */
export const MAX_MODEL_CARD_BYTES = 256 * 1024;
/** Numeric properties per version sent to the chart. */
const MAX_METRICS = 64;
/** A projected customProperties annotation longer than this is not parsed for the chart. */
const MAX_PROJECTED_BYTES = 1024 * 1024;
/** A longer string from the registry is cut for the page (it stays whole in the registry). */
const MAX_TEXT = 4096;

const CREATED = 'org.opencontainers.image.created';

const clip = (s: string): string => (s.length > MAX_TEXT ? `${s.slice(0, MAX_TEXT)}…` : s);
const textOf = (v: unknown): string => clip(typeof v === 'string' ? v : JSON.stringify(v) ?? String(v));

export function propertyRows(props: unknown): PropertyRow[] {
  if (!props || typeof props !== 'object' || Array.isArray(props)) return [];
  return Object.entries(props as Record<string, unknown>).map(([key, v]): PropertyRow => ({
    key: clip(key),
    type: v === null ? 'null' : Array.isArray(v) ? 'list' : typeof v === 'number' ? 'number' : typeof v === 'boolean' ? 'boolean' : typeof v === 'string' ? 'string' : 'object',
    text: textOf(v),
  }));
}

function formatsOf(info: ArtifactInfo): string[] {
  const md = info.metadata;
  const out: string[] = [];
  const v = md?.model_format_version;
  const fmt = [md?.model_format_name, v ? (/^\d/.test(v) ? `v${v}` : v) : undefined].filter(Boolean).join(' ');
  if (fmt) out.push(fmt);
  const flavor = { omlmd: 'omlmd', 'omlmd-0.1': 'omlmd 0.1', modelpack: 'ModelPack', kitops: 'KitOps ModelKit', docker: 'Docker model', other: undefined }[info.view.flavor];
  if (flavor) out.push(flavor);
  if (info.view.files.some((f) => f.encrypted)) out.push(l10n.t('encrypted'));
  return out;
}

const openable = (uri: string | undefined): boolean => {
  if (!uri) return false;
  try {
    const u = new URL(uri);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
};

export function repositoryOf(ref: Reference): Reference {
  return { ...ref, tag: undefined, digest: undefined };
}

/** The page's first message: manifest and config only (one or two requests). */
export async function loadModelPage(client: OmlmdClient, reference: string, session: string, signal?: AbortSignal): Promise<{ page: ModelPageParams; info: ArtifactInfo; ref: Reference }> {
  const ref = parseReference(reference);
  const info = await client.inspect(ref, { signal });
  const md = info.metadata ?? {};
  const files: PageFile[] = info.view.files
    .filter((f) => f.role !== 'metadata')
    .map((f) => ({ path: clip(f.path), role: f.role, mediaType: clip(f.descriptor.mediaType), digest: f.descriptor.digest, size: f.descriptor.size, sizeText: humanSize(f.descriptor.size), ...(f.encrypted ? { encrypted: true } : {}) }));
  const known = new Set(['name', 'description', 'author', 'uri', 'customProperties', 'model_format_name', 'model_format_version']);
  const fields = Object.entries(md)
    .filter(([k, v]) => !known.has(k) && v !== null && v !== undefined)
    .map(([key, v]) => ({ key: clip(key), text: textOf(v) }));
  const ann = info.manifest.annotations ?? {};
  const uri = typeof md.uri === 'string' && md.uri ? clip(md.uri) : undefined;
  const page: ModelPageParams = {
    session,
    reference: formatReference(ref),
    repository: formatReference(repositoryOf(ref)),
    tag: ref.tag,
    digest: info.descriptor.digest,
    name: clip(typeof md.name === 'string' && md.name ? md.name : ref.kind === 'layout' ? ref.path : `${ref.repository}${ref.tag ? `:${ref.tag}` : ''}`),
    description: typeof md.description === 'string' && md.description ? clip(md.description) : undefined,
    author: typeof md.author === 'string' && md.author ? clip(md.author) : undefined,
    formats: formatsOf(info),
    size: info.manifest.layers.reduce((n, l) => n + l.size, 0),
    sizeText: humanSize(info.manifest.layers.reduce((n, l) => n + l.size, 0)),
    created: ann[CREATED] ? clip(ann[CREATED]) : undefined,
    uri,
    uriOpenable: openable(uri),
    fields,
    properties: propertyRows(md.customProperties),
    annotations: Object.entries(ann).filter(([k]) => k !== 'dev.omlmd.model.metadata').map(([key, v]) => ({ key: clip(key), text: clip(String(v)) })),
    files,
    metadataOnly: info.view.metadataOnly,
    isModel: info.view.flavor !== 'other',
    warnings: info.warnings.map(clip),
  };
  return { page, info, ref };
}

/** The model files' headers, read with ranged GETs within the core's budget; at most MAX_HEADER_FILES files. */
export async function loadHeaders(client: OmlmdClient, ref: Reference, info: ArtifactInfo, signal?: AbortSignal): Promise<HeadersParams> {
  const repo = await client.repository(ref);
  const candidates = info.view.files.filter((f) => f.role === 'model' && !f.encrypted && MODEL_FILE_EXTENSIONS.has(extname(f.path).toLowerCase())).slice(0, MAX_HEADER_FILES);
  const files = await mapLimit(candidates, 2, async (f) => {
    try {
      const s = await inspectBlobHeader(repo, f.descriptor, f.path, { signal });
      return { path: clip(f.path), header: clip(describeHeader(s)), warnings: s.warnings.map(clip) };
    } catch (e) {
      if (OmlmdError.is(e, 'CANCELLED')) throw e;
      return { path: clip(f.path), warnings: [l10n.t('the header could not be read: {0}', clip((e as Error).message))] };
    }
  }, signal);
  return { files };
}

const KNOWN_TYPES: Record<string, { kind: LineageKind; label: string }> = {
  [MODELCAR_ARTIFACT_TYPE]: { kind: 'modelcar', label: l10n.t('ModelCar image') },
  [MODEL_CARD_ARTIFACT_TYPE]: { kind: 'modelcard', label: l10n.t('Model card') },
  [ATTACHMENT_ARTIFACT_TYPE]: { kind: 'attachment', label: l10n.t('Attachment') },
  'application/spdx+json': { kind: 'sbom', label: l10n.t('SBOM (SPDX)') },
  'application/vnd.cyclonedx+json': { kind: 'sbom', label: l10n.t('SBOM (CycloneDX)') },
  'application/vnd.in-toto+json': { kind: 'attestation', label: l10n.t('Attestation (in-toto)') },
};

function lineageNode(r: ReferrerNode): LineageNode {
  const type = r.artifactType ?? r.mediaType;
  const ann = r.annotations ?? {};
  const predicate = ann['dev.sigstore.bundle.predicateType'];
  let kind: LineageKind;
  let label: string;
  if (type === BUNDLE_MEDIA_TYPE) {
    const signature = !predicate || predicate === MODEL_SIGNATURE_PREDICATE;
    kind = signature ? 'signature' : 'attestation';
    label = signature ? l10n.t('Signature (Sigstore)') : l10n.t('Attestation ({0})', clip(predicate));
  } else {
    const known = KNOWN_TYPES[type];
    kind = known?.kind ?? 'other';
    label = known?.label ?? clip(type);
  }
  const created = ann[CREATED];
  return { digest: r.digest, kind, label, artifactType: r.artifactType ? clip(r.artifactType) : undefined, created: created ? clip(created) : undefined, children: r.referrers.map(lineageNode) };
}

/** The referrers two levels deep (a ModelCar image and its own signature), as the graph's nodes. */
export async function loadLineage(client: OmlmdClient, ref: Reference, digest: string, signal?: AbortSignal): Promise<{ lineage: LineageParams; referrers: ReferrerNode[] }> {
  try {
    const { referrers } = await discover(client, { ...ref, tag: undefined, digest }, { signal, depth: 2 });
    return { lineage: { nodes: referrers.map(lineageNode) }, referrers };
  } catch (e) {
    if (OmlmdError.is(e, 'CANCELLED')) throw e;
    return { lineage: { nodes: [], problem: clip((e as Error).message) }, referrers: [] };
  }
}

/** Every digest in the lineage, for the host to check what the page asks to open. */
export function lineageDigests(nodes: LineageNode[]): Set<string> {
  const out = new Set<string>();
  const walk = (ns: LineageNode[]): void => {
    for (const n of ns) {
      out.add(n.digest);
      walk(n.children);
    }
  };
  walk(nodes);
  return out;
}

/** The newest model card attached, as text (at most MAX_MODEL_CARD_BYTES, verified against its digest). */
export async function loadModelCard(client: OmlmdClient, ref: Reference, referrers: ReferrerNode[], signal?: AbortSignal): Promise<ModelCardParams | undefined> {
  const cards = referrers.filter((r) => r.artifactType === MODEL_CARD_ARTIFACT_TYPE);
  if (cards.length === 0) return undefined;
  const card = [...cards].sort((a, b) => (b.annotations?.[CREATED] ?? '').localeCompare(a.annotations?.[CREATED] ?? ''))[0]!;
  const info = await client.inspect({ ...ref, tag: undefined, digest: card.digest }, { signal });
  const layer = info.manifest.layers.find((l) => layerTitle(l) === MODEL_CARD_TITLE) ?? info.manifest.layers[0];
  if (!layer) return undefined;
  const repo = await client.repository(ref);
  if (layer.size > MAX_MODEL_CARD_BYTES) {
    // Too large to read whole (and so to verify): the start of it, said to be cut.
    const stream = await repo.openBlob(layer, { offset: 0, length: MAX_MODEL_CARD_BYTES, signal });
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of stream) {
      chunks.push(c as Buffer);
      n += (c as Buffer).length;
      if (n >= MAX_MODEL_CARD_BYTES) {
        stream.destroy();
        break;
      }
    }
    return { text: Buffer.concat(chunks).subarray(0, MAX_MODEL_CARD_BYTES).toString('utf8'), truncated: true };
  }
  const bytes = await readSmallBlob(repo, layer, 'the model card', { signal }, MAX_MODEL_CARD_BYTES);
  return { text: bytes.toString('utf8'), truncated: false };
}

export function signatureView(s: SignatureState): SignatureView {
  const d = describeState(s);
  return { kind: s.kind, label: d.label, detail: clip(d.detail) };
}

/** Version-like tags, newest first: what the tree shows and the order the cap keeps. */
function newestFirst(tags: string[]): string[] {
  return [...tags].sort((a, b) => b.localeCompare(a, undefined, { numeric: true }));
}

function numericMetrics(props: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (!props || typeof props !== 'object' || Array.isArray(props)) return out;
  let n = 0;
  for (const [k, v] of Object.entries(props as Record<string, unknown>)) {
    if (typeof v === 'number' && Number.isFinite(v)) {
      Object.defineProperty(out, clip(k), { value: v, enumerable: true, writable: true, configurable: true });
      if (++n >= MAX_METRICS) break;
    }
  }
  return out;
}

/** The customProperties an omlmd manifest projects into its annotations (`customProperties+json`), or undefined. */
function projectedProperties(annotations: Record<string, string> | undefined): unknown {
  const text = annotations?.['customProperties+json'];
  if (text === undefined || text.length > MAX_PROJECTED_BYTES) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * The repository's tags (at most `max`, the newest by name) with their numeric
 * customProperties, in the order they were created (the manifest's created annotation;
 * tags without one after those with one, by name).
 */
export async function loadVersions(client: OmlmdClient, ref: Reference, opts: { signal?: AbortSignal; max?: number } = {}): Promise<VersionsParams> {
  const repoRef = repositoryOf(ref);
  const all = (await client.tags(repoRef, { signal: opts.signal })).filter((t) => !isReferrersTag(t));
  const picked = newestFirst(all).slice(0, opts.max ?? MAX_VERSION_TAGS);
  const problems: VersionsParams['problems'] = [];
  const repo = await client.repository(repoRef);
  const read = await mapLimit(picked, VERSION_CONCURRENCY, async (tag): Promise<VersionPoint | undefined> => {
    try {
      const { fetched } = await fetchImageManifest(repo, tag, { signal: opts.signal });
      const manifest = fetched.manifest;
      const flavor = viewArtifact(manifest).flavor;
      if (flavor === 'other') {
        problems.push({ tag: clip(tag), message: l10n.t('not a model') });
        return undefined;
      }
      const created = manifest.annotations?.[CREATED];
      const point = (props: unknown): VersionPoint => ({ tag: clip(tag), digest: fetched.descriptor.digest, created: created ? clip(created) : undefined, metrics: numericMetrics(props) });
      // omlmd (and 0.1.x) write the metadata's fields into the manifest's annotations too, so one
      // request per tag draws the chart; other layouts (ModelPack, KitOps, Docker) need the config.
      if (flavor === 'omlmd' || flavor === 'omlmd-0.1') return point(projectedProperties(manifest.annotations));
      const info = await client.inspect({ ...repoRef, digest: fetched.descriptor.digest, tag: undefined }, { signal: opts.signal });
      return point(info.metadata?.customProperties);
    } catch (e) {
      if (OmlmdError.is(e, 'CANCELLED')) throw e;
      problems.push({ tag: clip(tag), message: clip((e as Error).message) });
      return undefined;
    }
  }, opts.signal);
  const versions = read.filter((v): v is VersionPoint => v !== undefined);
  const time = (v: VersionPoint): number => (v.created ? Date.parse(v.created) : NaN);
  versions.sort((a, b) => {
    const ta = time(a);
    const tb = time(b);
    if (Number.isNaN(ta) !== Number.isNaN(tb)) return Number.isNaN(ta) ? 1 : -1;
    if (!Number.isNaN(ta) && ta !== tb) return ta - tb;
    return a.tag.localeCompare(b.tag, undefined, { numeric: true });
  });
  const names = new Set(versions.flatMap((v) => Object.keys(v.metrics)));
  const defaultMetric = names.has('accuracy') ? 'accuracy' : [...names].sort()[0];
  return { versions, totalTags: all.length, readTags: picked.length, problems, defaultMetric };
}

/** The metadata as flat `key → text` rows: customProperties one row each (`customProperties.accuracy`). */
function flatMetadata(md: Record<string, unknown> | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(md ?? {})) {
    if (v === null || v === undefined) continue;
    if (k === 'customProperties' && typeof v === 'object' && !Array.isArray(v)) {
      for (const [ck, cv] of Object.entries(v as Record<string, unknown>)) out.set(`customProperties.${clip(ck)}`, textOf(cv));
    } else out.set(clip(k), textOf(v));
  }
  return out;
}

/** What differs between two artifacts: metadata fields, and files by path and digest. */
export function diffArtifacts(a: ArtifactInfo, b: ArtifactInfo): { fields: FieldChange[]; files: FileChange[] } {
  const fa = flatMetadata(a.metadata);
  const fb = flatMetadata(b.metadata);
  const fields: FieldChange[] = [];
  for (const key of new Set([...fa.keys(), ...fb.keys()])) {
    const va = fa.get(key);
    const vb = fb.get(key);
    if (va === vb) continue;
    fields.push({ key, change: va === undefined ? 'added' : vb === undefined ? 'removed' : 'changed', ...(va === undefined ? {} : { a: va }), ...(vb === undefined ? {} : { b: vb }) });
  }
  const files = (i: ArtifactInfo) => new Map(i.view.files.filter((f) => f.role !== 'metadata').map((f) => [clip(f.path), { digest: f.descriptor.digest, sizeText: humanSize(f.descriptor.size) }]));
  const la = files(a);
  const lb = files(b);
  const out: FileChange[] = [];
  for (const path of [...new Set([...la.keys(), ...lb.keys()])].sort()) {
    const x = la.get(path);
    const y = lb.get(path);
    const change = !x ? 'added' : !y ? 'removed' : x.digest === y.digest ? 'same' : 'changed';
    out.push({ path, change, ...(x ? { a: x } : {}), ...(y ? { b: y } : {}) });
  }
  return { fields, files: out };
}

/** Compares two tags of the page's repository. */
export async function compareTags(client: OmlmdClient, ref: Reference, a: string, b: string, signal?: AbortSignal): Promise<CompareResultParams> {
  const repoRef = repositoryOf(ref);
  try {
    const [ia, ib] = await Promise.all([client.inspect({ ...repoRef, tag: a }, { signal }), client.inspect({ ...repoRef, tag: b }, { signal })]);
    return { a, b, digestA: ia.descriptor.digest, digestB: ib.descriptor.digest, ...diffArtifacts(ia, ib) };
  } catch (e) {
    if (OmlmdError.is(e, 'CANCELLED')) throw e;
    return { a, b, fields: [], files: [], error: clip((e as Error).message) };
  }
}
