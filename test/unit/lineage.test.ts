import assert from 'node:assert/strict';
import { tempDir } from '../helpers/tmp';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import * as tar from 'tar';
import { OmlmdError } from '../../src/core/errors';
import { mediaTypeForFile } from '../../src/core/lineage/attach';
import { readElf } from '../../src/core/lineage/busybox';
import { expandTagTemplate } from '../../src/core/lineage/pipeline';
import { parseStorageUri } from '../../src/core/lineage/storage';
import { parentDirectories, TarLayer } from '../../src/core/lineage/tarlayer';
import { isReferrersTag, referrersTag } from '../../src/core/oci/referrers-tag';

async function bytesOf(layer: TarLayer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of layer.open()) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('tar layers', () => {
  test('the announced size is the size streamed; long and non-ASCII paths go through PAX; tar reads back what was framed', async () => {
    const long = `models/${'d'.repeat(120)}/${'f'.repeat(140)}/é.bin`;
    const content = Buffer.from('x'.repeat(1500));
    const layer = new TarLayer([
      ...parentDirectories(['models/a.txt', long]).map((path) => ({ type: 'Directory' as const, path })),
      { type: 'File', path: 'models/a.txt', size: 3, open: () => Readable.from([Buffer.from('abc')]) },
      { type: 'File', path: long, size: content.length, open: () => Readable.from([content.subarray(0, 700), content.subarray(700)]) },
      { type: 'SymbolicLink', path: 'bin/sh', linkpath: 'busybox' },
    ]);
    const bytes = await bytesOf(layer);
    assert.equal(bytes.length, layer.size);
    assert.equal(bytes.length % 512, 0);
    const dir = tempDir('omlmd-tar-');
    writeFileSync(join(dir, 'l.tar'), bytes);
    const seen: string[] = [];
    await tar.t({ file: join(dir, 'l.tar'), onReadEntry: (e) => seen.push(`${e.type} ${e.path} ${e.mtime?.getTime()} ${e.uid}`) });
    assert.deepEqual(seen, [
      'Directory models/ 0 0',
      `Directory models/${'d'.repeat(120)}/ 0 0`,
      `Directory models/${'d'.repeat(120)}/${'f'.repeat(140)}/ 0 0`,
      'File models/a.txt 0 0',
      `File ${long} 0 0`,
      'SymbolicLink bin/sh 0 0',
    ]);
    await tar.x({ file: join(dir, 'l.tar'), cwd: dir });
    assert.deepEqual(readFileSync(join(dir, long)), content);
    assert.equal(readFileSync(join(dir, 'models', 'a.txt'), 'utf8'), 'abc');
  });

  test('the same entries give the same bytes, every time (reproducible digests)', async () => {
    const make = () => new TarLayer([{ type: 'File', path: 'models/m.bin', size: 4, open: () => Readable.from([Buffer.from('data')]) }]);
    const a = await bytesOf(make());
    const b = await bytesOf(make());
    assert.equal(createHash('sha256').update(a).digest('hex'), createHash('sha256').update(b).digest('hex'));
  });

  test('content is checked as it streams: wrong digest, too long, too short', async () => {
    const desc = { digest: `sha256:${createHash('sha256').update('good').digest('hex')}`, size: 4 };
    const bad = new TarLayer([{ type: 'File', path: 'm', size: 4, verify: desc, open: () => Readable.from([Buffer.from('evil')]) }]);
    await assert.rejects(bytesOf(bad), (e) => OmlmdError.is(e, 'DIGEST_MISMATCH'));
    const long = new TarLayer([{ type: 'File', path: 'm', size: 4, open: () => Readable.from([Buffer.from('toolong')]) }]);
    await assert.rejects(bytesOf(long), (e) => OmlmdError.is(e, 'SIZE_MISMATCH'));
    const short = new TarLayer([{ type: 'File', path: 'm', size: 4, open: () => Readable.from([Buffer.from('ab')]) }]);
    await assert.rejects(bytesOf(short), (e) => OmlmdError.is(e, 'SIZE_MISMATCH'));
    const good = new TarLayer([{ type: 'File', path: 'm', size: 4, verify: desc, open: () => Readable.from([Buffer.from('good')]) }]);
    assert.equal((await bytesOf(good)).length, good.size);
  });

  test('paths that would leave the root are refused', () => {
    for (const p of ['../etc/passwd', '/abs', 'models/../../x', 'a/./b', '']) {
      assert.throws(() => new TarLayer([{ type: 'Directory', path: p }]), (e) => OmlmdError.is(e, 'UNSAFE_PATH'), p);
    }
  });
});

describe('lineage helpers', () => {
  test('referrers tags', () => {
    const d = `sha256:${'ab'.repeat(32)}`;
    assert.equal(referrersTag(d), `sha256-${'ab'.repeat(32)}`);
    assert.ok(isReferrersTag(referrersTag(d)));
    assert.ok(!isReferrersTag('v1') && !isReferrersTag('sha256-abc') && !isReferrersTag(`sha256-${'ab'.repeat(32)}.sig`));
  });

  test('attachment media types from file names', () => {
    assert.equal(mediaTypeForFile('README.md'), 'text/markdown');
    assert.equal(mediaTypeForFile('sbom.spdx.json'), 'application/spdx+json');
    assert.equal(mediaTypeForFile('x/bom.json'), 'application/vnd.cyclonedx+json');
    assert.equal(mediaTypeForFile('app.cdx.json'), 'application/vnd.cyclonedx+json');
    assert.equal(mediaTypeForFile('eval.JSON'), 'application/json');
    assert.equal(mediaTypeForFile('weights'), 'application/octet-stream');
  });

  test('ModelCar tag templates', () => {
    const push = { tag: 'v3', digest: `sha256:${'0123456789ab'.repeat(5)}abcd` };
    assert.equal(expandTagTemplate('{tag}-modelcar', push), 'v3-modelcar');
    assert.equal(expandTagTemplate('mc-{digest}', push), 'mc-0123456789ab');
    assert.throws(() => expandTagTemplate('{tag}/bad', push), (e) => OmlmdError.is(e, 'USAGE'));
  });

  test('storage URIs: both prefixes, a registry required', () => {
    assert.deepEqual(parseStorageUri('oci-artifact://quay.io/org/mnist:v1'), { kind: 'registry', registry: 'quay.io', repository: 'org/mnist', tag: 'v1', digest: undefined });
    assert.equal(parseStorageUri(`oci://localhost:5000/m@sha256:${'a'.repeat(64)}`).digest, `sha256:${'a'.repeat(64)}`);
    assert.throws(() => parseStorageUri('s3://bucket/m'), (e) => OmlmdError.is(e, 'USAGE'));
    assert.throws(() => parseStorageUri('oci://mnist:v1'), (e) => OmlmdError.is(e, 'USAGE'));
  });

  test('ELF: busybox-static is static, /bin/ls is not', async () => {
    const bb = await readElf('/bin/busybox');
    assert.equal(bb.static, true);
    assert.equal(bb.architecture, { x64: 'amd64', arm64: 'arm64' }[process.arch as string] ?? bb.architecture);
    assert.equal((await readElf('/bin/ls')).static, false);
    await assert.rejects(readElf('/etc/hostname'), (e) => OmlmdError.is(e));
  });
});
