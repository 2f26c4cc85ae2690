/**
 * The translatable strings (#15) agree with what ships: package.json's %key% placeholders with
 * package.nls.json, and the l10n.t messages of src/extension and of the webviews (webview/) with
 * l10n/bundle.l10n.json (which
 * `npm run l10n:export` writes). A message that is missing from the bundle is never
 * translated; a stale key is work for translators that shows nowhere.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';

const ROOT = join(__dirname, '..', '..');
/** The trees whose l10n.t calls the bundle holds (scripts/l10n-export.mjs reads the same). */
const TREES = ['src/extension', 'webview'];
/**
 * The plumbing: model/l10n.ts defines l10n.t, l10nHost.ts forwards any message to
 * vscode.l10n.t, webview/l10n.ts is the webviews' l10n.t over the bundle the host sends.
 */
const PLUMBING = new Set(['src/extension/model/l10n.ts', 'src/extension/l10nHost.ts', 'webview/l10n.ts']);

const json = (path: string): unknown => JSON.parse(readFileSync(join(ROOT, path), 'utf8'));

/** Every string in a JSON value. */
function strings(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.flatMap(strings);
  if (v && typeof v === 'object') return Object.values(v).flatMap(strings);
  return [];
}

test('every %key% of package.json is in package.nls.json, and every key there is used', () => {
  const nls = json('package.nls.json') as Record<string, unknown>;
  const used = new Set(strings(json('package.json')).flatMap((s) => /^%([^%\s]+)%$/.exec(s)?.[1] ?? []));
  assert.ok(used.size > 50, `${used.size} placeholders`);
  for (const key of used) assert.equal(typeof nls[key], 'string', `package.nls.json has no ${key}`);
  for (const [key, text] of Object.entries(nls)) {
    assert.ok(used.has(key), `package.nls.json: ${key} is used nowhere`);
    assert.ok(typeof text === 'string' && text.trim() !== '', `package.nls.json: ${key} is empty`);
  }
});

test('the .vsix ships package.nls.json and l10n/, where package.json says the bundles are', () => {
  assert.equal((json('package.json') as { l10n?: string }).l10n, './l10n');
  const ignore = readFileSync(join(ROOT, '.vscodeignore'), 'utf8');
  assert.match(ignore, /^!package\.nls\.json$/m);
  assert.match(ignore, /^!l10n\/\*\*$/m);
});

/** The index after the string or template literal starting at `i` (templates' `${…}` skipped too). */
function skipLiteral(src: string, i: number): number {
  const q = src[i]!;
  for (let j = i + 1; j < src.length; j++) {
    const c = src[j];
    if (c === '\\') j++;
    else if (c === q) return j + 1;
    else if (q === '`' && c === '$' && src[j + 1] === '{') j = skipBalanced(src, j + 1) - 1;
  }
  throw new Error(`unterminated literal at ${i}`);
}

/** The index after the bracket group starting at `i`, or (for `i` just inside a call) after its `)`. Counts top-level commas. */
function scanGroup(src: string, i: number, close: string): { end: number; commas: number } {
  let commas = 0;
  for (let j = i; j < src.length; j++) {
    const c = src[j]!;
    if (c === "'" || c === '"' || c === '`') j = skipLiteral(src, j) - 1;
    else if (c === '(' || c === '[' || c === '{') j = skipBalanced(src, j) - 1;
    else if (c === ',') commas++;
    else if (c === close) return { end: j + 1, commas };
  }
  throw new Error(`unbalanced ${close} after ${i}`);
}

function skipBalanced(src: string, i: number): number {
  const close = { '(': ')', '[': ']', '{': '}' }[src[i]!]!;
  return scanGroup(src, i + 1, close).end;
}

/** A JS string literal's value (the escapes these sources use). */
function unquote(lit: string): string {
  const body = lit.slice(1, -1).replace(/\\(.)|"/g, (m, c: string | undefined) => (c === undefined ? '\\"' : c === "'" ? "'" : m));
  return JSON.parse(`"${body}"`) as string;
}

const LITERAL = String.raw`'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"`;

interface Call {
  where: string;
  /** The bundle's key: the message, or `message/comment`. */
  key: string;
  message: string;
  /** How many args are given (object form: the elements of `args: [...]`). */
  args: number;
}

/** The .ts files of the trees, as paths from the root. */
function sources(): string[] {
  return TREES.flatMap((tree) =>
    readdirSync(join(ROOT, tree), { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts'))
      .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)).split('\\').join('/')),
  );
}

