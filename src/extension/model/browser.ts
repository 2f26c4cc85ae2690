import { mdText } from './plainText';
import { l10n } from './l10n';
import { describeState, type SignatureStates } from './trustFlow';
import { BUNDLE_MEDIA_TYPE, MODEL_SIGNATURE_PREDICATE } from '../../core/trust';
import type { OmlmdClient } from '../../core/client';
import { OmlmdError } from '../../core/errors';
import type { ModelMetadata } from '../../core/model/metadata';
import { formatReference, type Reference } from '../../core/oci/reference';
import { ATTACHMENT_ARTIFACT_TYPE } from '../../core/lineage/attach';
import { discover } from '../../core/lineage/api';
import type { ReferrerNode } from '../../core/lineage/discover';
import { MODELCAR_ARTIFACT_TYPE } from '../../core/lineage/modelcar';
import { MODEL_CARD_ARTIFACT_TYPE } from '../../core/lineage/modelcard';
import { isReferrersTag } from '../../core/oci/referrers-tag';
import { humanSize } from '../../core/units';
import { recipientCount } from '../../core/crypt';
import { sameHost } from '../../core/util/host';
import { mapLimit } from '../../core/util/limit';
import { fetchImageManifest } from '../../core/transfer/resolve';
import { adviceForVsCode } from '../remedies';

export { humanSize };

/**
 * What the Registries tree shows, computed from the core without VS Code, so it is tested
 * against the real registry and the local store. The TreeDataProvider only renders it.
 */

export type StoreRef = { kind: 'local' } | { kind: 'registry'; host: string };

/** An entry of the `omlmd.registries` setting (package.json); the core's RegistrySettings is what the client is given per host. */
export interface RegistryEntry {
  host: string;
  plainHttp?: boolean;
  caFile?: string;
  /** PEM client certificate and its key, for registries that ask for one (mTLS). */
  certFile?: string;
  keyFile?: string;
  insecure?: boolean;
  defaultRepository?: string;
  /** Shown when the registry refuses its catalog (GHCR, GitLab, multi-tenant Harbor). */
  repositories?: string[];
}

/** The artifact a file row belongs to (for Pull This File…). */
export interface FileOwner {
  store: StoreRef;
  repository: string;
  /** The artifact's manifest digest. */
  digest: string;
}

/** A glob that matches exactly this path (pull's include), glob characters escaped. */
export function exactPathGlob(path: string): string {
  return path.replace(/[\\*?[\]{}()!+@]/g, '\\$&');
}

export interface FixAction {
  title: string;
  command: string;
  args?: unknown[];
}

export type BrowserNode =
  | { kind: 'localStore'; id: string }
  | { kind: 'registry'; id: string; host: string }
  | { kind: 'repository'; id: string; store: StoreRef; repository: string; added?: boolean }
  | { kind: 'tag'; id: string; store: StoreRef; repository: string; tag: string; created?: string }
  | { kind: 'artifact'; id: string; store: StoreRef; repository: string; tag: string; digest: string; label: string; description: string; tooltip: string; isModel: boolean; metadata?: ModelMetadata & Record<string, unknown> }
  | { kind: 'referrer'; id: string; store: StoreRef; repository: string; digest: string; artifactType?: string; label: string; description: string; tooltip: string }
  | { kind: 'file'; id: string; path: string; size: number; mediaType: string; role: string; digest: string; encrypted?: boolean; recipients?: number; owner?: FileOwner }
  | { kind: 'metadata'; id: string; store: StoreRef; repository: string; tag: string; metadata: ModelMetadata & Record<string, unknown> }
  | { kind: 'field'; id: string; key: string; value: string }
  | { kind: 'loadMore'; id: string; parent: BrowserNode; last: string }
  | { kind: 'message'; id: string; severity: 'info' | 'error'; text: string; detail?: string; fix?: FixAction };

export const PAGE_SIZE = 100;

export function storeId(store: StoreRef): string {
  return store.kind === 'local' ? 'local' : `registry:${store.host}`;
}

export function referenceFor(store: StoreRef, repository: string, tag?: string, digest?: string): Reference {
  return store.kind === 'local' ? { kind: 'local', repository, tag, digest } : { kind: 'registry', registry: store.host, repository, tag, digest };
}

