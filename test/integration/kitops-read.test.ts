import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { sha256 } from '../../src/core/oci/digest';
import { RegistryClient } from '../../src/core/oci/registry';
import { CLI, runCli } from '../helpers/cli';
import { rawTar, type TarEntry } from '../helpers/hostile';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { tempDir } from '../helpers/tmp';

/**
 * KitOps ModelKits, read: written here as KitOps writes them (we cannot run kit): the media
 * types of pkg/lib/constants/mediaType.go (`application/vnd.kitops.modelkit.<type>.v1.tar`
 * with `+gzip` or nothing; the config `application/vnd.kitops.modelkit.config.v1+json`, the
 * Kitfile as JSON: pkg/artifact/kitfile.go), and layer tars as pkg/lib/kitfile/layer.go packs
 * them (entries relative to the context folder, folders included, uid 1000, no times);
 * `+zstd` layers compressed here by Debian's zstd (KitOps compresses with klauspost/compress,
 * which writes standard frames: RFC 8878).
 * Against the real registry: pull unpacks them, inspect and metadata map the Kitfile.
 */
describe('KitOps ModelKits: pull, inspect, metadata (real registry)', () => {
  let reg: RunningRegistry;
  let work: string;
  let env: NodeJS.ProcessEnv;
  const weights = randomBytes(200_000);
  const readme = Buffer.from('# sentiment\n');

  async function pushKit(repo: string, layers: { mediaType: string; bytes: Buffer }[]): Promise<void> {
    const r = new RegistryClient(reg.host).repository(repo);
    const kitfile = Buffer.from(JSON.stringify({
      manifestVersion: '1.0.0',
      package: { name: 'sentiment', version: '1.2.0', description: 'a sentiment model', authors: ['Jane', 'Ali'], license: 'Apache-2.0' },
      model: { name: 'sentiment-model', path: 'models/model.safetensors', framework: 'pytorch', version: '2.1', parameters: { epochs: 3 } },
      docs: [{ path: 'README.md' }],
    }));
    await r.putBlob({ open: () => Readable.from([kitfile]), size: kitfile.length, digest: sha256(kitfile) });
    for (const l of layers) await r.putBlob({ open: () => Readable.from([l.bytes]), size: l.bytes.length, digest: sha256(l.bytes) });
    const manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.kitops.modelkit.config.v1+json', digest: sha256(kitfile), size: kitfile.length },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: sha256(l.bytes), size: l.bytes.length })),
      annotations: { 'ml.kitops.modelkit.cli-version': '1.5.0' },
    };
    await r.putManifest(Buffer.from(JSON.stringify(manifest)), 'application/vnd.oci.image.manifest.v1+json', 'v1');
  }
  const kitTar = (entries: TarEntry[]) => rawTar(entries);
  const zstd = (input: Buffer, args: string[] = []): Buffer => execFileSync('zstd', ['-q', '-c', ...args], { input });

  before(async () => {
    reg = await startRegistry();
    work = tempDir('omlmd-kitops-');
    env = { OMLMD_HOME: join(work, 'home') };
    await pushKit('kit/sentiment', [
      { mediaType: 'application/vnd.kitops.modelkit.model.v1.tar+gzip', bytes: gzipSync(kitTar([{ name: 'models/', type: 'dir' }, { name: 'models/model.safetensors', body: weights }])) },
      { mediaType: 'application/vnd.kitops.modelkit.docs.v1.tar', bytes: kitTar([{ name: 'README.md', body: readme }]) },
    ]);
  });
  after(async () => reg?.stop());

  test('pull unpacks each layer into the folder at the paths the Kitfile gave, byte for byte; no archive or side file left', async () => {
    const out = join(work, 'out');
    const r = await runCli(['pull', `${reg.host}/kit/sentiment:v1`, '-o', out], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(readFileSync(join(out, 'models', 'model.safetensors')).equals(weights));
    assert.ok(readFileSync(join(out, 'README.md')).equals(readme));
    assert.deepEqual(readdirSync(out).sort(), ['README.md', 'models']);
    const raw = join(work, 'raw');
    const k = await runCli(['pull', `${reg.host}/kit/sentiment:v1`, '-o', raw, '--no-unpack'], { env });
    assert.equal(k.code, 0, k.stderr);
    assert.equal(readdirSync(raw).length, 2, 'with --no-unpack, the two archives as they are');
  });

  test('inspect and metadata map the Kitfile: name, description, authors, framework, license, parameters', async () => {
    const i = await runCli(['inspect', `${reg.host}/kit/sentiment:v1`, '--json'], { env });
    assert.equal(i.code, 0, i.stderr);
    const info = JSON.parse(i.stdout) as { flavor: string; metadata: Record<string, unknown>; files: { role: string; mediaType: string }[] };
    assert.equal(info.flavor, 'kitops');
    assert.deepEqual(info.metadata, { name: 'sentiment', description: 'a sentiment model', author: 'Jane, Ali', model_format_name: 'pytorch', model_format_version: '2.1', customProperties: { epochs: 3, license: 'Apache-2.0' } });
    assert.deepEqual(info.files.filter((f) => f.role === 'model').map((f) => f.mediaType), ['application/vnd.kitops.modelkit.model.v1.tar+gzip']);
    const text = await runCli(['inspect', `${reg.host}/kit/sentiment:v1`], { env });
    assert.match(text.stdout, /KitOps ModelKit/);
  });

  test('a +zstd ModelKit (made by the zstd CLI, several frames) unpacks like a gzip one, byte for byte', async () => {
    const model = kitTar([{ name: 'models/', type: 'dir' }, { name: 'models/model.safetensors', body: weights }]);
    // Two frames, as a compressor that flushes per file may write.
    const zst = Buffer.concat([zstd(model.subarray(0, 1024)), zstd(model.subarray(1024), ['-19', '--check'])]);
    await pushKit('kit/zstd-ok', [
      { mediaType: 'application/vnd.kitops.modelkit.model.v1.tar+zstd', bytes: zst },
      { mediaType: 'application/vnd.kitops.modelkit.docs.v1.tar+zstd', bytes: zstd(kitTar([{ name: 'README.md', body: readme }])) },
    ]);
    const out = join(work, 'zstd-out');
    const r = await runCli(['pull', `${reg.host}/kit/zstd-ok:v1`, '-o', out], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(readFileSync(join(out, 'models', 'model.safetensors')).equals(weights));
    assert.ok(readFileSync(join(out, 'README.md')).equals(readme));
    assert.deepEqual(readdirSync(out).sort(), ['README.md', 'models']);
  });

  test('a zstd bomb (36 KB inflating to 1 GiB) is refused like a gzip one: a message, bounded memory, nothing left', async () => {
    const header = kitTar([{ name: 'models/big.bin', size: 1024 ** 3 }]).subarray(0, 512);
    const zeros = execFileSync('sh', ['-c', 'head -c 1073741824 /dev/zero | zstd -q -1 -c'], { maxBuffer: 1 << 26 });
    const bomb = Buffer.concat([zstd(header), zeros]);
    assert.ok(bomb.length < 1024 * 1024, `${bomb.length}`);
    await pushKit('kit/zstd-bomb', [{ mediaType: 'application/vnd.kitops.modelkit.model.v1.tar+zstd', bytes: bomb }]);
    const out = join(work, 'zstd-bomb');
    const rssFile = join(work, 'zstd-bomb.maxrss');
    const r = await new Promise<{ code: number; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--require', join(__dirname, '..', 'helpers', 'maxrss.cjs'), CLI, 'pull', `${reg.host}/kit/zstd-bomb:v1`, '-o', out], { env: { ...process.env, ...env, OMLMD_NO_PROGRESS: '1', OMLMD_TEST_MAXRSS_FILE: rssFile }, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? -1, stderr }));
    });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /inflates to more than .* zstd bomb/);
    const rss = Number(readFileSync(rssFile, 'utf8'));
    assert.ok(rss > 0 && rss < 400 * 1024 * 1024, `peak RSS ${rss} bytes`);
    assert.deepEqual(existsSync(out) ? readdirSync(out) : [], []);
  });

  test('hostile ModelKits: a "../" entry, a symlink entry, a layer that says zstd and is not: refused, nothing written', async () => {
    await pushKit('kit/dotdot', [{ mediaType: 'application/vnd.kitops.modelkit.model.v1.tar', bytes: kitTar([{ name: '../evil.txt', body: Buffer.from('x') }]) }]);
    await pushKit('kit/link', [{ mediaType: 'application/vnd.kitops.modelkit.code.v1.tar', bytes: kitTar([{ name: 'l', type: 'symlink', linkname: '/etc/passwd' }]) }]);
    await pushKit('kit/zstd', [{ mediaType: 'application/vnd.kitops.modelkit.model.v1.tar+zstd', bytes: Buffer.from('(\u00b5/\u00fd not really zstd') }]);
    for (const [name, why, code] of [['dotdot', /climbs out|\.\./, 5], ['link', /is a SymbolicLink, not a file or folder/, 5], ['zstd', /says it is zstd, and is not/, 5]] as const) {
      const out = join(work, `bad-${name}`);
      const r = await runCli(['pull', `${reg.host}/kit/${name}:v1`, '-o', out], { env });
      assert.equal(r.code, code, `${name}: ${r.stderr}`);
      assert.match(r.stderr, why, name);
      assert.deepEqual(existsSync(out) ? readdirSync(out) : [], [], `${name}: nothing written`);
    }
    assert.equal(existsSync(join(work, 'evil.txt')), false);
  });
});

