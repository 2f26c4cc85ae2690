// Writes l10n/bundle.l10n.json, the English strings of src/extension and of the webviews
// (webview/) that translations start from, with @vscode/l10n-dev's `export`. That tool finds
// `l10n.t` only when `l10n` comes from 'vscode' or '@vscode/l10n'; the VS Code-free files
// import it from model/l10n.ts and the webviews from webview/l10n.ts (the same calls), so it
// reads a copy of both in which that import names '@vscode/l10n'.
// test/unit/l10n.test.ts checks that the bundle and the sources agree.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
/** The trees whose l10n.t calls go into the bundle; webview/l10n.ts is the webviews' l10n.t itself. */
const TREES = [
  { dir: join(ROOT, 'src', 'extension'), into: 'extension', skip: new Set() },
  { dir: join(ROOT, 'webview'), into: 'webview', skip: new Set(['l10n.ts']) },
];
/** `import { l10n } from './l10n'` (or '../model/l10n', or with setBundle beside it). */
const LOCAL_IMPORT = /^import \{ l10n(?:, [^}]*)? \} from '(?:\.\/|\.\.\/)*(?:model\/)?l10n';$/m;
const L10N_DEV = '@vscode/l10n-dev@0.0.35';

const copy = mkdtempSync(join(tmpdir(), 'omlmd-l10n-'));
try {
  for (const tree of TREES) {
    for (const entry of readdirSync(tree.dir, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.endsWith('.ts') || entry.name.endsWith('.d.ts')) continue;
      const from = join(entry.parentPath, entry.name);
      const rel = relative(tree.dir, from).split('\\').join('/');
      if (tree.skip.has(rel)) continue;
      const to = join(copy, tree.into, rel);
      mkdirSync(dirname(to), { recursive: true });
      writeFileSync(to, readFileSync(from, 'utf8').replace(LOCAL_IMPORT, "import * as l10n from '@vscode/l10n';"));
    }
  }
  execFileSync('npx', ['--yes', L10N_DEV, 'export', '--outDir', join(ROOT, 'l10n'), copy], { stdio: 'inherit' });
} finally {
  rmSync(copy, { recursive: true, force: true });
}
