import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OmlmdClient } from '../../src/core/client';
import { OmlmdError } from '../../src/core/errors';
import { RegistryBrowser, type BrowserNode } from '../../src/extension/model/browser';
import { runPush, type PushUi } from '../../src/extension/model/pushFlow';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { tempDir } from '../helpers/tmp';

/**
 * omlmd.push.mountable in the extension's push flow, without VS Code (the flow's UI scripted),
 * against the real registry: the tag becomes an image index of the model and its data-only
 * image, the tree still shows the model's files under it, and a pull of the tag gets the model.
 * The runtimes mounting such an index are proved in runtimes.test.ts.
 */
describe('extension: Push Model… with omlmd.push.mountable (real registry)', () => {
  let reg: RunningRegistry;
  let work: string;
  let client: OmlmdClient;
  const weights = randomBytes(1024 * 1024 + 5);

  before(async () => {
    reg = await startRegistry();
    work = tempDir('omlmd-ext-mountable-');
    client = new OmlmdClient({ home: join(work, 'home') });
    writeFileSync(join(work, 'model.onnx'), weights);
    writeFileSync(join(work, 'pub.pem'), (await import('node:crypto')).generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }));
  });
  after(async () => reg?.stop());

  const scripted = (repository: string, seen: { progress: string[]; editorOpened?: boolean }): PushUi => ({
    editMetadata: (initial) => ((seen.editorOpened = true), Promise.resolve({ ...initial, name: 'mountable model' })),
    pickTarget: () => Promise.resolve({ store: { kind: 'registry', host: reg.host }, repository, tag: 'v1' }),
    withProgress: (title, run) => (seen.progress.push(title), run(() => undefined, new AbortController().signal)),
  });

  test('the tag is an image index holding the data-only image (with its platform) and the model (by its artifactType); the tree and a pull still get the model', async () => {
    const seen = { progress: [] as string[] };
    const out = await runPush(client, scripted('mnt/model', seen), { paths: [join(work, 'model.onnx')], mountable: true });
    assert.ok(out?.image, 'the outcome names the image');
    assert.match(seen.progress.at(-1) ?? '', /^Building the data-only image of .*mnt\/model:v1$/);
    const res = await fetch(`http://${reg.host}/v2/mnt/model/manifests/v1`, { headers: { accept: 'application/vnd.oci.image.index.v1+json' } });
    assert.equal(res.headers.get('content-type'), 'application/vnd.oci.image.index.v1+json');
    const index = (await res.json()) as { manifests: { digest: string; platform?: { os: string }; artifactType?: string }[] };
    assert.equal(index.manifests.length, 2);
    assert.equal(index.manifests[0]!.digest, out.image.digest);
    assert.equal(index.manifests[0]!.platform?.os, 'linux');
    assert.equal(index.manifests[1]!.artifactType, 'application/vnd.omlmd.model.v1+json');

    const browser = new RegistryBrowser(() => client, () => [{ host: reg.host }]);
    const artifact = await browser.artifact({ kind: 'tag', id: 't1', store: { kind: 'registry', host: reg.host }, repository: 'mnt/model', tag: 'v1' });
    const files = (await browser.children(artifact)).filter((c): c is Extract<BrowserNode, { kind: 'file' }> => c.kind === 'file');
    assert.ok(files.some((f) => f.path === 'model.onnx'), JSON.stringify(files.map((f) => f.path)));

    const dir = join(work, 'pulled');
    await client.pull(`${reg.host}/mnt/model:v1`, dir);
    assert.ok(readFileSync(join(dir, 'model.onnx')).equals(weights));
  });

  test('with omlmd.push.encryptRecipients as well: refused before the editor opens, worded with both settings, nothing pushed', async () => {
    const seen = { progress: [] as string[] } as { progress: string[]; editorOpened?: boolean };
    const e = await runPush(client, scripted('mnt/refused', seen), { paths: [join(work, 'model.onnx')], mountable: true, encryptRecipients: [join(work, 'pub.pem')] }).then(() => undefined, (x: unknown) => x);
    assert.ok(e instanceof OmlmdError);
    assert.match(e.message, /holds the model files in clear/);
    assert.match(JSON.stringify(e.remedies), /omlmd\.push\.mountable.*omlmd\.push\.encryptRecipients/);
    assert.equal(seen.editorOpened, undefined);
    assert.equal((await fetch(`http://${reg.host}/v2/mnt/refused/tags/list`)).status, 404);
  });

  test('package.json declares omlmd.push.mountable, off by default', () => {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { contributes: { configuration: { properties: Record<string, { type: string; default: unknown }> } | { properties: Record<string, { type: string; default: unknown }> }[] } };
    const conf = pkg.contributes.configuration;
    const props = Array.isArray(conf) ? Object.assign({}, ...conf.map((c) => c.properties)) as Record<string, { type: string; default: unknown }> : conf.properties;
    assert.deepEqual({ type: props['omlmd.push.mountable']?.type, default: props['omlmd.push.mountable']?.default }, { type: 'boolean', default: false });
  });
});
