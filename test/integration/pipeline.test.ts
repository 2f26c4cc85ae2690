/**
 * Push-triggered pipelines end to end: the real registry's `notifications` config calls
 * `omlmd serve` (a separate process, as deployed), a plain `omlmd push` leads to a ModelCar
 * image and a model card that discover finds, a command gets the event; redelivered and
 * concurrent events change nothing; a failing action is retried and reported.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { OmlmdClient } from '../../src/core/client';
import { discover, MODEL_CARD_ARTIFACT_TYPE, MODELCAR_ARTIFACT_TYPE } from '../../src/core/lineage';
import { CLI, runCli } from '../helpers/cli';
import { freePort, startRegistry, type RunningRegistry } from '../helpers/registry';
import { tempDir } from '../helpers/tmp';

const WAIT_MS = 60_000;
const NOTIFY_TOKEN = `notify-${randomBytes(8).toString('hex')}`;
const SEARCH_TOKEN = `search-${randomBytes(8).toString('hex')}`;

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, log: () => string): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}; server log:\n${log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('push-triggered pipeline: registry notifications → omlmd serve → ModelCar, model card, command', () => {
  let reg: RunningRegistry;
  let serve: ChildProcess;
  let serverUrl: string;
  let work: string;
  let client: OmlmdClient;
  let env: NodeJS.ProcessEnv;
  let log = '';
  const eventsFile = () => join(work, 'events.jsonl');

  before(async () => {
    work = tempDir('omlmd-pipeline-');
    env = { OMLMD_HOME: join(work, 'home') };
    client = new OmlmdClient({ home: join(work, 'home') });
    writeFileSync(join(work, 'model.onnx'), randomBytes(30_000));
    writeFileSync(join(work, 'other.onnx'), randomBytes(20_000));
    const port = await freePort();
    serverUrl = `http://127.0.0.1:${port}`;
    // The registry sends its own token; the search clients have another.
    reg = await startRegistry({ notifications: { url: `${serverUrl}/notifications`, headers: { Authorization: [`Bearer ${NOTIFY_TOKEN}`] } } });
    serve = spawn(process.execPath, [
      CLI, 'serve', '--registry', reg.host, '--index', join(work, 'index.sqlite'), '--listen', `127.0.0.1:${port}`, '--no-crawl',
      '--on-push', 'modelcar', '--on-push', 'model-card',
      '--on-push-exec', `cat >> ${eventsFile()}`,
      // Fails once, then works: retried.
      '--on-push-exec', `test -f ${join(work, 'flag')}-$OMLMD_TAG || { touch ${join(work, 'flag')}-$OMLMD_TAG; echo first try fails >&2; exit 1; }; echo flaky ok`,
      // Always fails: reported.
      '--on-push-exec', 'echo broken >&2; exit 3',
      '--pipeline-retries', '1',
    ], { env: { ...process.env, ...env, OMLMD_SERVER_TOKEN: SEARCH_TOKEN, OMLMD_NOTIFY_TOKEN: NOTIFY_TOKEN }, stdio: ['ignore', 'pipe', 'pipe'] });
    serve.stdout!.on('data', (b: Buffer) => (log += b.toString()));
    serve.stderr!.on('data', (b: Buffer) => (log += b.toString()));
    await until('the server', async () => {
      try {
        const res = await request(`${serverUrl}/healthz`);
        await res.body.dump();
        return res.statusCode === 200 ? true : undefined;
      } catch {
        return undefined;
      }
    }, () => log);
  });
  after(async () => {
    if (serve && serve.exitCode === null) {
      serve.kill('SIGTERM');
      await new Promise((r) => serve.once('exit', r));
    }
    await reg?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const lines = (re: RegExp): number => log.split('\n').filter((l) => re.test(l)).length;

  test('a plain push leads to a ModelCar and a model card that discover finds, and the command gets the event', async () => {
    // Two models pushed at once: concurrent events, each handled.
    const [a, b] = await Promise.all([
      runCli(['push', `${reg.host}/pipe/a:v1`, join(work, 'model.onnx'), '--name', 'model a'], { env }),
      runCli(['push', `${reg.host}/pipe/b:v1`, join(work, 'other.onnx'), '--name', 'model b'], { env }),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    for (const repo of ['pipe/a', 'pipe/b']) {
      const tree = await until(`the referrers of ${repo}:v1`, async () => {
        const t = await discover(client, `${reg.host}/${repo}:v1`);
        const types = t.referrers.map((n) => n.artifactType);
        return types.includes(MODELCAR_ARTIFACT_TYPE) && types.includes(MODEL_CARD_ARTIFACT_TYPE) ? t : undefined;
      }, () => log);
      assert.equal(tree.referrers.length, 2, `${repo}: one ModelCar, one model card`);
      const mc = tree.referrers.find((n) => n.artifactType === MODELCAR_ARTIFACT_TYPE)!;
      const tagged = await (await client.repository(`${reg.host}/${repo}`)).resolve('v1-modelcar');
      assert.equal(tagged.digest, mc.digest, 'pushed next to the model as v1-modelcar');
    }
    const events = await until('the command\'s events', () => {
      if (!existsSync(eventsFile())) return undefined;
      const got = readFileSync(eventsFile(), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { reference: string; digest: string; type: string; event: { action: string } });
      return got.length >= 2 ? got : undefined;
    }, () => log);
    assert.deepEqual(events.map((e) => e.reference).sort(), [`${reg.host}/pipe/a:v1`, `${reg.host}/pipe/b:v1`]);
    assert.ok(events.every((e) => e.type === 'model-pushed' && e.event.action === 'push' && /^sha256:/.test(e.digest)));
  });

  test('a failing action is retried, then reported; the others are not held up', async () => {
    await until('the flaky command to succeed on its retry', () => (lines(/pipeline: exec "test -f .* for \S*pipe\/a:v1@\S*: flaky ok$/) === 1 ? true : undefined), () => log);
    assert.ok(lines(/first try fails.*retrying in/) >= 1, log);
    await until('the broken command to be reported', () => (lines(/pipeline: exec "echo broken.*pipe\/a:v1.* failed after 2 attempts: .*exited with 3: broken/) === 1 ? true : undefined), () => log);
  });

  test('redelivered and concurrent duplicate events change nothing: each action finds its result and skips', async () => {
    const repo = await client.repository(`${reg.host}/pipe/a`);
    const model = await repo.resolve('v1');
    const envelope = JSON.stringify({ events: [{ id: 'redelivered-1', timestamp: new Date().toISOString(), action: 'push', target: { mediaType: model.mediaType, digest: model.digest, size: model.size, repository: 'pipe/a', tag: 'v1', url: `http://${reg.host}/v2/pipe/a/manifests/${model.digest}` }, request: { host: reg.host } }] });
    const skipsBefore = lines(/pipe\/a:v1@.*: skipped/);
    const post = () => request(`${serverUrl}/notifications`, { method: 'POST', headers: { 'content-type': 'application/vnd.docker.distribution.events.v1+json', authorization: `Bearer ${NOTIFY_TOKEN}` }, body: envelope }).then(async (r) => {
      await r.body.dump();
      return r.statusCode;
    });
    assert.deepEqual(await Promise.all([post(), post()]), [202, 202]);
    // modelcar, model-card and the command that already ran: skipped for both deliveries.
    await until('both deliveries to be handled', () => (lines(/pipe\/a:v1@.*: skipped/) - skipsBefore >= 6 ? true : undefined), () => log);
    const tree = await discover(client, `${reg.host}/pipe/a:v1`);
    assert.equal(tree.referrers.filter((n) => n.artifactType === MODELCAR_ARTIFACT_TYPE).length, 1);
    assert.equal(tree.referrers.filter((n) => n.artifactType === MODEL_CARD_ARTIFACT_TYPE).length, 1);
    assert.equal(readFileSync(eventsFile(), 'utf8').trim().split('\n').filter((l) => l.includes('pipe/a')).length, 1, 'the command ran once for the model');
  });

  test('forged pushes run no action: a search client\'s token is refused, and a tag the registry does not have is ignored even with the notification token', async () => {
    const repo = await client.repository(`${reg.host}/pipe/a`);
    const model = await repo.resolve('v1');
    const forged = (tag: string) => JSON.stringify({ events: [{ id: `forged-${tag}`, action: 'push', target: { mediaType: model.mediaType, digest: model.digest, size: model.size, repository: 'pipe/a', tag }, request: { host: reg.host } }] });
    const post = async (body: string, token?: string): Promise<number> => {
      const r = await request(`${serverUrl}/notifications`, { method: 'POST', headers: { 'content-type': 'application/vnd.docker.distribution.events.v1+json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body });
      await r.body.dump();
      return r.statusCode;
    };
    assert.equal(await post(forged('by-client'), SEARCH_TOKEN), 403);
    assert.equal(await post(forged('anyone')), 401);
    assert.equal(await post(forged('forged')), 401);
    assert.equal(await post(forged('forged'), NOTIFY_TOKEN), 202);
    await until('the forged push to be ignored', () => (lines(new RegExp(`ignored a push event: the registry has no ${reg.host.replace(/\./g, '\\.')}/pipe/a:forged$`)) === 1 ? true : undefined), () => log);
    // The event names the real model's digest: had it been acted on, the ModelCar would be tagged forged-modelcar, the command would have its event.
    await assert.rejects(repo.resolve('forged-modelcar'), (e: unknown) => (e as { status?: number }).status === 404);
    assert.doesNotMatch(readFileSync(eventsFile(), 'utf8'), /forged|by-client|anyone/);
    assert.doesNotMatch(log, /pipe\/a:(forged|by-client|anyone)@/);
    const search = await request(`${serverUrl}/api/v1/search?q=${encodeURIComponent("$[?@.repository == 'pipe/a']")}`, { headers: { authorization: `Bearer ${SEARCH_TOKEN}` } });
    assert.deepEqual(((await search.body.json()) as { items: { tag: string }[] }).items.map((d) => d.tag), ['v1'], 'the ModelCar is no model; nothing forged is indexed');
  });

  test('each action is also a plain command, for CI: model-card --attach finds nothing to add twice (same card, same digest)', async () => {
    const first = await runCli(['model-card', `${reg.host}/pipe/b:v1`, '--attach', '--json'], { env });
    assert.equal(first.code, 0, first.stderr);
    const tree = await discover(client, `${reg.host}/pipe/b:v1`, { artifactType: MODEL_CARD_ARTIFACT_TYPE });
    assert.deepEqual(tree.referrers.map((n) => n.digest), [(JSON.parse(first.stdout) as { digest: string }).digest], 'the card the server attached is the same artifact');
    const card = await runCli(['model-card', `${reg.host}/pipe/b:v1`], { env });
    assert.match(card.stdout, /^---\nlibrary_name|^---\nmodel_name: model b/m);
    assert.match(card.stdout, /# model b/);
  });
});