export function referenceString(node: BrowserNode): string | undefined {
  switch (node.kind) {
    case 'repository':
      return formatReference(referenceFor(node.store, node.repository));
    case 'tag':
    case 'artifact':
    case 'metadata':
      return formatReference(referenceFor(node.store, node.repository, node.tag));
    case 'referrer':
      return formatReference(referenceFor(node.store, node.repository, undefined, node.digest));
    default:
      return undefined;
  }
}

/** `onnx v1`: a bare version after the format read as a count ("onnx 1 · 975 B"). */
function formatLabel(md: ModelMetadata | undefined): string {
  const v = md?.model_format_version;
  return [md?.model_format_name, v ? (/^\d/.test(v) ? `v${v}` : v) : undefined].filter(Boolean).join(' ');
}

/**
 * The metadata as rows people read: unset fields left out (no `uri —`), customProperties one
 * row each (`customProperties.accuracy 0.97`) instead of a truncated JSON object.
 */
export function metadataFields(parentId: string, metadata: Record<string, unknown>): BrowserNode[] {
  const out: BrowserNode[] = [];
  const text = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
  for (const [key, v] of Object.entries(metadata)) {
    if (v === null || v === undefined || (typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0)) continue;
    if (key === 'customProperties' && typeof v === 'object' && !Array.isArray(v)) {
      for (const [k, cv] of Object.entries(v as Record<string, unknown>)) out.push({ kind: 'field', id: `${parentId}/${key}/${k}`, key: `${key}.${k}`, value: text(cv) });
    } else out.push({ kind: 'field', id: `${parentId}/${key}`, key, value: text(v) });
  }
  return out;
}


/** An error as a tree row, with its remedies (remedies.ts) and the fix a user would reach for. */
export function errorNode(parentId: string, e: unknown, store?: StoreRef): BrowserNode {
  const err = e instanceof OmlmdError ? e : undefined;
  const text = err ? err.message : String((e as Error)?.message ?? e);
  const advice = err ? adviceForVsCode(err, store?.kind === 'registry' ? store.host : undefined) : undefined;
  let fix: FixAction = { title: l10n.t('Retry'), command: 'omlmd.refresh' };
  for (const b of advice?.buttons ?? []) {
    const a = b.action;
    if (a.kind === 'sign-in') fix = { title: b.title, command: 'omlmd.signIn', args: [a.registry] };
    else if (a.kind === 'open-settings') fix = { title: b.title, command: 'workbench.action.openSettings', args: [a.query] };
    else if (a.kind === 'set-server-token') fix = { title: b.title, command: 'omlmd.setSearchServerToken' };
    else continue;
    break;
  }
  const detail = advice && advice.texts.length > 0 ? advice.texts.join(' ') : undefined;
  return { kind: 'message', id: `${parentId}/error`, severity: 'error', text, detail, fix };
}

/** How a repository's tags are ordered: by the time they were created (newest first), or by name. */
export type TagSort = 'created' | 'name';

/** Tags whose created time is read per repository (the newest by name); the rest sort by name after them. */
export const MAX_DATED_TAGS = 200;
const DATE_CONCURRENCY = 8;
const CREATED = 'org.opencontainers.image.created';

/** "just now", "5 minutes ago", "3 days ago", "2 years ago": the age a tag row shows. */
export function ageOf(created: string, now = Date.now()): string | undefined {
  const t = Date.parse(created);
  if (Number.isNaN(t)) return undefined;
  const s = Math.max(0, Math.round((now - t) / 1000));
  // One message per unit and number: a translation may need other words than a plural -s.
  const units: [number, (n: number) => string][] = [
    [365 * 86400, (n) => (n === 1 ? l10n.t('{0} year ago', n) : l10n.t('{0} years ago', n))],
    [30 * 86400, (n) => (n === 1 ? l10n.t('{0} month ago', n) : l10n.t('{0} months ago', n))],
    [7 * 86400, (n) => (n === 1 ? l10n.t('{0} week ago', n) : l10n.t('{0} weeks ago', n))],
    [86400, (n) => (n === 1 ? l10n.t('{0} day ago', n) : l10n.t('{0} days ago', n))],
    [3600, (n) => (n === 1 ? l10n.t('{0} hour ago', n) : l10n.t('{0} hours ago', n))],
    [60, (n) => (n === 1 ? l10n.t('{0} minute ago', n) : l10n.t('{0} minutes ago', n))],
  ];
  for (const [size, say] of units) {
    const n = Math.floor(s / size);
    if (n >= 1) return say(n);
  }
  return l10n.t('just now');
}

