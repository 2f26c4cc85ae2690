import { execFile } from 'node:child_process';
import { basename, join } from 'node:path';
import * as vscode from 'vscode';
import { registerCommand, registerTextDocumentContentProvider } from './host';
import { OmlmdError } from '../core/errors';
import type { ModelMetadata } from '../core/model/metadata';
import { formatReference, isLoopbackHost, isValidRepository, isValidTag, parseReference } from '../core/oci/reference';
import { verifyCredentials } from '../core/credentials';
import { normalizeHost, sameHost } from '../core/util/host';
import { pushMetadataUpdate } from '../core/transfer/remetadata';
import { registryOf, showError } from './errors';
import { MANIFEST_SCHEME, ManifestDocuments } from './manifestView';
import { openMetadataEditor } from './metadataEditor';
import { progressReporter } from './progress';
import { exactPathGlob, referenceFor, referenceString, type BrowserNode, type StoreRef } from './model/browser';
import { scanNotebook } from './model/notebookScan';
import { runAttach, runBuildModelCar, type LineageUi } from './model/lineageFlow';
import { attestNotebookPush, pullTarget, runSign, runVerify, signerFor, type TrustUi } from './model/trustFlow';
import { noLinks } from './model/plainText';
import { decryptionKeysFor } from './model/keysFlow';
import { describeSigner } from '../core/trust';
import { detach } from '../core/lineage/api';
import { encryptedFor, runPush, suggestNextTag, targetReference, type PushRequest, type PushTarget, type PushUi } from './model/pushFlow';
import { cellsOf, folderFiles, provenance } from './notebook';
import { updateRegistries, type Services } from './services';
import type { RegistryTreeProvider } from './tree';

const LAST_TARGET = 'omlmd.lastTarget';

type TagLike = Extract<BrowserNode, { kind: 'tag' | 'artifact' | 'metadata' }>;

function isTagLike(n: unknown): n is TagLike {
  const k = (n as BrowserNode | undefined)?.kind;
  return k === 'tag' || k === 'artifact' || k === 'metadata';
}

function storeLabel(s: StoreRef): string {
  return s.kind === 'local' ? vscode.l10n.t('Local store') : s.host;
}

/** `git config user.name`, without blocking the extension host; undefined when unknown. */
function gitAuthor(cwd?: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('git', ['config', 'user.name'], { cwd, timeout: 2000 }, (err, stdout) => resolve(err ? undefined : stdout.trim() || undefined));
  });
}

