// The messages between the extension host (src/extension/modelPage.ts) and the model page
// webview (webview/page/). The envelope and the message classes are the metadata editor's
// (protocol.ts). Every string in here that came from a registry (names, annotations,
// metadata, tags) is shown as text: the page has no path that makes markup of it.

import { IpcNotification, IpcRequest, type MessageOf } from './protocol';

/** One value of customProperties with the type people read it as. */
export interface PropertyRow {
  key: string;
  type: 'string' | 'number' | 'boolean' | 'null' | 'list' | 'object';
  /** The value as text: strings as they are, the rest as JSON. */
  text: string;
}

export interface PageFile {
  path: string;
  role: string;
  mediaType: string;
  digest: string;
  size: number;
  sizeText: string;
  encrypted?: boolean;
  /** What the file's header says (`safetensors, 1.5M parameters, BF16×2`), once read. */
  header?: string;
  /** What to beware of in it (a pickle that runs code), or why its header was not read. */
  warnings?: string[];
}

export type LineageKind = 'modelcar' | 'signature' | 'attestation' | 'modelcard' | 'attachment' | 'sbom' | 'other';

export interface LineageNode {
  digest: string;
  kind: LineageKind;
  /** "ModelCar image", "Signature (Sigstore)", "Attestation (https://slsa.dev/provenance/v1)", … */
  label: string;
  artifactType?: string;
  created?: string;
  children: LineageNode[];
}

export interface SignatureView {
  kind: 'unsigned' | 'verified' | 'signed' | 'invalid';
  label: string;
  detail: string;
}

/** What the page shows first: read from the manifest and the config blob. */
export interface ModelPageParams {
  /** One per page opened: a rebuilt panel's saved state is reused only for the same session. */
  session: string;
  reference: string;
  /** The repository without tag or digest (`host/repo`), for the versions chart's title. */
  repository: string;
  tag?: string;
  digest: string;
  name: string;
  description?: string;
  author?: string;
  /** `onnx v1`, `ModelPack`, … */
  formats: string[];
  size: number;
  sizeText: string;
  created?: string;
  uri?: string;
  /** The uri is http(s): the page offers to open it (through the extension). */
  uriOpenable: boolean;
  /** The other metadata fields, as key/text rows (customProperties apart). */
  fields: { key: string; text: string }[];
  properties: PropertyRow[];
  annotations: { key: string; text: string }[];
  files: PageFile[];
  metadataOnly: boolean;
  isModel: boolean;
  warnings: string[];
  /** The translations of the webview's strings (`vscode.l10n.bundle`); none for English. */
  l10n?: Record<string, string>;
}

export interface VersionPoint {
  tag: string;
  digest: string;
  created?: string;
  /** The numeric customProperties of that tag. */
  metrics: Record<string, number>;
}

export interface VersionsParams {
  versions: VersionPoint[];
  /** How many tags the repository has (without referrers tags), and how many were read. */
  totalTags: number;
  readTags: number;
  /** Tags that could not be read (not a model, a failure), with why. */
  problems: { tag: string; message: string }[];
  /** The metric picked first: accuracy when present, else the first one. */
  defaultMetric?: string;
}

export interface LineageParams {
  nodes: LineageNode[];
  /** Why the referrers could not be listed. */
  problem?: string;
}

export interface ModelCardParams {
  /** The card's text, shown preformatted (never as HTML); cut at the cap. */
  text: string;
  truncated: boolean;
}

export interface HeadersParams {
  files: { path: string; header?: string; warnings?: string[] }[];
}

export interface SignatureParams {
  state?: SignatureView;
  problem?: string;
}

export interface CompareParams {
  a: string;
  b: string;
}

export interface FieldChange {
  key: string;
  change: 'added' | 'removed' | 'changed';
  a?: string;
  b?: string;
}

export interface FileChange {
  path: string;
  change: 'added' | 'removed' | 'changed' | 'same';
  a?: { digest: string; sizeText: string };
  b?: { digest: string; sizeText: string };
}

export interface CompareResultParams {
  a: string;
  b: string;
  digestA?: string;
  digestB?: string;
  fields: FieldChange[];
  files: FileChange[];
  error?: string;
}

export type PageAction =
  | 'pull'
  | 'editMetadata'
  | 'copyReference'
  | 'copyDigest'
  | 'buildModelCar'
  | 'signModel'
  | 'verifyModel'
  | 'attachFile'
  | 'inspectManifest'
  | 'refresh';

export interface ActionParams {
  action: PageAction;
}

export interface OpenNodeParams {
  /** A lineage node's digest (the host opens only digests it sent), or a tag of this repository. */
  digest?: string;
  tag?: string;
}

export type OpenUriParams = Record<string, never>;
export type PageReadyParams = Record<string, never>;

export interface PageErrorParams {
  message: string;
}

// ---- host → webview
export const PageInitNotification = new IpcNotification<'page/init', ModelPageParams>('page/init');
export const VersionsNotification = new IpcNotification<'page/versions', VersionsParams>('page/versions');
export const LineageNotification = new IpcNotification<'page/lineage', LineageParams>('page/lineage');
export const ModelCardNotification = new IpcNotification<'page/modelCard', ModelCardParams>('page/modelCard');
export const HeadersNotification = new IpcNotification<'page/headers', HeadersParams>('page/headers');
export const SignatureNotification = new IpcNotification<'page/signature', SignatureParams>('page/signature');
export const CompareResultNotification = new IpcNotification<'page/compareResult', CompareResultParams>('page/compareResult');
export const PageErrorNotification = new IpcNotification<'page/error', PageErrorParams>('page/error');

// ---- webview → host
export const PageReadyNotification = new IpcNotification<'page/ready', PageReadyParams>('page/ready');
export const ActionNotification = new IpcNotification<'page/action', ActionParams>('page/action');
export const OpenNodeNotification = new IpcNotification<'page/openNode', OpenNodeParams>('page/openNode');
export const OpenUriNotification = new IpcNotification<'page/openUri', OpenUriParams>('page/openUri');
export const CompareRequest = new IpcRequest<'page/compare', CompareParams, typeof CompareResultNotification>('page/compare', CompareResultNotification);

export type PageHostMessage =
  | MessageOf<typeof PageInitNotification>
  | MessageOf<typeof VersionsNotification>
  | MessageOf<typeof LineageNotification>
  | MessageOf<typeof ModelCardNotification>
  | MessageOf<typeof HeadersNotification>
  | MessageOf<typeof SignatureNotification>
  | MessageOf<typeof CompareResultNotification>
  | MessageOf<typeof PageErrorNotification>;

export type PageWebviewMessage =
  | MessageOf<typeof PageReadyNotification>
  | MessageOf<typeof ActionNotification>
  | MessageOf<typeof OpenNodeNotification>
  | MessageOf<typeof OpenUriNotification>
  | MessageOf<typeof CompareRequest>;

export const PAGE_ACTIONS: readonly PageAction[] = ['pull', 'editMetadata', 'copyReference', 'copyDigest', 'buildModelCar', 'signModel', 'verifyModel', 'attachFile', 'inspectManifest', 'refresh'];
