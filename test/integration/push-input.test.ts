import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runCli } from '../helpers/cli';
import { tempDir } from '../helpers/tmp';

/**
 * What a push reads from the local disk (issue: hostile input): a symbolic link in a pushed
 * folder that leads out of it is refused unless --follow-symlinks, so a link to a private
 * key is not uploaded by accident. The push goes to the embedded store: only the disk is in play.
 */
describe('push: symbolic links in a pushed folder', () => {
  const work = tempDir('omlmd-push-input-');
  const env = { OMLMD_HOME: join(work, 'home') };
  const model = join(work, 'model');
  mkdirSync(join(model, 'sub'), { recursive: true });
  writeFileSync(join(model, 'weights.bin'), 'weights');
  writeFileSync(join(work, 'id_rsa'), '-----BEGIN PRIVATE KEY-----\nsecret\n');
  symlinkSync(join(model, 'weights.bin'), join(model, 'sub', 'inside.bin'));

  test('a link inside the folder is pushed; a link out of it is refused (exit 2, both named, nothing tagged)', async () => {
    const ok = await runCli(['push', 'links/m:inside', model, '--empty-metadata', '--json'], { env });
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual((JSON.parse(ok.stdout) as { files: { title: string }[] }).files.map((f) => f.title).sort(), ['model/sub/inside.bin', 'model/weights.bin']);

    symlinkSync(join(work, 'id_rsa'), join(model, 'key.pem'));
    const r = await runCli(['push', 'links/m:outside', model, '--empty-metadata'], { env });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /key\.pem is a symbolic link to .*id_rsa, outside the folder/);
    assert.match(r.stderr, /--follow-symlinks/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    const gone = await runCli(['inspect', 'links/m:outside'], { env });
    assert.equal(gone.code, 4, 'nothing was tagged');

    const followed = await runCli(['push', 'links/m:followed', model, '--empty-metadata', '--follow-symlinks', '--json'], { env });
    assert.equal(followed.code, 0, followed.stderr);
    assert.ok((JSON.parse(followed.stdout) as { files: { title: string }[] }).files.some((f) => f.title === 'model/key.pem'));

    // A file named on the command line is taken as given, link or not: the user chose it.
    const given = await runCli(['push', 'links/m:given', join(model, 'key.pem'), '--empty-metadata'], { env });
    assert.equal(given.code, 0, given.stderr);
  });
});

describe('file names near the file system limit', () => {
  const work = tempDir('omlmd-long-names-');
  const env = { OMLMD_HOME: join(work, 'home') };

  test('a 250-byte file name pushes and pulls back (its partial, state and lock names stay within 255 bytes)', async () => {
    const name = `${'n'.repeat(246)}.bin`;
    assert.equal(Buffer.byteLength(name), 250);
    // Over 4 MiB, so the download keeps a resumable partial with a state file beside it.
    writeFileSync(join(work, name), Buffer.alloc(5 * 1024 * 1024, 7));
    const pushed = await runCli(['push', 'long/m:v1', join(work, name), '--empty-metadata'], { env });
    assert.equal(pushed.code, 0, pushed.stderr);
    const out = join(work, 'out');
    const pulled = await runCli(['pull', 'long/m:v1', '-o', out], { env });
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.equal(readFileSync(join(out, name)).length, 5 * 1024 * 1024);
    assert.deepEqual(readdirSync(out).filter((n) => n.startsWith('.')), []);
  });
});

describe('a pull onto a full disk (fault injection: the partial file is /dev/full)', () => {
  const work = tempDir('omlmd-disk-full-');
  const env = { OMLMD_HOME: join(work, 'home'), OMLMD_DIRECT_IO: '0' };

  test('says the disk is full, where, and how to free what it kept; no file at its final path', async () => {
    const bytes = Buffer.alloc(5 * 1024 * 1024, 9);
    writeFileSync(join(work, 'big.bin'), bytes);
    const pushed = await runCli(['push', 'full/m:v1', join(work, 'big.bin'), '--empty-metadata'], { env });
    assert.equal(pushed.code, 0, pushed.stderr);
    const out = join(work, 'out');
    mkdirSync(out);
    const digest = createHash('sha256').update(bytes).digest('hex');
    symlinkSync('/dev/full', join(out, `.big.bin.${digest.slice(0, 16)}.omlmd-partial`));
    const r = await runCli(['pull', 'full/m:v1', '-o', out], { env });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /the disk holding .*out is full/);
    assert.match(r.stderr, /free space/);
    assert.doesNotMatch(r.stderr, /internal error|\n\s+at /);
    assert.equal(existsSync(join(out, 'big.bin')), false);
  });
});
