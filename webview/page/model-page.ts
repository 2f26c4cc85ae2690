// <omlmd-model-page>: a model's page. It holds what the host posted (webview/pageProtocol.ts),
// renders it with Lit text bindings only (nothing from a registry becomes markup, a link or an
// attribute that runs anything), draws the versions chart on a canvas, and asks the host for
// the rest: the actions (the extension runs its commands), opening a lineage node or a tag,
// the compare view between two tags, the model's http(s) uri.

import { html, nothing, type PropertyValues, type TemplateResult } from 'lit';
import { LightElement } from '../components/base';
import { isIpcMessage, isMessage, messageFactory, type IpcMessage } from '../protocol';
import {
  ActionNotification, CompareRequest, CompareResultNotification, HeadersNotification, LineageNotification, ModelCardNotification, OpenNodeNotification, OpenUriNotification,
  PageErrorNotification, PageInitNotification, PageReadyNotification, SignatureNotification, VersionsNotification,
  type CompareResultParams, type HeadersParams, type LineageNode, type LineageParams, type ModelCardParams, type ModelPageParams, type PageAction, type SignatureParams, type VersionPoint, type VersionsParams,
} from '../pageProtocol';
import { VersionsChart } from './chart';
import { l10n, setBundle } from '../l10n';

export interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

/** What the page keeps across a rebuild of the panel (the host resends the data itself). */
interface SavedState {
  session: string;
  metric?: string;
  a?: string;
  b?: string;
}

/** The action buttons; a function, so the labels are read when rendered (after the init message's bundle). */
const actions = (): { action: PageAction; label: string; icon: string; models?: boolean; secondary?: boolean }[] => [
  { action: 'pull', label: l10n.t('Pull…'), icon: 'cloud-download' },
  { action: 'editMetadata', label: l10n.t('Edit Metadata…'), icon: 'edit', models: true, secondary: true },
  { action: 'copyReference', label: l10n.t('Copy Reference'), icon: 'copy', secondary: true },
  { action: 'buildModelCar', label: l10n.t('Build ModelCar…'), icon: 'vm', secondary: true },
  { action: 'signModel', label: l10n.t('Sign…'), icon: 'shield', models: true, secondary: true },
  { action: 'verifyModel', label: l10n.t('Verify'), icon: 'verified', models: true, secondary: true },
  { action: 'attachFile', label: l10n.t('Attach File…'), icon: 'link', secondary: true },
  { action: 'inspectManifest', label: l10n.t('Manifest'), icon: 'json', secondary: true },
  { action: 'refresh', label: l10n.t('Refresh'), icon: 'refresh', secondary: true },
];

/** A compare row's change, as the page shows it. */
function changeLabel(change: 'added' | 'removed' | 'changed' | 'same'): string {
  switch (change) {
    case 'added':
      return l10n.t('added');
    case 'removed':
      return l10n.t('removed');
    case 'changed':
      return l10n.t('changed');
    case 'same':
      return l10n.t('same');
  }
}

const short = (digest: string): string => digest.replace(/^sha256:/, '').slice(0, 12);
const day = (iso: string | undefined): string => (iso ? iso.replace('T', ' ').replace(/(\.\d+)?Z$/, ' UTC') : '');

export class OmlmdModelPage extends LightElement {
  static override properties = {
    page: { state: true },
    versions: { state: true },
    lineage: { state: true },
    card: { state: true },
    headers: { state: true },
    signature: { state: true },
    compare: { state: true },
    comparing: { state: true },
    metric: { state: true },
    a: { state: true },
    b: { state: true },
    error: { state: true },
  };

  declare page: ModelPageParams | undefined;
  declare versions: VersionsParams | undefined;
  declare lineage: LineageParams | undefined;
  declare card: ModelCardParams | undefined;
  declare headers: HeadersParams | undefined;
  declare signature: SignatureParams | undefined;
  declare compare: CompareResultParams | undefined;
  declare comparing: string | undefined;
  declare metric: string | undefined;
  declare a: string | undefined;
  declare b: string | undefined;
  declare error: string | undefined;

  private readonly make = messageFactory('webview');
  private chart?: VersionsChart;
  private chartCanvas?: HTMLCanvasElement;

