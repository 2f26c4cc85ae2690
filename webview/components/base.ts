// What every component of the editor shares. They render into their own element, not a
// shadow root: the page has one stylesheet (editor.css, allowed by the CSP's style-src) that
// follows VS Code's theme variables, labels and aria-labelledby find their targets by id
// across components, and the markup the tests and e2e tests select stays as it was.

import { html, LitElement, type TemplateResult } from 'lit';

export abstract class LightElement extends LitElement {
  protected override createRenderRoot(): HTMLElement {
    return this;
  }

  /** Reports an edit to the element that holds the state (events go up, properties come down). */
  protected emit<D>(type: string, detail: D): void {
    this.dispatchEvent(new CustomEvent<D>(type, { detail, bubbles: true }));
  }
}

/** One `<li>` per message, for a `<ul class="messages">` that is hidden when there are none. */
export function messageItems(messages: readonly string[]): TemplateResult[] {
  return messages.map((m) => html`<li>${m}</li>`);
}

/** The element a key event really started in, through shadow roots. */
export function originOf(ev: Event): EventTarget | undefined {
  return ev.composedPath()[0];
}

/** The id of a form field's control (or title), which labels and the tests point at. */
export function fieldId(key: string): string {
  return `field-${key}`;
}
