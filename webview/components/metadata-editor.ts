// <omlmd-metadata-editor>: the whole editor. It holds the one EditorState (with what the
// host said: busy, the answer to a push or save, an error), saves it with setState after
// every change, speaks the protocol with the extension host, and handles the keys that work
// anywhere (Enter, Ctrl+Enter, Escape). The parts below it only render and report edits.

import { html, type LitElement, type PropertyValues } from 'lit';
import { live } from 'lit/directives/live.js';
import {
  BusyNotification,
  CancelNotification,
  ChangedNotification,
  ErrorNotification,
  InitNotification,
  isIpcMessage,
  isMessage,
  messageFactory,
  PushRequest,
  ReadyNotification,
  SaveAsRequest,
  ValidationResultNotification,
  type BusyParams,
  type InitParams,
} from '../protocol';
import { assess, FIELDS, freshState, MAP_FIELDS, metadataOf, restoredState, TABS, textOf, withField, withNewRow, withRows, withText, type Assessment, type EditorState, type Tab } from '../state';
import { describeTextError } from '../text';
import type { Action, ActionEvent } from './actions';
import { LightElement, messageItems, originOf } from './base';
import type { FieldInputEvent } from './form';
import type { RowAddEvent, RowRemoveEvent, RowsChangeEvent } from './properties-table';
import type { TextInputEvent } from './text-view';
import './actions';
import './form';
import './header';
import './text-view';
import { l10n, setBundle } from '../l10n';

export interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

/** What the mode is for; read when rendered, so in the language of the host's bundle. */
function intro(mode: InitParams['mode']): string {
  switch (mode) {
    case 'push':
      return l10n.t('Check the metadata that goes with the model files, then push.');
    case 'edit':
      return l10n.t('Pushing saves the edited metadata under a new tag; the current tag stays as it is.');
    case 'new':
      return l10n.t('Write model metadata, then save it as a YAML or JSON file.');
  }
}

export class OmlmdMetadataEditor extends LightElement {
  static override properties = {
    state: { state: true },
    busy: { state: true },
    pending: { state: true },
    hostErrors: { state: true },
    confirming: { state: true },
  };

  declare state: EditorState | undefined;
  declare busy: BusyParams;
  /** Id of the push/save request the host has not answered yet. */
  declare pending: string | undefined;
  declare hostErrors: string[];
  declare confirming: boolean;

  private readonly make = messageFactory('webview');
  private lastChanged = '';

  /** Made with `new` by main.ts, which holds the page's one VS Code API object. */
  constructor(private readonly vscode: VsCodeApi) {
    super();
    this.state = undefined;
    this.busy = { busy: false };
    this.pending = undefined;
    this.hostErrors = [];
    this.confirming = false;
  }

  /** Comes back as it was before the panel was hidden (if it was), then asks the host for init. */
  start(): void {
    const saved = restoredState(this.vscode.getState());
    // The bundle the host sent before the panel was rebuilt, until init brings it again.
    if (saved) setBundle(saved.init.l10n);
    if (saved) this.apply(saved);
    this.post(ReadyNotification, {});
  }

  override connectedCallback(): void {
    super.connectedCallback();
    window.addEventListener('message', this.onMessage);
    document.addEventListener('keydown', this.onKey);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    window.removeEventListener('message', this.onMessage);
    document.removeEventListener('keydown', this.onKey);
  }

  // ---------------------------------------------------------------- state

  /**
   * The one way the state changes: saved for a rebuilt panel, and the host told at once (not
   * on the next render) when dirty/valid changed, so messages go out in the order they arise.
   */
  private apply(next: EditorState): void {
    this.state = next;
    this.vscode.setState(next);
    const a = assess(next);
    const changed = `${a.dirty}|${a.valid}`;
    if (changed !== this.lastChanged) {
      this.lastChanged = changed;
      this.post(ChangedNotification, { dirty: a.dirty, valid: a.valid });
    }
  }

  /** An edit by the user: whatever the host said about the metadata before no longer holds. */
  private edit(next: EditorState): void {
    this.hostErrors = [];
    this.apply(next);
  }

  private selectTab(tab: Tab): void {
    if (this.state && this.state.tab !== tab) this.apply({ ...this.state, tab });
  }