  constructor(private readonly vscode: VsCodeApi) {
    super();
    this.page = undefined;
    this.versions = undefined;
    this.lineage = undefined;
    this.card = undefined;
    this.headers = undefined;
    this.signature = undefined;
    this.compare = undefined;
    this.comparing = undefined;
    this.metric = undefined;
    this.a = undefined;
    this.b = undefined;
    this.error = undefined;
  }

  start(): void {
    this.post(PageReadyNotification, {});
  }

  override connectedCallback(): void {
    super.connectedCallback();
    window.addEventListener('message', this.onMessage);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    window.removeEventListener('message', this.onMessage);
    this.chart?.destroy();
  }

  private post<T extends Parameters<typeof this.make>[0]>(type: T, params: T['params']): IpcMessage {
    const msg = this.make(type, params);
    this.vscode.postMessage(msg);
    return msg;
  }

  private save(): void {
    if (!this.page) return;
    const s: SavedState = { session: this.page.session, metric: this.metric, a: this.a, b: this.b };
    this.vscode.setState(s);
  }

  private saved(): SavedState | undefined {
    const s = this.vscode.getState() as SavedState | undefined;
    return s && typeof s === 'object' && this.page && s.session === this.page.session ? s : undefined;
  }

  private readonly onMessage = (ev: MessageEvent): void => {
    const msg: unknown = ev.data;
    if (!isIpcMessage(msg)) return;
    if (isMessage(msg, PageInitNotification)) {
      setBundle(msg.params.l10n);
      this.page = msg.params;
      this.error = undefined;
      const s = this.saved();
      if (s) ({ metric: this.metric, a: this.a, b: this.b } = s);
    } else if (isMessage(msg, VersionsNotification)) {
      this.versions = msg.params;
      const names = this.metricNames();
      if (!this.metric || !names.includes(this.metric)) this.metric = msg.params.defaultMetric;
      const tags = msg.params.versions.map((v) => v.tag);
      if (!this.b || !tags.includes(this.b)) this.b = this.page?.tag && tags.includes(this.page.tag) ? this.page.tag : tags.at(-1);
      if (!this.a || !tags.includes(this.a)) {
        const i = this.b ? tags.indexOf(this.b) : -1;
        this.a = tags[i > 0 ? i - 1 : tags.length > 1 ? tags.length - 2 : 0];
      }
    } else if (isMessage(msg, LineageNotification)) {
      this.lineage = msg.params;
    } else if (isMessage(msg, ModelCardNotification)) {
      this.card = msg.params;
    } else if (isMessage(msg, HeadersNotification)) {
      this.headers = msg.params;
    } else if (isMessage(msg, SignatureNotification)) {
      this.signature = msg.params;
    } else if (isMessage(msg, CompareResultNotification)) {
      if (msg.completionId === this.comparing) this.comparing = undefined;
      this.compare = msg.params;
    } else if (isMessage(msg, PageErrorNotification)) {
      this.error = msg.params.message;
    }
  };

  private metricNames(): string[] {
    const names = new Set<string>();
    for (const v of this.versions?.versions ?? []) for (const k of Object.keys(v.metrics)) names.add(k);
    return [...names].sort((x, y) => (x === 'accuracy' ? -1 : y === 'accuracy' ? 1 : x.localeCompare(y)));
  }

  private act(action: PageAction): void {
    this.post(ActionNotification, { action });
  }

  private runCompare(): void {
    if (!this.a || !this.b) return;
    this.comparing = this.post(CompareRequest, { a: this.a, b: this.b }).id;
  }

  // ---------------------------------------------------------------- rendering

  protected override render(): unknown {
    if (this.error && !this.page) {
      return html`<main class="page"><div class="banner" role="alert"><ul><li>${this.error}</li></ul></div></main>`;
    }
    const p = this.page;
    if (!p) return html`<main class="page"><p class="loading" aria-busy="true">${l10n.t('Loading the model page…')}</p></main>`;
    return html`<main class="page" id="model-page">
      ${this.renderHeader(p)}
      ${this.error ? html`<div class="banner" role="alert"><ul><li>${this.error}</li></ul></div>` : nothing}
      ${this.renderMetadata(p)} ${this.renderFiles(p)} ${this.renderLineage(p)} ${this.renderCard()} ${this.renderVersions()} ${this.renderCompare()}
      ${p.annotations.length ? html`<section aria-labelledby="h-annotations"><h2 id="h-annotations">${l10n.t('Annotations')}</h2>${this.kvTable('annotations', l10n.t('Annotation'), p.annotations)}</section>` : nothing}
    </main>`;
  }

