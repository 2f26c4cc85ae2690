// Runs the real editor bundle in headless Chromium: the webview build (into a temporary
// folder, so it never races other builds of dist/), served on loopback inside the very HTML
// and CSP the extension host produces. The only stand-in is acquireVsCodeApi(): it records
// what the webview posts and keeps setState's state in sessionStorage, which outlives a page
// reload the way VS Code keeps it while a hidden panel is torn down and rebuilt.

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { buildWebview } from '../../webview/build.mjs';
import { editorHtml } from '../../webview/html';
import { InitNotification, type HostToWebviewMessage, type InitParams, type IpcMessage, type WebviewToHostMessage } from '../../webview/protocol';
import { THEMES, type ThemeName } from './themes';

export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--headless=new'];

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.css': 'text/css', '.ttf': 'font/ttf', '.map': 'application/json' };

/** What the stand-in keeps on the page's global object. */
export interface PageGlobals {
  __posted: WebviewToHostMessage[];
  __violations: string[];
}

function standIn(theme: ThemeName): string {
  const t = THEMES[theme];
  return `(() => {
  const KEY = 'vscode-webview-state';
  window.__posted = [];
  window.__violations = [];
  document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
  let acquired = false;
  window.acquireVsCodeApi = () => {
    if (acquired) throw new Error('acquireVsCodeApi can only be called once');
    acquired = true;
    return {
      postMessage: (m) => window.__posted.push(JSON.parse(JSON.stringify(m))),
      getState: () => { const s = sessionStorage.getItem(KEY); return s === null ? undefined : JSON.parse(s); },
      setState: (s) => { sessionStorage.setItem(KEY, JSON.stringify(s)); return s; },
    };
  };
  const vars = ${JSON.stringify(t.vars)};
  for (const [k, v] of Object.entries(vars)) document.documentElement.style.setProperty('--vscode-' + k, v);
  document.addEventListener('DOMContentLoaded', () => {
    document.body.classList.add(${JSON.stringify(t.bodyClass)});
    document.body.dataset.vscodeThemeKind = ${JSON.stringify(t.kind)};
  });
})();`;
}

export interface Harness {
  url: string;
  context: BrowserContext;
  close(): Promise<void>;
}

