import * as vscode from 'vscode';
import { OmlmdError } from '../core/errors';
import { describeForVsCode, type ErrorAction } from './remedies';

/**
 * The one place that shows a failed command: nothing for a cancel, else the message with
 * its remedies in VS Code's words (remedies.ts) and their buttons (Sign in…, Open Settings,
 * Retry, Show Output). The full error goes to the log. Retry is offered only with `retry`.
 */
export async function showError(e: unknown, log: vscode.LogOutputChannel, retry?: () => unknown, registry?: string): Promise<void> {
  if (OmlmdError.is(e, 'CANCELLED')) return;
  const err = e instanceof OmlmdError ? e : undefined;
  log.error(err ? `${err.code}${err.status ? ` HTTP ${err.status}` : ''}: ${err.message}` : String((e as Error)?.stack ?? e));
  const { message, buttons } = describeForVsCode(e, registry);
  const offered = buttons.filter((b) => b.action.kind !== 'retry' || retry);
  const choice = await vscode.window.showErrorMessage(message, ...offered.map((b) => b.title));
  const action = offered.find((b) => b.title === choice)?.action;
  if (action) await runErrorAction(action, log, retry);
}

async function runErrorAction(action: ErrorAction, log: vscode.LogOutputChannel, retry?: () => unknown): Promise<void> {
  switch (action.kind) {
    case 'sign-in': await vscode.commands.executeCommand('omlmd.signIn', action.registry); break;
    case 'open-settings': await vscode.commands.executeCommand('workbench.action.openSettings', action.query); break;
    case 'set-server-token': await vscode.commands.executeCommand('omlmd.setSearchServerToken'); break;
    case 'retry': await retry?.(); break;
    case 'show-output': log.show(); break;
  }
}

/** The registry host an error or a reference concerns, for the Sign in button. */
export function registryOf(reference: string | undefined): string | undefined {
  if (!reference) return undefined;
  const first = reference.split('/')[0] ?? '';
  return reference.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost') ? first : undefined;
}
