import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { envHostKey, findCredentials, type CredentialSource } from '../../src/core/credentials';
import { runCli } from '../helpers/cli';
import { makeHtpasswd, startRegistry, type RunningRegistry } from '../helpers/registry';
import { tempDir } from '../helpers/tmp';

const PASSWORD = 'helper-Pa55-word';

/**
 * A Docker credential helper as the protocol describes (get/store/erase on stdin/stdout),
 * keeping its secrets in a JSON file and logging each call (action and server, never the secret).
 */
const HELPER = `#!/usr/bin/env node
const fs = require('fs');
const store = process.env.TEST_HELPER_STORE;
const log = process.env.TEST_HELPER_LOG;
const action = process.argv[2];
let input = '';
process.stdin.on('data', (d) => (input += d));
process.stdin.on('end', () => {
  const db = fs.existsSync(store) ? JSON.parse(fs.readFileSync(store, 'utf8')) : {};
  if (action === 'store') {
    const c = JSON.parse(input);
    db[c.ServerURL] = { Username: c.Username, Secret: c.Secret };
    fs.writeFileSync(store, JSON.stringify(db));
    fs.appendFileSync(log, 'store ' + c.ServerURL + '\\n');
    return;
  }
  const server = input.trim();
  fs.appendFileSync(log, action + ' ' + server + '\\n');
  if (!db[server]) {
    process.stdout.write('credentials not found in native keychain\\n');
    process.exit(1);
  }
  if (action === 'get') process.stdout.write(JSON.stringify({ ServerURL: server, ...db[server] }));
  if (action === 'erase') {
    delete db[server];
    fs.writeFileSync(store, JSON.stringify(db));
  }
});
`;

interface Machine {
  env: NodeJS.ProcessEnv;
  dockerConfig: string;
  helperStore: string;
  helperLog: string;
  root: string;
}

function machine(bin: string, extra: NodeJS.ProcessEnv = {}): Machine {
  const root = tempDir('omlmd-creds-');
  const home = join(root, 'home');
  mkdirSync(join(home, '.docker'), { recursive: true });
  const m: Machine = {
    root,
    dockerConfig: join(home, '.docker', 'config.json'),
    helperStore: join(root, 'helper-store.json'),
    helperLog: join(root, 'helper.log'),
    env: {},
  };
  m.env = {
    PATH: `${bin}${delimiter}${process.env.PATH ?? ''}`,
    HOME: home,
    DOCKER_CONFIG: join(home, '.docker'),
    OMLMD_HOME: join(root, 'omlmd'),
    OMLMD_CONFIG: join(root, 'config.yaml'),
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_RUNTIME_DIR: join(root, 'run'),
    REGISTRY_AUTH_FILE: '',
    OMLMD_AUTH_FILE: '',
    OMLMD_REGISTRY_USERNAME: '',
    OMLMD_REGISTRY_PASSWORD: '',
    OMLMD_REGISTRY_HOST: '',
    TEST_HELPER_STORE: m.helperStore,
    TEST_HELPER_LOG: m.helperLog,
    ...extra,
  };
  return m;
}

function helperCalls(m: Machine): string[] {
  return existsSync(m.helperLog) ? readFileSync(m.helperLog, 'utf8').trim().split('\n').filter(Boolean) : [];
}