  private renderHeader(p: ModelPageParams): TemplateResult {
    const s = this.signature?.state;
    return html`<header class="page-header">
      <h1 id="title">${p.name}</h1>
      ${p.description ? html`<p class="description" id="description">${p.description}</p>` : nothing}
      <ul class="badges" aria-label=${l10n.t('Formats')}>
        ${p.formats.map((f) => html`<li class="badge">${f}</li>`)}
        ${p.metadataOnly ? html`<li class="badge">${l10n.t('metadata only')}</li>` : nothing}
      </ul>
      <dl class="facts">
        <dt>${l10n.t('Reference')}</dt>
        <dd><code id="reference">${p.reference}</code><button class="icon-button" id="copy-reference" aria-label=${l10n.t('Copy reference')} title=${l10n.t('Copy reference')} @click=${() => this.act('copyReference')}><vscode-icon name="copy"></vscode-icon></button></dd>
        <dt>${l10n.t('Digest')}</dt>
        <dd><code id="digest">${p.digest}</code><button class="icon-button" id="copy-digest" aria-label=${l10n.t('Copy digest')} title=${l10n.t('Copy digest')} @click=${() => this.act('copyDigest')}><vscode-icon name="copy"></vscode-icon></button></dd>
        <dt>${l10n.t('Size')}</dt>
        <dd id="size">${p.sizeText}</dd>
        ${p.created ? html`<dt>${l10n.t('Created')}</dt><dd id="created">${day(p.created)}</dd>` : nothing}
        ${p.author ? html`<dt>${l10n.t('Author')}</dt><dd id="author">${p.author}</dd>` : nothing}
        ${p.isModel ? html`<dt>${l10n.t('Signature')}</dt><dd id="signature" class="sig sig-${s?.kind ?? 'pending'}" title=${s?.detail ?? ''}>${s ? `${s.label}: ${s.detail}` : this.signature?.problem ? l10n.t('not known: {0}', this.signature.problem) : l10n.t('checking…')}</dd>` : nothing}
      </dl>
      ${p.warnings.length ? html`<div class="file-warnings" role="alert"><ul>${p.warnings.map((w) => html`<li>${w}</li>`)}</ul></div>` : nothing}
      <div class="page-actions" role="toolbar" aria-label=${l10n.t('Actions')}>
        ${actions().filter((a) => !a.models || p.isModel).map((a) => html`<vscode-button id=${`action-${a.action}`} icon=${a.icon} ?secondary=${a.secondary === true} @click=${() => this.act(a.action)}>${a.label}</vscode-button>`)}
      </div>
    </header>`;
  }

  private kvTable(id: string, keyLabel: string, rows: { key: string; text: string }[]): TemplateResult {
    return html`<table class="grid" id=${id}>
      <thead><tr><th scope="col">${keyLabel}</th><th scope="col">${l10n.t('Value')}</th></tr></thead>
      <tbody>${rows.map((r) => html`<tr><th scope="row">${r.key}</th><td class="value">${r.text}</td></tr>`)}</tbody>
    </table>`;
  }

