import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { namesCliFlag } from '../helpers/words';

const CORE = join(__dirname, '..', '..', 'src', 'core');

function* files(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) yield* files(join(dir, e.name));
    else if (e.name.endsWith('.ts')) yield join(dir, e.name);
  }
}

// The core words no face: advice it gives as plain text (`say`) must read the same in a
// terminal and in VS Code, so it names no CLI flag and no omlmd command (those are typed
// remedies, worded by src/cli/remedies.ts and src/extension/remedies.ts).
test('no say remedy in src/core names a CLI flag or an omlmd command, and no hint option is left', () => {
  const offending: string[] = [];
  let seen = 0;
  for (const f of files(CORE)) {
    const src = readFileSync(f, 'utf8');
    for (const m of src.matchAll(/kind: 'say', text: (`[^`]*`|'(?:[^'\\]|\\.)*')/g)) {
      seen++;
      if (namesCliFlag(m[1]!)) offending.push(`${relative(CORE, f)}: ${m[1]}`);
    }
    if (/\bhint: ['`]/.test(src)) offending.push(`${relative(CORE, f)}: a hint option`);
  }
  assert.ok(seen > 5, `found only ${seen} say remedies: the pattern no longer matches the code`);
  assert.deepEqual(offending, []);
});