/**
 * Docker Model Runner artifacts, read: written as docker/model-runner's
 * pkg/distribution/types/config.go defines them (we cannot run docker): v0.1 (one GGUF layer
 * and a license, untitled) and v0.2 (a layer per file, titled with org.cncf.model.filepath).
 */
describe('Docker Model Runner models: pull, inspect (real registry)', () => {
  let reg: RunningRegistry;
  let work: string;
  let env: NodeJS.ProcessEnv;
  const gguf = Buffer.concat([Buffer.from('GGUF'), randomBytes(50_000)]);
  const license = Buffer.from('MIT License\n');

  async function put(repo: string, configType: string, layers: { mediaType: string; bytes: Buffer; annotations?: Record<string, string> }[]): Promise<void> {
    const r = new RegistryClient(reg.host).repository(repo);
    const config = Buffer.from(JSON.stringify({ config: { format: 'gguf', quantization: 'Q4_K_M', parameters: '8.03 B', architecture: 'llama', size: '4.58 GiB', context_size: 8192 }, descriptor: { created: '2025-05-01T00:00:00Z' }, rootfs: { type: 'rootfs', diff_ids: layers.map((l) => sha256(l.bytes)) } }));
    await r.putBlob({ open: () => Readable.from([config]), size: config.length, digest: sha256(config) });
    for (const l of layers) await r.putBlob({ open: () => Readable.from([l.bytes]), size: l.bytes.length, digest: sha256(l.bytes) });
    const manifest = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: configType, digest: sha256(config), size: config.length }, layers: layers.map((l) => ({ mediaType: l.mediaType, digest: sha256(l.bytes), size: l.bytes.length, ...(l.annotations ? { annotations: l.annotations } : {}) })) };
    await r.putManifest(Buffer.from(JSON.stringify(manifest)), 'application/vnd.oci.image.manifest.v1+json', 'v1');
  }

  before(async () => {
    reg = await startRegistry();
    work = tempDir('omlmd-dmr-');
    env = { OMLMD_HOME: join(work, 'home') };
    await put('ai/llama-v01', 'application/vnd.docker.ai.model.config.v0.1+json', [{ mediaType: 'application/vnd.docker.ai.gguf.v3', bytes: gguf }, { mediaType: 'application/vnd.docker.ai.license', bytes: license }]);
    await put('ai/llama-v02', 'application/vnd.docker.ai.model.config.v0.2+json', [
      { mediaType: 'application/vnd.docker.ai.gguf.v3', bytes: gguf, annotations: { 'org.cncf.model.filepath': 'llama-q4.gguf' } },
      { mediaType: 'application/vnd.docker.ai.license', bytes: license, annotations: { 'org.cncf.model.filepath': 'LICENSE' } },
    ]);
  });
  after(async () => reg?.stop());

  test('v0.1: untitled layers are written named by digest with the extension their type implies; the config maps to metadata', async () => {
    const out = join(work, 'v01');
    const r = await runCli(['pull', `${reg.host}/ai/llama-v01:v1`, '-o', out], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(readFileSync(join(out, `${sha256(gguf).replace(':', '-')}.gguf`)).equals(gguf));
    assert.ok(readFileSync(join(out, `${sha256(license).replace(':', '-')}.license`)).equals(license));
    const info = JSON.parse((await runCli(['inspect', `${reg.host}/ai/llama-v01:v1`, '--json'], { env })).stdout) as { flavor: string; metadata: Record<string, unknown>; files: { role: string }[] };
    assert.equal(info.flavor, 'docker');
    assert.deepEqual(info.metadata, { model_format_name: 'gguf', customProperties: { architecture: 'llama', parameters: '8.03 B', quantization: 'Q4_K_M', size: '4.58 GiB', context_size: 8192 } });
    assert.deepEqual(info.files.map((f) => f.role), ['model', 'other']);
  });

  test('v0.2: layers land at their file paths; --include picks by path', async () => {
    const out = join(work, 'v02');
    const r = await runCli(['pull', `${reg.host}/ai/llama-v02:v1`, '-o', out, '--include', '*.gguf'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(out), ['llama-q4.gguf']);
    assert.ok(readFileSync(join(out, 'llama-q4.gguf')).equals(gguf));
  });

  test('search: both are indexed as kind docker, their config searchable', async () => {
    const { OmlmdClient } = await import('../../src/core/client');
    const { openWritableIndex, query } = await import('../../src/core/search');
    const { crawlToIndex } = await import('../../src/core/search/crawler');
    const index = await openWritableIndex(join(work, 'index.sqlite'));
    try {
      await crawlToIndex(new OmlmdClient({ home: join(work, 'home') }), index, [`${reg.host}/ai/llama-v01`, `${reg.host}/ai/llama-v02`]);
      const page = await query(index, "$[?@.kind == 'docker' && @.config.quantization == 'Q4_K_M']");
      assert.deepEqual(page.items.map((d) => d.repository).sort(), ['ai/llama-v01', 'ai/llama-v02']);
    } finally {
      await index.close();
    }
  });
});
