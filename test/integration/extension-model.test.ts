import assert from 'node:assert/strict';
import { tempDir } from '../helpers/tmp';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OmlmdClient } from '../../src/core/client';
import { OmlmdError } from '../../src/core/errors';
import { pushMetadataUpdate } from '../../src/core/transfer/remetadata';
import { exactPathGlob, RegistryBrowser, type BrowserNode, type RegistryEntry } from '../../src/extension/model/browser';
import { runPush, suggestNextTag, type PushUi } from '../../src/extension/model/pushFlow';
import { startRegistry, type RunningRegistry } from '../helpers/registry';

/** A front that refuses the catalog, as GHCR and GitLab do, and passes everything else through. */
function noCatalogFront(upstream: string): Promise<{ host: string; server: Server }> {
  const server = createServer((req, res) => {
    if (req.url?.startsWith('/v2/_catalog')) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNSUPPORTED","message":"catalog not available"}]}');
      return;
    }
    const [h, p] = upstream.split(':');
    const up = httpRequest({ host: h, port: Number(p), method: req.method, path: req.url, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    req.pipe(up);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    resolve({ host: `127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`, server });
  }));
}

const scriptedUi = (answers: { metadata?: (m: Record<string, unknown>) => Record<string, unknown>; target?: Partial<{ repository: string; tag: string; store: { kind: 'local' } | { kind: 'registry'; host: string } }> }, seen: Record<string, unknown>): PushUi => ({
  editMetadata: async (initial, title, targetHint) => {
    seen.initial = initial;
    seen.title = title;
    seen.targetHint = targetHint;
    return answers.metadata ? answers.metadata(initial as Record<string, unknown>) : initial;
  },
  pickTarget: async (proposed) => {
    seen.proposed = proposed;
    return { ...proposed, ...answers.target } as typeof proposed;
  },
  withProgress: async (_title, run) => {
    const events: string[] = [];
    seen.events = events;
    return run((e) => events.push(e.type), new AbortController().signal);
  },
});

