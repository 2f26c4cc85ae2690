// <omlmd-header>: the editor's title, what the mode is for, and where a push goes.

import { html } from 'lit';
import { LightElement } from './base';
import { l10n } from '../l10n';

export class OmlmdHeader extends LightElement {
  static override properties = {
    heading: { attribute: false },
    intro: { attribute: false },
    target: { attribute: false },
    headers: { attribute: false },
    warnings: { attribute: false },
  };

  declare heading: string;
  declare intro: string;
  /** Where a push goes (InitParams.targetHint); no line when there is none. */
  declare target: string | undefined;
  /** What the model files' headers say (InitParams.headers). */
  declare headers: string[] | undefined;
  /** What to beware of in the model files (InitParams.warnings), e.g. a pickle that runs code. */
  declare warnings: string[] | undefined;

  constructor() {
    super();
    this.heading = '';
    this.intro = '';
    this.target = undefined;
    this.headers = undefined;
    this.warnings = undefined;
  }

  protected override render(): unknown {
    return html`<header>
      <h1 id="title">${this.heading}</h1>
      <p class="intro">${this.intro}</p>
      <p class="target" ?hidden=${!this.target}>${this.target ? l10n.t('Target: {0}', this.target) : ''}</p>
      <ul class="file-headers" ?hidden=${!this.headers?.length}>
        ${(this.headers ?? []).map((h) => html`<li>${h}</li>`)}
      </ul>
      <div class="file-warnings" role="alert" ?hidden=${!this.warnings?.length}>
        <ul>
          ${(this.warnings ?? []).map((w) => html`<li>${w}</li>`)}
        </ul>
      </div>
    </header>`;
  }
}

customElements.define('omlmd-header', OmlmdHeader);

declare global {
  interface HTMLElementTagNameMap {
    'omlmd-header': OmlmdHeader;
  }
}
