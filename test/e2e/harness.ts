// End-to-end harness: the packaged extension in a real VS Code (code-server 4.100.3, VS Code
// 1.100, installed offline by scripts/install-code-server.sh), driven by playwright-core in
// Debian's Chromium. Recipe and selectors: ../shared/docs/vscode-e2e.md.
//
//   const vsc = await startVSCode({ settings: { 'omlmd.registries': [{ host }] } });
//   try { await vsc.openModelsView(); ... } finally { await vsc.stop(); }
//
// Each session gets its own temp dir (user-data-dir, extensions-dir, code-server config,
// OMLMD_HOME, a copy of sample/ unless a workspace is given) and its own code-server
// process group on a free loopback port; stop() kills the group and every process carrying
// the session's marker variable, closes the browser and removes the temp dir
// (OMLMD_E2E_KEEP=1 keeps it). The extension's output channel "omlmd" is the file
// <user-data-dir>/logs/<time>/exthost<N>/omlmd.omlmd/omlmd.log; the extension host's own
// log (activation lines) is remoteexthost.log beside it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { copyFile, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { chromium, type Browser, type Frame, type Locator, type Page } from 'playwright-core';

export const ROOT = resolve(__dirname, '..', '..');
export const SAMPLE_DIR = join(ROOT, 'sample');
export const CODE_SERVER_VERSION = '4.100.3';
export const CODE_SERVER_DIR =
  process.env.OMLMD_CODE_SERVER_DIR ?? join(process.env.HOME ?? tmpdir(), '.cache', 'omlmd', `code-server-${CODE_SERVER_VERSION}`);
const CODE_SERVER_BIN = join(CODE_SERVER_DIR, 'node_modules', '.bin', 'code-server');
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
/** Generous: a cold start on 2 cores loads ~300 MB of VS Code. */
export const TIMEOUT_MS = 60_000;
const EXTENSION_ID = 'omlmd.omlmd';

export interface StartOptions {
  /** Folder opened in VS Code, used as is. Default: a fresh copy of sample/ in the session's temp dir. */
  workspace?: string;
  /** User settings merged over the harness's (trust off, no startup editor, no telemetry). */
  settings?: Record<string, unknown>;
  /** Environment of code-server, hence of the extension host. OMLMD_HOME defaults to a temp dir. */
  env?: Record<string, string>;
  /** A .vsix to install instead of packaging the tree (also: OMLMD_E2E_VSIX). */
  vsix?: string;
  viewport?: { width: number; height: number };
}

export interface TreeRow {
  /** The item's label (`.label-name`). */
  label: string;
  /** The item's description (`.label-description`), '' if none. */
  description: string;
  /** 1 for top-level items. */
  level: number;
  /** true/false for collapsible items, undefined for leaves. */
  expanded: boolean | undefined;
  /** The row's accessible label (label, description or tooltip as VS Code composes it). */
  ariaLabel: string;
  /** The row is (in) the tree's selection. */
  selected: boolean;
}

export interface ActivationTime {
  /** Text of the Running Extensions row, e.g. "Activation: 65ms". */
  text: string;
  /** Milliseconds shown by VS Code (code loading + activate() call). */
  ms: number;
  startup: boolean;
}

// ---------------------------------------------------------------------------------------
// Process bookkeeping: nothing outlives the test process, even when a test forgets stop().

const live = new Set<VSCodeSession>();
function killAllSync(): void {
  for (const s of live) s.killSync();
  live.clear();
  if (vsixDir) rmSync(vsixDir, { recursive: true, force: true });
}
process.on('exit', killAllSync);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    killAllSync();
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
  });
}

/** Kills every process whose environment carries `OMLMD_E2E_SESSION=<id>` (Linux /proc). */
function killMarked(id: string): number {
  const needle = Buffer.from(`OMLMD_E2E_SESSION=${id}\0`);
  let killed = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/environ`).includes(needle)) {
        process.kill(Number(pid), 'SIGKILL');
        killed++;
      }
    } catch {
      // gone, or not ours to read
    }
  }
  return killed;
}

// ---------------------------------------------------------------------------------------
// Install and package, once per test process.

let installed = false;
/** Runs scripts/install-code-server.sh (a no-op when complete) and checks the binary. */
export function ensureCodeServer(): string {
  if (!installed) {
    const r = spawnSync('bash', [join(ROOT, 'scripts', 'install-code-server.sh')], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, OMLMD_CODE_SERVER_DIR: CODE_SERVER_DIR },
    });
    if (r.status !== 0) {
      throw new Error(`scripts/install-code-server.sh failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
    }
    installed = true;
  }
  if (!existsSync(CODE_SERVER_BIN)) throw new Error(`code-server not found at ${CODE_SERVER_BIN}`);
  return CODE_SERVER_BIN;
}

