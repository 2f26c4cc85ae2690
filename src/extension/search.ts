import * as vscode from 'vscode';
import { registerCommand } from './host';
import { showError } from './errors';
import type { BrowserNode } from './model/browser';
import { describeDoc, ModelFinder, QUERY_EXAMPLES, storeOf } from './model/find';
import type { Services } from './services';
import type { RegistryTreeProvider } from './tree';

const SERVER_TOKEN = 'omlmd.searchServerToken';

type Item = vscode.QuickPickItem & { insert?: string; run?: boolean };

/** "Find Models…" and "Index This Registry": the query language of `omlmd query`, in the editor. */
export function registerSearch(context: vscode.ExtensionContext, services: Services, tree: RegistryTreeProvider, view: vscode.TreeView<BrowserNode>): void {
  let token: string | undefined;
  void context.secrets.get(SERVER_TOKEN).then((t) => (token = t));
  const finder = new ModelFinder(
    () => services.client(),
    () => services.config.registries.map((r) => r.host),
    () => {
      const url = vscode.workspace.getConfiguration('omlmd').get<string>('search.server');
      return url ? { url, token, transport: services.searchTransport() } : undefined;
    },
  );
  let crawled = false;

  const withCrawl = (title: string, run: (signal: AbortSignal) => Promise<void>) =>
    vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, async (_p, ct) => {
      const ac = new AbortController();
      ct.onCancellationRequested(() => ac.abort());
      await run(ac.signal);
    });

  async function indexStores(only?: Extract<BrowserNode, { kind: 'registry' | 'localStore' }>): Promise<void> {
    const store = only ? (only.kind === 'localStore' ? { kind: 'local' as const } : { kind: 'registry' as const, host: only.host }) : undefined;
    const settings = store?.kind === 'registry' ? services.config.registries.find((r) => r.host === store.host) : undefined;
    const title = !store ? vscode.l10n.t('Indexing the Local store and registries…') : store.kind === 'local' ? vscode.l10n.t('Indexing the Local store…') : vscode.l10n.t('Indexing {0}…', store.host);
    await withCrawl(title, async (signal) => {
      const report = await finder.crawl(store, { signal, repositories: settings?.repositories });
      crawled = true;
      for (const p of report.problems) services.log.warn(`index: ${p.target}: ${p.message}`);
      services.log.info(`indexed ${report.indexed} new, ${report.unchanged} unchanged, ${report.removed} removed; ${report.problems.length} problems`);
      if (only) {
        const n = report.indexed + report.unchanged;
        const skipped = report.problems.length;
        void vscode.window.showInformationMessage(skipped
          ? (n === 1 ? vscode.l10n.t('Indexed {0} model ({1} skipped: see Output).', n, skipped) : vscode.l10n.t('Indexed {0} models ({1} skipped: see Output).', n, skipped))
          : (n === 1 ? vscode.l10n.t('Indexed {0} model.', n) : vscode.l10n.t('Indexed {0} models.', n)));
      }
    });
  }

  const register = (id: string, fn: (...args: never[]) => Promise<void>) =>
    context.subscriptions.push(registerCommand(id, async (...args: unknown[]) => {
      try {
        await (fn as (...a: unknown[]) => Promise<void>)(...args);
      } catch (e) {
        await showError(e, services.log, () => vscode.commands.executeCommand(id, ...args));
      }
    }));

  register('omlmd.indexRegistry', async (node?: Extract<BrowserNode, { kind: 'registry' | 'localStore' }>) => indexStores(node));

  register('omlmd.findModels', async () => {
    if (!finder.usesServer && !crawled) await indexStores();
    const fields = await finder.fields().catch(() => [] as string[]);
    const q = await askQuery(fields);
    if (!q) return;
    const res = await finder.search(q.query, { sort: q.sort, desc: true });
    if (res.items.length === 0) {
      void vscode.window.showInformationMessage(vscode.l10n.t('No model matches {0}', q.query));
      return;
    }
    const picked = await vscode.window.showQuickPick(
      res.items.map((d) => ({ label: `$(package) ${(d as unknown as { name?: string }).name ?? d.reference}`, description: d.reference, detail: describeDoc(d), doc: d })),
      {
        // The count, with + when the server has more than it sent.
        title: res.items.length === 1 ? vscode.l10n.t('{0} model for {1}', `1${res.next !== undefined ? '+' : ''}`, q.query) : vscode.l10n.t('{0} models for {1}', `${res.items.length}${res.next !== undefined ? '+' : ''}`, q.query),
        matchOnDescription: true, matchOnDetail: true,
      },
    );
    if (!picked) return;
    const store = storeOf(picked.doc);
    // The model's page in the editor area; the tree shows where it is.
    if (store) void vscode.commands.executeCommand('omlmd.openModelPage', picked.doc.reference);
    if (!store) {
      await vscode.env.clipboard.writeText(picked.doc.reference);
      return;
    }
    if (!(await tree.revealTag(view, store, picked.doc.repository, picked.doc.tag, { expand: true }))) {
      await vscode.env.clipboard.writeText(picked.doc.reference);
      void vscode.window.showInformationMessage(vscode.l10n.t('Copied {0} (not shown in the tree: add its registry or repository)', picked.doc.reference));
    }
  });

  /** A query box whose suggestions are examples and the indexed field names; Enter on the typed text runs it. */
  function askQuery(fields: string[]): Promise<{ query: string; sort?: string } | undefined> {
    return new Promise((resolve) => {
      const qp = vscode.window.createQuickPick<Item>();
      qp.title = vscode.l10n.t('Find models (JSONPath, as omlmd query)');
      qp.placeholder = "$[?@.customProperties.accuracy > 0.95 && @.model_format_name == 'onnx']";
      const base: Item[] = [
        { label: vscode.l10n.t('Examples'), kind: vscode.QuickPickItemKind.Separator },
        ...QUERY_EXAMPLES.map((e) => ({ label: e.query, description: e.description, insert: e.query })),
        { label: vscode.l10n.t('Fields'), kind: vscode.QuickPickItemKind.Separator },
        ...fields.slice(0, 40).map((f) => ({ label: `@.${f}`, description: vscode.l10n.t('insert field'), insert: `@.${f}` })),
      ];
      const refresh = () => {
        const v = qp.value.trim();
        qp.items = v ? [{ label: `$(search) ${v}`, description: vscode.l10n.t('run this query'), run: true, alwaysShow: true }, ...base] : base;
      };
      refresh();
      qp.onDidChangeValue(refresh);
      qp.onDidAccept(() => {
        const item = qp.selectedItems[0];
        if (item?.insert && !item.run) {
          qp.value = item.insert.startsWith('$') ? item.insert : `${qp.value}${item.insert}`;
          return;
        }
        const v = qp.value.trim();
        if (!v) return;
        qp.hide();
        resolve({ query: v });
      });
      qp.onDidHide(() => {
        qp.dispose();
        resolve(undefined);
      });
      qp.show();
    });
  }

  register('omlmd.setSearchServerToken', async () => {
    const t = await vscode.window.showInputBox({ title: vscode.l10n.t('Search server token'), prompt: vscode.l10n.t('Bearer token of omlmd serve (empty to forget it)'), password: true });
    if (t === undefined) return;
    if (t) await context.secrets.store(SERVER_TOKEN, t);
    else await context.secrets.delete(SERVER_TOKEN);
    token = t || undefined;
  });

}
