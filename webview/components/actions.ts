// <omlmd-actions>: Push, Save as file and Cancel, and one line that says where things stand.

import { html } from 'lit';
import type { EditorMode } from '../protocol';
import { LightElement } from './base';
import { l10n } from '../l10n';

export type Action = 'push' | 'save' | 'cancel';
/** Fired on a click of a button; the editor decides whether it may be done. */
export type ActionEvent = CustomEvent<Action>;

export class OmlmdActions extends LightElement {
  static override properties = {
    mode: { attribute: false },
    readOnly: { attribute: false },
    /** The buttons that send the metadata are enabled only while it is valid and nothing is pending. */
    enabled: { attribute: false },
    status: { attribute: false },
    hasProblems: { attribute: false },
  };

  declare mode: EditorMode;
  declare readOnly: boolean;
  declare enabled: boolean;
  declare status: string;
  declare hasProblems: boolean;

  constructor() {
    super();
    this.mode = 'push';
    this.readOnly = false;
    this.enabled = false;
    this.status = '';
    this.hasProblems = false;
  }

  protected override render(): unknown {
    const act = (a: Action) => () => this.emit<Action>('action', a);
    return html`<footer class="actions">
      <vscode-button id="push" icon="cloud-upload" ?hidden=${this.readOnly || this.mode === 'new'} .disabled=${!this.enabled} @click=${act('push')}
        >${this.mode === 'edit' ? l10n.t('Push as new tag') : l10n.t('Push')}</vscode-button
      >
      <vscode-button id="save" icon="save" .secondary=${this.mode !== 'new'} .disabled=${!this.enabled} @click=${act('save')}>${l10n.t('Save as file…')}</vscode-button>
      <vscode-button id="cancel" secondary @click=${act('cancel')}>${this.readOnly ? l10n.t('Close') : l10n.t('Cancel')}</vscode-button>
      <span class="status ${this.hasProblems ? 'has-problems' : ''}" role="status" aria-live="polite">${this.status}</span>
    </footer>`;
  }
}

customElements.define('omlmd-actions', OmlmdActions);

declare global {
  interface HTMLElementTagNameMap {
    'omlmd-actions': OmlmdActions;
  }
}
