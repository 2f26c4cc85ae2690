import { SignatureStates, trustRootFor } from './model/trustFlow';
import * as vscode from 'vscode';
import { ageOf, fileDescription, nodesForTag, RegistryBrowser, sortTags, TagDates, type BrowserNode, type StoreRef } from './model/browser';
import type { Services } from './services';
import { dropTarget, pathsFromUriList, URI_LIST } from './model/drop';
import { MODELCAR_ARTIFACT_TYPE } from '../core/lineage/modelcar';
import { MODEL_CARD_ARTIFACT_TYPE } from '../core/lineage/modelcard';

/**
 * Files dragged from the Explorer onto a repository (or a registry, the Local store, a tag) are
 * pushed there: the same Push flow as the Explorer's Push Model…, with that target proposed.
 */
export class ModelDropController implements vscode.TreeDragAndDropController<BrowserNode> {
  readonly dropMimeTypes = [URI_LIST];
  readonly dragMimeTypes: string[] = [];

  async handleDrop(target: BrowserNode | undefined, data: vscode.DataTransfer): Promise<void> {
    const where = dropTarget(target);
    const list = await data.get(URI_LIST)?.asString();
    const paths = list ? pathsFromUriList(list) : [];
    if (!where || paths.length === 0) return;
    await vscode.commands.executeCommand('omlmd.pushTo', paths, where);
  }
}

