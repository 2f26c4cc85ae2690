/**
 * The CLI loads only what a command needs (esbuild.mjs splits dist/cli/ at the command
 * modules): `--version` loads no command module, `push --help` and `pull --help` never the
 * search index, PostgreSQL, the server, lineage or Sigstore. The ESM files a run loads are
 * logged by a module resolve hook and mapped to their sources through dist/cli/meta.json.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { Command } from 'commander';
import { COMMAND_MODULES, modulesFor } from '../../src/cli/commands';
import { CLI } from '../helpers/cli';
import { startRegistry } from '../helpers/registry';
import { tempDir } from '../helpers/tmp';

const ROOT = join(__dirname, '..', '..');
const HEAVY = /src\/core\/(search|lineage|trust)\/|src\/server\/|node_modules\/(pg|pg-[a-z]+|@sigstore\/[a-z-]+|better-sqlite3|fastify|@fastify\/[a-z-]+)\//;

interface Meta { outputs: Record<string, { inputs: Record<string, unknown> }> }

/** The sources of the ESM files `node dist/cli.js ...args` loads. */
function loadedSources(args: string[], env: NodeJS.ProcessEnv = {}): string[] {
  const log = join(tempDir('omlmd-startup-'), 'loaded.txt');
  const hook = `import { appendFileSync } from 'node:fs'; export async function resolve(s, c, next) { const r = await next(s, c); appendFileSync(${JSON.stringify(log)}, r.url + '\\n'); return r; }`;
  const register = `import { register } from 'node:module'; register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}));`;
  const r = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(register)}`, CLI, ...args], { encoding: 'utf8', env: { ...process.env, OMLMD_NO_PROGRESS: '1', ...env } });
  assert.equal(r.status, 0, r.stderr);
  const meta = JSON.parse(readFileSync(join(ROOT, 'dist', 'cli', 'meta.json'), 'utf8')) as Meta;
  const files = readFileSync(log, 'utf8').split('\n').filter((u) => u.startsWith('file:')).map((u) => relative(ROOT, new URL(u).pathname));
  assert.ok(files.includes('dist/cli/main.mjs'), `the run loaded ${files.join(', ')}`);
  return files.flatMap((f) => Object.keys(meta.outputs[f]?.inputs ?? {}));
}

describe('CLI start-up', () => {
  test('--version is answered without loading any command module', () => {
    const r = spawnSync(process.execPath, [CLI, '--version'], { encoding: 'utf8' });
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^\d+\.\d+\.\d+\n$/);
    // Help loads every group (it lists them all).
    assert.ok(loadedSources(['--help']).includes('src/cli/commands/search.ts'));
  });

  test('a bare --version through the program loads no command module', () => {
    const sources = loadedSources(['--version', '--version']);
    assert.deepEqual(sources.filter((s) => s.startsWith('src/cli/commands/') && !s.endsWith('index.ts')), []);
    assert.ok(!sources.some((s) => s.includes('node_modules/undici/')), 'undici loaded for --version');
  });

  for (const cmd of ['push', 'pull']) {
    test(`${cmd} --help loads neither the index, PostgreSQL, the server, lineage nor Sigstore`, () => {
      const sources = loadedSources([cmd, '--help']);
      assert.ok(sources.includes(`src/cli/commands/${cmd}.ts`), `${cmd}.ts was not loaded`);
      assert.deepEqual(sources.filter((s) => HEAVY.test(s)), []);
      assert.ok(!sources.includes('src/cli/commands/search.ts'));
      // The metadata schema comes compiled at build time: neither ajv's compiler nor the run-time compile is loaded.
      assert.deepEqual(sources.filter((s) => s.startsWith('node_modules/ajv/dist/compile/') || s === 'src/core/model/schemaValidator.ts'), []);
      assert.ok(sources.includes('omlmd-schema-validator:schemaValidator'), 'the prebuilt validator is in the push path');
      // Encryption's JWE library loads with the first key wrap or unwrap, not with every command.
      assert.deepEqual(sources.filter((s) => s.startsWith('node_modules/jose/')), []);
    });
  }

  test('push, re-push and pull against a plain-HTTP registry never load undici (Node\'s http client and the socket path carry them)', async () => {
    const reg = await startRegistry();
    try {
      const work = tempDir('omlmd-startup-plain-');
      const model = join(work, 'model.bin');
      writeFileSync(model, Buffer.alloc(3 * 1024 * 1024, 7));
      const env = { OMLMD_HOME: join(work, 'home'), HTTP_PROXY: '', HTTPS_PROXY: '', http_proxy: '', https_proxy: '' };
      const ref = `${reg.host}/startup/plain:v1`;
      for (const args of [['push', ref, model, '--name', 'plain'], ['push', ref, model, '--name', 'plain'], ['pull', ref, '-o', join(work, 'out')]]) {
        const sources = loadedSources(args, env);
        assert.ok(sources.includes(`src/cli/commands/${args[0]}.ts`), `${args[0]}.ts was not loaded`);
        assert.ok(sources.includes('src/core/oci/plainhttp.ts'), 'the plain-HTTP client was not loaded');
        assert.deepEqual(sources.filter((s) => s.includes('node_modules/undici/')), [], `${args.join(' ')} loaded undici`);
      }
      assert.deepEqual(readFileSync(join(work, 'out', 'model.bin')), readFileSync(model));
    } finally {
      await reg.stop();
    }
  });

  test('every command group adds exactly the names its table entry lists', async () => {
    const all = new Set<string>();
    for (const m of COMMAND_MODULES) {
      const program = new Command('omlmd');
      (await m.load())(program);
      const names = program.commands.flatMap((c) => [c.name(), ...c.aliases()]);
      assert.deepEqual([...names].sort(), [...m.names].sort());
      for (const n of names) {
        assert.ok(!all.has(n), `${n} is in two groups`);
        all.add(n);
      }
    }
    assert.deepEqual(modulesFor(['--version']), []);
    assert.deepEqual(modulesFor(['push', 'x', '--help']).map((m) => m.names[0]), ['push']);
    assert.equal(modulesFor(['--help']).length, COMMAND_MODULES.length);
    assert.equal(modulesFor(['pusj']).length, COMMAND_MODULES.length);
  });
});
