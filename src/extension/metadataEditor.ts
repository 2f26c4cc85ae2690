// The host side of the metadata editor webview (webview/main.ts): opens the panel, answers
// its messages, and resolves once the user pushes, cancels or closes it.

import { randomBytes, randomUUID } from 'node:crypto';
import * as vscode from 'vscode';
import { OmlmdError } from '../core/errors';
import { metadataToJson, metadataToYaml, validateMetadata, type ModelMetadata } from '../core/model/metadata';
import { writeFileAtomic } from '../core/util/atomic';
import { editorHtml } from '../../webview/html';
import { describeForVsCode } from './remedies';
import {
  BusyNotification,
  CancelNotification,
  ChangedNotification,
  ErrorNotification,
  InitNotification,
  isIpcMessage,
  isMessage,
  messageFactory,
  PushRequest,
  ReadyNotification,
  SaveAsRequest,
  ValidationResultNotification,
  type EditorMode,
  type MessageOf,
  type TextFormat,
} from '../../webview/protocol';

export interface MetadataEditorOptions {
  title: string;
  metadata: ModelMetadata;
  mode: EditorMode;
  /** Where a push goes, shown under the title. */
  targetHint?: string;
  /** Shows the metadata without Push; Save as file still works. */
  readOnly?: boolean;
  /** What the model files' headers say, and what to beware of in them (InitParams). */
  headers?: string[];
  warnings?: string[];
}

export type MetadataEditorResult = { action: 'push'; metadata: ModelMetadata } | undefined;

const SOURCE = 'the metadata editor';

/** An error for the editor's own message line: ours with its remedies in VS Code's words (remedies.ts). */
function messageOf(e: unknown): string {
  return e instanceof OmlmdError ? describeForVsCode(e).message : e instanceof Error ? e.message : String(e);
}

function fileStem(name: string | null | undefined): string {
  const stem = (name ?? '').toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[-.]+|-+$/g, '');
  return stem || 'model';
}

/**
 * Never a half-written file under the chosen name. On disk that is core's writeFileAtomic (a
 * sibling written, synced, renamed over: one rename(2)); VS Code's own rename with overwrite
 * deletes the target first, so it is only the way for other schemes.
 */
async function writeAtomically(target: vscode.Uri, bytes: Uint8Array): Promise<void> {
  if (target.scheme === 'file') return writeFileAtomic(target.fsPath, bytes);
  const tmp = target.with({ path: `${target.path}.${randomBytes(6).toString('hex')}.incomplete` });
  try {
    await vscode.workspace.fs.writeFile(tmp, bytes);
    await vscode.workspace.fs.rename(tmp, target, { overwrite: true });
  } catch (e) {
    await Promise.resolve(vscode.workspace.fs.delete(tmp)).catch(() => undefined);
    throw e;
  }
}

/**
 * Opens the editor on `metadata`. Resolves with the metadata when the user pushes it (checked
 * again here with the core's validateMetadata), or undefined on Cancel or when the panel is
 * closed. "Save as file" is handled here and does not resolve.
 */