  private post<T extends Parameters<typeof this.make>[0]>(type: T, params: T['params']): string {
    const msg = this.make(type, params);
    this.vscode.postMessage(msg);
    return msg.id;
  }

  // ---------------------------------------------------------------- focus

  /** Resolves once this element and every component inside it have rendered. */
  private async settled(): Promise<void> {
    await this.updateComplete;
    for (;;) {
      const pending = [...this.querySelectorAll('*')].filter((e): e is LitElement => (e as Partial<LitElement>).isUpdatePending === true);
      if (pending.length === 0) return;
      await Promise.all(pending.map((e) => e.updateComplete));
    }
  }

  /** Focuses what `find` returns once the page shows the latest state. */
  private focusSoon(find: () => HTMLElement | null | undefined): void {
    void this.settled().then(() => find()?.focus());
  }

  private get form(): HTMLElementTagNameMap['omlmd-form'] | null {
    return this.querySelector('omlmd-form');
  }

  private textArea(format: 'yaml' | 'json'): HTMLElement | null {
    return this.querySelector<HTMLElementTagNameMap['omlmd-text-view']>(`omlmd-text-view[format="${format}"]`)?.area ?? null;
  }

  /** Takes the keyboard to the first thing to fix, so Enter on an invalid form is never a dead end. */
  private focusFirstProblem(s: EditorState, a: Assessment): void {
    if (a.brokenDraft) {
      const format = a.brokenDraft.format;
      this.selectTab(format);
      this.focusSoon(() => this.textArea(format));
      return;
    }
    if (s.tab !== 'form') {
      const format = s.tab;
      this.focusSoon(() => this.textArea(format));
      return;
    }
    const form = this.form;
    for (const f of FIELDS) {
      if (a.schema.byField.has(f.key) && form?.control(f.key)) return form.control(f.key)!.focus();
      const check = a.rows.get(f.key);
      if (check && check.count > 0) {
        const row = (s.tables[f.key] ?? []).find((r) => check.problems.has(r.id));
        const target = row ? form?.table(f.key)?.control(row.id, check.problems.get(row.id)?.key ? 'key' : 'value') : undefined;
        if (target) return target.focus();
      }
    }
    this.querySelector<HTMLElement>('.banner')?.focus();
  }

  // ---------------------------------------------------------------- actions and keys

  private act(what: 'push' | 'save'): void {
    const s = this.state;
    if (!s || this.busy.busy || this.pending !== undefined) return;
    const a = assess(s);
    if (!a.valid) {
      this.focusFirstProblem(s, a);
      return;
    }
    const metadata = metadataOf(s);
    if (what === 'push') {
      if (s.init.readOnly || s.init.mode === 'new') return;
      this.pending = this.post(PushRequest, { metadata });
    } else {
      this.pending = this.post(SaveAsRequest, { metadata, format: s.tab === 'json' ? 'json' : 'yaml' });
    }
    this.hostErrors = [];
  }

  private onAction = (ev: ActionEvent): void => {
    const a: Action = ev.detail;
    if (a === 'cancel') this.post(CancelNotification, {});
    else this.act(a);
  };

  private primary(): void {
    if (!this.state || this.state.init.readOnly) return;
    this.act(this.state.init.mode === 'new' ? 'save' : 'push');
  }

  private onKey = (ev: KeyboardEvent): void => {
    const s = this.state;
    if (!s || ev.defaultPrevented || ev.isComposing) return;
    const origin = originOf(ev);
    if (ev.key === 'Escape') {
      ev.preventDefault();
      if (this.confirming || s.init.readOnly || !assess(s).dirty) {
        this.post(CancelNotification, {});
      } else {
        this.confirming = true;
        this.focusSoon(() => this.querySelector<HTMLElement>('.confirm .keep'));
      }
      return;
    }
    if (ev.key !== 'Enter' || ev.shiftKey || ev.altKey) return;
    // Ctrl/Cmd+Enter from anywhere, plain Enter from a one-line field (as a form's submit).
    const oneLine = origin instanceof HTMLInputElement && origin.type !== 'checkbox';
    if (ev.ctrlKey || ev.metaKey || oneLine) {
      ev.preventDefault();
      this.primary();
    }
  };