/**
 * Created times of tags (the manifest's org.opencontainers.image.created), read in the
 * background so that expanding a repository never waits for them: the tags show at once in
 * name order, and `onLoaded` is told when the repository's times have arrived.
 */
export class TagDates {
  /** Repository node id → tag → created (null: the manifest has none, or could not be read). */
  private readonly known = new Map<string, Map<string, string | null>>();
  private readonly loading = new Map<string, Promise<void>>();
  private generation = 0;

  constructor(private readonly client: () => OmlmdClient, private readonly onLoaded: (repository: Extract<BrowserNode, { kind: 'repository' }>) => void) {}

  /** The times known for a repository, or undefined while they are not read. */
  of(repoId: string): Map<string, string | null> | undefined {
    return this.known.get(repoId);
  }

  /** Starts reading the times of `tags` (at most MAX_DATED_TAGS, the first given) unless known or under way. */
  request(node: Extract<BrowserNode, { kind: 'repository' }>, tags: string[]): void {
    if (this.known.has(node.id) || this.loading.has(node.id)) return;
    const generation = this.generation;
    const job = (async () => {
      const out = new Map<string, string | null>();
      try {
        const repo = await this.client().repository(referenceFor(node.store, node.repository));
        await mapLimit(tags.slice(0, MAX_DATED_TAGS), DATE_CONCURRENCY, async (tag) => {
          try {
            const { fetched } = await fetchImageManifest(repo, tag);
            const created = fetched.manifest.annotations?.[CREATED];
            out.set(tag, typeof created === 'string' && !Number.isNaN(Date.parse(created)) ? created : null);
          } catch {
            out.set(tag, null);
          }
        });
      } catch {
        // the repository could not be opened: the tags stay in name order
      }
      if (generation !== this.generation) return;
      this.known.set(node.id, out);
      this.onLoaded(node);
    })().finally(() => this.loading.delete(node.id));
    this.loading.set(node.id, job);
  }

  /** Waits for the reads under way (tests). */
  async settled(): Promise<void> {
    await Promise.all([...this.loading.values()]);
  }

  /** Forgets every time (a refresh: tags may have moved). */
  clear(): void {
    this.generation++;
    this.known.clear();
    this.loading.clear();
  }
}

/** Orders tags: newest created first (tags without a time after them, by name), or by name, version-like tags descending. */
export function sortTags(tags: string[], sort: TagSort, dates?: Map<string, string | null>): string[] {
  const byName = (a: string, b: string) => b.localeCompare(a, undefined, { numeric: true });
  if (sort === 'name' || !dates) return [...tags].sort(byName);
  const time = (t: string): number => {
    const c = dates.get(t);
    return c ? Date.parse(c) : NaN;
  };
  return [...tags].sort((a, b) => {
    const ta = time(a);
    const tb = time(b);
    if (Number.isNaN(ta) !== Number.isNaN(tb)) return Number.isNaN(ta) ? 1 : -1;
    if (!Number.isNaN(ta) && ta !== tb) return tb - ta;
    return byName(a, b);
  });
}

export class RegistryBrowser {
  /** Set by the tree: created times read in the background, and the order the user chose. */
  dates?: TagDates;
  tagSort: () => TagSort = () => 'name';

  constructor(
    private readonly client: () => OmlmdClient,
    private readonly registries: () => RegistryEntry[],
    private readonly pageSize = PAGE_SIZE,
    /** Signature states, when the tree shows them (computed lazily, cached by digest). */
    private readonly signatures?: SignatureStates,
  ) {}

  roots(): BrowserNode[] {
    return [
      { kind: 'localStore', id: 'local' },
      ...this.registries().map((r): BrowserNode => ({ kind: 'registry', id: `registry:${r.host}`, host: r.host })),
    ];
  }

