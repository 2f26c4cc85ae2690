// <omlmd-text-view>: the metadata as YAML or JSON. Edits update the form; a syntax error
// leaves the form as it was and is shown here with its line and column.

import { html, nothing } from 'lit';
import { live } from 'lit/directives/live.js';
import type { TextFormat } from '../protocol';
import { describeTextError, type TextError } from '../text';
import { LightElement, messageItems } from './base';
import { l10n } from '../l10n';

export interface TextInput {
  format: TextFormat;
  text: string;
}
export type TextInputEvent = CustomEvent<TextInput>;

export class OmlmdTextView extends LightElement {
  static override properties = {
    format: {},
    text: { attribute: false },
    error: { attribute: false },
    messages: { attribute: false },
    readOnly: { attribute: false },
  };

  declare format: TextFormat;
  /** What the text box holds: the user's draft, or the metadata formatted. */
  declare text: string;
  declare error: TextError | undefined;
  /** The schema's problems with the metadata (none while the text does not parse). */
  declare messages: readonly string[];
  declare readOnly: boolean;

  constructor() {
    super();
    this.format = 'yaml';
    this.text = '';
    this.error = undefined;
    this.messages = [];
    this.readOnly = false;
  }

  /** The text box, to give it the keyboard. */
  get area(): HTMLElementTagNameMap['vscode-textarea'] | null {
    return this.querySelector('vscode-textarea');
  }

  protected override render(): unknown {
    const name = this.format.toUpperCase();
    const input = (ev: Event): void => this.emit<TextInput>('text-input', { format: this.format, text: (ev.target as HTMLElementTagNameMap['vscode-textarea']).value });
    // A red border (has-error), not the component's invalid look: a whole text view painted red is hard to read.
    const description = l10n.t('The same metadata as {0}. Edits here update the form; a syntax error leaves the form as it was.', name);
    return html`<p class="description">${description}</p>
      <vscode-textarea
        monospace
        rows="18"
        resize="vertical"
        class="text ${this.error ? 'has-error' : ''}"
        id="text-${this.format}"
        spellcheck="false"
        .label=${l10n.t('Metadata as {0}', name)}
        .value=${live(this.text)}
        .readonly=${this.readOnly}
        @input=${input}
      ></vscode-textarea>
      <div class="text-error" role="alert" ?hidden=${!this.error}>${this.error ? describeTextError(this.error) : nothing}</div>
      <ul class="messages" aria-live="polite" ?hidden=${this.messages.length === 0}>
        ${messageItems(this.messages)}
      </ul>`;
  }
}

customElements.define('omlmd-text-view', OmlmdTextView);

declare global {
  interface HTMLElementTagNameMap {
    'omlmd-text-view': OmlmdTextView;
  }
}
