import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { sweepOrphans, tempDir } from '../helpers/tmp';

const root = mkdtempSync(join(tmpdir(), 'sweep-root-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('tempDir names its owner; sweepOrphans removes only folders of gone processes, older than a minute', async () => {
  const mine = tempDir('omlmd-sweep-');
  assert.match(mine, new RegExp(`omlmd-sweep-pid${process.pid}\\.[A-Za-z0-9]{6}$`));
  // A pid that has ended (a child run to completion), and one that lives (a sleeping child).
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  const sleeper = spawn('sleep', ['30']);
  try {
    const old = (Date.now() - 10 * 60_000) / 1000;
    const make = (name: string, aged = true): string => {
      const d = join(root, name);
      mkdirSync(join(d, 'data'), { recursive: true });
      if (aged) utimesSync(d, old, old);
      return d;
    };
    const orphan = make(`omlmd-registry-pid${dead}.AbC123`);
    const young = make(`omlmd-serve-pid${dead}.XyZ789`, false);
    const living = make(`omlmd-pg-pid${sleeper.pid}.Qwe456`);
    const digits = make(`omlmd-v2-pid${sleeper.pid}.Rty012`);
    const other = make('omlmd-vscode.ABCDEF');
    const swept = sweepOrphans(root);
    assert.deepEqual(swept, [orphan]);
    assert.equal(existsSync(orphan), false);
    for (const d of [young, living, digits, other]) assert.equal(existsSync(d), true, d);
  } finally {
    sleeper.kill('SIGKILL');
  }
});