  async children(node?: BrowserNode, signal?: AbortSignal): Promise<BrowserNode[]> {
    if (!node) return this.roots();
    try {
      switch (node.kind) {
        case 'localStore':
          return await this.repositories({ kind: 'local' }, node.id, undefined, signal);
        case 'registry':
          return await this.repositories({ kind: 'registry', host: node.host }, node.id, undefined, signal);
        case 'loadMore': {
          const parent = node.parent;
          const store: StoreRef = parent.kind === 'registry' ? { kind: 'registry', host: parent.host } : { kind: 'local' };
          return await this.repositories(store, parent.id, node.last, signal);
        }
        case 'repository':
          return await this.tags(node, signal);
        case 'tag':
          return [await this.artifact(node, signal)];
        case 'artifact':
          return await this.artifactChildren(node, signal);
        case 'referrer':
          return await this.referrerChildren(node, signal);
        case 'metadata':
          return metadataFields(node.id, node.metadata);
        default:
          return [];
      }
    } catch (e) {
      if (OmlmdError.is(e, 'CANCELLED')) return [];
      return [errorNode(node.id, e, 'store' in node ? node.store : node.kind === 'registry' ? { kind: 'registry', host: node.host } : undefined)];
    }
  }

  /** One page of repositories; the catalog refused means the repositories the user added. */
  private async repositories(store: StoreRef, parentId: string, last: string | undefined, signal?: AbortSignal): Promise<BrowserNode[]> {
    const settings = store.kind === 'registry' ? this.registries().find((r) => sameHost(r.host, store.host)) : undefined;
    const added = (settings?.repositories ?? []).map((repository): BrowserNode => ({ kind: 'repository', id: `${parentId}/${repository}`, store, repository, added: true }));
    let page;
    try {
      page = await this.client().repositories(store.kind === 'local' ? 'local' : store.host, { signal, last, n: this.pageSize });
    } catch (e) {
      if (store.kind === 'registry' && OmlmdError.is(e, 'UNAUTHORIZED', 'DENIED', 'NOT_FOUND', 'NAME_UNKNOWN', 'UNSUPPORTED', 'HTTP')) {
        // Registries such as GHCR and GitLab refuse the catalog: show what the user added and how to add more.
        const why = e instanceof OmlmdError ? e.message : String(e);
        return [
          ...added,
          { kind: 'message', id: `${parentId}/nocatalog`, severity: 'info', text: l10n.t('The registry does not list its repositories ({0})', why), fix: { title: l10n.t('Add repository…'), command: 'omlmd.addRepository', args: [store.host] } },
          ...(OmlmdError.is(e, 'UNAUTHORIZED', 'DENIED') ? [{ kind: 'message', id: `${parentId}/signin`, severity: 'info', text: l10n.t('Sign in to see private repositories'), fix: { title: l10n.t('Sign in…'), command: 'omlmd.signIn', args: [store.host] } } as BrowserNode] : []),
        ];
      }
      throw e;
    }
    const listed = page.repositories.map((repository): BrowserNode => ({ kind: 'repository', id: `${parentId}/${repository}`, store, repository }));
    const known = new Set(page.repositories);
    const out = last ? listed : [...listed, ...added.filter((a) => a.kind === 'repository' && !known.has(a.repository))];
    if (page.next) {
      const parent: BrowserNode = store.kind === 'local' ? { kind: 'localStore', id: 'local' } : { kind: 'registry', id: `registry:${store.host}`, host: store.host };
      out.push({ kind: 'loadMore', id: `${parentId}/more:${page.next}`, parent, last: page.next });
    }
    if (out.length === 0 && !last) {
      out.push({ kind: 'message', id: `${parentId}/empty`, severity: 'info', text: store.kind === 'local' ? l10n.t('No models yet') : l10n.t('No repositories'), fix: { title: l10n.t('Push Model…'), command: 'omlmd.pushModel' } });
    }
    return out;
  }

  private async tags(node: Extract<BrowserNode, { kind: 'repository' }>, signal?: AbortSignal): Promise<BrowserNode[]> {
    // `sha256-<hex>` tags hold referrers lists (the tag schema): their artifacts show under the artifact they refer to.
    const tags = (await this.client().tags(referenceFor(node.store, node.repository), { signal })).filter((t) => !isReferrersTag(t));
    if (tags.length === 0) return [{ kind: 'message', id: `${node.id}/empty`, severity: 'info', text: l10n.t('No tags') }];
    // Newest-looking first by name (version-like tags descending) until the created times arrive.
    const byName = sortTags(tags, 'name');
    const dates = this.dates?.of(node.id);
    if (this.dates && !dates) this.dates.request(node, byName);
    const sorted = sortTags(tags, this.tagSort(), dates);
    return sorted.map((tag): BrowserNode => {
      const created = dates?.get(tag) ?? undefined;
      return { kind: 'tag', id: `${node.id}:${tag}`, store: node.store, repository: node.repository, tag, ...(created ? { created } : {}) };
    });
  }

