import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli, runCommand } from '../helpers/cli';
import { privatePodman, type PrivatePodman } from '../helpers/podman';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { tempDir } from '../helpers/tmp';

/**
 * A model Kubernetes can mount (KEP-4639 image volumes): `modelcar build --data-only` makes
 * an image of the model's files alone, and a real containerd (the kubelet's usual runtime,
 * Debian's 1.6) pulls it and mounts it as an image volume sees it, files byte for byte. The
 * model artifact itself is what containerd refuses: the premise. Runs as root, containerd in
 * its own temporary root, state and socket.
 */
describe('containerd mounts a data-only model image (real containerd, real registry)', { timeout: 300_000 }, () => {
  let reg: RunningRegistry;
  let work: string;
  let containerd: ChildProcess | undefined;
  let sock: string;
  const env = (): NodeJS.ProcessEnv => ({ OMLMD_HOME: join(work, 'home') });
  const weights = randomBytes(2 * 1024 * 1024 + 17);
  const config = Buffer.from('{"architectures":["Demo"]}');
  const ctr = (...args: string[]) => runCommand('ctr', ['--address', sock, ...args]);

  before(async () => {
    reg = await startRegistry();
    work = tempDir('omlmd-runtimes-');
    sock = join(work, 'c.sock');
    mkdirSync(join(work, 'model', 'tok'), { recursive: true });
    writeFileSync(join(work, 'model', 'weights.safetensors'), weights);
    writeFileSync(join(work, 'model', 'tok', 'config.json'), config);
    containerd = spawn('containerd', ['--root', join(work, 'root'), '--state', join(work, 'state'), '--address', sock], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    containerd.stderr!.on('data', (b: Buffer) => (log += b.toString()));
    for (let i = 0; i < 300 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(existsSync(sock), `containerd did not start:\n${log.slice(-2000)}`);
  });
  after(async () => {
    if (sock && existsSync(join(work, 'mnt'))) await ctr('image', 'unmount', join(work, 'mnt')).catch(() => undefined);
    if (containerd && containerd.exitCode === null) {
      containerd.kill('SIGTERM');
      await new Promise((r) => containerd!.once('exit', r));
    }
    await reg?.stop();
  });

  test('pull and mount: the files under /models byte for byte; the plain model artifact is refused, as measured', async () => {
    const pushed = await runCli(['push', `${reg.host}/rt/model:v1`, join(work, 'model'), '--name', 'rt', '--no-prefill'], { env: env() });
    assert.equal(pushed.code, 0, pushed.stderr);
    const built = await runCli(['modelcar', 'build', `${reg.host}/rt/model:v1`, `${reg.host}/rt/model:v1-data`, '--data-only', '--json'], { env: env() });
    assert.equal(built.code, 0, built.stderr);
    const res = JSON.parse(built.stdout) as { base: string; layers: { files: string[] }[] };
    assert.match(res.base, /data only/);

    const pull = await ctr('image', 'pull', '--plain-http', `${reg.host}/rt/model:v1-data`);
    assert.equal(pull.code, 0, pull.stderr + pull.stdout);
    const mnt = join(work, 'mnt');
    mkdirSync(mnt);
    const mount = await ctr('image', 'mount', `${reg.host}/rt/model:v1-data`, mnt);
    assert.equal(mount.code, 0, mount.stderr + mount.stdout);
    try {
      assert.ok(readFileSync(join(mnt, 'models', 'weights.safetensors')).equals(weights));
      assert.ok(readFileSync(join(mnt, 'models', 'tok', 'config.json')).equals(config));
      assert.equal(existsSync(join(mnt, 'bin')), false, 'no base: nothing but the model');
    } finally {
      const u = await ctr('image', 'unmount', mnt);
      assert.equal(u.code, 0, u.stderr);
    }
    // One reference for every consumer: push --mountable tags an index of the image and the model.
    const idx = await runCli(['push', `${reg.host}/rt/both:v1`, join(work, 'model'), '--name', 'rt', '--no-prefill', '--mountable', '--json'], { env: env() });
    assert.equal(idx.code, 0, idx.stderr);
    const both = JSON.parse(idx.stdout) as { mediaType: string; model: { artifactType: string }; image: { platform: { os: string } } };
    assert.equal(both.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.equal(both.model.artifactType, 'application/vnd.omlmd.model.v1+json');
    assert.equal((await ctr('image', 'pull', '--plain-http', `${reg.host}/rt/both:v1`)).code, 0, 'containerd takes the image from the index');
    const m2 = await ctr('image', 'mount', `${reg.host}/rt/both:v1`, mnt);
    assert.equal(m2.code, 0, m2.stderr + m2.stdout);
    try {
      assert.ok(readFileSync(join(mnt, 'models', 'weights.safetensors')).equals(weights));
    } finally {
      assert.equal((await ctr('image', 'unmount', mnt)).code, 0);
    }
    const out = join(work, 'pulled');
    const pulled = await runCli(['pull', `${reg.host}/rt/both:v1`, '-o', out], { env: env() });
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.ok(readFileSync(join(out, 'model', 'weights.safetensors')).equals(weights), 'omlmd takes the model from the same reference');
    const sk = await runCommand('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${reg.host}/rt/both:v1`]);
    assert.equal(sk.code, 0, sk.stderr);
    assert.equal((JSON.parse(sk.stdout) as { manifests: unknown[] }).manifests.length, 2);

    const refused = await ctr('image', 'pull', '--plain-http', `${reg.host}/rt/model:v1`);
    const mountArtifact = refused.code === 0 ? await ctr('image', 'mount', `${reg.host}/rt/model:v1`, mnt) : refused;
    assert.notEqual(mountArtifact.code, 0, 'containerd does not mount the model artifact itself');
  });
});

/**
 * The same image under podman (Debian's 4.3, runc, cgroupfs), with image-volume semantics
 * (`--mount type=image`): a container from the minimal busybox base reads the model's files
 * from the mounted image. Config, storage and run state live in the test's temporary
 * folder (CONTAINERS_CONF, CONTAINERS_REGISTRIES_CONF, --root, --runroot); the images are
 * removed after.
 */
describe('podman mounts a data-only model image into another container (real podman, real registry)', { timeout: 300_000 }, () => {
  let reg: RunningRegistry;
  let work: string;
  let env: NodeJS.ProcessEnv;
  const weights = randomBytes(1024 * 1024 + 3);
  let pod: PrivatePodman | undefined;
  const podman = (args: string[]) => pod!.podman(args);

  before(async () => {
    reg = await startRegistry();
    work = tempDir('omlmd-podman-');
    pod = privatePodman(work, reg.host);
    env = pod.env;
    mkdirSync(join(work, 'model'));
    writeFileSync(join(work, 'model', 'weights.bin'), weights);
  });
  after(async () => {
    await pod?.reset();
    await reg?.stop();
  });

  test("KServe's ModelCar, run as KServe runs it: the sidecar's exact command links /mnt/models into its root, and a container sharing its PID namespace reads the model through it", async () => {
    const r1 = await runCli(['push', `${reg.host}/pm/car:v1`, join(work, 'model', 'weights.bin'), '--name', 'car', '--no-prefill'], { env });
    assert.equal(r1.code, 0, r1.stderr);
    const r2 = await runCli(['modelcar', 'build', `${reg.host}/pm/car:v1`, `${reg.host}/pm/car:v1-modelcar`], { env });
    assert.equal(r2.code, 0, r2.stderr);
    const r3 = await runCli(['modelcar', 'base', `${reg.host}/pm/reader:v1`], { env });
    assert.equal(r3.code, 0, r3.stderr);
    const shared = join(work, 'shared');
    mkdirSync(shared);
    // KServe's modelcar sidecar (pkg/webhook/admission/pod/modelcar_injector.go): ln -sf /proc/$$/root/models /mnt/models && sleep.
    const side = await podman(['run', '-d', '--name', 'modelcar', '--runtime', 'runc', '-v', `${shared}:/mnt`, `${reg.host}/pm/car:v1-modelcar`, 'sh', '-c', 'ln -sf /proc/$$/root/models /mnt/models && sleep 600']);
    assert.equal(side.code, 0, side.stderr);
    try {
      let out = { code: -1, stdout: '', stderr: '' };
      for (let i = 0; i < 50; i++) {
        out = await podman(['run', '--rm', '--pid', 'container:modelcar', '--runtime', 'runc', '-v', `${shared}:/mnt`, `${reg.host}/pm/reader:v1`, 'sh', '-c', 'busybox sha256sum /mnt/models/weights.bin']);
        if (out.code === 0) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(out.code, 0, out.stderr);
      const { createHash } = await import('node:crypto');
      assert.match(out.stdout, new RegExp(`^${createHash('sha256').update(weights).digest('hex')}  /mnt/models/weights.bin$`, 'm'));
    } finally {
      await podman(['rm', '-f', 'modelcar']);
    }
  });

  test('podman run --mount type=image: the model files, byte for byte, in a container of another image', async () => {
    for (const args of [['push', `${reg.host}/pm/model:v1`, join(work, 'model'), '--name', 'pm', '--no-prefill'], ['modelcar', 'build', `${reg.host}/pm/model:v1`, `${reg.host}/pm/model:data`, '--data-only'], ['modelcar', 'base', `${reg.host}/pm/busybox:v1`]]) {
      const r = await runCli(args, { env });
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    }
    for (const image of ['pm/busybox:v1', 'pm/model:data']) {
      const p = await podman(['pull', `${reg.host}/${image}`]);
      assert.equal(p.code, 0, p.stderr);
    }
    const r = await podman(['run', '--rm', '--runtime', 'runc', '--mount', `type=image,source=${reg.host}/pm/model:data,destination=/mnt/models`, `${reg.host}/pm/busybox:v1`, 'sh', '-c', 'sha256sum /mnt/models/models/weights.bin; ls /mnt/models']);
    assert.equal(r.code, 0, r.stderr);
    const { createHash } = await import('node:crypto');
    assert.match(r.stdout, new RegExp(`^${createHash('sha256').update(weights).digest('hex')}  /mnt/models/models/weights.bin$`, 'm'));
    assert.match(r.stdout, /^models$/m, 'the image holds the model alone');
  });
});
