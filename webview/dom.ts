// A few lines instead of a view library: the editor builds its DOM once and then updates
// values in place, so typing never loses focus or the caret.

type Attrs = Record<string, string | boolean | number | undefined>;

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Node | string | undefined)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== undefined) e.append(c);
  return e;
}

/** The element a key event really started in, through shadow roots. */
export function originOf(ev: Event): EventTarget | undefined {
  return ev.composedPath()[0];
}

/** Replaces a list's children with one line per message (or hides it when there are none). */
export function setMessages(list: HTMLElement, messages: readonly string[]): void {
  const same = list.children.length === messages.length && messages.every((m, i) => list.children[i]?.textContent === m);
  if (!same) list.replaceChildren(...messages.map((m) => el('li', {}, m)));
  list.hidden = messages.length === 0;
}
