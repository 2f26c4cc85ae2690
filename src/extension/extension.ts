/**
 * The activator: what VS Code loads and calls at activation. It imports nothing but `vscode`
 * (a bundle of a few KB), registers the Models view, every contributed command and the
 * manifest documents' scheme, and returns. The extension proper (main.ts, dist/extension-main.js:
 * the core, undici, Sigstore, ajv…) is loaded on the first command, the first look at the
 * view or the first manifest document: loading it took most of activation (about 110 ms of
 * compiling and module top-level code), and a window that never opens the view never pays it.
 */
import * as vscode from 'vscode';
import type { BrowserNode } from './model/browser';
import { URI_LIST } from './model/drop';
import { noLinks } from './model/plainText';
import { MANIFEST_SCHEME } from './manifestView';
import type * as Main from './main';


export function activate(context: vscode.ExtensionContext): void {
  const started = Date.now();
  const log = vscode.window.createOutputChannel('omlmd', { log: true });
  context.subscriptions.push(log);
  const handlers = new Map<string, (...args: unknown[]) => unknown>();
  const providers = new Map<string, vscode.TextDocumentContentProvider>();
  const changed = new vscode.EventEmitter<BrowserNode | BrowserNode[] | undefined | void>();
  context.subscriptions.push(changed);
  let started_: Main.Started | undefined;
  let failed: unknown;

  const load = (): Main.Started => {
    if (started_) return started_;
    if (failed) throw failed;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- the second bundle, loaded on first use
      const main = require('./extension-main.js') as typeof Main;
      started_ = main.start(context, log, view, {
        command: (id, handler) => {
          if (!commands.has(id)) return undefined;
          handlers.set(id, handler);
          return new vscode.Disposable(() => handlers.delete(id));
        },
        documents: (scheme, provider) => {
          if (scheme !== MANIFEST_SCHEME) return undefined;
          providers.set(scheme, provider);
          return new vscode.Disposable(() => providers.delete(scheme));
        },
      });
      context.subscriptions.push(started_.tree.onDidChangeTreeData((e) => changed.fire(e)));
      return started_;
    } catch (e) {
      failed = e;
      // VS Code swallows activation errors; say it where the user looks.
      log.error(String((e as Error)?.stack ?? e));
      void vscode.window.showErrorMessage(vscode.l10n.t('omlmd failed to start: {0}', noLinks(String((e as Error)?.message ?? e))), vscode.l10n.t('Show Output')).then((c) => c && log.show());
      throw e;
    }
  };

  const tree: vscode.TreeDataProvider<BrowserNode> = {
    onDidChangeTreeData: changed.event,
    getTreeItem: (n) => load().tree.getTreeItem(n),
    getChildren: (n) => load().tree.getChildren(n),
    getParent: (n) => load().tree.getParent(n),
  };
  const drop: vscode.TreeDragAndDropController<BrowserNode> = {
    dropMimeTypes: [URI_LIST],
    dragMimeTypes: [],
    handleDrop: (target, data) => load().drop.handleDrop(target, data),
  };
  const view = vscode.window.createTreeView<BrowserNode>('omlmd.registries', { treeDataProvider: tree, showCollapseAll: true, dragAndDropController: drop });
  context.subscriptions.push(view);

  context.subscriptions.push(vscode.workspace.registerTextDocumentContentProvider(MANIFEST_SCHEME, {
    provideTextDocumentContent: (uri, token) => {
      load();
      return providers.get(MANIFEST_SCHEME)?.provideTextDocumentContent(uri, token);
    },
  }));

  // Every command the manifest contributes, so that each activates and works at once.
  const contributed = (context.extension.packageJSON as { contributes?: { commands?: { command: string }[] } }).contributes?.commands ?? [];
  const commands = new Set(contributed.map((c) => c.command));
  for (const id of commands) {
    context.subscriptions.push(vscode.commands.registerCommand(id, async (...args: unknown[]) => {
      load();
      const handler = handlers.get(id);
      if (!handler) throw new Error(`omlmd: no handler for ${id}`);
      return handler(...args);
    }));
  }
  log.info(`omlmd activated in ${Date.now() - started} ms`);
}

export function deactivate(): void {}