  private keepEditing(): void {
    this.confirming = false;
    this.focusSoon(() => this.form?.firstControl());
  }

  // ---------------------------------------------------------------- edits from the parts

  private onFieldInput = (ev: FieldInputEvent): void => {
    if (this.state) this.edit(withField(this.state, ev.detail.key, ev.detail.value));
  };

  private onRowsChange = (ev: RowsChangeEvent): void => {
    if (this.state) this.edit(withRows(this.state, ev.detail.field, ev.detail.rows));
  };

  private onRowAdd = (ev: RowAddEvent): void => {
    if (!this.state) return;
    const { field } = ev.detail;
    const { state, id } = withNewRow(this.state, field);
    this.edit(state);
    // A new row is for typing its key.
    this.focusSoon(() => this.form?.table(field)?.control(id, 'key'));
  };

  private onRowRemove = (ev: RowRemoveEvent): void => {
    if (!this.state) return;
    const { field, id } = ev.detail;
    const rows = this.state.tables[field] ?? [];
    const at = rows.findIndex((r) => r.id === id);
    const rest = rows.filter((r) => r.id !== id);
    this.edit(withRows(this.state, field, rest));
    // Keep the keyboard in the table: the row that moved up, else the one above, else Add.
    const next = rest[at] ?? rest[at - 1];
    this.focusSoon(() => this.form?.table(field)?.control(next?.id, 'remove'));
  };

  private onTextInput = (ev: TextInputEvent): void => {
    if (this.state) this.edit(withText(this.state, ev.detail.format, ev.detail.text));
  };

  private onTabSelect = (ev: CustomEvent<{ selectedIndex: number }>): void => {
    const tab = TABS[ev.detail.selectedIndex];
    if (tab) this.selectTab(tab);
  };

  // ---------------------------------------------------------------- host messages

  private onMessage = (ev: MessageEvent<unknown>): void => {
    const msg = ev.data;
    if (!isIpcMessage(msg)) return;
    if (isMessage(msg, InitNotification)) {
      const init = msg.params;
      setBundle(init.l10n);
      // Same session: the panel was hidden and rebuilt; what the user typed wins over `init`.
      const next = this.state && this.state.init.session === init.session ? { ...this.state, init } : freshState(init);
      this.hostErrors = [];
      this.confirming = false;
      this.apply(next);
      if (!document.activeElement || document.activeElement === document.body) this.focusSoon(() => this.form?.firstControl());
    } else if (isMessage(msg, ValidationResultNotification)) {
      if (msg.completionId === undefined || msg.completionId === this.pending) this.pending = undefined;
      this.hostErrors = msg.params.valid ? [] : msg.params.errors;
    } else if (isMessage(msg, BusyNotification)) {
      this.busy = msg.params;
      if (!this.busy.busy) this.pending = undefined;
    } else if (isMessage(msg, ErrorNotification)) {
      this.pending = undefined;
      this.hostErrors = [msg.params.message];
    }
  };