export function registerCommands(context: vscode.ExtensionContext, services: Services, tree: RegistryTreeProvider, view: vscode.TreeView<BrowserNode>): void {
  const log = services.log;

  const ui: PushUi = {
    editMetadata: async (initial, title, targetHint, found) => (await openMetadataEditor(context, { title, metadata: initial, mode: 'push', targetHint, headers: found?.headers, warnings: found?.warnings }))?.metadata,
    pickTarget: (proposed) => pickTarget(proposed),
    withProgress: (title, run) =>
      Promise.resolve(vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, (progress, token) => {
        const ac = new AbortController();
        token.onCancellationRequested(() => ac.abort());
        return run(progressReporter(progress), ac.signal);
      })),
  };

  /** Registry, repository and tag pickers, remembering the last choice. */
  async function pickTarget(proposed: PushTarget): Promise<PushTarget | undefined> {
    const last = context.globalState.get<PushTarget>(LAST_TARGET);
    const stores: { label: string; description?: string; store: StoreRef }[] = [
      { label: `$(database) ${vscode.l10n.t('Local store')}`, description: vscode.l10n.t('on this machine, no server'), store: { kind: 'local' } },
      ...services.config.registries.map((r) => ({ label: `$(server) ${r.host}`, description: r.defaultRepository ? vscode.l10n.t('default repository {0}', r.defaultRepository) : undefined, store: { kind: 'registry', host: r.host } as StoreRef })),
    ];
    const preferred = proposed.store.kind !== 'local' || !last ? proposed.store : last.store;
    const items = stores.map((s) => ({ ...s, picked: JSON.stringify(s.store) === JSON.stringify(preferred) }));
    items.sort((a, b) => Number(b.picked) - Number(a.picked));
    const chosen = await vscode.window.showQuickPick(items, { title: vscode.l10n.t('Push to (1/3): where'), placeHolder: vscode.l10n.t('Local store or a registry'), ignoreFocusOut: true });
    if (!chosen) return undefined;
    const settings = chosen.store.kind === 'registry' ? services.config.registries.find((r) => sameHost(r.host, (chosen.store as { host: string }).host)) : undefined;
    const repository = await vscode.window.showInputBox({
      title: vscode.l10n.t('Push to (2/3): repository in {0}', storeLabel(chosen.store)),
      value: settings?.defaultRepository && proposed.repository === last?.repository ? settings.defaultRepository : proposed.repository,
      ignoreFocusOut: true,
      validateInput: (v) => (isValidRepository(v) ? undefined : vscode.l10n.t('Lowercase letters, digits and . _ - separators; parts joined by /')),
    });
    if (!repository) return undefined;
    let existing: string[] = [];
    try {
      existing = await services.client().tags(referenceFor(chosen.store, repository));
    } catch {
      existing = []; // a new repository has no tags yet
    }
    const tag = await vscode.window.showInputBox({
      title: vscode.l10n.t('Push to (3/3): tag in {0}', repository),
      value: proposed.tag !== 'v1' ? proposed.tag : suggestNextTag(existing),
      ignoreFocusOut: true,
      prompt: existing.length ? vscode.l10n.t('Existing tags: {0}', `${existing.slice(0, 8).join(', ')}${existing.length > 8 ? ', …' : ''}`) : vscode.l10n.t('A new repository'),
      validateInput: (v) => (!isValidTag(v) ? vscode.l10n.t('Letters, digits, _ . - (at most 128, not starting with . or -)') : existing.includes(v) ? vscode.l10n.t('{0} exists: pushing moves the tag to the new artifact', v) : undefined),
    });
    if (!tag) return undefined;
    const target = { store: chosen.store, repository, tag };
    await context.globalState.update(LAST_TARGET, target);
    return target;
  }

  async function push(req: PushRequest, notebook?: { path: string; digest: string }): Promise<void> {
    const outcome = await runPush(services.client(), ui, { format: services.config.pushFormat, encryptRecipients: services.config.pushEncryptRecipients, mountable: services.config.pushMountable, ...req, author: req.author ?? (await gitAuthor(vscode.workspace.workspaceFolders?.[0]?.uri.fsPath)) });
    if (!outcome) return;
    log.info(`pushed ${outcome.reference}@${outcome.digest}`);
    // With a signing key set, a push from a notebook is recorded in a signed provenance statement.
    if (notebook && services.config.trust.signingKey) {
      try {
        const signer = await signerFor(services.config.trust, trustUi);
        const pinned = `${outcome.reference.replace(/:[^/:@]+$/, '')}@${outcome.digest}`;
        if (signer) {
          const att = await attestNotebookPush(services.client(), pinned, notebook, req.metadata ?? {}, signer, `omlmd-vscode@${String(context.extension.packageJSON.version)}`);
          log.info(`provenance of ${pinned}: ${att.signature.digest} (notebook ${notebook.path})`);
        }
      } catch (e) {
        // The model is pushed either way: say what did not happen.
        log.warn(`no provenance for ${outcome.reference}: ${(e as Error).message}`);
        void vscode.window.showWarningMessage(vscode.l10n.t('Pushed {0}, but its provenance was not recorded: {1}', outcome.reference, noLinks((e as Error).message)));
      }
    }
    tree.refresh();
    // A mountable push is never encrypted (runPush refuses both): one sentence for each.
    const pushed = outcome.image
      ? vscode.l10n.t('Pushed {0}, mountable: an image index with the model and its data-only image ({1})', outcome.reference, outcome.image.platform)
      : outcome.recipients ? vscode.l10n.t('Pushed {0} ({1})', outcome.reference, encryptedFor(outcome.recipients)) : vscode.l10n.t('Pushed {0}', outcome.reference);
    const copy = vscode.l10n.t('Copy Reference');
    const reveal = vscode.l10n.t('Reveal in Tree');
    const choice = await vscode.window.showInformationMessage(pushed, copy, reveal);
    if (choice === copy) await vscode.env.clipboard.writeText(`${outcome.reference}@${outcome.digest}`);
    else if (choice === reveal && !(await tree.revealTag(view, outcome.target.store, outcome.target.repository, outcome.target.tag))) {
      log.warn(`Reveal in Tree: ${outcome.reference} was not found in the view`);
      void vscode.window.showWarningMessage(vscode.l10n.t('{0} is pushed, but the Models view did not show it: expand {1} › {2} (it may be past "Load more…")', outcome.reference, storeLabel(outcome.target.store), outcome.target.repository));
    }
  }

  const register = (id: string, fn: (...args: never[]) => unknown) => {
    context.subscriptions.push(registerCommand(id, async (...args: unknown[]) => {
      try {
        await (fn as (...a: unknown[]) => unknown)(...args);
      } catch (e) {
        const node = args[0] as BrowserNode | undefined;
        const ref = node && typeof node === 'object' && 'kind' in node ? referenceString(node) : typeof args[0] === 'string' ? args[0] : undefined;
        await showError(e, log, () => vscode.commands.executeCommand(id, ...args), registryOf(ref) ?? (node?.kind === 'registry' ? node.host : undefined));
      }
    }));
  };

  register('omlmd.pushModel', async (clicked?: vscode.Uri | BrowserNode, selected?: vscode.Uri[]) => {
    let uris: vscode.Uri[] | undefined;
    let target: Partial<PushTarget> | undefined;
    if (clicked instanceof vscode.Uri) uris = selected?.length ? selected : [clicked];
    else if (clicked && typeof clicked === 'object' && 'kind' in clicked) {
      const n = clicked;
      if (n.kind === 'registry') target = { store: { kind: 'registry', host: n.host } };
      else if (n.kind === 'localStore') target = { store: { kind: 'local' } };
      else if (n.kind === 'repository' || isTagLike(n)) target = { store: n.store, repository: n.repository };
    }
    if (!uris) {
      uris = await vscode.window.showOpenDialog({ canSelectFiles: true, canSelectFolders: true, canSelectMany: true, openLabel: vscode.l10n.t('Push'), title: vscode.l10n.t('Model files or folders to push'), defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri });
      if (!uris?.length) return;
    }
    await push({ paths: uris.map((u) => u.fsPath), target });
  });

  // Files dropped on the Models view (tree.ts ModelDropController): the push flow, that target proposed.
  register('omlmd.pushTo', async (paths: string[], target: Partial<PushTarget>) => {
    if (!Array.isArray(paths) || paths.length === 0) return;
    await push({ paths, target });
  });

  register('omlmd.pushFromNotebook', async (arg?: { notebookEditor?: { notebookUri: vscode.Uri } } | vscode.Uri) => {
    const uri = arg instanceof vscode.Uri ? arg : arg?.notebookEditor?.notebookUri;
    const notebook = (uri && vscode.workspace.notebookDocuments.find((d) => d.uri.toString() === uri.toString())) ?? vscode.window.activeNotebookEditor?.notebook;
    if (!notebook) throw new OmlmdError('USAGE', vscode.l10n.t('Open a notebook first: this pushes the model files a notebook produced.'));
    const scan = scanNotebook(cellsOf(notebook), notebook.uri.fsPath, await folderFiles(notebook.uri.fsPath));
    if (scan.candidates.length === 0) {
      const pick = await vscode.window.showWarningMessage(vscode.l10n.t('No model file found: no save call (joblib.dump, torch.save, onnx.save, model.save…) in the cells and no model file next to the notebook.'), vscode.l10n.t('Choose Files…'));
      if (pick) await vscode.commands.executeCommand('omlmd.pushModel');
      return;
    }
    const picked = await vscode.window.showQuickPick(
      scan.candidates.map((c) => ({ label: vscode.workspace.asRelativePath(c.path, false), description: c.exists ? c.reason : vscode.l10n.t('{0} (not on disk: run the notebook first)', c.reason), picked: c.exists && !c.link, path: c.path, exists: c.exists })),
      { canPickMany: true, title: vscode.l10n.t('Push model from {0}', basename(notebook.uri.fsPath)), placeHolder: vscode.l10n.t('Model files this notebook produced'), ignoreFocusOut: true },
    );
    if (!picked?.length) return;
    const missing = picked.filter((p) => !p.exists);
    if (missing.length) {
      const names = missing.map((m) => m.label).join(', ');
      throw new OmlmdError('NOT_FOUND', missing.length === 1 ? vscode.l10n.t('{0} not found: run the notebook to write it first', names) : vscode.l10n.t('{0} not found: run the notebook to write them first', names));
    }
    const metadata: ModelMetadata = { name: scan.name };
    if (scan.modelFormatName) metadata.model_format_name = scan.modelFormatName;
    if (Object.keys(scan.metrics).length) metadata.customProperties = { ...scan.metrics };
    if (scan.framework) metadata.customProperties = { framework: scan.framework, ...(metadata.customProperties ?? {}) };
    const annotations = await provenance(notebook);
    await push({ paths: picked.map((p) => p.path), metadata, annotations }, { path: annotations['dev.omlmd.notebook.path']!, digest: annotations['dev.omlmd.notebook.digest']! });
  });

  register('omlmd.newMetadata', async () => {
    await openMetadataEditor(context, { title: vscode.l10n.t('New model metadata'), metadata: { name: '' }, mode: 'new' });
  });

  register('omlmd.addRegistry', async () => {
    const host = await vscode.window.showInputBox({
      title: vscode.l10n.t('Add Registry'), prompt: vscode.l10n.t('host[:port] of an OCI registry'), placeHolder: 'quay.io, ghcr.io, localhost:5000', ignoreFocusOut: true,
      validateInput: (v) => {
        // A scheme and trailing slashes are how people paste a host; a path is a mistake, not dropped silently.
        if (!/^(\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?)(:\d{1,5})?$/.test(v.trim().replace(/^https?:\/\//i, '').replace(/\/+$/, ''))) return vscode.l10n.t('Write host or host:port, e.g. quay.io or localhost:5000');
        const h = normalizeHost(v);
        return services.config.registries.some((r) => sameHost(r.host, h)) ? vscode.l10n.t('{0} is already in the list', h) : undefined;
      },
    });
    if (!host) return;
    const h = normalizeHost(host);
    let plainHttp: boolean | undefined;
    if (!isLoopbackHost(h)) {
      const plain = vscode.l10n.t('Plain HTTP');
      const mode = await vscode.window.showQuickPick([{ label: 'HTTPS', description: vscode.l10n.t('recommended') }, { label: plain, description: vscode.l10n.t('unencrypted, for test registries') }], { title: vscode.l10n.t('How to reach {0}', h) });
      if (!mode) return;
      plainHttp = mode.label === plain ? true : undefined;
    }
    await updateRegistriesAndRefresh((rs) => [...rs, { host: h, ...(plainHttp ? { plainHttp } : {}) }]);
  });

  async function updateRegistriesAndRefresh(f: Parameters<typeof updateRegistries>[0]): Promise<void> {
    await updateRegistries(f);
    tree.refresh();
  }

  const hostOf = (arg: unknown): string | undefined => (typeof arg === 'string' ? arg : (arg as BrowserNode | undefined)?.kind === 'registry' ? (arg as { host: string }).host : undefined);

  async function pickRegistry(title: string): Promise<string | undefined> {
    const hosts = services.config.registries.map((r) => r.host);
    if (hosts.length === 0) throw new OmlmdError('USAGE', vscode.l10n.t('No registry configured: add one with "omlmd: Add Registry…"'));
    return vscode.window.showQuickPick(hosts, { title });
  }

  register('omlmd.removeRegistry', async (arg?: unknown) => {
    const host = hostOf(arg) ?? (await pickRegistry(vscode.l10n.t('Remove which registry?')));
    if (!host) return;
    const remove = vscode.l10n.t('Remove');
    const ok = await vscode.window.showWarningMessage(vscode.l10n.t('Remove {0} from the Models view? Its saved credentials are forgotten too; nothing in the registry changes.', host), { modal: true }, remove);
    if (ok !== remove) return;
    await services.deleteCredentials(host);
    await updateRegistriesAndRefresh((rs) => rs.filter((r) => !sameHost(r.host, host)));
  });

  register('omlmd.signIn', async (arg?: unknown) => {
    const host = hostOf(arg) ?? (await pickRegistry(vscode.l10n.t('Sign in to which registry?')));
    if (!host) return;
    const username = await vscode.window.showInputBox({ title: vscode.l10n.t('Sign in to {0} (1/2)', host), prompt: vscode.l10n.t('User name'), ignoreFocusOut: true });
    if (username === undefined) return;
    const password = await vscode.window.showInputBox({ title: vscode.l10n.t('Sign in to {0} (2/2)', host), prompt: vscode.l10n.t('Password or access token'), password: true, ignoreFocusOut: true });
    if (password === undefined) return;
    const creds = { username, password };
    // Verify before saving, so a typo is caught now and not at the next push.
    await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Checking credentials with {0}…', host) }, () =>
      verifyCredentials(host, creds, services.registryRequestOptions(host)));
    await services.storeCredentials(host, creds);
    tree.refresh();
    void vscode.window.showInformationMessage(vscode.l10n.t('Signed in to {0} as {1}.', host, username));
  });

  register('omlmd.refresh', (node?: BrowserNode) => tree.refresh(node && node.kind !== 'message' ? node : undefined));

  register('omlmd.loadMore', (node: Extract<BrowserNode, { kind: 'loadMore' }>) => tree.loadMore(node));

  register('omlmd.addRepository', async (arg?: unknown) => {
    const host = hostOf(arg) ?? (await pickRegistry(vscode.l10n.t('Add a repository to which registry?')));
    if (!host) return;
    const repository = await vscode.window.showInputBox({ title: vscode.l10n.t('Add Repository to {0}', host), prompt: vscode.l10n.t('A repository to show (for registries that do not list theirs)'), placeHolder: 'org/model', ignoreFocusOut: true, validateInput: (v) => (isValidRepository(v) ? undefined : vscode.l10n.t('Lowercase letters, digits and . _ - separators; parts joined by /')) });
    if (!repository) return;
    await updateRegistriesAndRefresh((rs) => rs.map((r) => (sameHost(r.host, host) ? { ...r, repositories: [...new Set([...(r.repositories ?? []), repository])] } : r)));
  });

  async function tagRef(arg: unknown, verb: string): Promise<{ node?: TagLike; reference: string }> {
    if (isTagLike(arg)) return { node: arg, reference: referenceString(arg)! };
    if ((arg as BrowserNode | undefined)?.kind === 'referrer') return { reference: referenceString(arg as BrowserNode)! };
    const reference = await vscode.window.showInputBox({ title: verb, prompt: vscode.l10n.t('Reference: host/repo:tag, or repo:tag in the local store'), ignoreFocusOut: true, validateInput: (v) => { try { parseReference(v); return undefined; } catch (e) { return (e as Error).message; } } });
    if (!reference) throw new OmlmdError('CANCELLED', 'cancelled');
    return { reference };
  }

  register('omlmd.pullToWorkspace', async (arg?: unknown) => {
    const { reference, node } = await tagRef(arg, vscode.l10n.t('Pull to Workspace'));
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const repoName = node ? node.repository.split('/').pop()! : parseReference(reference).kind === 'layout' ? 'model' : reference.split(/[/:@]/).filter(Boolean).slice(-2, -1)[0] ?? 'model';
    const subfolder = node ? `${repoName}-${node.tag}` : repoName;
    // The usual answer first (a new folder in the workspace); any other folder through the dialog.
    const choices = [
      ...(folder ? [{ label: `$(folder) ${vscode.workspace.asRelativePath(vscode.Uri.joinPath(folder, subfolder), true)}`, description: vscode.l10n.t('new folder in the workspace'), dir: vscode.Uri.joinPath(folder, subfolder).fsPath }] : []),
      { label: `$(folder-opened) ${vscode.l10n.t('Choose a folder…')}`, description: vscode.l10n.t('files go into a subfolder {0}', subfolder), dir: '' },
    ];
    const where = await vscode.window.showQuickPick(choices, { title: vscode.l10n.t('Pull {0} into', reference) });
    if (!where) return;
    let out = where.dir;
    if (!out) {
      const picked = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, defaultUri: folder, openLabel: vscode.l10n.t('Pull here'), title: vscode.l10n.t('Pull {0}', reference) });
      if (!picked?.[0]) return;
      out = join(picked[0].fsPath, subfolder);
    }
    const res = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Pulling {0}', reference), cancellable: true }, (progress, token) => {
      const ac = new AbortController();
      token.onCancellationRequested(() => ac.abort());
      return (async () => {
        // Under the trust policy (omlmd.trust.policyFile): verified first, pulled by the verified digest; a refusal writes nothing.
        const target = await pullTarget(services.client(), reference, services.config.trust, ac.signal);
        if (target.decision) log.info(`policy: ${reference} allowed by rule ${target.decision.rule}${target.decision.verified ? `, signature verified (${describeSigner(target.decision.verified.signer)})` : ''}`);
        const decryptionKeys = await decryptionKeysFor(services.config.decryptionKeys, (path) => Promise.resolve(vscode.window.showInputBox({ title: vscode.l10n.t('Decryption key passphrase'), prompt: vscode.l10n.t('The passphrase of {0}', path), password: true, ignoreFocusOut: true })));
        return services.client().pull(target.reference, out, { signal: ac.signal, onProgress: progressReporter(progress), concurrency: services.config.concurrency, decryptionKeys });
      })();
    });
    log.info(`pulled ${res.reference} into ${out}`);
    const into = vscode.workspace.asRelativePath(out);
    const choice = await vscode.window.showInformationMessage(res.files.length === 1 ? vscode.l10n.t('Pulled {0} file into {1}', res.files.length, into) : vscode.l10n.t('Pulled {0} files into {1}', res.files.length, into), vscode.l10n.t('Reveal in Explorer'));
    if (choice) await vscode.commands.executeCommand('revealInExplorer', vscode.Uri.file(res.files[0]?.path ?? out));
  });

  register('omlmd.pullFile', async (file: Extract<BrowserNode, { kind: 'file' }>) => {
    if (file?.kind !== 'file' || !file.owner) throw new OmlmdError('USAGE', vscode.l10n.t('Pull This File… works on a file row of the Models view.'));
    const reference = formatReference(referenceFor(file.owner.store, file.owner.repository, undefined, file.owner.digest));
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const picked = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, defaultUri: folder, openLabel: vscode.l10n.t('Pull here'), title: vscode.l10n.t('Pull {0} into', file.path) });
    if (!picked?.[0]) return;
    const out = picked[0].fsPath;
    // One file of the artifact: its exact path as the only include (glob characters escaped).
    const include = [exactPathGlob(file.path)];
    const res = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Pulling {0}', file.path), cancellable: true }, (progress, token) => {
      const ac = new AbortController();
      token.onCancellationRequested(() => ac.abort());
      return (async () => {
        const decryptionKeys = file.encrypted ? await decryptionKeysFor(services.config.decryptionKeys, (path) => Promise.resolve(vscode.window.showInputBox({ title: vscode.l10n.t('Decryption key passphrase'), prompt: vscode.l10n.t('The passphrase of {0}', path), password: true, ignoreFocusOut: true }))) : undefined;
        return services.client().pull(reference, out, { signal: ac.signal, onProgress: progressReporter(progress), include, decryptionKeys });
      })();
    });
    const written = res.files.find((f) => f.title === file.path) ?? res.files[0];
    log.info(`pulled ${file.path} of ${reference} into ${out}`);
    const choice = await vscode.window.showInformationMessage(vscode.l10n.t('Pulled {0} into {1}', file.path, vscode.workspace.asRelativePath(out)), vscode.l10n.t('Reveal in Explorer'));
    if (choice) await vscode.commands.executeCommand('revealInExplorer', vscode.Uri.file(written?.path ?? out));
  });

  register('omlmd.editMetadata', async (arg?: unknown) => {
    const { reference } = await tagRef(arg, vscode.l10n.t('Edit Metadata'));
    const client = services.client();
    const { metadata } = await client.metadata(reference);
    const ref = parseReference(reference);
    const edited = await openMetadataEditor(context, { title: vscode.l10n.t('Metadata of {0}', reference), metadata, mode: 'edit', targetHint: reference });
    if (!edited) return;
    const existing = await client.tags({ ...ref, tag: undefined, digest: undefined });
    const newTag = await vscode.window.showInputBox({
      title: vscode.l10n.t('Save edited metadata as a new tag'), prompt: vscode.l10n.t('Model files are reused; the artifact with the new metadata gets a new tag ({0} stays as it is).', ref.tag ?? 'latest'),
      value: suggestNextTag(existing), ignoreFocusOut: true,
      validateInput: (v) => (!isValidTag(v) ? vscode.l10n.t('Letters, digits, _ . - (at most 128)') : existing.includes(v) ? vscode.l10n.t('{0} exists; tags are never rewritten here: choose a new one', v) : undefined),
    });
    if (!newTag) return;
    const repo = await client.repository(ref);
    const d = await pushMetadataUpdate(repo, ref.digest ?? ref.tag ?? 'latest', edited.metadata, newTag);
    tree.refresh();
    void vscode.window.showInformationMessage(vscode.l10n.t('Pushed {0} ({1}…)', targetReference({ store: ref.kind === 'local' ? { kind: 'local' } : { kind: 'registry', host: (ref as { registry: string }).registry }, repository: (ref as { repository: string }).repository, tag: newTag }), d.digest.slice(0, 19)));
  });

  register('omlmd.copyReference', async (arg?: unknown) => {
    const ref = referenceString(arg as BrowserNode);
    if (!ref) return;
    await vscode.env.clipboard.writeText(ref);
    vscode.window.setStatusBarMessage(vscode.l10n.t('Copied {0}', ref), 3000);
  });

  // The setting's change refreshes the tree (Services fires onDidChange for omlmd.*).
  const sortTags = (by: 'created' | 'name') => vscode.workspace.getConfiguration('omlmd').update('tree.tagSort', by, vscode.ConfigurationTarget.Global);
  register('omlmd.sortTagsByName', () => sortTags('name'));
  register('omlmd.sortTagsByCreated', () => sortTags('created'));

  register('omlmd.copyDigest', async (arg?: unknown) => {
    if ((arg as BrowserNode | undefined)?.kind === 'file') {
      const digest = (arg as Extract<BrowserNode, { kind: 'file' }>).digest;
      await vscode.env.clipboard.writeText(digest);
      vscode.window.setStatusBarMessage(vscode.l10n.t('Copied {0}', digest), 3000);
      return;
    }
    const { reference, node } = await tagRef(arg, vscode.l10n.t('Copy Digest'));
    const digest = node?.kind === 'artifact' ? node.digest : (parseReference(reference).digest ?? (await (await services.client().repository(reference)).resolve(parseReference(reference).tag ?? 'latest')).digest);
    await vscode.env.clipboard.writeText(digest);
    vscode.window.setStatusBarMessage(vscode.l10n.t('Copied {0}', digest), 3000);
  });

  context.subscriptions.push(registerTextDocumentContentProvider(MANIFEST_SCHEME, new ManifestDocuments(services)));
  register('omlmd.inspectManifest', async (arg?: unknown) => {
    const { reference } = await tagRef(arg, vscode.l10n.t('Inspect Manifest'));
    const doc = await vscode.workspace.openTextDocument(ManifestDocuments.uriFor(reference));
    await vscode.languages.setTextDocumentLanguage(doc, 'json');
    await vscode.window.showTextDocument(doc, { preview: true });
  });

  register('omlmd.tag', async (arg?: unknown) => {
    const { reference } = await tagRef(arg, vscode.l10n.t('Tag'));
    const ref = parseReference(reference);
    const existing = await services.client().tags({ ...ref, tag: undefined, digest: undefined });
    const newTag = await vscode.window.showInputBox({ title: vscode.l10n.t('Add a tag to {0}', reference), ignoreFocusOut: true, validateInput: (v) => (!isValidTag(v) ? vscode.l10n.t('Letters, digits, _ . - (at most 128)') : existing.includes(v) ? vscode.l10n.t('{0} exists', v) : undefined) });
    if (!newTag) return;
    await services.client().tag(reference, newTag);
    tree.refresh();
  });

  register('omlmd.deleteTag', async (arg?: unknown) => {
    const deleteTag = vscode.l10n.t('Delete Tag');
    const { reference } = await tagRef(arg, deleteTag);
    const ok = await vscode.window.showWarningMessage(vscode.l10n.t('Delete tag {0}? The artifact stays reachable by digest and by its other tags.', reference), { modal: true }, deleteTag);
    if (ok !== deleteTag) return;
    await services.client().deleteTag(reference);
    tree.refresh();
  });

  const lineageUi: LineageUi = {
    pickFiles: async (subject) => (await vscode.window.showOpenDialog({ canSelectFiles: true, canSelectFolders: true, canSelectMany: true, openLabel: vscode.l10n.t('Attach'), title: vscode.l10n.t('Files to attach to {0}', subject), defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri }))?.map((u) => u.fsPath),
    pickArtifactType: (choices) => Promise.resolve(vscode.window.showQuickPick(choices, { title: vscode.l10n.t('Attach as'), placeHolder: vscode.l10n.t('The artifact type: discover filters on it') })),
    askArtifactType: () => Promise.resolve(vscode.window.showInputBox({ title: vscode.l10n.t('Artifact type'), prompt: vscode.l10n.t('A media type, e.g. application/vnd.example.report.v1+json'), ignoreFocusOut: true, validateInput: (v) => (/^[A-Za-z0-9][\w!#$&^.+-]*\/[A-Za-z0-9][\w!#$&^.+-]*$/.test(v) ? undefined : vscode.l10n.t('type/subtype')) })),
    pickImageTarget: (proposed, model) => Promise.resolve(vscode.window.showInputBox({
      title: vscode.l10n.t('ModelCar image of {0}', model), prompt: vscode.l10n.t("Where to push the image; in the model's repository, discover on the model lists it"), value: proposed, ignoreFocusOut: true,
      validateInput: (v) => { try { parseReference(v); return undefined; } catch (e) { return (e as Error).message; } },
    })),
    pickBase: async () => {
      const pick = await vscode.window.showQuickPick([
        { label: vscode.l10n.t('Minimal base'), description: vscode.l10n.t('busybox-static from this machine (sh, ln, sleep, ls)'), base: null as string | null },
        { label: vscode.l10n.t('Another image…'), description: vscode.l10n.t('a runnable base image with sh, ln and sleep'), base: '' },
      ], { title: vscode.l10n.t('Base image') });
      if (!pick) return undefined;
      if (pick.base === null) return null;
      return vscode.window.showInputBox({ title: vscode.l10n.t('Base image'), prompt: vscode.l10n.t('host/repo:tag of a runnable image'), ignoreFocusOut: true, validateInput: (v) => { try { parseReference(v); return undefined; } catch (e) { return (e as Error).message; } } });
    },
    withProgress: ui.withProgress,
  };

  register('omlmd.attachFile', async (arg?: unknown) => {
    const { reference } = await tagRef(arg, vscode.l10n.t('Attach File'));
    const out = await runAttach(services.client(), reference, lineageUi);
    if (!out) return;
    log.info(`attached ${out.reference} (${out.source})`);
    tree.refresh();
    const choice = await vscode.window.showInformationMessage(vscode.l10n.t('Attached to {0}: {1}…', reference, out.digest.slice(0, 19)), vscode.l10n.t('Copy Reference'));
    if (choice) await vscode.env.clipboard.writeText(out.reference);
  });

  register('omlmd.buildModelCar', async (arg?: unknown) => {
    const { reference } = await tagRef(arg, vscode.l10n.t('Build ModelCar Image'));
    const out = await runBuildModelCar(services.client(), reference, lineageUi);
    if (!out) return;
    log.info(`built ${out.reference}`);
    tree.refresh();
    const built = out.sameRepository ? vscode.l10n.t('Built the ModelCar image {0}', out.reference) : vscode.l10n.t('Built the ModelCar image {0} (in another repository: discover on the model there will not list it)', out.reference);
    const choice = await vscode.window.showInformationMessage(built, vscode.l10n.t('Copy Reference'));
    if (choice) await vscode.env.clipboard.writeText(out.reference);
  });

  register('omlmd.deleteReferrer', async (arg?: unknown) => {
    const { reference } = await tagRef(arg, vscode.l10n.t('Delete Referrer'));
    const del = vscode.l10n.t('Delete');
    const ok = await vscode.window.showWarningMessage(vscode.l10n.t('Delete {0}? It is removed from the registry and from the list of what refers to its subject.', reference), { modal: true }, del);
    if (ok !== del) return;
    await detach(services.client(), reference);
    tree.refresh();
  });

  const passphraseKey = (path: string) => `omlmd.signingKey/${path}`;
  const trustUi: TrustUi = {
    pickFile: async (title) => (await vscode.window.showOpenDialog({ canSelectFiles: true, canSelectMany: false, openLabel: vscode.l10n.t('Use'), title, filters: { [vscode.l10n.t('PEM files')]: ['pem', 'key', 'pub', 'crt'], [vscode.l10n.t('All files')]: ['*'] } }))?.[0]?.fsPath,
    passphrase: async (path) => {
      const kept = await context.secrets.get(passphraseKey(path));
      if (kept !== undefined) return kept;
      const typed = await vscode.window.showInputBox({ title: vscode.l10n.t('Signing key passphrase'), prompt: vscode.l10n.t('The passphrase of {0}', path), password: true, ignoreFocusOut: true });
      if (typed !== undefined && services.config.rememberPassphrase) await context.secrets.store(passphraseKey(path), typed);
      return typed;
    },
    forgetPassphrase: async (path) => {
      await context.secrets.delete(passphraseKey(path));
    },
  };

  register('omlmd.signModel', async (arg?: unknown) => {
    const { reference } = await tagRef(arg, vscode.l10n.t('Sign Model'));
    const out = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Signing {0}', reference), cancellable: true }, (_p, token) => {
      const ac = new AbortController();
      token.onCancellationRequested(() => ac.abort());
      return runSign(services.client(), reference, services.config.trust, trustUi, ac.signal);
    });
    if (!out) return;
    const n = out.files?.length ?? 0;
    log.info(`signed ${reference}: signature ${out.signature.digest} by ${out.signer} (${out.source})`);
    tree.refresh();
    void vscode.window.showInformationMessage(n === 1 ? vscode.l10n.t('Signed {0}: {1} file, by {2}', reference, n, out.signer) : vscode.l10n.t('Signed {0}: {1} files, by {2}', reference, n, out.signer));
  });

  register('omlmd.verifyModel', async (arg?: unknown) => {
    const { reference } = await tagRef(arg, vscode.l10n.t('Verify Signature'));
    const v = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Verifying {0}', reference), cancellable: true }, (_p, token) => {
      const ac = new AbortController();
      token.onCancellationRequested(() => ac.abort());
      return runVerify(services.client(), reference, services.config.trust, trustUi, ac.signal);
    });
    if (!v) return;
    log.info(`verified ${v.reference}: ${v.files.length} files, signed by ${describeSigner(v.signer)}`);
    void vscode.window.showInformationMessage(v.files.length === 1 ? vscode.l10n.t('Verified {0}: {1} file as signed by {2}; no weights were read', reference, v.files.length, describeSigner(v.signer)) : vscode.l10n.t('Verified {0}: {1} files as signed by {2}; no weights were read', reference, v.files.length, describeSigner(v.signer)));
  });

  register('omlmd.showOutput', () => log.show());
}
