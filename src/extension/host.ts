import * as vscode from 'vscode';

/**
 * Where the extension's parts register what VS Code calls. The thin activator (extension.ts)
 * registers every contributed command and the manifest documents' scheme at activation, and
 * loads the rest of the extension (main.ts, a bundle of its own) on the first command or the
 * first look at the Models view; main.ts then hands its handlers to the activator through the
 * host. A command the activator did not register (an internal one: a tree row's click, a
 * drop) is registered with VS Code directly.
 */
export interface Host {
  /** Takes the handler of a command the activator registered; undefined: not one of those. */
  command(id: string, handler: (...args: unknown[]) => unknown): vscode.Disposable | undefined;
  /** Takes the provider of a scheme the activator registered; undefined: not one of those. */
  documents(scheme: string, provider: vscode.TextDocumentContentProvider): vscode.Disposable | undefined;
}

let host: Host | undefined;

export function setHost(h: Host | undefined): void {
  host = h;
}

export function registerCommand(id: string, handler: (...args: unknown[]) => unknown): vscode.Disposable {
  return host?.command(id, handler) ?? vscode.commands.registerCommand(id, handler);
}

export function registerTextDocumentContentProvider(scheme: string, provider: vscode.TextDocumentContentProvider): vscode.Disposable {
  return host?.documents(scheme, provider) ?? vscode.workspace.registerTextDocumentContentProvider(scheme, provider);
}