  // ---------------------------------------------------------------- the page

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (!changed.has('state')) return;
    const s = this.state;
    // Until init (or restored state) arrives, the page says it is loading, as the HTML did.
    this.classList.toggle('loading', !s);
    this.classList.toggle('editor', Boolean(s));
    if (s) this.removeAttribute('aria-busy');
    else this.setAttribute('aria-busy', 'true');
    if (s) document.title = s.init.title;
  }

  protected override render(): unknown {
    const s = this.state;
    if (!s) return l10n.t('Loading the metadata editor…');
    const a = assess(s);
    const readOnly = s.init.readOnly === true;
    const busy = this.busy.busy;

    // Problems no field shows: unknown fields, the host's answer, a text view that does not parse.
    const banner = [...a.schema.general, ...this.hostErrors];
    if (a.brokenDraft && s.tab === 'form') banner.push(l10n.t('The {0} view has an error ({1}); the form shows the metadata from before it. Fix it there, or edit the form to discard it.', a.brokenDraft.format.toUpperCase(), describeTextError(a.brokenDraft.error)));

    const textMessages = (format: 'yaml' | 'json'): string[] => {
      const messages = s.drafts[format]?.error ? [] : [...a.schema.byField.values()].flat().concat(a.schema.general);
      if (a.rowProblems > 0) {
        const tables = MAP_FIELDS.join(', ');
        const one = MAP_FIELDS.length === 1;
        messages.push(
          a.rowProblems === 1
            ? one
              ? l10n.t('1 problem in the {0} table of the form; those rows are left out here until fixed.', tables)
              : l10n.t('1 problem in the {0} tables of the form; those rows are left out here until fixed.', tables)
            : one
              ? l10n.t('{0} problems in the {1} table of the form; those rows are left out here until fixed.', a.rowProblems, tables)
              : l10n.t('{0} problems in the {1} tables of the form; those rows are left out here until fixed.', a.rowProblems, tables),
        );
      }
      return messages;
    };
    const textView = (format: 'yaml' | 'json') =>
      html`<omlmd-text-view format=${format} .text=${textOf(s, format)} .error=${s.drafts[format]?.error} .messages=${textMessages(format)} .readOnly=${readOnly}></omlmd-text-view>`;

    const status = busy ? (this.busy.message ?? l10n.t('Working…')) : a.count === 0 ? (a.dirty ? l10n.t('Unsaved changes') : l10n.t('No problems')) : a.count === 1 ? l10n.t('1 problem to fix') : l10n.t('{0} problems to fix', a.count);

    return html`<vscode-progress-bar indeterminate aria-label=${l10n.t('Working')} ?hidden=${!busy}></vscode-progress-bar>
      <omlmd-header .heading=${s.init.title} .intro=${readOnly ? l10n.t('Read-only: this metadata cannot be changed here.') : intro(s.init.mode)} .target=${s.init.targetHint} .headers=${s.init.headers} .warnings=${s.init.warnings}></omlmd-header>
      <div class="banner" role="alert" ?hidden=${banner.length === 0}>
        <vscode-icon name="error" class="banner-icon"></vscode-icon>
        <ul ?hidden=${banner.length === 0}>
          ${messageItems(banner)}
        </ul>
      </div>
      <div class="confirm" role="alertdialog" aria-label=${l10n.t('Discard your changes?')} ?hidden=${!this.confirming}>
        <span>${l10n.t('Discard your changes? Press Escape again to discard.')}</span>
        <vscode-button @click=${() => this.post(CancelNotification, {})}>${l10n.t('Discard')}</vscode-button>
        <vscode-button secondary class="keep" @click=${() => this.keepEditing()}>${l10n.t('Keep editing')}</vscode-button>
      </div>
      <vscode-tabs .selectedIndex=${live(TABS.indexOf(s.tab))} @vsc-tabs-select=${this.onTabSelect}>
        <vscode-tab-header slot="header" data-tab="form">${l10n.t('Form')}</vscode-tab-header>
        <vscode-tab-panel>
          <omlmd-form
            .fields=${FIELDS}
            .doc=${s.doc}
            .problems=${a.schema}
            .tables=${s.tables}
            .checks=${a.rows}
            .readOnly=${readOnly}
            @field-input=${this.onFieldInput}
            @rows-change=${this.onRowsChange}
            @row-add=${this.onRowAdd}
            @row-remove=${this.onRowRemove}
          ></omlmd-form>
        </vscode-tab-panel>
        <vscode-tab-header slot="header" data-tab="yaml">YAML</vscode-tab-header>
        <vscode-tab-panel @text-input=${this.onTextInput}>${textView('yaml')}</vscode-tab-panel>
        <vscode-tab-header slot="header" data-tab="json">JSON</vscode-tab-header>
        <vscode-tab-panel @text-input=${this.onTextInput}>${textView('json')}</vscode-tab-panel>
      </vscode-tabs>
      <omlmd-actions
        .mode=${s.init.mode}
        .readOnly=${readOnly}
        .enabled=${a.valid && !busy && this.pending === undefined}
        .status=${status}
        .hasProblems=${a.count > 0 && !busy}
        @action=${this.onAction}
      ></omlmd-actions>`;
  }
}

customElements.define('omlmd-metadata-editor', OmlmdMetadataEditor);

declare global {
  interface HTMLElementTagNameMap {
    'omlmd-metadata-editor': OmlmdMetadataEditor;
  }
}