describe('extension logic against the real registry and the local store', () => {
  let reg: RunningRegistry;
  let work: string;
  let client: OmlmdClient;
  let registries: RegistryEntry[];
  let browser: RegistryBrowser;

  before(async () => {
    reg = await startRegistry();
    work = tempDir('omlmd-ext-');
    client = new OmlmdClient({ home: join(work, 'home') });
    registries = [{ host: reg.host }];
    browser = new RegistryBrowser(() => client, () => registries, 2);
    writeFileSync(join(work, 'Iris Model.joblib'), randomBytes(5000));
  });
  after(async () => reg?.stop());

  const kids = (n?: BrowserNode) => browser.children(n);

  test('roots: the Local store, always, then each configured registry; empty states offer a fix', async () => {
    const roots = await kids();
    assert.deepEqual(roots.map((r) => r.kind), ['localStore', 'registry']);
    const local = await kids(roots[0]);
    assert.equal(local.length, 1);
    assert.equal(local[0]!.kind, 'message');
    assert.match((local[0] as { text: string }).text, /No models yet/);
    assert.equal((local[0] as { fix?: { command: string } }).fix?.command, 'omlmd.pushModel');
  });

  test('Push Model… on a model file with a metadata.yaml beside it: the editor opens with that metadata, the repository from its name; a broken one is a warning', async () => {
    const { mkdirSync } = await import('node:fs');
    const dir = join(work, 'beside');
    mkdirSync(dir);
    writeFileSync(join(dir, 'model.onnx'), randomBytes(1000));
    writeFileSync(join(dir, 'metadata.yaml'), 'name: Iris classifier\ndescription: from the file\ncustomProperties:\n  accuracy: 0.97\n');
    const seen: Record<string, unknown> = {};
    const out = await runPush(client, scriptedUi({ target: { store: { kind: 'local' } } }, seen), { paths: [join(dir, 'model.onnx')], author: 'Jane' });
    assert.ok(out);
    const initial = seen.initial as Record<string, unknown>;
    assert.equal(initial.name, 'Iris classifier');
    assert.equal(initial.description, 'from the file');
    assert.deepEqual(initial.customProperties, { accuracy: 0.97 });
    assert.equal(initial.model_format_name, 'onnx', 'the file type still fills what the metadata leaves out');
    assert.equal((seen.proposed as { repository: string }).repository, 'iris-classifier');
    assert.equal(seen.targetHint, undefined, 'no "Target: model:v1" in the editor before a target is chosen');
    // The caller's metadata (a notebook's) wins over the file.
    const seen2: Record<string, unknown> = {};
    await runPush(client, scriptedUi({ target: { store: { kind: 'local' }, tag: 'v2' } }, seen2), { paths: [join(dir, 'model.onnx')], metadata: { name: 'from the notebook' } });
    assert.equal((seen2.initial as { name: string }).name, 'from the notebook');
    // A metadata file that does not validate: the editor opens anyway, with a warning.
    writeFileSync(join(dir, 'metadata.yaml'), 'name: [not, a, string]\n');
    const editorArgs: unknown[] = [];
    const ui = scriptedUi({ target: { store: { kind: 'local' }, tag: 'v3' } }, {});
    const wrapped: PushUi = { ...ui, editMetadata: (initial, title, target, found) => (editorArgs.push(found), ui.editMetadata(initial, title, target, found)) };
    await runPush(client, wrapped, { paths: [join(dir, 'model.onnx')] });
    assert.match(JSON.stringify(editorArgs[0]), /metadata\.yaml beside the model was not used/);
  });

  test('Push Model flow: pre-filled metadata, chosen target, progress; then the tree shows it', async () => {
    const seen: Record<string, unknown> = {};
    const ui = scriptedUi({ metadata: (m) => ({ ...m, customProperties: { accuracy: 0.97 } }), target: { store: { kind: 'registry', host: reg.host }, tag: 'v1' } }, seen);
    const outcome = await runPush(client, ui, { paths: [join(work, 'Iris Model.joblib')], author: 'Jane' });
    assert.ok(outcome);
    assert.deepEqual(seen.initial, { name: 'Iris Model', model_format_name: 'sklearn', author: 'Jane' });
    assert.deepEqual((seen.proposed as { repository: string }).repository, 'iris-model');
    assert.ok((seen.events as string[]).includes('done'));
    assert.equal(outcome.reference, `${reg.host}/iris-model:v1`);

    for (const [repo, tag] of [['iris-model', 'v2'], ['b-model', 'v1'], ['c-model', 'v1']]) {
      await runPush(client, scriptedUi({ target: { store: { kind: 'registry', host: reg.host }, repository: repo, tag } }, {}), { paths: [join(work, 'Iris Model.joblib')] });
    }
    const registry = (await kids())[1]!;
    const page1 = await kids(registry);
    assert.deepEqual(page1.map((n) => n.kind), ['repository', 'repository', 'loadMore']);
    const page2 = await kids(page1[2]);
    assert.deepEqual(page2.filter((n) => n.kind === 'repository').map((n) => (n as { repository: string }).repository), ['iris-model']);
    const iris = page2.find((n) => n.kind === 'repository')!;
    const tags = await kids(iris);
    assert.deepEqual(tags.map((t) => (t as { tag: string }).tag), ['v2', 'v1']);
    const [artifact] = await kids(tags[1]);
    assert.equal(artifact!.kind, 'artifact');
    const a = artifact as Extract<BrowserNode, { kind: 'artifact' }>;
    assert.equal(a.label, 'Iris Model');
    assert.match(a.description, /^sklearn · 5\.\d+ kB · [0-9a-f]{12}$/);
    assert.match(a.tooltip, /accuracy/);
    const files = await kids(a);
    assert.deepEqual(files.map((f) => f.kind), ['file', 'metadata']);
    assert.equal((files[0] as { path: string; size: number }).path, 'Iris Model.joblib');
    // A file row knows its artifact: Pull This File… pulls it alone (its path as an exact glob), Copy Digest copies its digest.
    const file = files[0] as Extract<BrowserNode, { kind: 'file' }>;
    assert.deepEqual(file.owner, { store: { kind: 'registry', host: reg.host }, repository: 'iris-model', digest: a.digest });
    const one = await client.pull(`${reg.host}/iris-model@${a.digest}`, join(work, 'one-file'), { include: [exactPathGlob(file.path)] });
    assert.deepEqual(one.files.map((f) => f.title), ['Iris Model.joblib']);
    assert.equal(exactPathGlob('a[1]*.bin'), 'a\\[1\\]\\*.bin');
    const fields = await kids(files[1]);
    // One row per custom property, unset fields left out.
    assert.ok(fields.some((f) => f.kind === 'field' && f.key === 'customProperties.accuracy' && f.value === '0.97'), JSON.stringify(fields));
    assert.ok(!fields.some((f) => f.kind === 'field' && (f.value === '—' || f.key === 'uri')), 'no row for an unset field');
  });

  test('a registry that refuses its catalog shows the added repositories and "Add repository…"', async () => {
    const front = await noCatalogFront(reg.host);
    try {
      registries = [{ host: front.host, repositories: ['iris-model'] }];
      const node = (await kids())[1]!;
      const children = await kids(node);
      assert.equal(children[0]!.kind, 'repository');
      const msg = children.find((c) => c.kind === 'message') as { text: string; fix?: { command: string } };
      assert.match(msg.text, /does not list its repositories/);
      assert.equal(msg.fix?.command, 'omlmd.addRepository');
      assert.ok((await kids(children[0])).length >= 2);
    } finally {
      front.server.close();
      registries = [{ host: reg.host }];
    }
  });

  test('an unreachable registry is an error row with Retry, not a thrown error', async () => {
    registries = [{ host: '127.0.0.1:1' }];
    const node = (await kids())[1]!;
    const [err] = await kids(node);
    assert.equal(err!.kind, 'message');
    assert.equal((err as { severity: string }).severity, 'error');
    assert.equal((err as { fix?: { command: string } }).fix?.command, 'omlmd.refresh');
    registries = [{ host: reg.host }];
  });

  test('edited metadata goes to a new tag, model layers reused; an existing tag is refused', async () => {
    const repo = await client.repository(`${reg.host}/iris-model`);
    const before = await client.inspect(`${reg.host}/iris-model:v1`);
    const d = await pushMetadataUpdate(repo, 'v1', { name: 'Iris v1 (edited)', customProperties: { accuracy: 0.99 } }, 'v1-edited');
    const afterInfo = await client.inspect(`${reg.host}/iris-model:v1-edited`);
    assert.equal(afterInfo.descriptor.digest, d.digest);
    assert.equal(afterInfo.metadata?.name, 'Iris v1 (edited)');
    assert.deepEqual(afterInfo.view.files.filter((f) => f.role === 'model').map((f) => f.descriptor.digest), before.view.files.filter((f) => f.role === 'model').map((f) => f.descriptor.digest));
    assert.equal((await client.inspect(`${reg.host}/iris-model:v1`)).descriptor.digest, before.descriptor.digest);
    await assert.rejects(pushMetadataUpdate(repo, 'v1', { name: 'x' }, 'v2'), (e: unknown) => OmlmdError.is(e, 'CONFLICT'));
    assert.equal(suggestNextTag(['v1', 'v2', 'v10', 'latest']), 'v11');
  });
});
