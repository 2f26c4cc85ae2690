import * as vscode from 'vscode';
import { parseReference, refOf } from '../core/oci/reference';
import type { Services } from './services';

export const MANIFEST_SCHEME = 'omlmd-manifest';

/**
 * Read-only documents showing a manifest: `omlmd-manifest:/<reference>.json`, pretty-printed
 * for reading (the digest is over the stored bytes, shown by Copy Digest).
 */
export class ManifestDocuments implements vscode.TextDocumentContentProvider {
  constructor(private readonly services: Services) {}

  static uriFor(reference: string): vscode.Uri {
    return vscode.Uri.from({ scheme: MANIFEST_SCHEME, path: `/${reference.replace(/@.*$/, '')}.json`, query: encodeURIComponent(reference) });
  }

  async provideTextDocumentContent(uri: vscode.Uri, token: vscode.CancellationToken): Promise<string> {
    const reference = decodeURIComponent(uri.query);
    const ac = new AbortController();
    token.onCancellationRequested(() => ac.abort());
    const ref = parseReference(reference);
    const repo = await this.services.client().repository(ref);
    const m = await repo.fetchManifest(refOf(ref), { signal: ac.signal });
    return JSON.stringify(JSON.parse(m.bytes.toString('utf8')), null, 2) + '\n';
  }
}