export function openMetadataEditor(context: vscode.ExtensionContext, options: MetadataEditorOptions): Promise<MetadataEditorResult> {
  const root = vscode.Uri.joinPath(context.extensionUri, 'dist', 'webview');
  const media = vscode.Uri.joinPath(context.extensionUri, 'media');
  // No retainContextWhenHidden: the webview keeps its edits with setState and is rebuilt on
  // show, which costs far less memory than a hidden page kept alive.
  const panel = vscode.window.createWebviewPanel('omlmd.metadataEditor', options.title, vscode.ViewColumn.Active, {
    enableScripts: true,
    localResourceRoots: [root, media],
  });
  panel.iconPath = vscode.Uri.joinPath(media, 'omlmd.svg');
  const { webview } = panel;
  const uri = (file: string): string => webview.asWebviewUri(vscode.Uri.joinPath(root, file)).toString();
  webview.html = editorHtml({
    cspSource: webview.cspSource,
    nonce: randomBytes(18).toString('base64'),
    scriptUri: uri('main.js'),
    styleUri: uri('main.css'),
    codiconUri: uri('codicon.css'),
    title: options.title,
    loading: vscode.l10n.t('Loading the metadata editor…'),
  });

  const session = randomUUID();
  const make = messageFactory('host');
  let done = false;
  const send = <T extends Parameters<typeof make>[0]>(type: T, params: T['params'], completionId?: string): void => {
    if (!done) void webview.postMessage(make(type, params, completionId));
  };

  return new Promise<MetadataEditorResult>((resolve) => {
    const subscriptions: vscode.Disposable[] = [];
    const finish = (result: MetadataEditorResult): void => {
      if (done) return;
      done = true;
      for (const d of subscriptions) d.dispose();
      resolve(result);
      panel.dispose();
    };

    async function saveAs(msg: MessageOf<typeof SaveAsRequest>): Promise<void> {
      let metadata: ModelMetadata;
      try {
        metadata = validateMetadata(msg.params.metadata, SOURCE);
      } catch (e) {
        send(ValidationResultNotification, { valid: false, errors: [messageOf(e)] }, msg.id);
        return;
      }
      const format: TextFormat = msg.params.format === 'json' ? 'json' : 'yaml';
      const filters: Record<string, string[]> = format === 'json' ? { JSON: ['json'], YAML: ['yaml', 'yml'] } : { YAML: ['yaml', 'yml'], JSON: ['json'] };
      const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
      // *.omlmd.json is in package.json's jsonValidation: VS Code checks the saved file too.
      const name = `${fileStem(metadata.name)}.omlmd.${format}`;
      send(BusyNotification, { busy: true, message: vscode.l10n.t('Saving…') });
      try {
        const target = await vscode.window.showSaveDialog({ title: vscode.l10n.t('Save model metadata'), saveLabel: vscode.l10n.t('Save'), filters, defaultUri: folder ? vscode.Uri.joinPath(folder, name) : undefined });
        if (target) {
          const chosen: TextFormat = /\.json$/i.test(target.path) ? 'json' : /\.ya?ml$/i.test(target.path) ? 'yaml' : format;
          await writeAtomically(target, chosen === 'json' ? metadataToJson(metadata) : metadataToYaml(metadata));
          void vscode.window.showInformationMessage(vscode.l10n.t('Saved the metadata to {0}', vscode.workspace.asRelativePath(target)));
        }
        send(ValidationResultNotification, { valid: true, errors: [] }, msg.id);
      } catch (e) {
        send(ErrorNotification, { message: vscode.l10n.t('Could not save the metadata: {0}', messageOf(e)) });
      } finally {
        send(BusyNotification, { busy: false });
      }
    }

    subscriptions.push(
      panel.onDidDispose(() => finish(undefined)),
      webview.onDidReceiveMessage((raw: unknown) => {
        if (!isIpcMessage(raw)) return;
        if (isMessage(raw, ReadyNotification)) {
          send(InitNotification, { session, title: options.title, mode: options.mode, metadata: options.metadata, targetHint: options.targetHint, readOnly: options.readOnly, headers: options.headers, warnings: options.warnings, l10n: vscode.l10n.bundle });
        } else if (isMessage(raw, ChangedNotification)) {
          panel.title = raw.params.dirty ? `● ${options.title}` : options.title;
        } else if (isMessage(raw, PushRequest)) {
          if (options.readOnly || options.mode === 'new') return;
          try {
            finish({ action: 'push', metadata: validateMetadata(raw.params.metadata, SOURCE) });
          } catch (e) {
            send(ValidationResultNotification, { valid: false, errors: [messageOf(e)] }, raw.id);
          }
        } else if (isMessage(raw, SaveAsRequest)) {
          void saveAs(raw);
        } else if (isMessage(raw, CancelNotification)) {
          finish(undefined);
        }
      }),
    );
  });
}