  async artifact(node: Extract<BrowserNode, { kind: 'tag' }>, signal?: AbortSignal): Promise<BrowserNode> {
    const info = await this.client().inspect(referenceFor(node.store, node.repository, node.tag), { signal });
    const md = info.metadata;
    const isModel = info.view.flavor !== 'other';
    const label = md?.name || (isModel ? `${node.repository}:${node.tag}` : info.view.artifactType ?? l10n.t('artifact'));
    const fmt = formatLabel(md);
    const size = info.manifest.layers.reduce((n, l) => n + l.size, 0);
    const description = [fmt, humanSize(size), info.descriptor.digest.slice(7, 19)].filter(Boolean).join(' · ');
    // Everything but our own words is registry text: escaped, so no link, image or emphasis shows (plainText.ts).
    const lines = [`**${mdText(label)}**`, '', mdText(formatReference(referenceFor(node.store, node.repository, node.tag))), '', l10n.t('Digest: {0}', mdText(info.descriptor.digest))];
    if (md) {
      for (const [k, v] of Object.entries(md)) if (v !== null && v !== undefined && !(typeof v === 'object' && Object.keys(v).length === 0)) lines.push(`- ${mdText(k)}: ${mdText(typeof v === 'string' ? v : JSON.stringify(v))}`);
    }
    if (info.view.metadataOnly) lines.push('', l10n.t('Metadata only: the model lives at its `uri`.'));
    let shown = description;
    if (this.signatures && isModel) {
      // From the manifest and the bundle only; a failure to look is left out, never shown as "unsigned".
      const state = await this.signatures.state(formatReference(referenceFor(node.store, node.repository, undefined, info.descriptor.digest)), info.descriptor.digest, signal).catch(() => undefined);
      if (state) {
        const d = describeState(state);
        shown = [description, d.label].filter(Boolean).join(' · ');
        lines.push('', mdText(d.detail));
      }
    }
    return { kind: 'artifact', id: `${node.id}/artifact`, store: node.store, repository: node.repository, tag: node.tag, digest: info.descriptor.digest, label, description: shown, tooltip: lines.join('\n'), isModel, metadata: md };
  }

  private async artifactChildren(node: Extract<BrowserNode, { kind: 'artifact' }>, signal?: AbortSignal): Promise<BrowserNode[]> {
    const info = await this.client().inspect(referenceFor(node.store, node.repository, undefined, node.digest), { signal });
    const files: BrowserNode[] = info.view.files
      .filter((f) => f.role !== 'metadata')
      .map((f) => ({ kind: 'file', id: `${node.id}/file:${f.path}`, path: f.path, size: f.descriptor.size, mediaType: f.descriptor.mediaType, role: f.role, digest: f.descriptor.digest, ...(f.encrypted ? { encrypted: true, recipients: recipientCount(f.descriptor) } : {}), owner: { store: node.store, repository: node.repository, digest: info.descriptor.digest } }));
    if (info.metadata) files.push({ kind: 'metadata', id: `${node.id}/metadata`, store: node.store, repository: node.repository, tag: node.tag, metadata: info.metadata });
    if (files.length === 0) files.push({ kind: 'message', id: `${node.id}/nofiles`, severity: 'info', text: l10n.t('No files') });
    return [...files, ...(await this.referrers(node, info.descriptor.digest, signal))];
  }

  /** What refers to an artifact (ModelCar images, model cards, SBOMs), one node each; a failure to list them is a row, not a failed node. */
  private async referrers(parent: { id: string; store: StoreRef; repository: string }, digest: string, signal?: AbortSignal): Promise<BrowserNode[]> {
    try {
      const { referrers } = await discover(this.client(), referenceFor(parent.store, parent.repository, undefined, digest), { signal });
      return referrers.map((r) => referrerNode(parent, r));
    } catch (e) {
      if (OmlmdError.is(e, 'CANCELLED')) return [];
      const err = errorNode(`${parent.id}/referrers`, e, parent.store);
      return [{ ...err, text: l10n.t('Cannot list referrers: {0}', (err as { text: string }).text) } as BrowserNode];
    }
  }

