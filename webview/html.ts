// The editor's HTML page with its Content Security Policy. Plain strings in, a string out:
// the extension host fills in webview URIs, the webview tests fill in a loopback server's,
// so the tests run under the very CSP that VS Code enforces.

export interface EditorHtmlOptions {
  /** `webview.cspSource`: the origin the webview's own resources come from. */
  cspSource: string;
  /** Fresh for every page: only scripts carrying it run. */
  nonce: string;
  scriptUri: string;
  styleUri: string;
  /** Has to be a `<link id="vscode-codicon-stylesheet">`: `<vscode-icon>` looks it up by that id. */
  codiconUri: string;
  title: string;
  /** What the page says until its script has run (default: the metadata editor's). */
  loading?: string;
}

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * No `unsafe-eval` (the schema validator is compiled at build time for that reason) and no
 * inline styles: the components style themselves through constructable stylesheets.
 */
export function editorCsp(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `img-src ${cspSource} data:`,
    `font-src ${cspSource}`,
    `style-src ${cspSource}`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
}

export function editorHtml(o: EditorHtmlOptions): string {
  const nonce = escapeHtml(o.nonce);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(editorCsp(o.cspSource, o.nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" id="vscode-codicon-stylesheet" href="${escapeHtml(o.codiconUri)}">
<link rel="stylesheet" href="${escapeHtml(o.styleUri)}">
<title>${escapeHtml(o.title)}</title>
</head>
<body>
<div id="app" class="loading" aria-busy="true">${escapeHtml(o.loading ?? 'Loading the metadata editor…')}</div>
<script type="module" nonce="${nonce}" src="${escapeHtml(o.scriptUri)}"></script>
</body>
</html>
`;
}
