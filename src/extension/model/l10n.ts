/**
 * `l10n.t` for the VS Code-free parts of the extension (model/, remedies.ts, progress.ts): the
 * unit tests import them without VS Code, so they cannot call `vscode.l10n.t`. Same calls and
 * same `{0}` / `{name}` semantics as `vscode.l10n.t` (VS Code's format2: a placeholder without
 * a value stays as written); English, unless the extension host set a translator
 * (l10nHost.ts, which main.ts imports before anything else, so module-level strings are
 * translated too). `npm run l10n:export` reads these calls into l10n/bundle.l10n.json.
 */

// The placeholder filling is the webviews' (one function for both sides of the extension).
import { format, type L10nArgs } from '../../../webview/l10n';

/** Looks `message` (with `comment`, the bundle's key is `message/comment`) up and fills in `args`. */
export type Translator = (message: string, args: L10nArgs | undefined, comment: string | string[] | undefined) => string;

let translator: Translator | undefined;

/** The extension host's lookup (vscode.l10n.t); undefined: English. */
export function setTranslator(t: Translator | undefined): void {
  translator = t;
}

function t(message: string, ...args: Array<string | number | boolean>): string;
function t(message: string, args: Record<string, unknown>): string;
function t(options: { message: string; args?: L10nArgs; comment: string | string[] }): string;
function t(first: string | { message: string; args?: L10nArgs; comment: string | string[] }, ...rest: unknown[]): string {
  const { message, args, comment } = typeof first === 'string'
    ? { message: first, args: (rest.length === 1 && typeof rest[0] === 'object' && rest[0] !== null ? rest[0] : rest) as L10nArgs, comment: undefined }
    : first;
  return translator ? translator(message, args, comment) : format(message, args);
}

export const l10n = { t };