/** Every l10n.t / vscode.l10n.t call of src/extension and webview/; a call whose message is no literal fails (the export cannot read it). */
function calls(): Call[] {
  const out: Call[] = [];
  for (const rel of sources()) {
    if (PLUMBING.has(rel)) continue;
    const src = readFileSync(join(ROOT, rel), 'utf8');
    for (const m of src.matchAll(/\bl10n\.t\(\s*/g)) {
      const start = m.index + m[0].length;
      const where = `${rel}:${src.slice(0, m.index).split('\n').length}`;
      const lit = new RegExp(`^(?:${LITERAL})`).exec(src.slice(start));
      if (lit) {
        const message = unquote(lit[0]);
        const rest = scanGroup(src, start + lit[0].length, ')');
        out.push({ where, key: message, message, args: rest.commas });
        continue;
      }
      assert.equal(src[start], '{', `${where}: the message of l10n.t must be a string literal or { message, comment }`);
      const object = src.slice(start, skipBalanced(src, start));
      const message = new RegExp(`\\bmessage:\\s*(${LITERAL})`).exec(object);
      assert.ok(message, `${where}: { message: '…' } with a string literal`);
      const comment = new RegExp(`\\bcomment:\\s*(${LITERAL}|\\[(?:\\s*(?:${LITERAL})\\s*,?)*\\])`).exec(object);
      const comments = comment ? [...comment[1]!.matchAll(new RegExp(LITERAL, 'g'))].map((c) => unquote(c[0])) : [];
      const args = /\bargs:\s*\[/.exec(object);
      const argCount = args ? (() => {
        const open = args.index + args[0].length - 1;
        const inner = object.slice(open + 1, skipBalanced(object, open) - 1);
        return inner.trim() === '' ? 0 : scanGroup(`${inner})`, 0, ')').commas + 1;
      })() : 0;
      const text = unquote(message[1]!);
      out.push({ where, key: comments.length ? `${text}/${comments.join('')}` : text, message: text, args: argCount });
    }
  }
  return out;
}

test('every l10n.t message of src/extension and webview/ is in l10n/bundle.l10n.json, and the bundle has no other (npm run l10n:export)', () => {
  const found = calls();
  assert.ok(found.length > 200, `${found.length} calls`);
  const webview = found.filter((c) => c.where.startsWith('webview/'));
  assert.ok(webview.length > 100, `${webview.length} calls in webview/`);
  const bundle = json('l10n/bundle.l10n.json') as Record<string, string | { message: string; comment: string[] }>;
  const keys = new Set(found.map((c) => c.key));
  for (const c of found) {
    const entry = bundle[c.key];
    assert.ok(entry !== undefined, `${c.where}: ${JSON.stringify(c.key)} is not in l10n/bundle.l10n.json`);
    assert.equal(typeof entry === 'string' ? entry : entry.message, c.message, `${c.where}: the bundle's English differs`);
  }
  for (const key of Object.keys(bundle)) assert.ok(keys.has(key), `l10n/bundle.l10n.json: ${JSON.stringify(key)} is said nowhere in src/extension or webview/`);
});

test('no message names a placeholder {n} beyond the values it is given', () => {
  for (const c of calls()) {
    const indexes = [...c.message.matchAll(/{(\d+)}/g)].map((m) => Number(m[1]));
    const highest = Math.max(-1, ...indexes);
    assert.ok(highest < c.args, `${c.where}: ${JSON.stringify(c.message)} uses {${highest}} with ${c.args} value(s)`);
  }
});

test("webview/l10n.ts: English without a bundle, the bundle's text with one, {0} and {name} filled in as vscode.l10n.t does", async () => {
  const { l10n, setBundle } = await import('../../webview/l10n');
  try {
    setBundle(undefined);
    assert.equal(l10n.t('Remove {0}', 'accuracy'), 'Remove accuracy');
    assert.equal(l10n.t('{0} problems to fix', 3), '3 problems to fix');
    assert.equal(l10n.t('Target: {target}', { target: 'host/repo:v1' }), 'Target: host/repo:v1');
    assert.equal(l10n.t('Kept {1} as written', 'x'), 'Kept {1} as written');
    setBundle({ 'Remove {0}': '{0} entfernen', Discard: 'Verwerfen' });
    assert.equal(l10n.t('Remove {0}', 'accuracy'), 'accuracy entfernen');
    assert.equal(l10n.t('Discard'), 'Verwerfen');
    assert.equal(l10n.t('Keep editing'), 'Keep editing', 'a message the bundle lacks stays English');
  } finally {
    setBundle(undefined);
  }
});