  private renderMetadata(p: ModelPageParams): TemplateResult {
    const rows = p.fields;
    return html`<section aria-labelledby="h-metadata">
      <h2 id="h-metadata">${l10n.t('Metadata')}</h2>
      <dl class="facts">
        <dt>${l10n.t('Model URI')}</dt>
        <dd id="uri">${p.uri ? (p.uriOpenable ? html`<button class="link" id="open-uri" @click=${() => this.post(OpenUriNotification, {})}>${p.uri}</button>` : html`<span>${p.uri}</span>`) : html`<span class="muted">${l10n.t('not set: the files are in the artifact')}</span>`}</dd>
      </dl>
      ${rows.length ? this.kvTable('fields', l10n.t('Field'), rows) : nothing}
      <h3 id="h-properties">${l10n.t('Custom properties')}</h3>
      ${p.properties.length
        ? html`<table class="grid" id="properties" aria-labelledby="h-properties">
            <thead><tr><th scope="col">${l10n.t('Property')}</th><th scope="col">${l10n.t('Type')}</th><th scope="col">${l10n.t('Value')}</th></tr></thead>
            <tbody>${p.properties.map((r) => html`<tr><th scope="row">${r.key}</th><td class="type">${r.type}</td><td class=${`value value-${r.type}`}>${r.text}</td></tr>`)}</tbody>
          </table>`
        : html`<p class="muted">${l10n.t('None')}</p>`}
    </section>`;
  }

  private renderFiles(p: ModelPageParams): TemplateResult {
    const byPath = new Map((this.headers?.files ?? []).map((f) => [f.path, f]));
    return html`<section aria-labelledby="h-files">
      <h2 id="h-files">${l10n.t('Files')}</h2>
      ${p.files.length === 0
        ? html`<p class="muted">${p.metadataOnly ? l10n.t('No files: the model lives at its URI.') : l10n.t('No files')}</p>`
        : html`<table class="grid" id="files">
            <thead><tr><th scope="col">${l10n.t('File')}</th><th scope="col">${l10n.t('Role')}</th><th scope="col" class="num">${l10n.t('Size')}</th><th scope="col">${l10n.t('Digest')}</th><th scope="col">${l10n.t('Header')}</th></tr></thead>
            <tbody>
              ${p.files.map((f) => {
                const h = byPath.get(f.path);
                return html`<tr>
                  <th scope="row" class="path">${f.path}</th>
                  <td>${f.encrypted ? l10n.t('{0} (encrypted)', f.role) : f.role}</td>
                  <td class="num">${f.sizeText}</td>
                  <td><code title=${f.digest}>${short(f.digest)}</code></td>
                  <td class="header-cell">${h?.header ?? (this.headers ? '' : '…')}${h?.warnings?.length ? html`<ul class="warn">${h.warnings.map((w) => html`<li>${w}</li>`)}</ul>` : nothing}</td>
                </tr>`;
              })}
            </tbody>
          </table>`}
    </section>`;
  }

  private lineageItems(nodes: LineageNode[]): TemplateResult {
    return html`<ul>
      ${nodes.map((n) => html`<li>
        <button class=${`node node-${n.kind}`} data-digest=${n.digest} @click=${() => this.post(OpenNodeNotification, { digest: n.digest })}>
          <span class="node-label">${n.label}</span><span class="node-detail">${[n.created ? n.created.slice(0, 10) : '', short(n.digest)].filter(Boolean).join(' · ')}</span>
        </button>
        ${n.children.length ? this.lineageItems(n.children) : nothing}
      </li>`)}
    </ul>`;
  }

  private renderLineage(p: ModelPageParams): TemplateResult {
    const l = this.lineage;
    return html`<section aria-labelledby="h-lineage">
      <h2 id="h-lineage">${l10n.t('Lineage')}</h2>
      ${!l
        ? html`<p class="muted">${l10n.t('Reading what refers to this model…')}</p>`
        : html`${l.problem ? html`<p class="note">${l10n.t('Cannot list referrers: {0}', l.problem)}</p>` : nothing}
            <div class="graph" id="lineage" role="group" aria-labelledby="h-lineage">
              <ul>
                <li>
                  <span class="node node-model" aria-current="page"><span class="node-label">${p.name}</span><span class="node-detail">${l10n.t('this model · {0}', short(p.digest))}</span></span>
                  ${l.nodes.length ? this.lineageItems(l.nodes) : nothing}
                </li>
              </ul>
            </div>
            ${l.nodes.length === 0 && !l.problem ? html`<p class="muted">${l10n.t('Nothing refers to this model yet: no ModelCar image, signature, attestation or attached file.')}</p>` : nothing}`}
    </section>`;
  }

