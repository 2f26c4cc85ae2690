import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import * as vscode from 'vscode';
import type { FolderFile, ScanCell } from './model/notebookScan';

const decoder = new TextDecoder();
const TEXT_MIMES = new Set(['text/plain', 'application/vnd.code.notebook.stdout', 'application/vnd.code.notebook.stderr', 'text/markdown']);

/** The cells of an open notebook as the scanner reads them (works with or without a kernel). */
export function cellsOf(notebook: vscode.NotebookDocument): ScanCell[] {
  return notebook.getCells().map((cell) => ({
    kind: cell.kind === vscode.NotebookCellKind.Code ? 'code' : 'markup',
    source: cell.document.getText(),
    outputs: cell.outputs.flatMap((o) => o.items.filter((i) => TEXT_MIMES.has(i.mime)).map((i) => decoder.decode(i.data))),
    lastRunStart: cell.executionSummary?.timing?.startTime,
  }));
}

/** Files (and folders) next to the notebook, with their modification times. */
export async function folderFiles(notebookPath: string): Promise<FolderFile[]> {
  const dir = dirname(notebookPath);
  const entries = await vscode.workspace.fs.readDirectory(vscode.Uri.file(dir));
  const out: FolderFile[] = [];
  for (const [name, type] of entries) {
    const path = join(dir, name);
    const st = await vscode.workspace.fs.stat(vscode.Uri.file(path));
    out.push({ path, mtimeMs: st.mtime, isDirectory: (type & vscode.FileType.Directory) !== 0, isSymbolicLink: (type & vscode.FileType.SymbolicLink) !== 0 });
  }
  return out;
}

/** Provenance annotations: which notebook produced the model, and its exact content. */
export async function provenance(notebook: vscode.NotebookDocument): Promise<Record<string, string>> {
  const bytes = await vscode.workspace.fs.readFile(notebook.uri);
  return {
    'dev.omlmd.notebook.path': vscode.workspace.asRelativePath(notebook.uri, false),
    'dev.omlmd.notebook.digest': 'sha256:' + createHash('sha256').update(bytes).digest('hex'),
  };
}