describe('credentials from Docker config, credential helpers, auth.json and the environment, against the real registry (htpasswd)', () => {
  let reg: RunningRegistry;
  let bin: string;
  let model: string;
  const machines: Machine[] = [];
  const fresh = (extra?: NodeJS.ProcessEnv): Machine => {
    const m = machine(bin, extra);
    machines.push(m);
    return m;
  };

  before(async () => {
    bin = tempDir('omlmd-bin-');
    writeFileSync(join(bin, 'docker-credential-omlmdtest'), HELPER);
    chmodSync(join(bin, 'docker-credential-omlmdtest'), 0o755);
    const htpasswd = await makeHtpasswd(join(bin, 'htpasswd'), { alice: PASSWORD });
    reg = await startRegistry({ htpasswd });
    model = join(bin, 'model.bin');
    writeFileSync(model, randomBytes(20_000));
  });
  after(async () => {
    await reg?.stop();
    for (const m of machines) rmSync(m.root, { recursive: true, force: true });
    if (bin) rmSync(bin, { recursive: true, force: true });
  });

  const push = (m: Machine, tag: string, extra: string[] = [], input?: string) =>
    runCli(['push', `${reg.host}/creds/model:${tag}`, model, '--name', 'm', ...extra], { env: m.env, input });

  it('the premise: without credentials the registry refuses (exit 3, "omlmd login HOST")', async () => {
    const r = await push(fresh(), 'anon');
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, new RegExp(`omlmd login ${reg.host.replace(/\./g, '\\.')}`));
  });

  it('a credHelpers entry sends the lookup to docker-credential-<name> on PATH', async () => {
    const m = fresh();
    writeFileSync(m.dockerConfig, JSON.stringify({ credHelpers: { [reg.host]: 'omlmdtest' } }));
    writeFileSync(m.helperStore, JSON.stringify({ [reg.host]: { Username: 'alice', Secret: PASSWORD } }));
    const r = await push(m, 'helper');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(helperCalls(m), [`get ${reg.host}`], 'asked once, with the server URL on stdin');
  });

  it('login stores through the configured helper (no secret in the file); logout erases it there', async () => {
    const m = fresh();
    writeFileSync(m.dockerConfig, JSON.stringify({ credHelpers: { [reg.host]: 'omlmdtest' } }));
    const login = await runCli(['login', reg.host, '-u', 'alice', '--password-stdin'], { env: m.env, input: PASSWORD });
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /stored in docker-credential-omlmdtest/);
    assert.ok(!readFileSync(m.dockerConfig, 'utf8').includes(Buffer.from(`alice:${PASSWORD}`).toString('base64')));
    assert.deepEqual(JSON.parse(readFileSync(m.helperStore, 'utf8')), { [reg.host]: { Username: 'alice', Secret: PASSWORD } });
    assert.equal((await push(m, 'after-login')).code, 0);
    const logout = await runCli(['logout', reg.host], { env: m.env });
    assert.equal(logout.code, 0, logout.stderr);
    assert.match(logout.stdout, /Removed the credentials .* from docker-credential-omlmdtest/);
    assert.deepEqual(JSON.parse(readFileSync(m.helperStore, 'utf8')), {});
    assert.deepEqual(helperCalls(m), [`store ${reg.host}`, `get ${reg.host}`, `erase ${reg.host}`]);
    assert.equal((await push(m, 'after-logout')).code, 3);
  });

  it('credsStore (one helper for every registry) is used as well', async () => {
    const m = fresh();
    writeFileSync(m.dockerConfig, JSON.stringify({ credsStore: 'omlmdtest' }));
    writeFileSync(m.helperStore, JSON.stringify({ [reg.host]: { Username: 'alice', Secret: PASSWORD } }));
    assert.equal((await push(m, 'store')).code, 0);
    assert.deepEqual(helperCalls(m), [`get ${reg.host}`]);
  });

  it('a helper that is not installed: exit 3, naming the program and the fix', async () => {
    const m = fresh();
    writeFileSync(m.dockerConfig, JSON.stringify({ credHelpers: { [reg.host]: 'nosuchhelper' } }));
    const r = await push(m, 'nohelper');
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /docker-credential-nosuchhelper is not installed/);
    assert.match(r.stderr, /hint: install docker-credential-nosuchhelper, or remove it/);
  });

  it('without a helper, login writes the Docker config (mode 0600, other keys kept) and logout removes the entry', async () => {
    const m = fresh();
    writeFileSync(m.dockerConfig, JSON.stringify({ auths: { 'other.example': { auth: Buffer.from('bob:x').toString('base64') } }, psFormat: 'table' }));
    const login = await runCli(['login', `http://${reg.host}/`, '-u', 'alice', '--password-stdin'], { env: m.env, input: PASSWORD });
    assert.equal(login.code, 0, login.stderr);
    assert.equal(statSync(m.dockerConfig).mode & 0o777, 0o600);
    const doc = JSON.parse(readFileSync(m.dockerConfig, 'utf8')) as { auths: Record<string, { auth?: string }>; psFormat: string };
    assert.equal(doc.psFormat, 'table');
    assert.ok(doc.auths['other.example']);
    assert.equal(Buffer.from(doc.auths[reg.host]?.auth ?? '', 'base64').toString(), `alice:${PASSWORD}`);
    assert.equal((await push(m, 'file')).code, 0);
    const logout = await runCli(['logout', reg.host, '--json'], { env: m.env });
    assert.equal(logout.code, 0, logout.stderr);
    assert.deepEqual(JSON.parse(logout.stdout), { registry: reg.host, removedFrom: [m.dockerConfig] });
    const left = JSON.parse(readFileSync(m.dockerConfig, 'utf8')) as { auths: Record<string, unknown> };
    assert.deepEqual(Object.keys(left.auths), ['other.example']);
    const again = await runCli(['logout', reg.host], { env: m.env });
    assert.equal(again.code, 0);
    assert.match(again.stdout, /No credentials for .* were stored/);
  });

  it('containers\' auth.json ($REGISTRY_AUTH_FILE) is read', async () => {
    const m = fresh();
    const authFile = join(m.root, 'auth.json');
    m.env.REGISTRY_AUTH_FILE = authFile;
    writeFileSync(authFile, JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`alice:${PASSWORD}`).toString('base64') } } }));
    assert.equal((await push(m, 'authjson')).code, 0);
  });

  it('$XDG_RUNTIME_DIR/containers/auth.json is read', async () => {
    const m = fresh();
    mkdirSync(join(m.env.XDG_RUNTIME_DIR as string, 'containers'), { recursive: true });
    writeFileSync(join(m.env.XDG_RUNTIME_DIR as string, 'containers', 'auth.json'), JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`alice:${PASSWORD}`).toString('base64') } } }));
    assert.equal((await push(m, 'runtime')).code, 0);
  });

  it('CI variables: per host, and the generic pair only for the hosts in OMLMD_REGISTRY_HOST', async () => {
    const key = envHostKey(reg.host);
    assert.equal(key, reg.host.replace(/[.:]/g, '_'));
    const perHost = fresh({ [`OMLMD_REGISTRY_${key}_USERNAME`]: 'alice', [`OMLMD_REGISTRY_${key}_PASSWORD`]: PASSWORD });
    assert.equal((await push(perHost, 'env-host')).code, 0);
    const generic = fresh({ OMLMD_REGISTRY_USERNAME: 'alice', OMLMD_REGISTRY_PASSWORD: PASSWORD });
    assert.equal((await push(generic, 'env-any')).code, 0);
    const elsewhere = fresh({ OMLMD_REGISTRY_USERNAME: 'alice', OMLMD_REGISTRY_PASSWORD: PASSWORD, OMLMD_REGISTRY_HOST: 'quay.io' });
    assert.equal((await push(elsewhere, 'env-other')).code, 3);
    const half = fresh({ OMLMD_REGISTRY_USERNAME: 'alice' });
    const r = await push(half, 'env-half');
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /OMLMD_REGISTRY_PASSWORD is not set, but OMLMD_REGISTRY_USERNAME is/);
  });

  it('-u with --password-stdin comes first: a wrong password there is not rescued by a stored one', async () => {
    const m = fresh({ OMLMD_REGISTRY_USERNAME: 'alice', OMLMD_REGISTRY_PASSWORD: PASSWORD });
    const wrong = await push(m, 'explicit-wrong', ['-u', 'alice', '--password-stdin'], 'not-it');
    assert.equal(wrong.code, 3, wrong.stderr);
    assert.ok(!(wrong.stdout + wrong.stderr).includes('not-it'));
    const right = await push(fresh(), 'explicit', ['-u', 'alice', '--password-stdin'], `${PASSWORD}\n`);
    assert.equal(right.code, 0, right.stderr);
  });
});