  private renderCard(): TemplateResult | typeof nothing {
    if (!this.card) return nothing;
    return html`<section aria-labelledby="h-card">
      <h2 id="h-card">${l10n.t('Model card')}</h2>
      <pre class="card" id="model-card" tabindex="0" aria-labelledby="h-card">${this.card.text}</pre>
      ${this.card.truncated ? html`<p class="note">${l10n.t('The card is longer: only its start is shown.')}</p>` : nothing}
    </section>`;
  }

  private points(): { tag: string; created?: string; value: number | null }[] {
    const m = this.metric;
    return (this.versions?.versions ?? []).map((v: VersionPoint) => ({ tag: v.tag, created: v.created, value: m !== undefined && typeof v.metrics[m] === 'number' ? v.metrics[m]! : null }));
  }

  private chartLabel(): string {
    const pts = this.points().filter((p) => p.value !== null);
    if (!this.metric || pts.length === 0) return l10n.t('No values to chart');
    const first = pts[0]!;
    const last = pts.at(-1)!;
    return pts.length === 1
      ? l10n.t('{0} across 1 tag, from {1} ({2}) to {3} ({4}); the table below has every value', this.metric, String(first.value), first.tag, String(last.value), last.tag)
      : l10n.t('{0} across {1} tags, from {2} ({3}) to {4} ({5}); the table below has every value', this.metric, pts.length, String(first.value), first.tag, String(last.value), last.tag);
  }

  private renderVersions(): TemplateResult {
    const v = this.versions;
    if (!v) return html`<section aria-labelledby="h-versions"><h2 id="h-versions">${l10n.t('Versions')}</h2><p class="muted">${l10n.t("Reading the repository's tags…")}</p></section>`;
    const names = this.metricNames();
    const pts = this.points();
    return html`<section aria-labelledby="h-versions" id="versions">
      <h2 id="h-versions">${l10n.t('Versions')}</h2>
      <p class="muted" id="versions-note">${v.readTags < v.totalTags
        ? l10n.t('The {0} newest tags (by name) of {1}, in the order they were created.', v.readTags, v.totalTags)
        : v.versions.length === 1
          ? l10n.t('1 tag, in the order they were created.')
          : l10n.t('{0} tags, in the order they were created.', v.versions.length)}${v.problems.length ? ` ${l10n.t('{0} not shown ({1}).', v.problems.length, `${v.problems.slice(0, 3).map((x) => `${x.tag}: ${x.message}`).join('; ')}${v.problems.length > 3 ? '; …' : ''}`)}` : ''}</p>
      ${names.length
        ? html`<div class="row">
            <label for="metric">${l10n.t('Metric')}</label>
            <select id="metric" .value=${this.metric ?? ''} @change=${(e: Event) => { this.metric = (e.target as HTMLSelectElement).value; this.save(); }}>
              ${names.map((n) => html`<option value=${n} ?selected=${n === this.metric}>${n}</option>`)}
            </select>
          </div>
          <div class="chart-box"><canvas id="versions-chart" role="img" aria-label=${this.chartLabel()}></canvas></div>`
        : html`<p class="muted">${l10n.t('No numeric custom property to chart (for example accuracy).')}</p>`}
      <table class="grid" id="versions-table">
        <caption>${this.metric ? l10n.t('{0} by tag, oldest first', this.metric) : l10n.t('Tags, oldest first')}</caption>
        <thead><tr><th scope="col">${l10n.t('Tag')}</th><th scope="col">${l10n.t('Created')}</th>${this.metric ? html`<th scope="col" class="num">${this.metric}</th>` : nothing}</tr></thead>
        <tbody>
          ${pts.map((pt) => html`<tr class=${pt.tag === this.page?.tag ? 'current' : ''}>
            <th scope="row"><button class="link tag-link" @click=${() => this.post(OpenNodeNotification, { tag: pt.tag })} aria-label=${l10n.t('Open the page of {0}', pt.tag)}>${pt.tag}</button></th>
            <td>${day(pt.created)}</td>
            ${this.metric ? html`<td class="num">${pt.value === null ? '—' : String(pt.value)}</td>` : nothing}
          </tr>`)}
        </tbody>
      </table>
    </section>`;
  }

