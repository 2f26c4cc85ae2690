/**
 * The storage initializer image, built from docs/kserve.Containerfile and run under real
 * podman as KServe runs its init container: `SRC_URI /mnt/models` as arguments, the model
 * volume mounted at /mnt/models, user 1000 (the Containerfile's), the registry's credentials as
 * a mounted Docker config (DOCKER_CONFIG) and its CA in a mounted omlmd configuration. The base
 * is made offline from this machine's Node and busybox-static (scripts/node-base-rootfs.sh,
 * `podman import`): no registry with node:20 is reachable here. Against the real registry
 * with TLS (a CA the test made) and htpasswd, on loopback (the container shares the host's
 * network, as a pod reaching an in-cluster registry would reach it by address).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, runCli, runCommand } from '../helpers/cli';
import { privatePodman, type PrivatePodman } from '../helpers/podman';
import { makeHtpasswd, makePki, startRegistry, type Pki, type RunningRegistry } from '../helpers/registry';
import { tempDir } from '../helpers/tmp';

const PASSWORD = 'si-image-secret';
const IMAGE = 'localhost/omlmd-storage-initializer:test';
const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('the storage initializer image (docs/kserve.Containerfile) under podman, as KServe runs it (real podman, real registry with TLS and htpasswd)', { timeout: 600_000 }, () => {
  let reg: RunningRegistry;
  let pki: Pki;
  let work: string;
  let pm: PrivatePodman;
  const model = new Map<string, Buffer>();

  before(async () => {
    work = tempDir('omlmd-si-image-');
    pki = await makePki();
    reg = await startRegistry({ tls: { cert: pki.serverCert, key: pki.serverKey }, htpasswd: await makeHtpasswd(join(work, 'htpasswd'), { kserve: PASSWORD }) });
    pm = privatePodman(work, reg.host);
    // The omlmd configuration the container gets: this registry speaks TLS, signed by the test CA
    // (mounted at /etc/omlmd/ca.crt).
    mkdirSync(join(work, 'omlmd-config'));
    writeFileSync(join(work, 'omlmd-config', 'config.yaml'), `registries:\n  "${reg.host}":\n    plainHttp: false\n    caFile: /etc/omlmd/ca.crt\n`);
    writeFileSync(join(work, 'omlmd-config', 'ca.crt'), readFileSync(pki.caCert));
    writeFileSync(join(work, 'host-config.yaml'), `registries:\n  "${reg.host}":\n    plainHttp: false\n    caFile: ${pki.caCert}\n`);
    const dir = join(work, 'iris');
    mkdirSync(join(dir, 'onnx'), { recursive: true });
    for (const [rel, bytes] of [['onnx/model.onnx', randomBytes(3 * 1024 * 1024 + 9)], ['labels.txt', Buffer.from('setosa\nversicolor\nvirginica\n')]] as const) {
      writeFileSync(join(dir, rel), bytes);
      model.set(rel, bytes);
    }
    const hostEnv = { OMLMD_HOME: join(work, 'home'), HOME: join(work, 'home'), OMLMD_CONFIG: join(work, 'host-config.yaml') };
    const p = await runCli(['push', `${reg.host}/kserve/iris:v1`, dir, '--name', 'iris', '-u', 'kserve', '--password-stdin'], { input: PASSWORD, env: hostEnv });
    assert.equal(p.code, 0, p.stderr);

    // The image: the offline base, then the Containerfile as documented.
    const base = await runCommand('env', [`TMPDIR=${work}`, 'bash', join(ROOT, 'scripts', 'node-base-rootfs.sh'), join(work, 'base.tar')]);
    assert.equal(base.code, 0, base.stderr);
    const imp = await pm.podman(['import', join(work, 'base.tar'), 'localhost/omlmd-node-base:test']);
    assert.equal(imp.code, 0, imp.stderr);
    const build = await pm.podman(['build', '--pull=never', '--build-arg', 'NODE_IMAGE=localhost/omlmd-node-base:test', '-f', join(ROOT, 'docs', 'kserve.Containerfile'), '-t', IMAGE, ROOT]);
    assert.equal(build.code, 0, build.stderr + build.stdout);
  });
  after(async () => {
    await pm?.reset();
    await reg?.stop();
  });

  /** A fresh model volume, writable by the container's user 1000 as an emptyDir is. */
  const volume = (name: string): string => {
    const v = join(work, name);
    mkdirSync(v);
    chmodSync(v, 0o777);
    return v;
  };
  const run = (dest: string, extra: string[], uri = `oci-artifact://${reg.host}/kserve/iris:v1`) =>
    pm.podman(['run', '--rm', '--network', 'host', '-v', `${dest}:/mnt/models`, '-v', `${join(work, 'omlmd-config')}:/etc/omlmd:ro`, '-e', 'OMLMD_CONFIG=/etc/omlmd/config.yaml', ...extra, IMAGE, uri, '/mnt/models']);

  test('with a mounted Docker config: the model files at /mnt/models\'s root, byte for byte, written by user 1000', async () => {
    const secret = join(work, 'docker-secret');
    mkdirSync(secret);
    writeFileSync(join(secret, 'config.json'), JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`kserve:${PASSWORD}`).toString('base64') } } }));
    chmodSync(join(secret, 'config.json'), 0o644);
    const dest = volume('mnt-models');
    const r = await run(dest, ['-v', `${secret}:/var/run/secrets/registry:ro`, '-e', 'DOCKER_CONFIG=/var/run/secrets/registry']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const files = readdirSync(dest, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dest.length + 1)).sort();
    assert.deepEqual(files, [...model.keys()].sort());
    for (const [rel, bytes] of model) assert.equal(sha(readFileSync(join(dest, rel))), sha(bytes), rel);
    const owner = await runCommand('stat', ['-c', '%u', join(dest, 'labels.txt')]);
    assert.equal(owner.stdout.trim(), '1000');
  });

  test('without credentials: exit 3 (KServe shows the init container failing), the volume left empty', async () => {
    const dest = volume('mnt-none');
    const r = await run(dest, []);
    assert.equal(r.code, 3, r.stderr + r.stdout);
    assert.match(r.stderr, /credentials|login|unauthorized/i);
    assert.deepEqual(readdirSync(dest), []);
  });

  test('a URI it does not serve: exit 2 with the forms it takes', async () => {
    const dest = volume('mnt-bad');
    const r = await run(dest, [], `s3://bucket/iris`);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /oci-artifact:\/\/HOST\/REPO:TAG/);
  });
});
