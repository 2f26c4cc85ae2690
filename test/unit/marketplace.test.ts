import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const ROOT = join(__dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { icon?: string; categories?: string[]; keywords?: string[] };

test('the Marketplace icon is a PNG of at least 128 x 128 (the Marketplace and Open VSX refuse SVG icons), rendered from media/icon.svg', () => {
  assert.ok(pkg.icon?.endsWith('.png'), String(pkg.icon));
  const png = readFileSync(join(ROOT, pkg.icon!));
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG signature');
  assert.equal(png.subarray(12, 16).toString('latin1'), 'IHDR');
  const [w, h] = [png.readUInt32BE(16), png.readUInt32BE(20)];
  assert.ok(w >= 128 && h >= 128 && w === h, `${w} x ${h}`);
  assert.match(readFileSync(join(ROOT, 'media', 'icon.svg'), 'utf8'), /<svg[^>]*viewBox="0 0 128 128"/);
});

test('categories and keywords are set, the CHANGELOG ships', () => {
  assert.ok(pkg.categories?.length && pkg.keywords?.length);
  const ignore = readFileSync(join(ROOT, '.vscodeignore'), 'utf8');
  assert.match(ignore, /^!CHANGELOG\.md$/m);
  assert.match(ignore, /^!media\/\*\*$/m);
});