  private renderCompare(): TemplateResult | typeof nothing {
    const v = this.versions;
    if (!v || v.versions.length < 2) return nothing;
    const tags = v.versions.map((x) => x.tag);
    const c = this.compare;
    const sel = (id: string, label: string, value: string | undefined, set: (t: string) => void) => html`<label for=${id}>${label}</label>
      <select id=${id} .value=${value ?? ''} @change=${(e: Event) => { set((e.target as HTMLSelectElement).value); this.save(); }}>
        ${tags.map((t) => html`<option value=${t} ?selected=${t === value}>${t}</option>`)}
      </select>`;
    return html`<section aria-labelledby="h-compare" id="compare">
      <h2 id="h-compare">${l10n.t('Compare')}</h2>
      <div class="row">
        ${sel('compare-a', l10n.t('From'), this.a, (t) => (this.a = t))} ${sel('compare-b', l10n.t('To'), this.b, (t) => (this.b = t))}
        <vscode-button id="compare-run" icon="git-compare" ?disabled=${!!this.comparing || !this.a || !this.b} @click=${() => this.runCompare()}>${l10n.t('Compare')}</vscode-button>
      </div>
      <div id="compare-result" aria-live="polite">
        ${this.comparing ? html`<p class="muted">${l10n.t('Comparing…')}</p>` : nothing}
        ${c && !this.comparing
          ? c.error
            ? html`<p class="note">${c.error}</p>`
            : html`<p class="muted">${c.digestA === c.digestB ? l10n.t('{0} ({1}) → {2} ({3}): the same artifact', c.a, short(c.digestA ?? ''), c.b, short(c.digestB ?? '')) : l10n.t('{0} ({1}) → {2} ({3})', c.a, short(c.digestA ?? ''), c.b, short(c.digestB ?? ''))}</p>
                <h3 id="h-compare-fields">${l10n.t('Metadata')}</h3>
                ${c.fields.length
                  ? html`<table class="grid" id="compare-fields" aria-labelledby="h-compare-fields">
                      <thead><tr><th scope="col">${l10n.t('Field')}</th><th scope="col">${l10n.t('Change')}</th><th scope="col">${c.a}</th><th scope="col">${c.b}</th></tr></thead>
                      <tbody>${c.fields.map((f) => html`<tr class=${`change-${f.change}`}><th scope="row">${f.key}</th><td>${changeLabel(f.change)}</td><td class="value">${f.a ?? ''}</td><td class="value">${f.b ?? ''}</td></tr>`)}</tbody>
                    </table>`
                  : html`<p class="muted">${l10n.t('The same metadata.')}</p>`}
                <h3 id="h-compare-files">${l10n.t('Files')}</h3>
                <table class="grid" id="compare-files" aria-labelledby="h-compare-files">
                  <thead><tr><th scope="col">${l10n.t('File')}</th><th scope="col">${l10n.t('Change')}</th><th scope="col">${c.a}</th><th scope="col">${c.b}</th></tr></thead>
                  <tbody>${c.files.map((f) => html`<tr class=${`change-${f.change}`}><th scope="row">${f.path}</th><td>${changeLabel(f.change)}</td><td>${f.a ? `${f.a.sizeText} · ${short(f.a.digest)}` : ''}</td><td>${f.b ? `${f.b.sizeText} · ${short(f.b.digest)}` : ''}</td></tr>`)}</tbody>
                </table>`
          : nothing}
      </div>
    </section>`;
  }

  protected override updated(changed: PropertyValues<this>): void {
    super.updated(changed);
    const canvas = this.querySelector<HTMLCanvasElement>('#versions-chart');
    if (!canvas) {
      this.chart?.destroy();
      this.chart = undefined;
      this.chartCanvas = undefined;
      return;
    }
    if (canvas !== this.chartCanvas) {
      this.chart?.destroy();
      this.chart = new VersionsChart(canvas);
      this.chartCanvas = canvas;
    } else if (!changed.has('versions') && !changed.has('metric')) return;
    this.chart!.draw(this.points().map((p) => ({ tag: p.tag, value: p.value })), this.metric ?? '');
    canvas.dataset.drawn = String(this.points().length);
  }
}

customElements.define('omlmd-model-page', OmlmdModelPage);

declare global {
  interface HTMLElementTagNameMap {
    'omlmd-model-page': OmlmdModelPage;
  }
}
