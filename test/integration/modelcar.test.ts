/**
 * KServe ModelCar images built by `omlmd modelcar build`, checked with the real tools:
 * skopeo inspects them (not only --raw), umoci unpacks them, and the unpacked root file
 * system runs KServe's commands under chroot; discover on the model lists them.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OmlmdClient } from '../../src/core/client';
import { discover, MODELCAR_ARTIFACT_TYPE } from '../../src/core/lineage';
import { runCli, runCommand } from '../helpers/cli';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { tempDir } from '../helpers/tmp';

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Manifest {
  artifactType?: string;
  config: { digest: string; mediaType: string };
  layers: { digest: string; size: number; mediaType: string }[];
  subject?: { digest: string };
  annotations?: Record<string, string>;
}

describe('ModelCar images: skopeo, umoci, chroot', () => {
  let reg: RunningRegistry;
  let work: string;
  let env: NodeJS.ProcessEnv;
  let client: OmlmdClient;
  let modelDigest: string;
  /** Title → bytes of every model file pushed. */
  const files = new Map<string, Buffer>();

  before(async () => {
    reg = await startRegistry();
    work = tempDir('omlmd-modelcar-');
    env = { OMLMD_HOME: join(work, 'home') };
    client = new OmlmdClient({ home: join(work, 'home') });
    const dir = join(work, 'llm');
    mkdirSync(join(dir, 'tokenizer'), { recursive: true });
    mkdirSync(join(dir, 'sub', 'tokenizer'), { recursive: true });
    const put = (rel: string, bytes: Buffer) => {
      writeFileSync(join(dir, rel), bytes);
      // At /models's root: paths relative to the pushed folder llm/.
      files.set(rel, bytes);
    };
    put('weights.safetensors', randomBytes(3 * 1024 * 1024 + 7));
    put('tokenizer/config.json', Buffer.from('{"vocab": 1}'));
    // The same base name in two folders (olot #209): both keep their relative paths.
    put('sub/tokenizer/config.json', Buffer.from('{"vocab": 2}'));
    const r = await runCli(['push', `${reg.host}/mc/llm:v1`, dir, '--name', 'tiny llm', '--model-format-name', 'safetensors', '-p', 'license=Apache-2.0'], { env });
    assert.equal(r.code, 0, r.stderr);
    modelDigest = /@(sha256:[a-f0-9]{64})/.exec(r.stdout)![1]!;
  });
  after(async () => {
    await reg?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const fetchJson = async <T>(ref: string, digest: string): Promise<T> => {
    const repo = await client.repository(ref);
    const chunks: Buffer[] = [];
    for await (const c of await repo.openBlob({ digest, size: Number.MAX_SAFE_INTEGER, mediaType: '' })) chunks.push(c as Buffer);
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as T;
  };

  test('built into the model\'s repository: skopeo inspect accepts it, discover on the model finds it', async () => {
    const r = await runCli(['modelcar', 'build', `${reg.host}/mc/llm:v1`, `${reg.host}/mc/llm:v1-modelcar`, '--json'], { env });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { digest: string; subject: { digest: string }; platform: { os: string; architecture: string }; layers: { files: string[] }[] };
    assert.equal(out.subject.digest, modelDigest);
    // The 3 MiB file alone, the two small ones together.
    assert.deepEqual(out.layers.map((l) => l.files.sort()), [['sub/tokenizer/config.json', 'tokenizer/config.json'], ['weights.safetensors']]);
    assert.equal((out as { root?: string }).root, 'llm', 'the pushed folder is named');

    const inspect = await runCommand('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.host}/mc/llm:v1-modelcar`]);
    assert.equal(inspect.code, 0, inspect.stderr);
    const info = JSON.parse(inspect.stdout) as { Digest: string; Os: string; Architecture: string; Labels: Record<string, string>; Layers: string[] };
    assert.equal(info.Digest, out.digest);
    assert.equal(info.Os, 'linux');
    assert.equal(info.Architecture, out.platform.architecture);
    assert.equal(info.Labels['dev.omlmd.model.name'], 'tiny llm');
    assert.equal(info.Labels['dev.omlmd.model.format'], 'safetensors');
    assert.equal(info.Labels['dev.omlmd.model.digest'], modelDigest);
    assert.equal(info.Labels['dev.omlmd.model.root'], 'llm');
    assert.equal(info.Labels['org.opencontainers.image.licenses'], 'Apache-2.0');
    assert.equal(info.Layers.length, 3, 'busybox base + two model layers');

    const found = await discover(client, `${reg.host}/mc/llm:v1`, { artifactType: MODELCAR_ARTIFACT_TYPE });
    assert.deepEqual(found.referrers.map((n) => n.digest), [out.digest]);
    const cli = await runCli(['discover', `${reg.host}/mc/llm:v1`], { env });
    assert.match(cli.stdout, new RegExp(`${MODELCAR_ARTIFACT_TYPE.replace(/\./g, '\\.')}  ${out.digest}`));
  });

  test('its config: the base\'s platform, one diff_id per layer equal to the layer\'s digest (uncompressed tar), history aligned; builds are reproducible', async () => {
    const ref = `${reg.host}/mc/llm`;
    const repo = await client.repository(ref);
    const m = await repo.fetchManifest('v1-modelcar');
    assert.equal(m.kind, 'manifest');
    if (m.kind !== 'manifest') return;
    const manifest = m.manifest as Manifest;
    assert.equal(manifest.artifactType, MODELCAR_ARTIFACT_TYPE);
    assert.equal(manifest.config.mediaType, 'application/vnd.oci.image.config.v1+json');
    const config = await fetchJson<{ architecture: string; os: string; rootfs: { diff_ids: string[] }; history: unknown[]; config: { Env: string[] } }>(ref, manifest.config.digest);
    assert.equal(config.os, 'linux');
    assert.deepEqual(config.rootfs.diff_ids, manifest.layers.map((l) => l.digest));
    assert.ok(manifest.layers.every((l) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar'));
    assert.equal(config.history.length, manifest.layers.length);
    const elf = readFileSync('/bin/busybox').subarray(18, 20).readUInt16LE(0);
    assert.equal(config.architecture, { 62: 'amd64', 183: 'arm64' }[elf] ?? config.architecture, 'the busybox binary\'s machine');

    const again = await runCli(['modelcar', 'build', `${reg.host}/mc/llm:v1`, `${reg.host}/mc/llm:again`, '--json'], { env });
    assert.equal(again.code, 0, again.stderr);
    assert.equal((JSON.parse(again.stdout) as { digest: string }).digest, m.descriptor.digest, 'same model, same base: same image');
    assert.equal((await discover(client, `${reg.host}/mc/llm:v1`, { artifactType: MODELCAR_ARTIFACT_TYPE })).referrers.length, 1, 'listed once');
  });

  test('umoci unpacks it with the model under /models, byte for byte; chroot runs KServe\'s commands in it', async () => {
    const layout = join(work, 'layout');
    const r = await runCli(['modelcar', 'build', `${reg.host}/mc/llm:v1`, `oci:${layout}:mc`], { env });
    assert.equal(r.code, 0, r.stderr);
    const layoutInspect = await runCommand('skopeo', ['inspect', `oci:${layout}:mc`]);
    assert.equal(layoutInspect.code, 0, layoutInspect.stderr);

    const bundle = join(work, 'bundle');
    const unpack = await runCommand('umoci', ['unpack', '--image', `${layout}:mc`, bundle]);
    assert.equal(unpack.code, 0, unpack.stderr);
    const rootfs = join(bundle, 'rootfs');
    const under = readdirSync(join(rootfs, 'models'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(join(rootfs, 'models').length + 1)).sort();
    assert.deepEqual(under, [...files.keys()].sort());
    for (const [title, bytes] of files) assert.equal(sha(readFileSync(join(rootfs, 'models', title))), sha(bytes), title);
    assert.equal(statSync(join(rootfs, 'bin', 'busybox')).mode & 0o777, 0o755);

    // What KServe runs in the ModelCar container (sleep 0 instead of infinity), and its check.
    const kserve = await runCommand('chroot', [rootfs, 'sh', '-c', 'ln -sf /proc/$$/root/models /mnt/models && sleep 0']);
    assert.equal(kserve.code, 0, kserve.stderr);
    const ls = await runCommand('chroot', [rootfs, 'ls', '/models']);
    assert.equal(ls.code, 0, ls.stderr);
    assert.doesNotMatch(ls.stdout, /llm/);
    assert.match(ls.stdout, /weights\.safetensors/);
    // `sleep infinity` parses (it is killed by the timeout, not refused).
    const forever = await runCommand('timeout', ['1', 'chroot', rootfs, 'sh', '-c', 'sleep infinity']);
    assert.equal(forever.code, 124, forever.stderr);
    // With /proc mounted, as in a pod, /mnt/models leads to the files through /proc/$$/root.
    const proc = await runCommand('unshare', ['--mount', '--pid', '--fork', 'sh', '-c', `mount -t proc proc ${rootfs}/proc && chroot ${rootfs} sh -c 'ln -sf /proc/$$/root/models /mnt/models && cat /mnt/models/sub/tokenizer/config.json'`]);
    assert.equal(proc.code, 0, proc.stderr);
    assert.equal(proc.stdout, '{"vocab": 2}');
  });

  test('--base: the base image\'s layers come first, its config is extended, and it is named in the annotations', async () => {
    const base = await runCli(['modelcar', 'base', `${reg.host}/mc/base:1`, '--json'], { env });
    assert.equal(base.code, 0, base.stderr);
    const baseDigest = (JSON.parse(base.stdout) as { descriptor: { digest: string } }).descriptor.digest;
    const baseInspect = await runCommand('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.host}/mc/base:1`]);
    assert.equal(baseInspect.code, 0, baseInspect.stderr);

    const r = await runCli(['modelcar', 'build', `${reg.host}/mc/llm:v1`, `${reg.host}/mc/llm:v1-on-base`, '--base', `${reg.host}/mc/base:1`, '--json'], { env });
    assert.equal(r.code, 0, r.stderr);
    const repo = await client.repository(`${reg.host}/mc/llm`);
    const m = await repo.fetchManifest('v1-on-base');
    const baseM = await (await client.repository(`${reg.host}/mc/base`)).fetchManifest('1');
    if (m.kind !== 'manifest' || baseM.kind !== 'manifest') throw new Error('not manifests');
    assert.equal(m.manifest.layers[0]!.digest, baseM.manifest.layers[0]!.digest);
    assert.equal(m.manifest.layers.length, baseM.manifest.layers.length + 2);
    assert.equal(m.manifest.annotations?.['org.opencontainers.image.base.name'], `${reg.host}/mc/base:1`);
    assert.equal(m.manifest.annotations?.['org.opencontainers.image.base.digest'], baseDigest);
    const config = await fetchJson<{ rootfs: { diff_ids: string[] }; config: { Env: string[]; Labels: Record<string, string> } }>(`${reg.host}/mc/llm`, m.manifest.config.digest);
    assert.deepEqual(config.rootfs.diff_ids, m.manifest.layers.map((l) => l.digest));
    assert.deepEqual(config.config.Env, ['PATH=/bin'], 'the base\'s environment is kept');
    assert.equal(config.config.Labels['dev.omlmd.model.digest'], modelDigest);
    // Both images refer to the model.
    assert.equal((await discover(client, `${reg.host}/mc/llm:v1`, { artifactType: MODELCAR_ARTIFACT_TYPE })).referrers.length, 2);
  });

  test('a model blob that does not match its digest fails the build (exit 5) and leaves no image', async () => {
    const layout = join(work, 'corrupt');
    const copy = await runCli(['copy', `${reg.host}/mc/llm:v1`, `oci:${layout}:v1`], { env });
    assert.equal(copy.code, 0, copy.stderr);
    const weights = [...files.entries()].find(([t]) => t.endsWith('weights.safetensors'))![1];
    const blob = join(layout, 'blobs', 'sha256', sha(weights).slice(7));
    const bad = Buffer.from(weights);
    bad[12345] = (bad[12345] ?? 0) ^ 0xff;
    writeFileSync(blob, bad);
    const r = await runCli(['modelcar', 'build', `oci:${layout}:v1`, `oci:${layout}:mc`], { env });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /does not match its digest/);
    const tags = await runCli(['tags', `oci:${layout}`], { env });
    assert.doesNotMatch(tags.stdout, /mc/);
  });

  test('no busybox, or a dynamic one: a clear error with the fix', async () => {
    const missing = await runCli(['modelcar', 'build', `${reg.host}/mc/llm:v1`, `${reg.host}/mc/llm:x`], { env: { ...env, OMLMD_BUSYBOX: join(work, 'nope') } });
    assert.equal(missing.code, 4, missing.stderr);
    assert.match(missing.stderr, /busybox-static/);
    const dynamic = await runCli(['modelcar', 'build', `${reg.host}/mc/llm:v1`, `${reg.host}/mc/llm:x`, '--busybox', '/bin/ls'], { env });
    assert.equal(dynamic.code, 1, dynamic.stderr);
    assert.match(dynamic.stderr, /dynamically linked/);
  });
});