describe('the order of the credential chain', () => {
  it('explicit, environment, added sources, login store, Docker config, auth.json; Docker Hub by any of its names', async () => {
    const root = tempDir('omlmd-chain-');
    try {
      const auth = (u: string): { auth: string } => ({ auth: Buffer.from(`${u}:pw`).toString('base64') });
      mkdirSync(join(root, 'docker'));
      writeFileSync(join(root, 'docker', 'config.json'), JSON.stringify({
        auths: { 'r.example': auth('docker'), 'https://index.docker.io/v1/': auth('hub'), 'id.example': { identitytoken: 'refresh-1' } },
      }));
      writeFileSync(join(root, 'login.json'), JSON.stringify({ auths: { 'r.example': auth('login'), 'only-login.example': auth('login') } }));
      writeFileSync(join(root, 'auth.json'), JSON.stringify({ auths: { 'r.example': auth('podman'), 'only-podman.example': auth('podman'), 'r.example/ns/repo': auth('per-repo') } }));
      const env = { HOME: root, DOCKER_CONFIG: join(root, 'docker'), OMLMD_AUTH_FILE: join(root, 'login.json'), REGISTRY_AUTH_FILE: join(root, 'auth.json'), OMLMD_REGISTRY_R_EXAMPLE_USERNAME: 'env', OMLMD_REGISTRY_R_EXAMPLE_PASSWORD: 'pw' };
      const secret: CredentialSource = { name: 'secret storage', get: async (r) => (r === 'r.example' || r === 'only-secret.example' ? { username: 'secret', password: 'pw' } : undefined) };
      const who = async (registry: string, opts: Parameters<typeof findCredentials>[1]): Promise<string | undefined> => {
        const found = await findCredentials(registry, opts);
        return found && 'username' in found.credentials ? `${found.credentials.username} from ${found.source}` : found ? JSON.stringify(found.credentials) : undefined;
      };
      const explicit = { credentials: { username: 'explicit', password: 'pw' } };
      assert.equal(await who('r.example', { env, explicit, sources: [secret] }), 'explicit from the command line');
      assert.equal(await who('r.example', { env, sources: [secret] }), 'env from environment');
      assert.equal(await who('r.example', { env: { ...env, OMLMD_REGISTRY_R_EXAMPLE_USERNAME: '', OMLMD_REGISTRY_R_EXAMPLE_PASSWORD: '' }, sources: [secret] }), 'secret from secret storage');
      const files = { ...env, OMLMD_REGISTRY_R_EXAMPLE_USERNAME: '', OMLMD_REGISTRY_R_EXAMPLE_PASSWORD: '' };
      assert.equal(await who('r.example', { env: files }), `login from ${join(root, 'login.json')}`);
      assert.equal(await who('r.example', { env: { ...files, OMLMD_AUTH_FILE: '' } }), `docker from ${join(root, 'docker', 'config.json')}`);
      assert.equal(await who('only-podman.example', { env: files }), `podman from ${join(root, 'auth.json')}`);
      assert.equal(await who('docker.io', { env: files }), `hub from ${join(root, 'docker', 'config.json')}`);
      assert.equal(await who('index.docker.io', { env: files }), `hub from ${join(root, 'docker', 'config.json')}`);
      assert.equal(await who('id.example', { env: files }), '{"identityToken":"refresh-1"}');
      assert.equal(await who('nowhere.example', { env: files }), undefined);
      assert.equal(await who('r.example', { env, explicit: { ...explicit, registries: ['other.example'] } }), 'env from environment', 'explicit credentials limited to other registries are not offered');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
