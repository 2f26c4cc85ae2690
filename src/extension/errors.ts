import * as vscode from 'vscode';
import { OmlmdError } from '../core/errors';

/**
 * The one place that decides what a user sees when a command fails: nothing for a cancel,
 * "Sign in…" for auth, "Open Settings" for TLS, "Retry" for the network, else the message
 * with "Show Output". The full error goes to the log.
 */
export async function showError(e: unknown, log: vscode.LogOutputChannel, retry?: () => unknown, registry?: string): Promise<void> {
  if (OmlmdError.is(e, 'CANCELLED')) return;
  const err = e instanceof OmlmdError ? e : undefined;
  const message = err ? err.message + (err.hint ? ` (${err.hint})` : '') : `Unexpected error: ${(e as Error)?.message ?? String(e)}`;
  log.error(err ? `${err.code}${err.status ? ` HTTP ${err.status}` : ''}: ${err.message}` : String((e as Error)?.stack ?? e));
  const actions: string[] = [];
  if (err && (err.code === 'UNAUTHORIZED' || err.code === 'DENIED') && registry) actions.push('Sign in…');
  if (err?.code === 'TLS') actions.push('Open Settings');
  if (err && ['NETWORK', 'TOOMANYREQUESTS', 'HTTP'].includes(err.code) && retry) actions.push('Retry');
  actions.push('Show Output');
  const choice = await vscode.window.showErrorMessage(message, ...actions);
  if (choice === 'Sign in…') await vscode.commands.executeCommand('omlmd.signIn', registry);
  else if (choice === 'Open Settings') await vscode.commands.executeCommand('workbench.action.openSettings', 'omlmd.registries');
  else if (choice === 'Retry') await retry?.();
  else if (choice === 'Show Output') log.show();
}

/** The registry host an error or a reference concerns, for the Sign in button. */
export function registryOf(reference: string | undefined): string | undefined {
  if (!reference) return undefined;
  const first = reference.split('/')[0] ?? '';
  return reference.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost') ? first : undefined;
}
