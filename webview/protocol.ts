// The messages between the extension host (src/extension/metadataEditor.ts) and the metadata
// editor webview. Both sides compile this file, so it imports neither `vscode` nor the DOM.
// Shaped after GitLens: every message is an envelope { id, method, params }; a request's
// answer carries the request's id as `completionId`.

import type { ModelMetadata } from '../src/core/model/fields';

export type EditorMode = 'push' | 'edit' | 'new';
export type TextFormat = 'yaml' | 'json';

export interface IpcMessage<M extends string = string, P = unknown> {
  id: string;
  method: M;
  params: P;
  /** On an answer: the id of the request it answers. */
  completionId?: string;
}

/** A fire-and-forget message type. `params` is only there to carry the type. */
export class IpcNotification<M extends string, P> {
  readonly kind = 'notification';
  declare readonly params: P;
  constructor(readonly method: M) {}
}

/**
 * A message that the other side answers with `R` (sent as a message whose `completionId` is
 * the request's id). No timeout: the host's answer to Save may wait on a file dialog that is
 * open for as long as the user likes, and a successful Push closes the panel instead.
 */
export class IpcRequest<M extends string, P, R extends IpcNotification<string, unknown>> {
  readonly kind = 'request';
  declare readonly params: P;
  constructor(
    readonly method: M,
    readonly response: R,
  ) {}
}

type AnyType = IpcNotification<string, unknown> | IpcRequest<string, unknown, IpcNotification<string, unknown>>;
export type ParamsOf<T extends AnyType> = T['params'];
export type MessageOf<T extends AnyType> = IpcMessage<T['method'], T['params']>;

// ---- host → webview

export interface InitParams {
  /** One per openMetadataEditor call: restored webview state is reused only for the same session. */
  session: string;
  title: string;
  mode: EditorMode;
  /** May hold fields the schema does not know (metadata of an artifact someone else pushed). */
  metadata: ModelMetadata;
  /** Where a push goes, shown under the title, e.g. "localhost:5000/models/mnist:v2". */
  targetHint?: string;
  readOnly?: boolean;
  /** What the model files' headers say, one line per file (a push). */
  headers?: string[];
  /** What to beware of in the model files, e.g. a pickle that runs code when loaded. */
  warnings?: string[];
  /** The translations of the webview's strings (`vscode.l10n.bundle`); none for English. */
  l10n?: Record<string, string>;
}
export interface ValidationResultParams {
  valid: boolean;
  /** The host's own validation messages (the core's), shown when `valid` is false. */
  errors: string[];
}
export interface BusyParams {
  busy: boolean;
  message?: string;
}
export interface ErrorParams {
  message: string;
}

export const InitNotification = new IpcNotification<'init', InitParams>('init');
export const ValidationResultNotification = new IpcNotification<'validationResult', ValidationResultParams>('validationResult');
export const BusyNotification = new IpcNotification<'busy', BusyParams>('busy');
export const ErrorNotification = new IpcNotification<'error', ErrorParams>('error');

// ---- webview → host

export type ReadyParams = Record<string, never>;
export interface ChangedParams {
  /** The metadata differs from what `init` brought. */
  dirty: boolean;
  /** The schema accepts it and no custom property row has a problem. */
  valid: boolean;
}
export interface PushParams {
  metadata: ModelMetadata;
}
export interface SaveAsParams {
  metadata: ModelMetadata;
  /** The format the user was looking at; the file name they choose has the last word. */
  format: TextFormat;
}
export type CancelParams = Record<string, never>;

export const ReadyNotification = new IpcNotification<'ready', ReadyParams>('ready');
export const ChangedNotification = new IpcNotification<'changed', ChangedParams>('changed');
export const PushRequest = new IpcRequest<'push', PushParams, typeof ValidationResultNotification>('push', ValidationResultNotification);
export const SaveAsRequest = new IpcRequest<'saveAs', SaveAsParams, typeof ValidationResultNotification>('saveAs', ValidationResultNotification);
export const CancelNotification = new IpcNotification<'cancel', CancelParams>('cancel');

export type HostToWebviewMessage =
  | MessageOf<typeof InitNotification>
  | MessageOf<typeof ValidationResultNotification>
  | MessageOf<typeof BusyNotification>
  | MessageOf<typeof ErrorNotification>;

export type WebviewToHostMessage =
  | MessageOf<typeof ReadyNotification>
  | MessageOf<typeof ChangedNotification>
  | MessageOf<typeof PushRequest>
  | MessageOf<typeof SaveAsRequest>
  | MessageOf<typeof CancelNotification>;

/** The envelope's shape; what arrives through postMessage is `unknown` until checked. */
export function isIpcMessage(x: unknown): x is IpcMessage {
  if (typeof x !== 'object' || x === null) return false;
  const m = x as Record<string, unknown>;
  return typeof m.id === 'string' && typeof m.method === 'string' && typeof m.params === 'object' && m.params !== null && (m.completionId === undefined || typeof m.completionId === 'string');
}

/** Narrows a checked envelope to one message type. */
export function isMessage<T extends AnyType>(msg: IpcMessage, type: T): msg is MessageOf<T> {
  return msg.method === type.method;
}

/** Makes ids unique per side ("host:1", "webview:1"), so an answer can name its request. */
export function messageFactory(side: 'host' | 'webview'): <T extends AnyType>(type: T, params: ParamsOf<T>, completionId?: string) => MessageOf<T> {
  let seq = 0;
  return (type, params, completionId) => {
    const msg: IpcMessage = { id: `${side}:${++seq}`, method: type.method, params };
    if (completionId !== undefined) msg.completionId = completionId;
    return msg as MessageOf<typeof type>;
  };
}
