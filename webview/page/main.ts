// The model page webview (src/extension/modelPage.ts hosts it): header, metadata, files,
// lineage, model card, a versions chart and a compare view, as one Lit component
// (<omlmd-model-page>) under the same CSP and theme variables as the metadata editor.

import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-icon/index.js';
import './page.css';
import { OmlmdModelPage, type VsCodeApi } from './model-page';

declare function acquireVsCodeApi(): VsCodeApi;

const page = new OmlmdModelPage(acquireVsCodeApi());
page.id = 'app';
const placeholder = document.getElementById('app');
if (placeholder) placeholder.replaceWith(page);
else document.body.append(page);
page.start();
