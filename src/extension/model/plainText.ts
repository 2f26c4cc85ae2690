/**
 * Text that a registry, an annotation or a metadata field contributed, made safe for the two
 * places VS Code renders markup: notifications (which turn `[label](command:ID?ARGS)` into a
 * link that runs the command) and Markdown tooltips (links, remote images that track who
 * hovers, emphasis that fakes "Verified"). Pure functions: no `vscode`, tested directly.
 */

/** Control characters but tab, and the bidirectional overrides that reorder what is shown. */
// eslint-disable-next-line no-control-regex
const INVISIBLE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * For a notification: VS Code links `[label](target)` only when `](` touch, so a space
 * between them leaves the text readable and inert. Line breaks become spaces, other
 * control characters go.
 */
export function noLinks(text: string): string {
  return text.replace(/\r\n?|\n/g, ' ').replace(INVISIBLE, '').replace(/\]\s*\(/g, '] (');
}

/**
 * For a Markdown tooltip: every character Markdown gives a meaning is escaped (what VS Code's
 * MarkdownString.appendText escapes, plus `:` so no `https://` or `command:` becomes an
 * autolink, and `<`, `>`, `&` so no HTML or entity is formed), control characters go.
 */
export function mdText(text: string): string {
  return text.replace(INVISIBLE, '').replace(/[\\`*_{}[\]()#+\-.!~|:<>&"'=]/g, (c) => (c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '&' ? '&amp;' : `\\${c}`)).replace(/\r\n?|\n/g, ' ');
}