export async function startHarness(): Promise<Harness> {
  const work = await mkdtemp(join(tmpdir(), 'omlmd-webview-'));
  const dist = join(work, 'dist');
  // The minified production build: what the .vsix ships is what is tested.
  await buildWebview({ outdir: dist, production: true });
  const nonce = 'bm9uY2UtZm9yLXRoZS10ZXN0LXBhZ2U';
  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (url.pathname === '/' || url.pathname === '/model') {
        const origin = `http://${req.headers.host ?? '127.0.0.1'}`;
        const theme = (url.searchParams.get('theme') ?? 'dark') as ThemeName;
        // `/model`: the model page's bundle in the same HTML and CSP (src/extension/modelPage.ts).
        const entry = url.pathname === '/model' ? 'page' : 'main';
        const page = editorHtml({ cspSource: origin, nonce, scriptUri: `${origin}/dist/${entry}.js`, styleUri: `${origin}/dist/${entry}.css`, codiconUri: `${origin}/dist/codicon.css`, title: entry === 'page' ? 'Model page' : 'Metadata editor' });
        const body = page.replace('</head>', `<script nonce="${nonce}">${standIn(THEMES[theme] ? theme : 'dark')}</script>\n</head>`);
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(body);
        return;
      }
      const rel = normalize(decodeURIComponent(url.pathname)).replace(/^[/\\]+/, '');
      if (!rel.startsWith('dist/') || rel.includes('..')) {
        res.writeHead(404).end();
        return;
      }
      try {
        const bytes = await readFile(join(work, rel));
        res.writeHead(200, { 'content-type': TYPES[extname(rel)] ?? 'application/octet-stream' }).end(bytes);
      } catch {
        res.writeHead(404).end();
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const profile = join(work, 'profile');
  const context = await chromium.launchPersistentContext(profile, { executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS, headless: true, viewport: { width: 1000, height: 900 } });
  return {
    url: `http://127.0.0.1:${port}/`,
    context,
    async close() {
      await context.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(work, { recursive: true, force: true });
    },
  };
}

let hostSeq = 0;
/** A host → webview message, delivered the way VS Code delivers it: a window message event. */
export async function hostSends(page: Page, msg: Omit<HostToWebviewMessage, 'id'> & { id?: string }): Promise<void> {
  const full = { id: `host:${++hostSeq}`, ...msg };
  await page.evaluate((m) => (globalThis as unknown as { postMessage(m: unknown, origin: string): void }).postMessage(m, '*'), full);
}

export async function sendInit(page: Page, params: Partial<InitParams> & Pick<InitParams, 'metadata'>): Promise<void> {
  const init: InitParams = { session: `s${++hostSeq}`, title: 'Push mnist', mode: 'push', ...params };
  await hostSends(page, { method: InitNotification.method, params: init });
  await page.locator('h1#title').filter({ hasText: init.title }).waitFor();
}

export async function posted(page: Page): Promise<WebviewToHostMessage[]> {
  return page.evaluate(() => (globalThis as unknown as PageGlobals).__posted);
}

export async function violations(page: Page): Promise<string[]> {
  return page.evaluate(() => (globalThis as unknown as PageGlobals).__violations);
}

/** Waits until the webview has posted a message with `method` (beyond the first `after`), and returns it. */
export async function nextPosted<M extends WebviewToHostMessage['method']>(page: Page, method: M, after = 0): Promise<Extract<WebviewToHostMessage, { method: M }>> {
  await page.waitForFunction(([m, n]) => (globalThis as unknown as PageGlobals).__posted.slice(n).some((x) => x.method === m), [method, after] as const);
  const all = await posted(page);
  return all.slice(after).find((x) => x.method === method) as Extract<WebviewToHostMessage, { method: M }>;
}

export async function countPosted(page: Page, method?: string): Promise<number> {
  const all = await posted(page);
  return method ? all.filter((m) => m.method === method).length : all.length;
}

export async function openEditor(h: Harness, theme: ThemeName = 'dark'): Promise<Page> {
  const page = await h.context.newPage();
  await page.goto(`${h.url}?theme=${theme}`);
  await nextPosted(page, 'ready');
  return page;
}

export type { IpcMessage };

/** The model page (webview/page/), once it has posted `page/ready`. */
export async function openModelPage(h: Harness, theme: ThemeName = 'dark'): Promise<Page> {
  const page = await h.context.newPage();
  await page.goto(`${h.url}model?theme=${theme}`);
  await page.waitForFunction(() => (globalThis as unknown as PageGlobals).__posted.some((x) => x.method === ('page/ready' as string)));
  return page;
}

/** Any host → webview message (the model page's are not in HostToWebviewMessage). */
export async function hostPosts(page: Page, msg: { method: string; params: unknown; completionId?: string }): Promise<void> {
  await page.evaluate((m) => (globalThis as unknown as { postMessage(m: unknown, origin: string): void }).postMessage(m, '*'), { id: `host:${++hostSeq}`, ...msg });
}

/**
 * axe-core's accessibility checks in the page. Its source is evaluated through the DevTools
 * protocol (page.evaluate), which the page's CSP does not govern: a `<script>` with its text
 * (addScriptTag) carries no nonce, so the CSP refuses it (the tests check both). No preload:
 * axe would copy the shadow roots' stylesheets into <style> elements of its own, which the
 * CSP refuses (and which only the css-orientation-lock rule reads). Only serious and
 * critical violations are returned.
 */
export async function axeViolations(page: Page, options: { include?: string } = {}): Promise<{ id: string; impact: string; help: string; nodes: string[] }[]> {
  const { readFileSync } = await import('node:fs');
  const source = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  await page.evaluate(source);
  return page.evaluate(async (include) => {
    interface AxeResult { violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[] }
    const axe = (globalThis as unknown as { axe: { run(ctx: unknown, opts: unknown): Promise<AxeResult> } }).axe;
    const r = await axe.run(include ?? (globalThis as unknown as { document: unknown }).document, { resultTypes: ['violations'], preload: false });
    return r.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({ id: v.id, impact: v.impact ?? '', help: v.help, nodes: v.nodes.map((n) => JSON.stringify(n.target)) }));
  }, options.include);
}
