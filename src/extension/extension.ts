import * as vscode from 'vscode';

/** Activation registers views and commands only: nothing touches the network here. */
export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('omlmd', { log: true });
  context.subscriptions.push(log);
  log.info('omlmd activated');
}

export function deactivate(): void {}
