import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { OmlmdClient } from '../../src/core/client';
import { OmlmdError } from '../../src/core/errors';
import { CLI, runCli } from '../helpers/cli';
import { gzipTarBomb, rawTar, startHostileRegistry, type HostileRegistry, type TarEntry } from '../helpers/hostile';
import { tempDir } from '../helpers/tmp';

/** Everything in `dir`, hidden files included, as relative paths. */
const tree = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String).sort() : []);

/**
 * omlmd 0.1.x folder layers (one gzip tar titled with the folder) from a hostile registry
 * (the hostile-registry double): every crafted tar is a rejected promise with a message and
 * leaves nothing in the output folder; a gzip bomb is refused in bounded memory.
 */
describe('hostile 0.1.x folder layers (hostile registry double)', () => {
  let reg: HostileRegistry;
  let work: string;
  let client: OmlmdClient;
  before(async () => {
    reg = await startHostileRegistry();
    work = tempDir('omlmd-hostile-pull-');
    client = new OmlmdClient({ home: join(work, 'home') });
  });
  after(async () => reg?.close());

  const folderModel = (name: string, entries: TarEntry[]) => reg.model(name, 'v1', [{ title: 'model', bytes: gzipSync(rawTar(entries)) }]);

  test('an honest folder layer unpacks into the folder', async () => {
    folderModel('tar/honest', [{ name: 'model/', type: 'dir' }, { name: 'model/a.txt', body: Buffer.from('A') }, { name: 'model/sub/b.txt', body: Buffer.from('B') }]);
    const out = join(work, 'honest');
    const res = await client.pull(`${reg.host}/tar/honest:v1`, out);
    assert.equal(res.files[0]!.unpacked, true);
    assert.equal(readFileSync(join(out, 'model', 'sub', 'b.txt'), 'utf8'), 'B');
    assert.deepEqual(tree(out).filter((p) => p.startsWith('.') || p.includes('omlmd-tar')), []);
  });

  for (const [what, entries] of [
    ['a "../" entry', [{ name: 'model/' , type: 'dir' }, { name: 'model/../evil.txt', body: Buffer.from('x') }]],
    ['an absolute entry', [{ name: 'model/', type: 'dir' }, { name: '/tmp/omlmd-evil-abs.txt', body: Buffer.from('x') }]],
  ] as [string, TarEntry[]][]) {
    test(`${what} is a refusal (UNSAFE_PATH), not a crash; nothing is left`, async () => {
      const name = `tar/${what.includes('..') ? 'dotdot' : 'abs'}`;
      folderModel(name, entries);
      const out = join(work, name.replace('/', '-'));
      await assert.rejects(client.pull(`${reg.host}/${name}:v1`, out), (e: unknown) => OmlmdError.is(e, 'UNSAFE_PATH') && /folder layer "model"/.test(e.message));
      assert.deepEqual(tree(out), []);
      assert.equal(existsSync(join(work, 'evil.txt')), false);
      assert.equal(existsSync('/tmp/omlmd-evil-abs.txt'), false);
      // The CLI: one line, exit 5, no stack trace (the throw used to escape node-tar's callback).
      const r = await runCli(['pull', `${reg.host}/${name}:v1`, '-o', `${out}-cli`], { env: { OMLMD_HOME: join(work, 'home') } });
      assert.equal(r.code, 5, r.stderr);
      assert.match(r.stderr, /refusing the folder layer "model"/);
      assert.doesNotMatch(r.stderr, /\n\s+at |internal error/);
      assert.deepEqual(tree(`${out}-cli`), []);
    });
  }

  test('a file and then a folder of the same name is a clear refusal, not "internal error: EEXIST"', async () => {
    folderModel('tar/eexist', [{ name: 'model/', type: 'dir' }, { name: 'model/x', body: Buffer.from('file') }, { name: 'model/x/y', body: Buffer.from('under') }]);
    const out = join(work, 'eexist');
    const r = await runCli(['pull', `${reg.host}/tar/eexist:v1`, '-o', out], { env: { OMLMD_HOME: join(work, 'home') } });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /holds model\/x as a file and as a folder/);
    assert.doesNotMatch(r.stderr, /EEXIST|internal error/);
    assert.deepEqual(tree(out), []);
  });

  test('links in a folder layer are not unpacked: the layer stays the file it is', async () => {
    folderModel('tar/link', [{ name: 'model/', type: 'dir' }, { name: 'model/l', type: 'symlink', linkname: '/etc/passwd' }]);
    const out = join(work, 'link');
    const res = await client.pull(`${reg.host}/tar/link:v1`, out);
    assert.equal(res.files[0]!.unpacked, false);
    assert.deepEqual(tree(out), ['model']);
  });

  test('a gzip bomb (1 MB inflating to 1 GiB) is refused with a message, in bounded memory, leaving nothing', async () => {
    const bomb = await gzipTarBomb('model', 1024 ** 3);
    assert.ok(bomb.length < 2 * 1024 * 1024, `${bomb.length}`);
    reg.model('tar/bomb', 'v1', [{ title: 'model', bytes: bomb }]);
    const out = join(work, 'bomb');
    const r = await new Promise<{ code: number; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--require', join(__dirname, '..', 'helpers', 'maxrss.cjs'), CLI, 'pull', `${reg.host}/tar/bomb:v1`, '-o', out], { env: { ...process.env, OMLMD_HOME: join(work, 'home'), OMLMD_NO_PROGRESS: '1', OMLMD_TEST_MAXRSS_FILE: join(work, 'bomb.maxrss') }, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? -1, stderr }));
    });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /inflates to more than .* gzip bomb/);
    const rss = Number(readFileSync(join(work, 'bomb.maxrss'), 'utf8'));
    // Not a speed figure: the bomb inflated into memory took 1.08 GB; streaming stays near the process's own size.
    assert.ok(rss > 0 && rss < 400 * 1024 * 1024, `peak RSS ${rss} bytes`);
    assert.deepEqual(tree(out), []);
  });
});