  private async referrerChildren(node: Extract<BrowserNode, { kind: 'referrer' }>, signal?: AbortSignal): Promise<BrowserNode[]> {
    const info = await this.client().inspect(referenceFor(node.store, node.repository, undefined, node.digest), { signal });
    const files: BrowserNode[] = info.view.files
      .filter((f) => f.titled)
      .map((f) => ({ kind: 'file', id: `${node.id}/file:${f.path}`, path: f.path, size: f.descriptor.size, mediaType: f.descriptor.mediaType, role: f.role, digest: f.descriptor.digest, ...(f.encrypted ? { encrypted: true, recipients: recipientCount(f.descriptor) } : {}), owner: { store: node.store, repository: node.repository, digest: info.descriptor.digest } }));
    if (files.length === 0 && info.view.files.length > 0) {
      const size = info.manifest.layers.reduce((n, l) => n + l.size, 0);
      files.push({ kind: 'message', id: `${node.id}/layers`, severity: 'info', text: info.manifest.layers.length === 1 ? l10n.t('{0} layer, {1}', 1, humanSize(size)) : l10n.t('{0} layers, {1}', info.manifest.layers.length, humanSize(size)) });
    }
    return [...files, ...(await this.referrers(node, node.digest, signal))];
  }
}

/** The chain of nodes from a root to a tag, with the ids the browser gives them (for reveal). */
export function nodesForTag(store: StoreRef, repository: string, tag: string): { root: BrowserNode; repository: BrowserNode; tag: BrowserNode } {
  const root: BrowserNode = store.kind === 'local' ? { kind: 'localStore', id: 'local' } : { kind: 'registry', id: `registry:${store.host}`, host: store.host };
  const repo: BrowserNode = { kind: 'repository', id: `${root.id}/${repository}`, store, repository };
  return { root, repository: repo, tag: { kind: 'tag', id: `${repo.id}:${tag}`, store, repository, tag } };
}

const KNOWN_TYPES: Record<string, string> = {
  [MODELCAR_ARTIFACT_TYPE]: l10n.t('ModelCar image'),
  [MODEL_CARD_ARTIFACT_TYPE]: l10n.t('Model card'),
  [ATTACHMENT_ARTIFACT_TYPE]: l10n.t('Attachment'),
  'application/spdx+json': l10n.t('SBOM (SPDX)'),
  'application/vnd.cyclonedx+json': l10n.t('SBOM (CycloneDX)'),
  'application/vnd.dev.sigstore.bundle.v0.3+json': l10n.t('Signature (Sigstore)'),
  'application/vnd.in-toto+json': l10n.t('Attestation (in-toto)'),
};

/** A referrer as a tree row: what it is (by artifact type), when, and its digest. */
export function referrerNode(parent: { id: string; store: StoreRef; repository: string }, r: ReferrerNode): Extract<BrowserNode, { kind: 'referrer' }> {
  const type = r.artifactType ?? r.mediaType;
  const ann = r.annotations ?? {};
  const predicate = ann['dev.sigstore.bundle.predicateType'];
  // A bundle is a model signature or an attestation: which one, by its predicate type.
  const label = type === BUNDLE_MEDIA_TYPE && predicate && predicate !== MODEL_SIGNATURE_PREDICATE ? l10n.t('Attestation ({0})', predicate) : (KNOWN_TYPES[type] ?? type);
  const created = ann['org.opencontainers.image.created'];
  const description = [created?.slice(0, 10), r.digest.slice(7, 19)].filter(Boolean).join(' · ');
  const lines = [`**${mdText(label)}**`, '', l10n.t('Artifact type: {0}', mdText(type)), l10n.t('Digest: {0}', mdText(r.digest))];
  for (const [k, v] of Object.entries(ann)) if (k !== 'dev.omlmd.model.metadata') lines.push(`- ${mdText(k)}: ${mdText(v)}`);
  return { kind: 'referrer', id: `${parent.id}/ref:${r.digest}`, store: parent.store, repository: parent.repository, digest: r.digest, artifactType: r.artifactType, label, description, tooltip: lines.join('\n') };
}

/** A file row's description: its size, and for an encrypted file how many recipients it is encrypted for. */
export function fileDescription(n: Extract<BrowserNode, { kind: 'file' }>): string {
  if (!n.encrypted) return humanSize(n.size);
  const r = n.recipients ?? 0;
  return `${humanSize(n.size)} · ${r === 0 ? l10n.t('encrypted') : r === 1 ? l10n.t('encrypted for {0} recipient', r) : l10n.t('encrypted for {0} recipients', r)}`;
}
