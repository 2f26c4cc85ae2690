/**
 * Dropping files from the Explorer (or the OS) onto the Models view: where the push goes and
 * which files it takes. VS Code-free, so it is tested without a window; the controller in
 * tree.ts only reads the data transfer and runs the push.
 */
import { fileURLToPath } from 'node:url';
import type { BrowserNode, StoreRef } from './browser';

/** The MIME type VS Code gives the Explorer's drags (and the OS's): one URI per line, RFC 2483. */
export const URI_LIST = 'text/uri-list';

/** The push target a drop onto `node` proposes: its store, and its repository when it has one. */
export function dropTarget(node: BrowserNode | undefined): { store: StoreRef; repository?: string } | undefined {
  switch (node?.kind) {
    case 'localStore':
      return { store: { kind: 'local' } };
    case 'registry':
      return { store: { kind: 'registry', host: node.host } };
    case 'repository':
    case 'tag':
    case 'artifact':
    case 'metadata':
      return { store: node.store, repository: node.repository };
    default:
      return undefined;
  }
}

/** The local paths of a text/uri-list: comments and non-file URIs (http:, untitled:) left out. */
export function pathsFromUriList(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const s = line.trim();
    if (!s || s.startsWith('#')) continue;
    try {
      const u = new URL(s);
      if (u.protocol === 'file:') out.push(fileURLToPath(u));
    } catch {
      // not a URI
    }
  }
  return [...new Set(out)];
}
