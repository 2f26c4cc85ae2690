// <omlmd-properties-table>: a map field (customProperties) as rows of key, type and value,
// each checked as it is typed. The rows come from the editor; every edit goes back to it as
// the rows the table should now have.

import { html, nothing } from 'lit';
import { live } from 'lit/directives/live.js';
import { repeat } from 'lit/directives/repeat.js';
import { convertRow, VALUE_TYPES, type Row } from '../customProperties';
import { isRecord, type RowCheck } from '../state';
import { fieldId, LightElement } from './base';
import { l10n } from '../l10n';

export interface RowsChange {
  field: string;
  rows: Row[];
}
/** A row removed: the editor then gives the keyboard to a neighbour. */
export interface RowRemove {
  field: string;
  id: number;
}
export type RowsChangeEvent = CustomEvent<RowsChange>;
export type RowAddEvent = CustomEvent<{ field: string }>;
export type RowRemoveEvent = CustomEvent<RowRemove>;

type Textfield = HTMLElementTagNameMap['vscode-textfield'];
type Checkbox = HTMLElementTagNameMap['vscode-checkbox'];
type Select = HTMLElementTagNameMap['vscode-single-select'];

function rowLabel(row: Row, index: number): string {
  return row.key.trim() === '' ? l10n.t('row {0}', index + 1) : row.key;
}

const EMPTY_CHECK: RowCheck = { object: {}, problems: new Map(), count: 0 };

export class OmlmdPropertiesTable extends LightElement {
  static override properties = {
    field: {},
    rows: { attribute: false },
    check: { attribute: false },
    readOnly: { attribute: false },
    current: { attribute: false },
  };

  declare field: string;
  declare rows: readonly Row[];
  declare check: RowCheck;
  declare readOnly: boolean;
  /** The field's value in the metadata, to say so when it is not a mapping. */
  declare current: unknown;

  constructor() {
    super();
    this.field = '';
    this.rows = [];
    this.check = EMPTY_CHECK;
    this.readOnly = false;
    this.current = undefined;
  }

  /** A row's key, value or remove control, or Add when `id` is undefined. */
  control(id: number | undefined, part: 'key' | 'value' | 'remove' = 'key'): HTMLElement | null {
    return id === undefined ? this.querySelector('.add-row') : this.querySelector(`tr[data-row="${id}"] .row-${part}`);
  }

  private changeRow(id: number, patch: (r: Row) => Row): void {
    this.emit<RowsChange>('rows-change', { field: this.field, rows: this.rows.map((r) => (r.id === id ? patch(r) : r)) });
  }

  private renderRow(row: Row, index: number): unknown {
    const p = this.check.problems.get(row.id);
    const name = rowLabel(row, index);
    const readOnly = this.readOnly;
    const type = (ev: Event): void => {
      const next = VALUE_TYPES.find((t) => t.type === (ev.target as Select).value)?.type;
      if (next) this.changeRow(row.id, (r) => convertRow(r, next));
    };
    const value =
      row.type === 'boolean'
        ? html`<vscode-checkbox
            class="row-value"
            .checked=${row.text === 'true'}
            .label=${row.text === 'true' ? 'true' : 'false'}
            .disabled=${readOnly}
            aria-label=${l10n.t('Value of {0}', name)}
            @change=${(ev: Event) => this.changeRow(row.id, (r) => ({ ...r, text: String((ev.target as Checkbox).checked) }))}
          ></vscode-checkbox>`
        : html`<vscode-textfield
            class="row-value ${row.type === 'json' ? 'mono' : ''}"
            placeholder=${row.type === 'json' ? l10n.t('{"a": 1} or [1, 2]') : row.type === 'number' ? '0.97' : l10n.t('value')}
            .value=${live(row.text)}
            .label=${l10n.t('Value of {0}', name)}
            .invalid=${Boolean(p?.value)}
            .readonly=${readOnly}
            @input=${(ev: Event) => this.changeRow(row.id, (r) => ({ ...r, text: (ev.target as Textfield).value }))}
          ></vscode-textfield>`;
    return html`<tr data-row=${row.id}>
      <td>
        <vscode-textfield
          class="row-key"
          placeholder=${l10n.t('key')}
          .value=${live(row.key)}
          .label=${l10n.t('Key of {0}', name)}
          .invalid=${Boolean(p?.key)}
          .readonly=${readOnly}
          @input=${(ev: Event) => this.changeRow(row.id, (r) => ({ ...r, key: (ev.target as Textfield).value }))}
        ></vscode-textfield>
        <div class="cell-msg" aria-live="polite">${p?.key ?? nothing}</div>
      </td>
      <td>
        <vscode-single-select class="row-type" .label=${l10n.t('Type of {0}', name)} .disabled=${readOnly} .value=${live(row.type)} @change=${type}>
          ${VALUE_TYPES.map((t) => html`<vscode-option value=${t.type} ?selected=${t.type === row.type}>${t.label}</vscode-option>`)}
        </vscode-single-select>
      </td>
      <td>${value}<div class="cell-msg" aria-live="polite">${p?.value ?? nothing}</div></td>
      <td class="col-remove">
        <vscode-icon
          name="trash"
          action-icon
          class="row-remove"
          label=${l10n.t('Remove {0}', name)}
          ?hidden=${readOnly}
          @click=${() => this.emit<RowRemove>('row-remove', { field: this.field, id: row.id })}
        ></vscode-icon>
      </td>
    </tr>`;
  }

  protected override render(): unknown {
    const rows = this.rows;
    const current = this.current;
    const notMapping = current !== undefined && current !== null && !isRecord(current);
    const note = notMapping ? l10n.t('This field holds {0}, not key/value pairs: fix it in the YAML or JSON view, or add a property here to replace it.', Array.isArray(current) ? l10n.t('a list') : typeof current) : '';
    return html`<p class="note" ?hidden=${!notMapping}>${note}</p>
      <table class="kv" aria-labelledby=${fieldId(this.field)} ?hidden=${rows.length === 0}>
        <thead>
          <tr>
            <th scope="col" class="col-key">${l10n.t('Key')}</th>
            <th scope="col" class="col-type">${l10n.t('Type')}</th>
            <th scope="col" class="col-value">${l10n.t('Value')}</th>
            <th scope="col" class="col-remove"><span class="sr-only">${l10n.t('Remove')}</span></th>
          </tr>
        </thead>
        <tbody>
          ${repeat(
            rows,
            (r) => r.id,
            (r, i) => this.renderRow(r, i),
          )}
        </tbody>
      </table>
      <p class="empty" ?hidden=${rows.length > 0 || this.readOnly}>${l10n.t('No custom properties yet: add metrics, a license, the dataset…')}</p>
      <vscode-button secondary icon="add" class="add-row" ?hidden=${this.readOnly} @click=${(ev: Event) => !(ev.currentTarget as HTMLElementTagNameMap['vscode-button']).disabled && this.emit('row-add', { field: this.field })}
        >${l10n.t('Add property')}</vscode-button
      >`;
  }
}

customElements.define('omlmd-properties-table', OmlmdPropertiesTable);

declare global {
  interface HTMLElementTagNameMap {
    'omlmd-properties-table': OmlmdPropertiesTable;
  }
}