describe('hostile titles that collide (hostile registry double)', () => {
  let reg: HostileRegistry;
  let work: string;
  before(async () => {
    reg = await startHostileRegistry();
    work = tempDir('omlmd-hostile-titles-');
  });
  after(async () => reg?.close());
  const pull = (name: string) => runCli(['pull', `${reg.host}/${name}:v1`, '-o', join(work, name.replace('/', '-'))], { env: { OMLMD_HOME: join(work, 'home') } });

  test('"x.bin" and "./x.bin" name one file: refused (exit 5) before anything is written, not a race for who wins', async () => {
    reg.model('titles/dot', 'v1', [{ title: 'x.bin', bytes: Buffer.from('one') }, { title: './x.bin', bytes: Buffer.from('two') }]);
    const r = await pull('titles/dot');
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /titled "x\.bin" and "\.\/x\.bin", which name one file/);
    assert.deepEqual(tree(join(work, 'titles-dot')), []);
  });

  test('a file "x" and a file "x/y": refused, not EEXIST/ENOTDIR halfway', async () => {
    reg.model('titles/nest', 'v1', [{ title: 'x', bytes: Buffer.from('file') }, { title: 'x/y', bytes: Buffer.from('under') }]);
    const r = await pull('titles/nest');
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /a file titled "x" and another under it, "x\/y"/);
    assert.doesNotMatch(r.stderr, /EEXIST|ENOTDIR|internal error/);
  });

  test('names that differ by case only pull on a case-sensitive file system (both kept)', async () => {
    reg.model('titles/case', 'v1', [{ title: 'A.bin', bytes: Buffer.from('upper') }, { title: 'a.bin', bytes: Buffer.from('lower') }]);
    const r = await pull('titles/case');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(join(work, 'titles-case', 'A.bin'), 'utf8'), 'upper');
    assert.equal(readFileSync(join(work, 'titles-case', 'a.bin'), 'utf8'), 'lower');
    assert.deepEqual(tree(join(work, 'titles-case')).filter((n) => n.startsWith('.')), [], 'the case probe is removed');
  });
});

describe('a config nested 5000 deep from a registry (hostile registry double)', () => {
  let reg: HostileRegistry;
  let work: string;
  before(async () => {
    reg = await startHostileRegistry();
    work = tempDir('omlmd-hostile-deep-');
  });
  after(async () => reg?.close());

  test('inspect, get config and metadata refuse it in one line (was "Maximum call stack size exceeded … please report it")', async () => {
    let v = '1';
    for (let i = 0; i < 5000; i++) v = `{"x": ${v}}`;
    reg.model('deep/m', 'v1', [{ title: 'm.bin', bytes: Buffer.from('w') }], { config: Buffer.from(`{"name":"deep","customProperties":${v}}`) });
    for (const args of [['inspect'], ['get', 'config'], ['metadata']]) {
      const r = await runCli([...args, `${reg.host}/deep/m:v1`], { env: { OMLMD_HOME: join(work, 'home') } });
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, /nests more than 64 levels deep/, args.join(' '));
      assert.doesNotMatch(r.stderr, /call stack|please report/, args.join(' '));
    }
  });
});
