// First: the VS Code-free modules' strings are looked up through vscode.l10n from their first use.
import './l10nHost';
import type * as vscode from 'vscode';
import { registerCommands } from './commands';
import { registerModelPage } from './modelPage';
import { registerSearch } from './search';
import type { BrowserNode } from './model/browser';
import { Services } from './services';
import { setHost, type Host } from './host';
import { ModelDropController, RegistryTreeProvider } from './tree';

/** What the activator forwards to once this bundle is loaded. */
export interface Started {
  tree: RegistryTreeProvider;
  drop: ModelDropController;
}

/**
 * The extension proper, loaded by the activator (extension.ts) on the first command or the
 * first look at the Models view: the services, the tree behind the view the activator made,
 * the commands (handed to the activator's registrations through `host`). No network here
 * either: the tree loads lazily when VS Code asks for its rows.
 */
export function start(context: vscode.ExtensionContext, log: vscode.LogOutputChannel, view: vscode.TreeView<BrowserNode>, host: Host): Started {
  const started = Date.now();
  setHost(host);
  const services = new Services(context, log);
  const tree = new RegistryTreeProvider(services);
  context.subscriptions.push(services, tree, tree.watch(view), services.onDidChange.event(() => tree.refresh()));
  registerCommands(context, services, tree, view);
  registerSearch(context, services, tree, view);
  registerModelPage(context, services, tree);
  log.info(`omlmd loaded in ${Date.now() - started} ms`);
  return { tree, drop: new ModelDropController() };
}