/** Renders the browser's nodes as the Registries tree; "Load more…" pages are appended in place. */
export class RegistryTreeProvider implements vscode.TreeDataProvider<BrowserNode>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<BrowserNode | BrowserNode[] | undefined | void>();
  readonly onDidChangeTreeData = this.emitter.event;
  readonly browser: RegistryBrowser;
  private readonly parents = new Map<string, BrowserNode | undefined>();
  /** Pages fetched with "Load more…", by parent id. */
  private readonly extraPages = new Map<string, BrowserNode[]>();
  /** The tag nodes last returned for a repository, by repository id (their created times are filled in place). */
  private readonly shownTags = new Map<string, Extract<BrowserNode, { kind: 'tag' }>[]>();

  /** Ids of the rows expanded in the view (`watch`). */
  private readonly expanded = new Set<string>();
  private readonly expandedNow = new vscode.EventEmitter<string>();

  /** Follows which rows the view shows expanded, so that a redrawn row keeps its state. */
  watch(view: vscode.TreeView<BrowserNode>): vscode.Disposable {
    return vscode.Disposable.from(
      view.onDidExpandElement((e) => {
        this.expanded.add(e.element.id);
        this.expandedNow.fire(e.element.id);
      }),
      view.onDidCollapseElement((e) => this.expanded.delete(e.element.id)),
    );
  }

  /** Signature states of tag nodes, by digest; cleared with a refresh (a new signature, other keys). */
  readonly signatures: SignatureStates;

  constructor(private readonly services: Services) {
    this.signatures = new SignatureStates(() => services.client(), () => trustRootFor(services.config.trust));
    this.browser = new RegistryBrowser(() => services.client(), () => services.config.registries, undefined, this.signatures);
    // Tags show at once in name order; their created times arrive in the background.
    this.browser.dates = new TagDates(() => services.client(), (repository) => this.datesArrived(repository));
    this.browser.tagSort = () => services.config.tagSort;
    services.onDidChange.event(() => this.signatures.clear());
  }

  /**
   * Created times for a repository's tags arrived. When the order they give is the order shown,
   * only the shown tag rows are redrawn (with their age): redrawing the whole repository would
   * drop a tag the user is expanding at that moment ("No tree item with id", the tag collapsed
   * again). Otherwise the repository is redrawn in its new order.
   */
  private datesArrived(repository: Extract<BrowserNode, { kind: 'repository' }>): void {
    const shown = this.shownTags.get(repository.id);
    const dates = this.browser.dates?.of(repository.id);
    if (!shown || !dates) {
      this.emitter.fire(repository);
      return;
    }
    const order = sortTags(shown.map((t) => t.tag), this.browser.tagSort(), dates);
    if (order.some((tag, i) => tag !== shown[i]?.tag)) {
      this.emitter.fire(repository);
      return;
    }
    const changed: BrowserNode[] = [];
    for (const t of shown) {
      const created = dates.get(t.tag) ?? undefined;
      if (created && t.created !== created) {
        t.created = created;
        changed.push(t);
      }
    }
    if (changed.length > 0) this.emitter.fire(changed);
  }

  /** Full refreshes fired, and the last of them whose roots VS Code has fetched since (for reveal). */
  private refreshes = 0;
  private rootsFetchedFor = 0;
  private readonly rootsFetched = new vscode.EventEmitter<void>();

  refresh(node?: BrowserNode): void {
    this.signatures.clear();
    if (!node) this.browser.dates?.clear();
    if (node) this.extraPages.delete(node.id);
    else {
      this.extraPages.clear();
      this.shownTags.clear();
      this.refreshes++;
    }
    this.emitter.fire(node);
  }

  /** Resolves once VS Code has fetched the roots after the last full refresh (at most `ms`). */
  private settled(ms: number): Promise<void> {
    if (this.rootsFetchedFor >= this.refreshes) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        sub.dispose();
        resolve();
      };
      const timer = setTimeout(done, ms);
      const sub = this.rootsFetched.event(() => {
        if (this.rootsFetchedFor >= this.refreshes) done();
      });
    });
  }

  /**
   * Shows a tag in the view: the root and the repository expanded, the tag selected. A view
   * that was hidden when the tree refreshed (a push from the explorer) replays that refresh
   * when it is shown, racing a reveal made at once (the registry stayed collapsed, nothing
   * selected): so the view is shown first, the refresh awaited, each level revealed in turn,
   * and the selection checked, with a few retries. With `expand`, the tag is expanded too (and
   * that checked: a redraw landing during the reveal, its age arriving, can drop the expand).
   * Returns whether the tag is selected (and expanded).
   */
  async revealTag(view: vscode.TreeView<BrowserNode>, store: StoreRef, repository: string, tag: string, options: { expand?: boolean } = {}): Promise<boolean> {
    if (!view.visible) await vscode.commands.executeCommand('omlmd.registries.focus');
    for (let attempt = 0; attempt < 6; attempt++) {
      await this.settled(5000);
      const t = this.tagNode(store, repository, tag);
      const root = this.parents.get(this.parents.get(t.id)!.id)!;
      const repo = this.parents.get(t.id)!;
      try {
        await view.reveal(root, { expand: true, select: false, focus: false });
        await view.reveal(repo, { expand: true, select: false, focus: false });
        // Selected without taking the focus: a retry seconds later must not pull the focus
        // away from what the user opened since (a quick pick loses it and closes).
        await view.reveal(t, { select: true, focus: false });
      } catch {
        // not found (yet): the refresh is still landing; try again
      }
      if (await selected(view, t.id, 1000)) {
        if (options.expand && !(await this.expandOnce(view, t))) continue;
        await view.reveal(t, { select: true, focus: true }).then(undefined, () => undefined);
        return true;
      }
      await new Promise((r) => setTimeout(r, 300 * (attempt + 1)));
    }
    return false;
  }

  /** Expands `node` and waits (at most a second) for the view to say it is expanded. */
  private async expandOnce(view: vscode.TreeView<BrowserNode>, node: BrowserNode): Promise<boolean> {
    if (this.expanded.has(node.id)) return true;
    const seen = new Promise<boolean>((resolve) => {
      const done = (v: boolean) => {
        clearTimeout(timer);
        sub.dispose();
        resolve(v);
      };
      const timer = setTimeout(() => done(this.expanded.has(node.id)), 1000);
      const sub = this.expandedNow.event((id) => id === node.id && done(true));
    });
    await view.reveal(node, { select: false, focus: false, expand: true }).then(undefined, () => undefined);
    return seen;
  }

  async loadMore(node: Extract<BrowserNode, { kind: 'loadMore' }>): Promise<void> {
    const more = await this.browser.children(node);
    const parentId = node.parent.id;
    const have = (this.extraPages.get(parentId) ?? []).filter((n) => n.kind !== 'loadMore');
    this.extraPages.set(parentId, [...have, ...more]);
    this.emitter.fire(this.parents.get(node.id) ?? node.parent);
  }

  getTreeItem(n: BrowserNode): vscode.TreeItem {
    const C = vscode.TreeItemCollapsibleState;
    const item = (label: string, state: vscode.TreeItemCollapsibleState, icon: string, contextValue: string) => {
      // A row the user expanded stays expanded when it is redrawn (its age arriving, a refresh):
      // VS Code takes the state of a redrawn item from the item.
      const t = new vscode.TreeItem(label, state === C.Collapsed && this.expanded.has(n.id) ? C.Expanded : state);
      t.id = n.id;
      t.iconPath = new vscode.ThemeIcon(icon);
      t.contextValue = contextValue;
      return t;
    };
    switch (n.kind) {
      case 'localStore': {
        const t = item(vscode.l10n.t('Local store'), C.Collapsed, 'database', 'localStore');
        t.description = vscode.l10n.t('on this machine');
        t.tooltip = vscode.l10n.t('The embedded store: an OCI image layout in {0}/store. No server needed.', this.services.client().home);
        return t;
      }
      case 'registry': {
        const t = item(n.host, C.Collapsed, 'server', 'registry');
        t.tooltip = vscode.l10n.t('OCI registry {0}', n.host);
        return t;
      }
      case 'repository': {
        const t = item(n.repository, C.Collapsed, 'repo', 'repository');
        if (n.added) t.description = vscode.l10n.t('added');
        return t;
      }
      case 'tag': {
        const t = item(n.tag, C.Collapsed, 'tag', 'tag');
        const age = n.created ? ageOf(n.created) : undefined;
        if (age) {
          t.description = age;
          t.tooltip = vscode.l10n.t('{0}, created {1}', `${n.repository}:${n.tag}`, String(n.created));
        }
        return t;
      }
      case 'artifact': {
        const t = item(n.label, C.Collapsed, n.isModel ? 'package' : 'file-zip', n.isModel ? 'artifact.model' : 'artifact');
        t.description = n.description;
        t.tooltip = new vscode.MarkdownString(n.tooltip);
        return t;
      }
      case 'referrer': {
        // Under the artifact it refers to; "artifact.referrer" so the artifact menus (pull, inspect, attach) apply.
        const icon = n.artifactType === MODELCAR_ARTIFACT_TYPE ? 'vm' : n.artifactType === MODEL_CARD_ARTIFACT_TYPE ? 'book' : 'references';
        const t = item(n.label, C.Collapsed, icon, 'artifact.referrer');
        t.description = n.description;
        t.tooltip = new vscode.MarkdownString(n.tooltip);
        return t;
      }
      case 'file': {
        const t = item(n.path, C.None, n.encrypted ? 'lock' : n.role === 'model' ? 'file-binary' : 'file', 'file');
        t.description = fileDescription(n);
        t.tooltip = `${n.path}\n${n.mediaType}\n${n.digest}${n.encrypted ? `\n${vscode.l10n.t('Encrypted (ocicrypt): Pull to Workspace decrypts it with a key in omlmd.decryptionKeys')}` : ''}`;
        return t;
      }
      case 'metadata':
        return item(vscode.l10n.t('metadata'), C.Collapsed, 'symbol-property', 'metadata');
      case 'field': {
        const t = item(n.key, C.None, 'symbol-field', 'field');
        t.description = n.value;
        t.tooltip = `${n.key}: ${n.value}`;
        return t;
      }
      case 'loadMore': {
        const t = item(vscode.l10n.t('Load more…'), C.None, 'ellipsis', 'loadMore');
        t.command = { command: 'omlmd.loadMore', title: vscode.l10n.t('Load more'), arguments: [n] };
        return t;
      }
      case 'message': {
        const t = item(n.text, C.None, n.severity === 'error' ? 'error' : 'info', n.severity === 'error' ? 'error' : 'message');
        if (n.fix) {
          t.description = n.fix.title;
          t.command = { command: n.fix.command, title: n.fix.title, arguments: n.fix.args ?? [] };
        }
        t.tooltip = [n.text, n.detail, n.fix ? vscode.l10n.t('Click: {0}', n.fix.title) : undefined].filter(Boolean).join('\n');
        return t;
      }
    }
  }

  async getChildren(n?: BrowserNode): Promise<BrowserNode[]> {
    const generation = this.refreshes;
    let kids = await this.browser.children(n);
    const extra = n ? this.extraPages.get(n.id) : undefined;
    if (extra) kids = [...kids.filter((k) => k.kind !== 'loadMore'), ...extra];
    for (const k of kids) this.parents.set(k.id, n);
    if (n?.kind === 'repository') this.shownTags.set(n.id, kids.filter((k): k is Extract<BrowserNode, { kind: 'tag' }> => k.kind === 'tag'));
    if (!n) {
      this.rootsFetchedFor = Math.max(this.rootsFetchedFor, generation);
      this.rootsFetched.fire();
    }
    return kids;
  }

  getParent(n: BrowserNode): BrowserNode | undefined {
    return this.parents.get(n.id);
  }

  /** Registers the chain root → repository → tag so that `reveal` can walk up to it. */
  tagNode(store: StoreRef, repository: string, tag: string): BrowserNode {
    const { root, repository: repo, tag: t } = nodesForTag(store, repository, tag);
    this.parents.set(root.id, undefined);
    this.parents.set(repo.id, root);
    this.parents.set(t.id, repo);
    return t;
  }

  dispose(): void {
    this.emitter.dispose();
    this.rootsFetched.dispose();
    this.expandedNow.dispose();
  }
}

/** Whether the node `id` is (or within `ms` becomes) the view's selection. */
function selected(view: vscode.TreeView<BrowserNode>, id: string, ms: number): Promise<boolean> {
  if (view.selection.some((s) => s.id === id)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (v: boolean) => {
      clearTimeout(timer);
      sub.dispose();
      resolve(v);
    };
    const timer = setTimeout(() => done(view.selection.some((s) => s.id === id)), ms);
    const sub = view.onDidChangeSelection((e) => {
      if (e.selection.some((s) => s.id === id)) done(true);
    });
  });
}
