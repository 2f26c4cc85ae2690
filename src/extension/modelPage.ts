// The model page: a webview panel (webview/page/) with the model's header, metadata, files,
// lineage, model card, versions chart and a compare view. Same CSP and theme as the metadata
// editor (webview/html.ts). The data is read here, without blocking the extension host (all
// async, each part posted as it arrives, the chart bounded to MAX_VERSION_TAGS tags), by the
// VS Code–free loaders of model/modelPage.ts. The page's buttons run the existing commands.

import { randomBytes, randomUUID } from 'node:crypto';
import * as vscode from 'vscode';
import { registerCommand } from './host';
import { OmlmdError } from '../core/errors';
import { formatReference, parseReference, type Reference } from '../core/oci/reference';
import { editorHtml } from '../../webview/html';
import { isIpcMessage, isMessage, messageFactory, type IpcMessage } from '../../webview/protocol';
import {
  ActionNotification, CompareRequest, CompareResultNotification, HeadersNotification, LineageNotification, ModelCardNotification, OpenNodeNotification, OpenUriNotification,
  PAGE_ACTIONS, PageErrorNotification, PageInitNotification, PageReadyNotification, SignatureNotification, VersionsNotification, type PageAction,
} from '../../webview/pageProtocol';
import { registryOf, showError } from './errors';
import { referenceString, type BrowserNode, type StoreRef } from './model/browser';
import { compareTags, lineageDigests, loadHeaders, loadLineage, loadModelCard, loadModelPage, loadVersions, signatureView } from './model/modelPage';
import { describeForVsCode } from './remedies';
import type { Services } from './services';
import type { RegistryTreeProvider } from './tree';

const COMMANDS: Record<Exclude<PageAction, 'copyReference' | 'copyDigest' | 'refresh'>, string> = {
  pull: 'omlmd.pullToWorkspace',
  editMetadata: 'omlmd.editMetadata',
  buildModelCar: 'omlmd.buildModelCar',
  signModel: 'omlmd.signModel',
  verifyModel: 'omlmd.verifyModel',
  attachFile: 'omlmd.attachFile',
  inspectManifest: 'omlmd.inspectManifest',
};
/** After these the page reads the model again (a new referrer, a new tag). */
const CHANGES: readonly PageAction[] = ['editMetadata', 'buildModelCar', 'signModel', 'attachFile'];

function messageOf(e: unknown): string {
  return e instanceof OmlmdError ? describeForVsCode(e).message : e instanceof Error ? e.message : String(e);
}

function storeOf(ref: Reference): StoreRef {
  if (ref.kind === 'registry') return { kind: 'registry', host: ref.registry };
  if (ref.kind === 'local') return { kind: 'local' };
  throw new OmlmdError('USAGE', vscode.l10n.t('the model page shows models in a registry or the Local store, not an OCI layout ({0})', formatReference(ref)));
}

/** The tree node the existing commands take for this reference (by tag, else by digest). */
function nodeFor(ref: Reference, digest?: string): BrowserNode {
  const store = storeOf(ref);
  const repository = (ref as { repository: string }).repository;
  if (ref.tag && !digest) return { kind: 'tag', id: `page:${formatReference(ref)}`, store, repository, tag: ref.tag };
  const d = digest ?? ref.digest!;
  return { kind: 'referrer', id: `page:${repository}@${d}`, store, repository, digest: d, label: d, description: '', tooltip: '' };
}

/** The reference a command argument names: a tree node, or a reference string (a search result). */
export function pageReference(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  const n = arg as BrowserNode | undefined;
  if (!n || typeof n !== 'object' || !('kind' in n)) return undefined;
  if (n.kind === 'artifact') return formatReference({ ...(n.store.kind === 'local' ? { kind: 'local' as const, repository: n.repository } : { kind: 'registry' as const, registry: n.store.host, repository: n.repository }), tag: n.tag });
  return referenceString(n);
}

