/**
 * The KServe storage initializer through its entrypoint (bin/omlmd-storage-initializer, as a
 * ClusterStorageContainer runs it: `SRC_URI DEST_PATH`), against the real registry with
 * htpasswd auth: credentials from environment variables and from a mounted Docker config.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { envHostKey } from '../../src/core/credentials';
import { CLI, runCli, type CliResult } from '../helpers/cli';
import { makeHtpasswd, startRegistry, type RunningRegistry } from '../helpers/registry';
import { tempDir } from '../helpers/tmp';

const ENTRYPOINT = join(__dirname, '..', '..', 'bin', 'omlmd-storage-initializer');
const PASSWORD = 'kserve-secret';

/** The entrypoint with only the environment a pod would give it (no HOME credentials). */
function initializer(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(ENTRYPOINT, args, { env: { PATH: process.env.PATH, OMLMD_CLI: CLI, OMLMD_NO_PROGRESS: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
  });
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1)).sort();
}

describe('KServe storage initializer entrypoint', () => {
  let reg: RunningRegistry;
  let work: string;
  let home: string;
  let digest: string;
  const model = new Map<string, Buffer>();

  before(async () => {
    work = tempDir('omlmd-si-');
    home = join(work, 'home');
    mkdirSync(home);
    reg = await startRegistry({ htpasswd: await makeHtpasswd(join(work, 'htpasswd'), { kserve: PASSWORD }) });
    const dir = join(work, 'mnist');
    mkdirSync(join(dir, 'onnx'), { recursive: true });
    for (const [rel, bytes] of [['onnx/model.onnx', randomBytes(40_000)], ['labels.txt', Buffer.from('0\n1\n')]] as const) {
      writeFileSync(join(dir, rel), bytes);
      // Served at DEST's root (KServe's runtimes look there), not under DEST/mnist/.
      model.set(rel, bytes);
    }
    const r = await runCli(['push', `${reg.host}/kserve/mnist:v1`, dir, '--name', 'mnist', '-u', 'kserve', '--password-stdin'], { input: PASSWORD, env: { HOME: home, OMLMD_HOME: join(work, 'omlmd') } });
    assert.equal(r.code, 0, r.stderr);
    digest = /@(sha256:[a-f0-9]{64})/.exec(r.stdout)![1]!;
  });
  after(async () => {
    await reg?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const envCreds = (): NodeJS.ProcessEnv => ({ HOME: home, [`OMLMD_REGISTRY_${envHostKey(reg.host)}_USERNAME`]: 'kserve', [`OMLMD_REGISTRY_${envHostKey(reg.host)}_PASSWORD`]: PASSWORD });

  test('oci-artifact:// with credentials from environment variables: the model files at DEST\'s root (relative to the pushed folder), no metadata files', async () => {
    const dest = join(work, 'mnt-env', 'models');
    const r = await initializer([`oci-artifact://${reg.host}/kserve/mnist:v1`, dest], envCreds());
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(listFiles(dest), [...model.keys()].sort());
    for (const [rel, bytes] of model) assert.equal(sha(readFileSync(join(dest, rel))), sha(bytes), rel);
  });

  test('oci://…@digest with a mounted Docker config (DOCKER_CONFIG), and --with-metadata: the metadata files beside the model\'s', async () => {
    const secret = join(work, 'docker-secret');
    mkdirSync(secret);
    writeFileSync(join(secret, 'config.json'), JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`kserve:${PASSWORD}`).toString('base64') } } }));
    const dest = join(work, 'mnt-docker');
    const r = await initializer([`oci://${reg.host}/kserve/mnist@${digest}`, dest, '--with-metadata'], { HOME: home, DOCKER_CONFIG: secret });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(listFiles(dest), [...model.keys(), 'model_metadata.omlmd.json', 'model_metadata.omlmd.yaml'].sort());
  });

  test('without credentials: exit 3 and nothing written; a URI it does not serve: exit 2', async () => {
    const dest = join(work, 'mnt-anon');
    const r = await initializer([`oci-artifact://${reg.host}/kserve/mnist:v1`, dest], { HOME: home });
    assert.equal(r.code, 3, r.stderr);
    assert.ok(!existsSync(join(dest, 'onnx', 'model.onnx')));
    const bad = await initializer([`s3://bucket/mnist`, dest], envCreds());
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /oci-artifact:\/\//);
    const local = await initializer(['oci://mnist:v1', dest], envCreds());
    assert.equal(local.code, 2, local.stderr);
    assert.match(local.stderr, /names no registry/);
  });
});
