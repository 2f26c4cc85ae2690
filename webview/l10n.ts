/**
 * `l10n.t` for the webviews (the metadata editor and the model page): the same calls and the
 * same `{0}` / `{name}` filling as src/extension/model/l10n.ts (which the webview may not
 * import: docs/architecture.md), looking messages up in the bundle the extension host sends
 * with its init message (`vscode.l10n.bundle`; none for English). Strings are read when
 * rendered, so the bundle applies to whatever renders after `setBundle`.
 * `npm run l10n:export` reads these calls into l10n/bundle.l10n.json too.
 */

export type L10nArgs = Array<string | number | boolean> | Record<string, unknown>;

let bundle: Record<string, string> | undefined;

/** The host's bundle (InitParams.l10n / ModelPageParams.l10n); undefined: English. */
export function setBundle(b: Record<string, string> | undefined): void {
  bundle = b && typeof b === 'object' ? b : undefined;
}

/** VS Code's placeholder filling: `{key}` replaced by `args[key]` when it has one. */
export function format(template: string, args: L10nArgs | undefined): string {
  if (!args || Object.keys(args).length === 0) return template;
  const values = args as Record<string, unknown>;
  return template.replace(/{([^}]+)}/g, (match, key: string) => {
    const v = values[key];
    return v === undefined || v === null ? match : String(v);
  });
}

function t(message: string, ...args: Array<string | number | boolean>): string;
function t(message: string, args: Record<string, unknown>): string;
function t(message: string, ...rest: unknown[]): string {
  const args = (rest.length === 1 && typeof rest[0] === 'object' && rest[0] !== null ? rest[0] : rest) as L10nArgs;
  const translated = bundle?.[message];
  return format(typeof translated === 'string' ? translated : message, args);
}

export const l10n = { t };
