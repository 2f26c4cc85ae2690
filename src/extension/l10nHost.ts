/**
 * Points the VS Code-free parts' `l10n.t` (model/l10n.ts) at `vscode.l10n.t`. main.ts imports
 * this module first: the bundle evaluates modules in import order, so the translator is set
 * before any module-level string of theirs is made.
 */
import * as vscode from 'vscode';
import { setTranslator } from './model/l10n';

// An empty comment list is no comment: the bundle's key is the message alone.
setTranslator((message, args, comment) => vscode.l10n.t({ message, args, comment: comment ?? [] }));
