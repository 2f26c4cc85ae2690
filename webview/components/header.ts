// <omlmd-header>: the editor's title, what the mode is for, and where a push goes.

import { html } from 'lit';
import { LightElement } from './base';

export class OmlmdHeader extends LightElement {
  static override properties = {
    heading: { attribute: false },
    intro: { attribute: false },
    target: { attribute: false },
  };

  declare heading: string;
  declare intro: string;
  /** Where a push goes (InitParams.targetHint); no line when there is none. */
  declare target: string | undefined;

  constructor() {
    super();
    this.heading = '';
    this.intro = '';
    this.target = undefined;
  }

  protected override render(): unknown {
    return html`<header>
      <h1 id="title">${this.heading}</h1>
      <p class="intro">${this.intro}</p>
      <p class="target" ?hidden=${!this.target}>${this.target ? `Target: ${this.target}` : ''}</p>
    </header>`;
  }
}

customElements.define('omlmd-header', OmlmdHeader);

declare global {
  interface HTMLElementTagNameMap {
    'omlmd-header': OmlmdHeader;
  }
}
