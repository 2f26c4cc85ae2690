import { noLinks } from './model/plainText';
import * as vscode from 'vscode';
import { registerCommands } from './commands';
import { registerModelPage } from './modelPage';
import { registerSearch } from './search';
import type { BrowserNode } from './model/browser';
import { Services } from './services';
import { ModelDropController, RegistryTreeProvider } from './tree';

/**
 * Activation registers the view, the commands and the settings listener, nothing else: no
 * network, no disk scan. The tree loads lazily when it is shown.
 */
export function activate(context: vscode.ExtensionContext): void {
  const started = Date.now();
  const log = vscode.window.createOutputChannel('omlmd', { log: true });
  context.subscriptions.push(log);
  try {
    const services = new Services(context, log);
    const tree = new RegistryTreeProvider(services);
    const view = vscode.window.createTreeView<BrowserNode>('omlmd.registries', { treeDataProvider: tree, showCollapseAll: true, dragAndDropController: new ModelDropController() });
    context.subscriptions.push(services, tree, view, services.onDidChange.event(() => tree.refresh()));
    registerCommands(context, services, tree, view);
    registerSearch(context, services, tree, view);
    registerModelPage(context, services, tree);
    log.info(`omlmd activated in ${Date.now() - started} ms`);
  } catch (e) {
    // VS Code swallows activation errors; say it where the user looks.
    log.error(String((e as Error)?.stack ?? e));
    void vscode.window.showErrorMessage(`omlmd failed to start: ${noLinks(String((e as Error)?.message ?? e))}`, 'Show Output').then((c) => c && log.show());
  }
}

export function deactivate(): void {}
