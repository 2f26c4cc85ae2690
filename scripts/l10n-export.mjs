// Writes l10n/bundle.l10n.json, the English strings of src/extension that translations start
// from, with @vscode/l10n-dev's `export`. That tool finds `l10n.t` only when `l10n` comes from
// 'vscode' or '@vscode/l10n'; the VS Code-free files import it from model/l10n.ts (the same
// calls), so it reads a copy of src/extension in which that import names '@vscode/l10n'.
// test/unit/l10n.test.ts checks that the bundle and the sources agree.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const SRC = join(ROOT, 'src', 'extension');
const L10N_DEV = '@vscode/l10n-dev@0.0.35';

const copy = mkdtempSync(join(tmpdir(), 'omlmd-l10n-'));
try {
  for (const entry of readdirSync(SRC, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const from = join(entry.parentPath, entry.name);
    const to = join(copy, relative(SRC, from));
    mkdirSync(dirname(to), { recursive: true });
    const text = readFileSync(from, 'utf8').replace(/^import \{ l10n \} from '(?:\.\/|\.\.\/)*(?:model\/)?l10n';$/m, "import * as l10n from '@vscode/l10n';");
    writeFileSync(to, text);
  }
  execFileSync('npx', ['--yes', L10N_DEV, 'export', '--outDir', join(ROOT, 'l10n'), copy], { stdio: 'inherit' });
} finally {
  rmSync(copy, { recursive: true, force: true });
}
