import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdirSync, realpathSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { OmlmdClient } from '../../src/core/client';
import { tempDir } from '../helpers/tmp';

const ROOT = join(__dirname, '..', '..');

/**
 * A clean clone: the files git tracks, as they are in this checkout (so the test sees the
 * change under test, and nothing built or ignored: no dist/), with node_modules linked.
 */
function cleanClone(dest: string): void {
  const files = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
  for (const f of files) {
    const from = join(ROOT, f);
    if (!existsSync(from) || lstatSync(from).isDirectory()) continue; // deleted in this checkout, or a submodule
    mkdirSync(dirname(join(dest, f)), { recursive: true });
    copyFileSync(from, join(dest, f));
  }
  symlinkSync(realpathSync(join(ROOT, 'node_modules')), join(dest, 'node_modules'));
}

function run(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv }): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, out }));
  });
}

test('npm run vscode on a clean clone (no dist/): the CLI is built before the seed, the Local store holds sample/iris:v1, and the banner says so', { timeout: 600_000 }, async () => {
  const base = tempDir('omlmd-open-vscode-');
  const clone = join(base, 'clone');
  const tmp = join(base, 'tmp');
  mkdirSync(tmp);
  cleanClone(clone);
  assert.equal(existsSync(join(clone, 'dist')), false, 'a clean clone has nothing built');

  // The README's first command is `npm run vscode` (scripts/open-vscode.sh); it stops before code-server here.
  const { code, out } = await run('npm', ['run', 'vscode'], {
    cwd: clone,
    env: { ...process.env, OMLMD_VSCODE_STOP: 'seeded', OMLMD_VSCODE_KEEP: '1', TMPDIR: tmp, CI: '', OMLMD_HOME: join(base, 'not-this-home') },
  });
  assert.equal(code, 0, out);
  assert.doesNotMatch(out, /Cannot find module|warning: the sample push failed/, out);
  assert.match(out, /seeded sample\/iris:v1/);
  assert.match(out, /stopping before code-server \(OMLMD_VSCODE_STOP=seeded\): Local store: sample\/iris:v1$/m);
  const kept = /^kept (.+)$/m.exec(out)?.[1];
  assert.ok(kept && kept.startsWith(tmp), out);

  // The store the script seeded, read with the library: the sample's model and metadata.
  const client = new OmlmdClient({ home: join(kept, 'omlmd-home') });
  assert.deepEqual(await client.tags('sample/iris'), ['v1']);
  const { metadata } = await client.metadata('sample/iris:v1');
  assert.equal(metadata.name, 'Iris classifier');
  assert.ok(existsSync(join(clone, 'dist', 'omlmd.vsix')), 'the extension was packaged first');
});