class ModelPage {
  readonly panel: vscode.WebviewPanel;
  private readonly make = messageFactory('host');
  /** What was posted, by method, resent when the webview is rebuilt (it is not kept alive while hidden). */
  private readonly sent = new Map<string, IpcMessage>();
  private ready = false;
  private loading?: AbortController;
  private digest?: string;
  private uri?: string;
  private digests = new Set<string>();
  private tags = new Set<string>();
  private readonly session = randomUUID();
  private readonly ref: Reference;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly services: Services,
    private readonly tree: RegistryTreeProvider | undefined,
    readonly reference: string,
    private readonly onDispose: () => void,
  ) {
    this.ref = parseReference(reference);
    storeOf(this.ref);
    const root = vscode.Uri.joinPath(context.extensionUri, 'dist', 'webview');
    const media = vscode.Uri.joinPath(context.extensionUri, 'media');
    const title = this.ref.kind === 'layout' ? reference : `${(this.ref as { repository: string }).repository.split('/').pop()}${this.ref.tag ? `:${this.ref.tag}` : ''}`;
    this.panel = vscode.window.createWebviewPanel('omlmd.modelPage', title, vscode.ViewColumn.Active, { enableScripts: true, localResourceRoots: [root, media] });
    this.panel.iconPath = vscode.Uri.joinPath(media, 'omlmd.svg');
    const { webview } = this.panel;
    const uri = (file: string): string => webview.asWebviewUri(vscode.Uri.joinPath(root, file)).toString();
    webview.html = editorHtml({ cspSource: webview.cspSource, nonce: randomBytes(18).toString('base64'), scriptUri: uri('page.js'), styleUri: uri('page.css'), codiconUri: uri('codicon.css'), title, loading: vscode.l10n.t('Loading the model page…') });
    const subs: vscode.Disposable[] = [];
    subs.push(
      this.panel.onDidDispose(() => {
        this.loading?.abort();
        for (const d of subs) d.dispose();
        this.onDispose();
      }),
      webview.onDidReceiveMessage((raw: unknown) => void this.receive(raw)),
    );
    void this.load();
  }

  private post<T extends Parameters<typeof this.make>[0]>(type: T, params: T['params'], completionId?: string): void {
    const msg = this.make(type, params, completionId);
    if (!completionId) this.sent.set(type.method, msg);
    if (this.ready) void this.panel.webview.postMessage(msg);
  }

  /** Reads the page: the manifest first (posted at once), then each slower part as it arrives. */
  async load(): Promise<void> {
    this.loading?.abort();
    const ac = new AbortController();
    this.loading = ac;
    const { signal } = ac;
    const client = this.services.client();
    const started = Date.now();
    try {
      const { page, info, ref } = await loadModelPage(client, this.reference, this.session, signal);
      if (signal.aborted) return;
      this.digest = page.digest;
      this.uri = page.uriOpenable ? page.uri : undefined;
      this.post(PageInitNotification, { ...page, l10n: vscode.l10n.bundle });
      const pinned = formatReference({ ...ref, tag: undefined, digest: page.digest });
      const parts: Promise<unknown>[] = [
        loadHeaders(client, ref, info, signal).then((h) => !signal.aborted && this.post(HeadersNotification, h)),
        loadLineage(client, ref, page.digest, signal).then(async ({ lineage, referrers }) => {
          if (signal.aborted) return;
          this.digests = lineageDigests(lineage.nodes);
          this.post(LineageNotification, lineage);
          const card = await loadModelCard(client, ref, referrers, signal).catch((e: unknown) => ({ text: vscode.l10n.t('The model card could not be read: {0}', messageOf(e)), truncated: false }));
          if (card && !signal.aborted) this.post(ModelCardNotification, card);
        }),
        loadVersions(client, ref, { signal }).then((v) => {
          if (signal.aborted) return;
          this.tags = new Set(v.versions.map((x) => x.tag));
          this.post(VersionsNotification, v);
          this.services.log.info(`model page ${this.reference}: ${v.readTags} of ${v.totalTags} tags read in ${Date.now() - started} ms`);
        }),
      ];
      if (page.isModel && this.tree) {
        parts.push(this.tree.signatures.state(pinned, page.digest, signal).then(
          (s) => !signal.aborted && this.post(SignatureNotification, { state: signatureView(s) }),
          (e: unknown) => !signal.aborted && this.post(SignatureNotification, { problem: messageOf(e) }),
        ));
      }
      const results = await Promise.allSettled(parts);
      for (const r of results) if (r.status === 'rejected' && !OmlmdError.is(r.reason, 'CANCELLED') && !signal.aborted) this.services.log.warn(`model page ${this.reference}: ${messageOf(r.reason)}`);
    } catch (e) {
      if (signal.aborted || OmlmdError.is(e, 'CANCELLED')) return;
      this.post(PageErrorNotification, { message: messageOf(e) });
    }
  }

  private async receive(raw: unknown): Promise<void> {
    if (!isIpcMessage(raw)) return;
    if (isMessage(raw, PageReadyNotification)) {
      this.ready = true;
      for (const m of this.sent.values()) void this.panel.webview.postMessage(m);
    } else if (isMessage(raw, ActionNotification)) {
      await this.act(raw.params.action);
    } else if (isMessage(raw, OpenUriNotification)) {
      // Only the uri this page showed, and only http(s): never a command: or file: link.
      if (this.uri) await vscode.env.openExternal(vscode.Uri.parse(this.uri, true));
    } else if (isMessage(raw, OpenNodeNotification)) {
      const { digest, tag } = raw.params;
      if (typeof tag === 'string' && this.tags.has(tag)) await openModelPage(this.context, this.services, this.tree, formatReference({ ...this.ref, tag, digest: undefined }));
      else if (typeof digest === 'string' && this.digests.has(digest)) await this.run('omlmd.inspectManifest', nodeFor(this.ref, digest));
    } else if (isMessage(raw, CompareRequest)) {
      const { a, b } = raw.params;
      if (typeof a !== 'string' || typeof b !== 'string' || !this.tags.has(a) || !this.tags.has(b)) return;
      const result = await compareTags(this.services.client(), this.ref, a, b).catch((e: unknown) => ({ a, b, fields: [], files: [], error: messageOf(e) }));
      this.post(CompareResultNotification, result, raw.id);
    }
  }

  private async run(command: string, node: BrowserNode): Promise<void> {
    await vscode.commands.executeCommand(command, node);
  }

  private async act(action: PageAction): Promise<void> {
    if (!PAGE_ACTIONS.includes(action)) return;
    try {
      if (action === 'refresh') return void (await this.load());
      if (action === 'copyReference' || action === 'copyDigest') {
        const text = action === 'copyReference' ? this.reference : this.digest;
        if (!text) return;
        await vscode.env.clipboard.writeText(text);
        vscode.window.setStatusBarMessage(vscode.l10n.t('Copied {0}', text), 3000);
        return;
      }
      // Signing, verifying and pulling name the digest the page shows, so they act on what the user sees.
      const pinned = action === 'editMetadata' || action === 'inspectManifest' ? nodeFor(this.ref) : nodeFor(this.ref, this.digest);
      await this.run(COMMANDS[action], pinned);
      if (CHANGES.includes(action)) await this.load();
    } catch (e) {
      await showError(e, this.services.log, undefined, registryOf(this.reference));
    }
  }
}

