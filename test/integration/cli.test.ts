import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sha256 } from '../../src/core/oci/digest';
import { runCli, type CliResult } from '../helpers/cli';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { tempDir } from '../helpers/tmp';

/** The CLI end to end against the real registry, OCI layouts and the local store. */
describe('omlmd CLI', () => {
  let reg: RunningRegistry;
  let work: string;
  let home: string;
  let model: Buffer;
  const cli = (args: string[], cwd?: string): Promise<CliResult> => runCli(args, { env: { OMLMD_HOME: home }, cwd: cwd ?? work });
  const ok = async (args: string[], cwd?: string): Promise<CliResult> => {
    const r = await cli(args, cwd);
    assert.equal(r.code, 0, `omlmd ${args.join(' ')} failed (${r.code}):\n${r.stderr}`);
    return r;
  };

  before(async () => {
    reg = await startRegistry();
    work = tempDir('omlmd-cli-');
    home = join(work, 'home');
    model = randomBytes(3 * 1024 * 1024 + 17);
    mkdirSync(join(work, 'models', 'tokmodel', 'tokenizer'), { recursive: true });
    writeFileSync(join(work, 'models', 'mnist.onnx'), model);
    writeFileSync(join(work, 'models', 'tokmodel', 'config.json'), '{"vocab": 1}');
    writeFileSync(join(work, 'models', 'tokmodel', 'tokenizer', 'config.json'), '{"tok": 2}');
    writeFileSync(join(work, 'metadata.yaml'), 'name: MNIST classifier\nauthor: Jane\nmodel_format_name: onnx\nmodel_format_version: "1"\ncustomProperties:\n  accuracy: 0.97\n');
    // The model folder is read-only: a push must never write next to the model.
    chmodSync(join(work, 'models'), 0o555);
  });
  after(async () => {
    chmodSync(join(work, 'models'), 0o755);
    await reg.stop();
  });

  test('push to a registry, pull back byte for byte, from another working directory', async () => {
    const target = `${reg.host}/models/mnist:v1`;
    const before = readdirSync(join(work, 'models'));
    const push = await ok(['push', target, join(work, 'models', 'mnist.onnx'), join(work, 'models', 'tokmodel'), '-m', join(work, 'metadata.yaml'), '--json'], tmpdir());
    const pushed = JSON.parse(push.stdout) as { reference: string; digest: string; files: { title: string }[] };
    assert.match(pushed.digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(pushed.reference, `${target}@${pushed.digest}`);
    assert.deepEqual(pushed.files.map((f) => f.title), ['mnist.onnx', 'tokmodel/config.json', 'tokmodel/tokenizer/config.json']);
    assert.deepEqual(readdirSync(join(work, 'models')), before);

    const out = join(work, 'pull1');
    const pull = await ok(['pull', target, '-o', out]);
    assert.match(pull.stdout, /Pulled/);
    assert.deepEqual(readFileSync(join(out, 'mnist.onnx')), model);
    assert.equal(readFileSync(join(out, 'tokmodel', 'tokenizer', 'config.json'), 'utf8'), '{"tok": 2}');
    assert.equal(readFileSync(join(out, 'tokmodel', 'config.json'), 'utf8'), '{"vocab": 1}');
    assert.match(readFileSync(join(out, 'model_metadata.omlmd.yaml'), 'utf8'), /name: MNIST classifier/);
    assert.deepEqual(readdirSync(out).filter((f) => f.includes('partial')), []);

    // Pulling again finds everything in place.
    const again = await ok(['pull', target, '-o', out, '--json']);
    assert.ok((JSON.parse(again.stdout) as { files: { existed: boolean }[] }).files.every((f) => f.existed));
  });

  test('cache info, prune and clear: what a push remembers, shown, pruned after the file changes, removed', async () => {
    const h = join(work, 'cache-home');
    const run = (args: string[]): Promise<CliResult> => runCli(args, { env: { OMLMD_HOME: h }, cwd: work });
    const file = join(work, 'cached.bin');
    writeFileSync(file, randomBytes(4096));
    const past = new Date(Date.now() - 60_000);
    utimesSync(file, past, past);
    assert.equal((await run(['push', `${reg.host}/models/cached:v1`, file, '--name', 'cached'])).code, 0);
    const info = await run(['cache', 'info', '--json']);
    assert.equal(info.code, 0, info.stderr);
    const usage = JSON.parse(info.stdout) as { dir: string; entries: { digests: number; blobs: number }; bytes: number };
    assert.equal(usage.dir, join(h, 'cache'));
    assert.equal(usage.entries.digests, 1, 'the pushed file\'s digest');
    assert.ok(usage.entries.blobs >= 3, 'where its blobs, config and YAML are');
    assert.match((await run(['cache', 'info'])).stdout, /file digests:\s+1/);

    writeFileSync(file, randomBytes(4096));
    const prune = await run(['cache', 'prune', '--json']);
    assert.equal(prune.code, 0, prune.stderr);
    assert.equal((JSON.parse(prune.stdout) as { removed: { digests: number } }).removed.digests, 1, 'the changed file\'s digest is of no use any more');
    const bad = await run(['cache', 'prune', '--older-than', 'soon']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /not a number of days.*\n.*--older-than 7d/s);

    assert.match((await run(['cache', 'clear'])).stdout, /Removed .*cache/);
    assert.equal(existsSync(join(h, 'cache')), false);
  });

  test('pull filters by glob and by media type', async () => {
    const target = `${reg.host}/models/mnist:v1`;
    const a = join(work, 'pull-glob');
    await ok(['pull', target, '-o', a, '--include', '*.onnx']);
    assert.deepEqual(readdirSync(a), ['mnist.onnx']);
    const b = join(work, 'pull-mt');
    await ok(['pull', target, '-o', b, '-m', 'application/x-config']);
    assert.deepEqual(readdirSync(b).sort(), ['model_metadata.omlmd.json', 'model_metadata.omlmd.yaml']);
    const c = join(work, 'pull-exclude');
    await ok(['pull', target, '-o', c, '--exclude', 'tokmodel/**', '--exclude', 'model_metadata.*']);
    assert.deepEqual(readdirSync(c), ['mnist.onnx']);
  });

  test('metadata, get config, inspect, tags, tag, repos', async () => {
    const target = `${reg.host}/models/mnist:v1`;
    const cfg = JSON.parse((await ok(['get', 'config', target])).stdout) as { reference: string; config: Record<string, unknown> };
    assert.equal(cfg.reference, target);
    assert.deepEqual(cfg.config, { name: 'MNIST classifier', description: null, author: 'Jane', customProperties: { accuracy: 0.97 }, uri: null, model_format_name: 'onnx', model_format_version: '1' });
    const md = JSON.parse((await ok(['metadata', target, '--json'])).stdout) as Record<string, unknown>;
    assert.equal(md.name, 'MNIST classifier');
    assert.match((await ok(['metadata', target])).stdout, /^name: MNIST classifier$/m);

    const info = JSON.parse((await ok(['inspect', target, '--json'])).stdout) as { artifactType: string; flavor: string; files: { path: string; role: string }[]; annotations: Record<string, string> };
    assert.equal(info.artifactType, 'application/vnd.omlmd.model.v1+json');
    assert.equal(info.flavor, 'omlmd');
    assert.deepEqual(info.files.filter((f) => f.role === 'model').map((f) => f.path), ['mnist.onnx', 'tokmodel/config.json', 'tokmodel/tokenizer/config.json']);
    assert.equal(info.annotations['customProperties+json'], '{"accuracy": 0.97}');
    assert.match(info.annotations['org.opencontainers.image.created']!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const human = await ok(['inspect', target]);
    assert.match(human.stdout, /Name: +MNIST classifier/);
    const raw = await runCli(['inspect', target, '--raw'], { env: { OMLMD_HOME: home } });
    const digest = JSON.parse((await ok(['inspect', target, '--json'])).stdout).digest as string;
    assert.equal(sha256(Buffer.from(raw.stdout)), digest);

    await ok(['tag', target, 'prod']);
    assert.deepEqual(JSON.parse((await ok(['tags', `${reg.host}/models/mnist`, '--json'])).stdout), ['prod', 'v1']);
    assert.match((await ok(['repos', reg.host, '--all'])).stdout, /^models\/mnist$/m);
  });

  test('metadata-only artifact points at a model stored elsewhere', async () => {
    const target = `${reg.host}/models/remote:v1`;
    await ok(['push', target, '--name', 'remote model', '--uri', 'hf://org/model', '-p', 'accuracy=0.91', '-p', 'license=MIT']);
    const info = JSON.parse((await ok(['inspect', target, '--json'])).stdout) as { metadataOnly: boolean; metadata: { uri: string; customProperties: Record<string, unknown> } };
    assert.equal(info.metadataOnly, true);
    assert.equal(info.metadata.uri, 'hf://org/model');
    assert.deepEqual(info.metadata.customProperties, { accuracy: 0.91, license: 'MIT' });
  });

  test('the local store needs no server: push, list, inspect, pull', async () => {
    await ok(['push', 'team/mnist:v1', join(work, 'models', 'mnist.onnx'), '--name', 'local mnist', '--model-format-name', 'onnx']);
    const list = await ok(['list']);
    assert.match(list.stdout, /team\/mnist:v1 +local mnist +onnx/);
    const entries = JSON.parse((await ok(['list', '--json'])).stdout) as { reference: string; size: number }[];
    assert.equal(entries.find((e) => e.reference === 'team/mnist:v1')!.size > model.length, true);
    const out = join(work, 'pull-local');
    await ok(['pull', 'team/mnist:v1', '-o', out]);
    assert.deepEqual(readFileSync(join(out, 'mnist.onnx')), model);
    assert.ok(existsSync(join(home, 'store', 'index.json')));
    assert.match((await ok(['repos'])).stdout, /^team\/mnist$/m);
  });

  test('copy between registry, OCI layout and local store keeps the digest and skips present blobs', async () => {
    const src = `${reg.host}/models/mnist:v1`;
    const digest = (JSON.parse((await ok(['inspect', src, '--json'])).stdout) as { digest: string }).digest;
    const layout = join(work, 'layout');
    const c1 = JSON.parse((await ok(['copy', src, `oci:${layout}:v1`, '--json'])).stdout) as { descriptor: { digest: string }; copied: number };
    assert.equal(c1.descriptor.digest, digest);
    assert.ok(c1.copied >= 5);
    const c2 = JSON.parse((await ok(['copy', `oci:${layout}:v1`, 'copied/mnist:v9', '--json'])).stdout) as { descriptor: { digest: string } };
    assert.equal(c2.descriptor.digest, digest);
    const c3 = JSON.parse((await ok(['copy', 'copied/mnist:v9', `${reg.host}/other/mnist:v1`, '--json'])).stdout) as { descriptor: { digest: string }; copied: number; skipped: number };
    assert.equal(c3.descriptor.digest, digest);
    const out = join(work, 'pull-layout');
    await ok(['pull', `oci:${layout}:v1`, '-o', out]);
    assert.deepEqual(readFileSync(join(out, 'mnist.onnx')), model);
    assert.deepEqual(JSON.parse((await ok(['tags', `oci:${layout}`, '--json'])).stdout), ['v1']);
  });

  test('push straight into an OCI layout', async () => {
    const layout = join(work, 'layout2');
    await ok(['push', `oci:${layout}:v1`, join(work, 'models', 'mnist.onnx'), '--empty-metadata']);
    const cfg = JSON.parse((await ok(['get', 'config', `oci:${layout}:v1`])).stdout) as { config: Record<string, unknown> };
    assert.deepEqual(cfg.config, { name: null, description: null, author: null, customProperties: {}, uri: null, model_format_name: null, model_format_version: null });
  });

  test('crawl returns every config it can and reports the rest', async () => {
    const r = await cli(['crawl', `${reg.host}/models/mnist:v1`, `${reg.host}/models/mnist:missing`, `${reg.host}/models/remote:v1`]);
    assert.equal(r.code, 1);
    const arr = JSON.parse(r.stdout) as { reference: string }[];
    assert.deepEqual(arr.map((x) => x.reference), [`${reg.host}/models/mnist:v1`, `${reg.host}/models/remote:v1`]);
    assert.match(r.stderr, /skipped .*mnist:missing/);
  });

  test('errors: one line naming the problem and the fix, documented exit codes', async () => {
    const noMeta = await cli(['push', `${reg.host}/x/y:v1`, join(work, 'models', 'mnist.onnx')]);
    assert.equal(noMeta.code, 2);
    assert.match(noMeta.stderr, /no metadata given\n {2}hint: pass -m FILE/);

    writeFileSync(join(work, 'bad.yaml'), 'name: x\nmodel_format_version: 1\n');
    const badMeta = await cli(['push', `${reg.host}/x/y:v1`, join(work, 'models', 'mnist.onnx'), '-m', join(work, 'bad.yaml')]);
    assert.equal(badMeta.code, 2);
    assert.match(badMeta.stderr, /bad.yaml: field "model_format_version" must be a string, got number 1/);

    const missing = await cli(['pull', `${reg.host}/models/mnist:nope`, '-o', join(work, 'nope')]);
    assert.equal(missing.code, 4);
    assert.match(missing.stderr, /nope/);

    const refused = await cli(['inspect', '127.0.0.1:1/m:v1']);
    assert.equal(refused.code, 6);
    assert.doesNotMatch(refused.stderr, /at .*\.js:\d+/);

    const badRef = await cli(['inspect', `${reg.host}/Models:v1`]);
    assert.equal(badRef.code, 2);
    assert.match(badRef.stderr, /use "models"/);

    const unknown = await cli(['frobnicate']);
    assert.equal(unknown.code, 2);
  });

  test('--help and --version', async () => {
    const help = await ok(['--help']);
    for (const c of ['push', 'pull', 'get', 'crawl', 'metadata', 'inspect', 'copy', 'tags', 'repos', 'list']) assert.match(help.stdout, new RegExp(`^  ${c}\\b`, 'm'));
    assert.match(help.stdout, /Exit codes/);
    assert.match((await ok(['push', '--help'])).stdout, /Example:\n {2}omlmd push/);
    assert.match((await ok(['--version'])).stdout, /^\d+\.\d+\.\d+/);
  });
});