let vsixDir: string | undefined;
let packaged: Promise<string> | undefined;

/**
 * `npm run package` (production build + vsce) → dist/omlmd.vsix, copied to a private temp
 * file so a concurrent packaging by another test process cannot swap it under us. Runs
 * under a cross-process lock; memoized per process.
 */
export function packageExtension(): Promise<string> {
  packaged ??= (async () => {
    const lock = join(tmpdir(), `omlmd-e2e-package-${Buffer.from(ROOT).toString('hex').slice(-32)}.lock`);
    const deadline = Date.now() + 5 * 60_000;
    for (;;) {
      try {
        mkdirSync(lock);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        try {
          if (Date.now() - statSync(lock).mtimeMs > 10 * 60_000) rmSync(lock, { recursive: true, force: true });
        } catch {
          // released meanwhile
        }
        if (Date.now() > deadline) throw new Error(`packaging lock ${lock} held for 5 minutes`);
        await sleep(250);
      }
    }
    try {
      const r = await run('npm', ['run', 'package'], ROOT);
      const vsix = join(ROOT, 'dist', 'omlmd.vsix');
      if (r.code !== 0 || !existsSync(vsix)) throw new Error(`npm run package failed (exit ${r.code}):\n${r.output}`);
      vsixDir = mkdtempSync(join(tmpdir(), 'omlmd-e2e-vsix-'));
      const copy = join(vsixDir, 'omlmd.vsix');
      await copyFile(vsix, copy);
      return copy;
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  })();
  return packaged;
}

/** Copies sample/ (the README's workspace: notebook, model files, metadata) to `dest`. */
export function copySample(dest: string): string {
  cpSync(SAMPLE_DIR, dest, { recursive: true });
  return dest;
}

// ---------------------------------------------------------------------------------------

/** Installs the extension into a fresh profile, starts code-server and opens the workbench. */
export async function startVSCode(options: StartOptions = {}): Promise<VSCodeSession> {
  const bin = ensureCodeServer();
  const vsix = options.vsix ?? process.env.OMLMD_E2E_VSIX ?? (await packageExtension());
  const tmp = mkdtempSync(join(tmpdir(), 'omlmd-e2e-'));
  const session = new VSCodeSession(bin, tmp, options);
  live.add(session);
  try {
    await session.start(vsix);
  } catch (e) {
    const diag = await session.diagnostics().catch((d: unknown) => `(no diagnostics: ${String(d)})`);
    await session.stop();
    throw new Error(`VS Code did not start: ${(e as Error).message}\n${diag}`, { cause: e });
  }
  return session;
}

export class VSCodeSession {
  readonly userDataDir: string;
  readonly extensionsDir: string;
  readonly workspace: string;
  readonly omlmdHome: string;
  readonly id: string;
  port = 0;
  url = '';
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private output = '';
  private browser: Browser | undefined;
  private pageOrUndefined: Page | undefined;
  private readonly consoleErrors: string[] = [];
  private stopped = false;

  constructor(
    private readonly bin: string,
    readonly tmp: string,
    private readonly options: StartOptions,
  ) {
    this.id = tmp;
    this.userDataDir = join(tmp, 'user-data');
    this.extensionsDir = join(tmp, 'extensions');
    this.workspace = options.workspace ?? join(tmp, 'workspace');
    this.omlmdHome = options.env?.OMLMD_HOME ?? join(tmp, 'omlmd-home');
  }

  /** The Playwright page showing the workbench. */
  get page(): Page {
    if (!this.pageOrUndefined) throw new Error('VS Code is not open');
    return this.pageOrUndefined;
  }

  private env(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {};
    // An outer VS Code's variables (a test run from its terminal) would redirect code-server's CLI.
    for (const [k, v] of Object.entries(process.env)) {
      if (!k.startsWith('VSCODE_') && k !== 'ELECTRON_RUN_AS_NODE') env[k] = v;
    }
    return { ...env, OMLMD_HOME: this.omlmdHome, ...this.options.env, OMLMD_E2E_SESSION: this.id };
  }

  private baseArgs(): string[] {
    return [
      '--config', join(this.tmp, 'code-server.yaml'),
      '--user-data-dir', this.userDataDir,
      '--extensions-dir', this.extensionsDir,
    ];
  }

  /** @internal */
  async start(vsix: string): Promise<void> {
    await mkdir(join(this.userDataDir, 'User'), { recursive: true });
    await mkdir(this.extensionsDir, { recursive: true });
    await mkdir(this.omlmdHome, { recursive: true });
    if (!this.options.workspace) copySample(this.workspace);
    const settings = {
      'security.workspace.trust.enabled': false,
      'workbench.startupEditor': 'none',
      'workbench.tips.enabled': false,
      'workbench.enableExperiments': false,
      'telemetry.telemetryLevel': 'off',
      'extensions.autoCheckUpdates': false,
      'extensions.autoUpdate': false,
      'update.mode': 'none',
      'git.openRepositoryInParentFolders': 'never',
      ...this.options.settings,
    };
    await writeFile(join(this.userDataDir, 'User', 'settings.json'), JSON.stringify(settings, null, 2));

    const inst = await run(this.bin, [...this.baseArgs(), '--install-extension', vsix], this.tmp, this.env());
    if (inst.code !== 0 || !/successfully installed/.test(inst.output)) {
      throw new Error(`--install-extension ${vsix} failed (exit ${inst.code}):\n${inst.output}`);
    }

    const args = [
      ...this.baseArgs(),
      '--auth', 'none',
      '--bind-addr', '127.0.0.1:0',
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--disable-getting-started-override',
      '--ignore-last-opened',
      this.workspace,
    ];
    // Its own process group, so stop() reaches the server, extension host, pty host and watchers.
    const child = spawn(this.bin, args, { cwd: this.tmp, env: this.env(), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.exited = new Promise((res) => child.once('exit', () => res()));
    const listening = new Promise<number>((res, rej) => {
      const onData = (b: Buffer) => {
        this.output += b.toString();
        const m = /HTTP server listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(this.output);
        if (m) res(Number(m[1]));
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (code, sig) => rej(new Error(`code-server exited (${code ?? sig}) before listening`)));
      child.once('error', rej);
    });
    this.port = await withTimeout(listening, TIMEOUT_MS, 'code-server to listen');
    this.url = `http://127.0.0.1:${this.port}/?${new URLSearchParams({ folder: this.workspace })}`;

    this.browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const page = await this.browser.newPage({ viewport: this.options.viewport ?? { width: 1400, height: 900 } });
    this.pageOrUndefined = page;
    page.setDefaultTimeout(TIMEOUT_MS);
    page.on('console', (m) => {
      if (m.type() === 'error') this.consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => this.consoleErrors.push(`pageerror: ${e.message}`));
    await page.goto(this.url);
    await page.waitForSelector('.monaco-workbench');
    // The workbench is drawn before the remote extension host has delivered the extensions'
    // contributions; until then menus and toolbars lack them (a right-click on model.onnx
    // shows no "Push Model…"). omlmd's view container in the activity bar says they arrived.
    await this.activityItem('Models').waitFor();
  }

  // -------------------------------------------------------------------------------------
  // Views

  private activityItem(title: string): Locator {
    return this.page.locator('.activitybar li.action-item').filter({ has: this.page.locator(`a[aria-label^="${css(title)}"]`) });
  }

  /** The view pane titled `view` (its header is hidden, merged into the side bar title, when alone). */
  viewPane(view = 'Registries'): Locator {
    return this.page.locator(`.pane:has(> .pane-header[aria-label="${css(view)} Section"])`);
  }

  /** Opens the Models view container (does not toggle it closed when already open). */
  async openModelsView(): Promise<void> {
    await this.dismissHovers();
    const item = this.activityItem('Models');
    await item.waitFor();
    if ((await item.getAttribute('aria-selected')) !== 'true') await item.locator('a').click();
    await this.page.locator('.part.sidebar [id="workbench.view.extension.omlmd"]').waitFor();
    await this.viewPane('Registries').locator('.pane-body').waitFor();
  }

  /** Whether the view pane titled `view` shows its body in the side bar. */
  async viewVisible(view = 'Registries'): Promise<boolean> {
    return this.viewPane(view).locator('.pane-body').isVisible();
  }

  /** The side bar's title ("Models: Registries" when the view is alone in its container). */
  async sideBarTitle(): Promise<string> {
    return (await this.page.locator('.part.sidebar .composite.title .title-label').innerText()).trim();
  }

  /** The rows the tree of `view` renders now (only the visible ones: VS Code virtualizes lists). */
  async treeRows(view = 'Registries'): Promise<TreeRow[]> {
    const rows = this.viewPane(view).locator('.pane-body .monaco-list-row');
    const out: TreeRow[] = [];
    for (const row of await rows.all()) {
      const label = await row.locator('.label-name').first().innerText().catch(() => '');
      const description = (await row.locator('.label-description').count())
        ? await row.locator('.label-description').first().innerText()
        : '';
      const expanded = await row.getAttribute('aria-expanded');
      out.push({
        label: label.trim(),
        description: description.trim(),
        level: Number((await row.getAttribute('aria-level')) ?? '1'),
        expanded: expanded === null ? undefined : expanded === 'true',
        ariaLabel: (await row.getAttribute('aria-label')) ?? '',
        selected: (await row.getAttribute('aria-selected')) === 'true',
      });
    }
    return out;
  }

  /** The tree row of `view` whose label is `label` (exact) or matches it. */
  treeRow(label: string | RegExp, view = 'Registries'): Locator {
    return this.viewPane(view)
      .locator('.pane-body .monaco-list-row')
      .filter({ has: this.page.locator('.label-name', { hasText: exact(label) }) })
      .first();
  }

  async waitForTreeRow(label: string | RegExp, view = 'Registries', timeout = TIMEOUT_MS): Promise<void> {
    await this.treeRow(label, view).waitFor({ timeout });
  }

  async clickTreeRow(label: string | RegExp, view = 'Registries'): Promise<void> {
    await this.dismissHovers();
    await this.treeRow(label, view).click();
  }

  /** Expands a collapsed tree row (clicking an expanded one would collapse it). */
  async expandTreeRow(label: string | RegExp, view = 'Registries'): Promise<void> {
    // A repository is redrawn when its tags' created times arrive (in the background): a click
    // that lands while its rows are replaced expands a row VS Code no longer knows ("No tree item
    // with id"), and the new row comes back collapsed. Click again, as a person would.
    for (let attempt = 1; ; attempt++) {
      const row = this.treeRow(label, view);
      if ((await row.getAttribute('aria-expanded')) !== 'false') return;
      await this.dismissHovers();
      await row.locator('.monaco-tl-twistie').click();
      let expanded = false;
      for (const until = Date.now() + 5_000; !expanded && Date.now() < until; ) {
        expanded = (await this.treeRow(label, view).getAttribute('aria-expanded', { timeout: 1_000 }).catch(() => null)) === 'true';
        if (!expanded) await sleep(200);
      }
      if (expanded || attempt >= 3) return;
    }
  }

  async rightClickTreeRow(label: string | RegExp, view = 'Registries'): Promise<void> {
    await this.rightClickRow(this.treeRow(label, view), String(label), view);
  }

  /**
   * Right-clicks `row` until its own context menu is open: a tree refreshing under the pointer
   * moves rows, and a click that lands on a neighbour opens the neighbour's menu (file rows
   * have one), so the row the menu belongs to (the focused one) must be the row aimed at.
   */
  async rightClickRow(row: Locator, what: string, view = 'Registries'): Promise<void> {
    const menu = this.page.locator('.context-view .monaco-menu');
    for (let attempt = 1; ; attempt++) {
      await this.dismissHovers();
      const aimed = await row.getAttribute('data-index');
      await row.click({ button: 'right' });
      const opened = await menu.waitFor({ timeout: 5_000 }).then(() => true, () => false);
      const focused = await this.viewPane(view).locator('.pane-body .monaco-list-row.focused').first().getAttribute('data-index').catch(() => null);
      if (opened && aimed !== null && focused === aimed && (await row.getAttribute('data-index')) === aimed) return;
      if (attempt >= 5) throw new Error(`right-clicking the tree row ${what} opened ${opened ? `the menu of row ${focused} instead of row ${aimed}` : 'no menu'}, 5 times`);
      await this.page.keyboard.press('Escape');
    }
  }

  // -------------------------------------------------------------------------------------
  // Commands, menus, notifications, quick input

  /** Moves the mouse away and presses Escape: hovers and open menus intercept clicks. */
  async dismissHovers(): Promise<void> {
    await this.page.mouse.move(1, 1);
    await this.page.keyboard.press('Escape');
  }

  private quickInput(): Locator {
    return this.page.locator('.quick-input-widget');
  }

  /** Command palette entries for `filter`, as their titles ("omlmd: Push Model…"). */
  async commandPaletteEntries(filter: string): Promise<string[]> {
    await this.openCommandPalette(filter);
    const labels = this.quickInput().locator('.monaco-list-row .quick-input-list-label .label-name');
    await labels.first().waitFor().catch(() => undefined);
    const titles = (await labels.allInnerTexts()).map((s) => s.trim());
    await this.page.keyboard.press('Escape');
    return titles;
  }

  private async openCommandPalette(text: string): Promise<void> {
    await this.dismissHovers();
    await this.page.keyboard.press('F1');
    const input = this.quickInput().locator('input.input');
    await input.waitFor();
    await input.fill(`>${text}`);
  }

  /** Runs a command by its palette title ("omlmd: Push Model…", "View: Show Explorer") via F1. */
  async runCommand(title: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      await this.openCommandPalette(title);
      const row = this.quickInput()
        .locator(`.monaco-list-row[aria-label="${css(title)}"], .monaco-list-row[aria-label^="${css(title)}, "]`)
        .first();
      try {
        await row.waitFor({ timeout: 15_000 });
      } catch {
        const shown = await this.quickInput().locator('.monaco-list-row').evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')));
        await this.page.keyboard.press('Escape');
        throw new Error(`command "${title}" not in the palette; it shows: ${JSON.stringify(shown)}`);
      }
      // Seen under load: the palette closed between the row showing and the click (the focus
      // moved, e.g. to a notification), leaving a hidden row to wait on. Open it again.
      if (await row.click({ timeout: 5_000 }).then(() => true, () => false)) return;
      if (attempt >= 3) throw new Error(`the command palette closed 3 times before "${title}" could be clicked`);
    }
  }

  /** The items of the open quick pick (labels). */
  async quickPickItems(): Promise<string[]> {
    const rows = this.quickInput().locator('.monaco-list-row .quick-input-list-label .label-name');
    await rows.first().waitFor();
    return (await rows.allInnerTexts()).map((s) => s.trim());
  }

  /** Picks the quick pick item labelled `label`. */
  async pickQuickItem(label: string | RegExp): Promise<void> {
    await this.quickInput()
      .locator('.monaco-list-row')
      .filter({ has: this.page.locator('.label-name', { hasText: exact(label) }) })
      .first()
      .click();
  }

  /** Types `text` into the open input box (or quick pick filter) and presses Enter. */
  async answerInputBox(text: string): Promise<void> {
    const input = this.quickInput().locator('input.input');
    await input.waitFor();
    await input.fill(text);
    await input.press('Enter');
  }

  async showExplorer(): Promise<void> {
    await this.runCommand('View: Show Explorer');
    await this.page.locator('.explorer-folders-view').waitFor();
  }

  /** A file or folder row of the explorer by its name (top level, or inside an expanded folder). */
  explorerRow(name: string): Locator {
    return this.page.locator(`.explorer-folders-view .monaco-list-row[aria-label="${css(name)}"]`).first();
  }

  /** Shows the explorer and opens `name`'s context menu. */
  async rightClickExplorerFile(name: string): Promise<void> {
    await this.showExplorer();
    const row = this.explorerRow(name);
    await row.waitFor();
    await this.dismissHovers();
    await row.click({ button: 'right' });
    await this.page.locator('.context-view .monaco-menu').waitFor();
  }

  /** Labels of the open context menu's enabled items. */
  async contextMenuItems(): Promise<string[]> {
    const items = this.page.locator('.context-view .monaco-menu .action-item:not(.disabled) .action-label:not(.separator)');
    await items.first().waitFor();
    return (await items.allInnerTexts()).map((s) => s.trim()).filter(Boolean);
  }

  /** Clicks the open context menu's item `label`; waits for the menu to close. */
  async clickContextMenu(label: string | RegExp): Promise<void> {
    const menu = this.page.locator('.context-view .monaco-menu');
    const item = menu.locator('.action-label', { hasText: exact(label) }).first();
    try {
      await item.waitFor({ timeout: 15_000 });
    } catch {
      const shown = await this.contextMenuItems().catch(() => []);
      throw new Error(`no context menu item ${String(label)}; it shows: ${JSON.stringify(shown)}`);
    }
    await item.click();
    // Seen once: a click that left the menu open and ran nothing. A menu item hovered has
    // the focus, and Enter runs it.
    if (!(await menu.waitFor({ state: 'hidden', timeout: 3_000 }).then(() => true, () => false))) {
      await item.hover();
      await this.page.keyboard.press('Enter');
      await menu.waitFor({ state: 'hidden', timeout: 10_000 });
    }
  }

  /** Messages of the notification toasts on screen. */
  async notifications(): Promise<string[]> {
    return (await this.page.locator('.notification-list-item-message').allInnerTexts()).map((s) => s.trim());
  }

  async waitForNotification(text: string | RegExp, timeout = TIMEOUT_MS): Promise<string> {
    const toast = this.page.locator('.notification-list-item-message', { hasText: text }).first();
    try {
      await toast.waitFor({ timeout: Math.min(timeout, 10_000) });
      return (await toast.innerText()).trim();
    } catch {
      // VS Code shows three toasts at a time and queues the rest (an error toast of an earlier
      // step stays until closed): the notification center lists every notification.
      await this.runCommand('Notifications: Show Notifications');
      await toast.waitFor({ timeout });
      const message = (await toast.innerText()).trim();
      await this.runCommand('Notifications: Clear All Notifications');
      return message;
    }
  }

  /** Clicks a button (e.g. "Copy reference") on the toast whose message matches `message`. */
  async clickNotificationButton(message: string | RegExp, button: string | RegExp): Promise<void> {
    await this.page
      .locator('.notification-list-item', { has: this.page.locator('.notification-list-item-message', { hasText: message }) })
      .locator('.monaco-button', { hasText: exact(button) })
      .first()
      .click();
  }

  // -------------------------------------------------------------------------------------
  // Editors

  /**
   * Opens a notebook by double-clicking it in the explorer (quick open's Enter did not open
   * it); waits for its editor tab, toolbar and first cell.
   */
  async openNotebook(name: string): Promise<void> {
    await this.showExplorer();
    const row = this.explorerRow(name);
    await row.waitFor();
    await this.dismissHovers();
    await row.dblclick();
    await this.page.locator(`.tabs-container .tab.active[data-resource-name="${css(name)}"]`).waitFor();
    await this.page.locator('.notebook-editor .notebook-toolbar-container').first().waitFor();
    // Notebook list rows have no height of their own: wait for them to exist, not to be visible.
    await this.page.locator('.notebook-editor .cell-list-container .monaco-list-row').first().waitFor({ state: 'attached' });
  }

  /** The code cells' sources of the open notebook, as their editors render them. */
  async notebookCodeCells(): Promise<string[]> {
    const editors = this.page.locator('.notebook-editor .cell-list-container .monaco-list-row.code-cell-row .monaco-editor .view-lines');
    await editors.first().waitFor();
    return (await editors.allInnerTexts()).map((s) => s.replace(/\u00a0/g, ' '));
  }

  /**
   * The outputs of the open notebook: VS Code renders them in the notebook's webview (nested
   * iframes), drawn lazily; polls until `until` matches their text (or any output shows).
   */
  async notebookOutputs(until?: RegExp, timeout = TIMEOUT_MS): Promise<string[]> {
    const deadline = Date.now() + timeout;
    for (;;) {
      const outputs: string[] = [];
      for (const frame of this.page.frames()) {
        if (frame === this.page.mainFrame()) continue;
        outputs.push(...(await frame.locator('.output_container .output').allInnerTexts().catch(() => [])));
      }
      const texts = outputs.map((s) => s.trim()).filter(Boolean);
      if (until ? until.test(texts.join('\n')) : texts.length > 0) return texts;
      if (Date.now() > deadline) {
        throw new Error(`notebook outputs did not show ${String(until ?? 'anything')} within ${timeout} ms: ${JSON.stringify(texts)}`);
      }
      await sleep(250);
    }
  }

  /** The notebook toolbar's action with this title (e.g. "Push Model from This Notebook"). */
  notebookToolbarAction(title: string): Locator {
    return this.page.locator(`.notebook-toolbar-container .action-label[aria-label^="${css(title)}"]`).first();
  }

  /** The editor tabs' titles (a file's name, a webview panel's title). */
  async editorTabs(): Promise<string[]> {
    return (await this.page.locator('.tabs-container .tab .label-name').allInnerTexts()).map((s) => s.trim());
  }

  /**
   * The webview frame (e.g. the metadata editor) whose document has `selector` (make it
   * specific to that webview's content): webviews
   * live in nested iframes (`iframe.webview` → `#active-frame`), so this polls all frames.
   */
  async webviewFrame(selector: string, timeout = TIMEOUT_MS): Promise<Frame> {
    const deadline = Date.now() + timeout;
    for (;;) {
      for (const frame of this.page.frames()) {
        // Not the page, nor the web worker extension host's iframe.
        if (frame === this.page.mainFrame() || frame.url().includes('webWorkerExtensionHostIframe')) continue;
        if ((await frame.locator(selector).count().catch(() => 0)) > 0) return frame;
      }
      if (Date.now() > deadline) throw new Error(`no webview shows ${selector} within ${timeout} ms`);
      await sleep(250);
    }
  }

  async screenshot(path: string): Promise<string> {
    await mkdir(dirname(path), { recursive: true });
    await this.page.screenshot({ path });
    return path;
  }

  // -------------------------------------------------------------------------------------
  // Logs

  private async logDirs(): Promise<string[]> {
    const logs = join(this.userDataDir, 'logs');
    const out: string[] = [];
    for (const d of (await readdir(logs).catch(() => [])).sort()) {
      for (const e of (await readdir(join(logs, d)).catch(() => [])).sort()) {
        if (/^exthost\d+$/.test(e)) out.push(join(logs, d, e));
      }
    }
    return out;
  }

  private async readAll(file: string): Promise<string> {
    let text = '';
    for (const dir of await this.logDirs()) text += await readFile(join(dir, file), 'utf8').catch(() => '');
    return text;
  }

  /** The extension's output channel "omlmd" (all extension host runs of this session). */
  async extensionLog(): Promise<string> {
    return this.readAll(join(EXTENSION_ID, 'omlmd.log'));
  }

  /** The extension host's log: activation events, extension errors. */
  async extensionHostLog(): Promise<string> {
    return this.readAll('remoteexthost.log');
  }

  /** Polls the extension's log until it matches; returns the whole log. */
  async waitForExtensionLog(pattern: string | RegExp, timeout = TIMEOUT_MS): Promise<string> {
    const deadline = Date.now() + timeout;
    for (;;) {
      const log = await this.extensionLog();
      if (typeof pattern === 'string' ? log.includes(pattern) : pattern.test(log)) return log;
      if (Date.now() > deadline) {
        throw new Error(`extension log did not show ${String(pattern)} within ${timeout} ms; it has:\n${log || '(empty)'}`);
      }
      await sleep(200);
    }
  }

  /** Environment of the running extension host (read from /proc), e.g. to check OMLMD_HOME. */
  async extensionHostEnv(): Promise<Record<string, string>> {
    const pids = [...(await this.extensionHostLog()).matchAll(/Extension host with pid (\d+) started/g)].map((m) => m[1]);
    const pid = pids.at(-1);
    if (!pid) throw new Error('no extension host started yet');
    const env: Record<string, string> = {};
    for (const kv of (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0')) {
      const i = kv.indexOf('=');
      if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
    }
    return env;
  }

  /**
   * Activation times as VS Code measures them, read from "Developer: Show Running
   * Extensions" (extension name → time); closes that editor afterwards.
   */
  async activationTimes(): Promise<Map<string, ActivationTime>> {
    await this.runCommand('Developer: Show Running Extensions');
    const rows = this.page.locator('.runtime-extensions-editor .monaco-list-row');
    await rows.first().waitFor();
    const out = new Map<string, ActivationTime>();
    for (const row of await rows.all()) {
      const name = (await row.getAttribute('aria-label')) ?? '';
      const text = await row.innerText();
      const m = /(Startup )?Activation: (\d+)ms/.exec(text);
      if (m) out.set(name, { text: m[0], ms: Number(m[2]), startup: !!m[1] });
    }
    await this.runCommand('View: Close Editor');
    return out;
  }

  /** code-server's output, the extension host log, the extension log and the page's errors. */
  async diagnostics(): Promise<string> {
    const tail = (s: string, n = 60) => s.split('\n').slice(-n).join('\n');
    return [
      `--- session ${this.tmp} (port ${this.port})`,
      `--- code-server output (tail)\n${tail(this.output)}`,
      `--- extension host log (tail)\n${tail(await this.extensionHostLog().catch(() => ''))}`,
      `--- omlmd output channel\n${tail(await this.extensionLog().catch(() => ''), 200)}`,
      `--- browser console errors (tail)\n${this.consoleErrors.slice(-20).join('\n')}`,
    ].join('\n');
  }

  /**
   * Runs `fn`; if it throws, keeps a screenshot and the logs in
   * test-results/e2e-failures/<name>-<time>/ of the project (git-ignored; OMLMD_E2E_FAILURES
   * names another folder), not the system's temporary folder, and prints them, then rethrows.
   */
  async withDiagnostics<T>(name: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      const dir = join(process.env.OMLMD_E2E_FAILURES ?? join(ROOT, 'test-results', 'e2e-failures'), `${name.replace(/[^\w.-]+/g, '_')}-${Date.now()}`);
      await mkdir(dir, { recursive: true });
      const shot = await this.screenshot(join(dir, 'screen.png')).catch(() => '(no screenshot)');
      const diag = await this.diagnostics();
      await writeFile(join(dir, 'diagnostics.txt'), diag);
      await cpSync_(join(this.userDataDir, 'logs'), join(dir, 'logs'));
      console.error(`e2e failure "${name}": screenshot ${shot}, logs in ${dir}\n${diag}`);
      // The summary of failures at the end of a run shows the error only: what was on screen
      // and the extension's last words go into it, so a CI log's tail says what happened.
      if (e instanceof Error) {
        const toasts = await this.notifications().catch(() => []);
        const log = (await this.extensionLog().catch(() => '')).trim().split('\n').slice(-12).join('\n    ');
        e.message += `\n  notifications: ${JSON.stringify(toasts)}\n  omlmd log (tail):\n    ${log}`;
      }
      throw e;
    }
  }

  // -------------------------------------------------------------------------------------

  /** Closes the browser, kills code-server and all it started, removes the temp dir. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.browser?.close().catch(() => undefined);
    const child = this.child;
    if (child?.pid && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      const gone = await Promise.race([this.exited?.then(() => true), sleep(10_000).then(() => false)]);
      if (!gone) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
        await this.exited;
      }
    }
    // Whatever left the group (a terminal's shell runs in its own session).
    killMarked(this.id);
    live.delete(this);
    if (!process.env.OMLMD_E2E_KEEP) await rmRetry(this.tmp);
    else console.error(`OMLMD_E2E_KEEP: kept ${this.tmp}`);
  }

  /** @internal Synchronous last resort at process exit. */
  killSync(): void {
    const pid = this.child?.pid;
    if (pid) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    killMarked(this.id);
    if (!process.env.OMLMD_E2E_KEEP) rmSync(this.tmp, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, rej) => {
        timer = setTimeout(() => rej(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs a command to completion, capturing stdout and stderr together. */
function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; output: string }> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    child.once('error', rej);
    child.once('close', (code) => res({ code, output }));
  });
}

async function rmRetry(dir: string): Promise<void> {
  // A dying process may still write a log line or two.
  for (let i = 0; ; i++) {
    try {
      await rm(dir, { recursive: true, force: true });
      return;
    } catch (e) {
      if (i >= 5) throw e;
      await sleep(200);
    }
  }
}

async function cpSync_(from: string, to: string): Promise<void> {
  try {
    cpSync(from, to, { recursive: true });
  } catch {
    // no logs yet
  }
}

/** Escapes a value for a CSS attribute selector in double quotes. */
function css(s: string): string {
  return s.replace(/["\\]/g, '\\$&');
}

/** A whole-text matcher for Playwright's hasText. */
function exact(s: string | RegExp): RegExp {
  return typeof s === 'string' ? new RegExp(`^\\s*${s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`) : s;
}
