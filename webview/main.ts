// The metadata editor webview: a form generated from the core's JSON Schema, a key/value
// table for customProperties, a YAML/JSON view that round-trips with the form, and Push /
// Save as file / Cancel, as Lit components (webview/components/) over one state object
// (webview/state.ts) that <omlmd-metadata-editor> keeps and saves with vscode.setState.

import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-icon/index.js';
import '@vscode-elements/elements/dist/vscode-label/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-progress-bar/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-tab-header/index.js';
import '@vscode-elements/elements/dist/vscode-tab-panel/index.js';
import '@vscode-elements/elements/dist/vscode-tabs/index.js';
import '@vscode-elements/elements/dist/vscode-textarea/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import './editor.css';
import { OmlmdMetadataEditor, type VsCodeApi } from './components/metadata-editor';

declare function acquireVsCodeApi(): VsCodeApi;

const editor = new OmlmdMetadataEditor(acquireVsCodeApi());
editor.id = 'app';
// It takes the place of the page's "Loading…" placeholder, and says the same until init.
const placeholder = document.getElementById('app');
if (placeholder) placeholder.replaceWith(editor);
else document.body.append(editor);
editor.start();
