// <omlmd-form>: the form generated from the core's JSON Schema, one field per property with
// its title, description and input, and the schema's explanations under each as you type.

import { html, nothing } from 'lit';
import { live } from 'lit/directives/live.js';
import type { Row } from '../customProperties';
import type { FieldSpec } from '../schema';
import type { RowCheck } from '../state';
import type { Problems } from '../validate';
import { fieldId, LightElement, messageItems } from './base';
import './properties-table';
import { l10n } from '../l10n';

export interface FieldInput {
  key: string;
  value: string;
}
export type FieldInputEvent = CustomEvent<FieldInput>;

type Control = HTMLElementTagNameMap['vscode-textfield'] | HTMLElementTagNameMap['vscode-textarea'];

function displayValue(v: unknown): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

export class OmlmdForm extends LightElement {
  static override properties = {
    fields: { attribute: false },
    doc: { attribute: false },
    problems: { attribute: false },
    tables: { attribute: false },
    checks: { attribute: false },
    readOnly: { attribute: false },
  };

  declare fields: readonly FieldSpec[];
  declare doc: Record<string, unknown>;
  declare problems: Problems | undefined;
  /** Rows of each map field, and what is wrong with them. */
  declare tables: Record<string, Row[]>;
  declare checks: Map<string, RowCheck>;
  declare readOnly: boolean;

  constructor() {
    super();
    this.fields = [];
    this.doc = {};
    this.problems = undefined;
    this.tables = {};
    this.checks = new Map();
    this.readOnly = false;
  }

  /** The first text input, which takes the keyboard when the editor opens. */
  firstControl(): Control | null {
    return this.querySelector('[data-key]');
  }

  control(key: string): Control | null {
    return this.querySelector(`[data-key="${key}"]`);
  }

  table(key: string): HTMLElementTagNameMap['omlmd-properties-table'] | null {
    return this.querySelector(`[data-field="${key}"] omlmd-properties-table`);
  }

  private renderField(spec: FieldSpec): unknown {
    const id = fieldId(spec.key);
    const v = this.doc[spec.key];
    const messages = this.problems?.byField.get(spec.key) ?? [];
    const description = spec.description ? html`<div class="description" id="${id}-description">${spec.description}</div>` : nothing;
    const list = html`<ul class="messages" id="${id}-messages" aria-live="polite" ?hidden=${messages.length === 0}>
      ${messageItems(messages)}
    </ul>`;
    const input = (ev: Event): void => this.emit<FieldInput>('field-input', { key: spec.key, value: (ev.target as Control).value });
    let body: unknown;
    if (spec.kind === 'text' || spec.kind === 'url') {
      body = html`<vscode-label for=${id}>${spec.title}</vscode-label>${description}<vscode-textfield
          id=${id}
          data-key=${spec.key}
          placeholder=${spec.kind === 'url' ? l10n.t('s3://bucket/model.onnx, hf://org/model, https://…') : nothing}
          .value=${live(displayValue(v))}
          .invalid=${messages.length > 0}
          .readonly=${this.readOnly}
          @input=${input}
        ></vscode-textfield
        >${list}`;
    } else if (spec.kind === 'multiline') {
      body = html`<vscode-label for=${id}>${spec.title}</vscode-label>${description}<vscode-textarea
          id=${id}
          rows="3"
          resize="vertical"
          data-key=${spec.key}
          .value=${live(displayValue(v))}
          .invalid=${messages.length > 0}
          .readonly=${this.readOnly}
          @input=${input}
        ></vscode-textarea
        >${list}`;
    } else if (spec.kind === 'map') {
      body = html`<div class="map-title" id=${id}>${spec.title}</div>
        ${description}
        <omlmd-properties-table
          field=${spec.key}
          .rows=${this.tables[spec.key] ?? []}
          .check=${this.checks.get(spec.key) ?? { object: {}, problems: new Map(), count: 0 }}
          .readOnly=${this.readOnly}
          .current=${v}
        ></omlmd-properties-table>
        ${list}`;
    } else {
      body = html`<div class="map-title">${spec.title}</div>
        ${description}
        <pre class="other" id=${id}>${v === undefined ? l10n.t('(not set)') : JSON.stringify(v, null, 2)}</pre>
        <div class="description">${l10n.t('Edit this field in the YAML or JSON view.')}</div>
        ${list}`;
    }
    return html`<div class="field field-${spec.kind}" data-field=${spec.key}>${body}</div>`;
  }

  protected override render(): unknown {
    return html`<div class="form">
      ${this.fields.map((f) => this.renderField(f))}
    </div>`;
  }
}

customElements.define('omlmd-form', OmlmdForm);

declare global {
  interface HTMLElementTagNameMap {
    'omlmd-form': OmlmdForm;
  }
}