const pages = new Map<string, ModelPage>();

/** Opens (or shows again) the page of `reference`. */
export async function openModelPage(context: vscode.ExtensionContext, services: Services, tree: RegistryTreeProvider | undefined, reference: string): Promise<void> {
  const key = formatReference(parseReference(reference));
  const open = pages.get(key);
  if (open) {
    open.panel.reveal();
    return;
  }
  const page = new ModelPage(context, services, tree, key, () => pages.delete(key));
  pages.set(key, page);
}

export function registerModelPage(context: vscode.ExtensionContext, services: Services, tree: RegistryTreeProvider): void {
  context.subscriptions.push(registerCommand('omlmd.openModelPage', async (arg?: unknown) => {
    try {
      let reference = pageReference(arg);
      reference ??= await vscode.window.showInputBox({
        title: vscode.l10n.t('Open Model Page'), prompt: vscode.l10n.t('Reference: host/repo:tag, or repo:tag in the local store'), ignoreFocusOut: true,
        validateInput: (v) => { try { parseReference(v); return undefined; } catch (e) { return (e as Error).message; } },
      });
      if (!reference) return;
      await openModelPage(context, services, tree, reference);
    } catch (e) {
      await showError(e, services.log, () => vscode.commands.executeCommand('omlmd.openModelPage', arg), registryOf(typeof arg === 'string' ? arg : undefined));
    }
  }));
}
