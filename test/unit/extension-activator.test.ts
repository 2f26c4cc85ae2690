/**
 * The thin activator (src/extension/extension.ts, dist/extension.js) with a stand-in for the
 * `vscode` module (VS Code itself runs in the e2e tests; this checks what the activator
 * registers and when it loads the extension proper, which a window cannot show).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import Module from 'node:module';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { ROOT } from '../helpers/cli';

type Fn = (...args: unknown[]) => unknown;

function standIn() {
  const commands = new Map<string, Fn>();
  const views: { id: string; options: { treeDataProvider: { getChildren: Fn }; dragAndDropController: { dropMimeTypes: string[] } } }[] = [];
  const schemes = new Map<string, { provideTextDocumentContent: Fn }>();
  class Disposable {
    constructor(private readonly f: () => void) {}
    dispose() { this.f(); }
  }
  class EventEmitter {
    private readonly listeners: Fn[] = [];
    event = (l: Fn) => { this.listeners.push(l); return new Disposable(() => undefined); };
    fire(e: unknown) { for (const l of this.listeners) l(e); }
    dispose() {}
  }
  const vscode = {
    Disposable,
    EventEmitter,
    // English, with VS Code's positional placeholders filled in.
    l10n: { t: (message: string, ...args: unknown[]) => message.replace(/{(\d+)}/g, (m, i: string) => String(args[Number(i)] ?? m)) },
    window: {
      createOutputChannel: () => ({ info() {}, error() {}, show() {}, dispose() {} }),
      createTreeView: (id: string, options: never) => { views.push({ id, options }); return { dispose() {} }; },
      showErrorMessage: async (_m: string): Promise<unknown> => undefined,
    },
    commands: { registerCommand: (id: string, f: Fn) => { assert.ok(!commands.has(id), `${id} registered twice`); commands.set(id, f); return new Disposable(() => commands.delete(id)); } },
    workspace: { registerTextDocumentContentProvider: (scheme: string, p: never) => { schemes.set(scheme, p); return new Disposable(() => undefined); } },
  };
  return { vscode, commands, views, schemes };
}

/**
 * Loads dist/extension.js afresh with `vscode` and `./extension-main.js` answered by the test
 * (until the test ends: the activator requires the second bundle later, on first use).
 */
function loadActivator(t: TestContext, vscode: unknown, main: unknown): { activate: (c: unknown) => void; required: string[] } {
  const bundle = join(ROOT, 'dist', 'extension.js');
  const required: string[] = [];
  const M = Module as unknown as { _load: (r: string, ...a: unknown[]) => unknown };
  const original = M._load;
  M._load = function (request: string, ...rest: unknown[]) {
    required.push(request);
    if (request === 'vscode') return vscode;
    if (request === './extension-main.js') return main;
    return original.call(this, request, ...rest);
  };
  t.after(() => {
    M._load = original;
  });
  delete require.cache[bundle];
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the built bundle, as VS Code loads it
  const m = require(bundle) as { activate: (c: unknown) => void };
  return { activate: m.activate, required };
}

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { main: string; contributes: { commands: { command: string }[] } };
const context = () => ({ subscriptions: [] as unknown[], extension: { packageJSON: pkg } });

test('the activator needs only vscode, registers the view, every contributed command and the manifest scheme, and does not load the extension proper', (t) => {
  assert.equal(pkg.main, './dist/extension.js');
  const s = standIn();
  let loads = 0;
  const { activate, required } = loadActivator(t, s.vscode, { start: () => { loads++; throw new Error('not expected'); } });
  activate(context());
  assert.deepEqual(required.filter((r) => r !== 'vscode' && !r.endsWith('dist/extension.js')), [], 'the activator bundle requires nothing else at load or activation');
  assert.equal(loads, 0);
  assert.deepEqual([...s.commands.keys()].sort(), pkg.contributes.commands.map((c) => c.command).sort());
  assert.deepEqual(s.views.map((v) => v.id), ['omlmd.registries']);
  assert.deepEqual(s.views[0]!.options.dragAndDropController.dropMimeTypes, ['text/uri-list']);
  assert.ok(s.schemes.has('omlmd-manifest'));
  assert.ok(readFileSync(join(ROOT, 'dist', 'extension.js')).length < 20_000, 'the activator stays a few KB');
});

test('the first command loads the extension proper once and runs its handler; the tree asks it for rows; an internal command goes to VS Code', async (t) => {
  const s = standIn();
  let loads = 0;
  const calls: unknown[][] = [];
  const rows = [{ kind: 'localStore', id: 'local' }];
  const main = {
    start: (_c: unknown, _l: unknown, _v: unknown, host: { command: (id: string, f: Fn) => unknown; documents: (s: string, p: unknown) => unknown }) => {
      loads++;
      assert.ok(host.command('omlmd.pushModel', (...a: unknown[]) => { calls.push(a); return 'pushed'; }), 'a contributed command is taken by the activator');
      assert.equal(host.command('omlmd.internal.only', () => undefined), undefined, 'an internal one is left to VS Code');
      assert.ok(host.documents('omlmd-manifest', { provideTextDocumentContent: () => '{"manifest":1}' }));
      return {
        tree: { onDidChangeTreeData: () => ({ dispose() {} }), getChildren: async () => rows, getTreeItem: () => ({}), getParent: () => undefined },
        drop: { handleDrop: async () => undefined },
      };
    },
  };
  const { activate } = loadActivator(t, s.vscode, main);
  activate(context());
  assert.equal(await s.commands.get('omlmd.pushModel')!('a', 1), 'pushed');
  assert.deepEqual(calls, [['a', 1]]);
  assert.deepEqual(await s.views[0]!.options.treeDataProvider.getChildren(undefined), rows);
  assert.equal(await s.schemes.get('omlmd-manifest')!.provideTextDocumentContent({}, {}), '{"manifest":1}');
  assert.equal(loads, 1, 'loaded once');
});

test('a failure to load the extension proper is shown, and every later command fails with it (not half-started)', async (t) => {
  const s = standIn();
  const shown: string[] = [];
  s.vscode.window.showErrorMessage = async (m: string) => { shown.push(m); return undefined; };
  const { activate } = loadActivator(t, s.vscode, { start: () => { throw new Error('broken [bundle](command:evil)'); } });
  activate(context());
  await assert.rejects(async () => s.commands.get('omlmd.pushModel')!(), /broken/);
  await assert.rejects(async () => s.commands.get('omlmd.findModels')!(), /broken/);
  assert.equal(shown.length, 1);
  assert.match(shown[0]!, /^omlmd failed to start: broken \[bundle\] \(command:evil\)$/, 'shown once, with no link');
});
