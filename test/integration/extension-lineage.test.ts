/**
 * The Registries tree's referrers and the "Attach File…" / "Build ModelCar Image…" flows,
 * without VS Code (the browser and flows the tree and commands render), against the real
 * registry and the local store.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OmlmdClient } from '../../src/core/client';
import { MODEL_CARD_ARTIFACT_TYPE, MODELCAR_ARTIFACT_TYPE } from '../../src/core/lineage';
import { referenceString, RegistryBrowser, type BrowserNode, type RegistryEntry } from '../../src/extension/model/browser';
import { ATTACH_TYPE_CHOICES, proposedModelCarTarget, runAttach, runBuildModelCar, type LineageUi } from '../../src/extension/model/lineageFlow';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { tempDir } from '../helpers/tmp';

function scripted(answers: { files?: string[]; type?: string; other?: string; image?: (proposed: string) => string | undefined; base?: string | null }, seen: Record<string, unknown>): LineageUi {
  return {
    pickFiles: async () => answers.files,
    pickArtifactType: async (choices) => {
      seen.choices = choices.map((c) => c.label);
      return choices.find((c) => c.label === answers.type);
    },
    askArtifactType: async () => answers.other,
    pickImageTarget: async (proposed) => {
      seen.proposed = proposed;
      return answers.image ? answers.image(proposed) : proposed;
    },
    pickBase: async () => answers.base,
    withProgress: async (_title, run) => {
      const events: string[] = [];
      seen.events = events;
      return run((e) => events.push(e.type), new AbortController().signal);
    },
  };
}

describe('extension: referrers in the tree, Attach File…, Build ModelCar Image…', () => {
  let reg: RunningRegistry;
  let work: string;
  let client: OmlmdClient;
  let browser: RegistryBrowser;
  let registries: RegistryEntry[];

  before(async () => {
    reg = await startRegistry();
    work = tempDir('omlmd-ext-lineage-');
    client = new OmlmdClient({ home: join(work, 'home') });
    registries = [{ host: reg.host }];
    browser = new RegistryBrowser(() => client, () => registries);
    writeFileSync(join(work, 'model.onnx'), randomBytes(4000));
    writeFileSync(join(work, 'card.md'), '# card');
    writeFileSync(join(work, 'report.json'), '{"f1": 0.9}');
    await client.push(`${reg.host}/ext/model:v1`, { paths: [join(work, 'model.onnx')], metadata: { name: 'ext model', model_format_name: 'onnx' } });
  });
  after(async () => {
    await reg?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const path = async (...labels: string[]): Promise<BrowserNode> => {
    let nodes = await browser.children();
    let node: BrowserNode | undefined;
    for (const l of labels) {
      node = nodes.find((n) => ('host' in n && n.host === l) || ('repository' in n && n.kind === 'repository' && n.repository === l) || ('tag' in n && n.kind === 'tag' && n.tag === l) || ('label' in n && n.label === l));
      assert.ok(node, `no node ${l} among ${nodes.map((n) => n.id).join(', ')}`);
      nodes = await browser.children(node);
    }
    return node!;
  };

  test('Attach File… on the artifact: scripted picks, then the attachment shows under the artifact', async () => {
    const artifact = await path(reg.host, 'ext/model', 'v1', 'ext model');
    assert.equal(artifact.kind, 'artifact');
    const seen: Record<string, unknown> = {};
    const out = await runAttach(client, referenceString(artifact)!, scripted({ files: [join(work, 'card.md')], type: 'Model card' }, seen));
    assert.ok(out);
    assert.deepEqual(seen.choices, ATTACH_TYPE_CHOICES.map((c) => c.label));
    assert.equal(out.source, 'tag-schema');
    const other = await runAttach(client, referenceString(artifact)!, scripted({ files: [join(work, 'report.json')], type: 'Other…', other: 'application/vnd.test.report' }, {}));
    assert.ok(other);
    // Cancelling at any step does nothing.
    assert.equal(await runAttach(client, referenceString(artifact)!, scripted({ files: [join(work, 'card.md')] }, {})), undefined);

    const kids = await browser.children(artifact);
    const refs = kids.filter((k): k is Extract<BrowserNode, { kind: 'referrer' }> => k.kind === 'referrer');
    assert.deepEqual(refs.map((r) => [r.label, r.digest]).sort(), [['Model card', out.digest], ['application/vnd.test.report', other.digest]].sort());
    const card = refs.find((r) => r.artifactType === MODEL_CARD_ARTIFACT_TYPE)!;
    assert.equal(referenceString(card), `${reg.host}/ext/model@${out.digest}`);
    const cardKids = await browser.children(card);
    assert.deepEqual(cardKids.filter((k) => k.kind === 'file').map((k) => (k as { path: string }).path), ['card.md']);
  });

  test('Build ModelCar Image…: proposed next to the model; the image appears under the model, its own referrers under it', async () => {
    const artifact = await path(reg.host, 'ext/model', 'v1', 'ext model');
    const seen: Record<string, unknown> = {};
    const out = await runBuildModelCar(client, referenceString(artifact)!, scripted({ base: null }, seen));
    assert.ok(out);
    assert.equal(seen.proposed, `${reg.host}/ext/model:v1-modelcar`);
    assert.equal(out.sameRepository, true);
    assert.ok((seen.events as string[]).includes('done'), 'progress reached the UI');
    assert.equal(proposedModelCarTarget('mnist@sha256:' + 'a'.repeat(64)), 'mnist:sha256-aaaaaaaaaaaa-modelcar');

    // An SBOM attached to the image: a tree two levels deep.
    const sbom = join(work, 'image.spdx.json');
    writeFileSync(sbom, '{"spdxVersion":"SPDX-2.3"}');
    await runAttach(client, `${reg.host}/ext/model@${out.digest}`, scripted({ files: [sbom], type: 'SBOM (SPDX)' }, {}));

    const kids = await browser.children(artifact);
    const image = kids.find((k) => k.kind === 'referrer' && k.artifactType === MODELCAR_ARTIFACT_TYPE) as Extract<BrowserNode, { kind: 'referrer' }>;
    assert.ok(image, 'the ModelCar image is under the model');
    assert.equal(image.label, 'ModelCar image');
    const imageKids = await browser.children(image);
    assert.ok(imageKids.some((k) => k.kind === 'message' && /2 layers/.test(k.text)), 'an image\'s tar layers are summed up, not listed as files');
    assert.deepEqual(imageKids.filter((k) => k.kind === 'referrer').map((k) => (k as { label: string }).label), ['SBOM (SPDX)']);
  });

  test('the referrers tag (sha256-…) is not listed among the tags; the local store shows referrers the same way', async () => {
    const repo = await path(reg.host, 'ext/model');
    const tags = (await browser.children(repo)).map((n) => (n as { tag?: string }).tag);
    assert.deepEqual(tags, ['v1-modelcar', 'v1']);
    assert.ok((await client.tags(`${reg.host}/ext/model`)).some((t) => t.startsWith('sha256-')), 'the premise: the registry has the tag');

    await client.push('ext/local:v1', { paths: [join(work, 'model.onnx')], metadata: { name: 'local model' } });
    const local = (await browser.children()).find((r) => r.kind === 'localStore')!;
    const repoNode = (await browser.children(local)).find((n) => n.kind === 'repository' && n.repository === 'ext/local')!;
    const tagNode = (await browser.children(repoNode)).find((n) => n.kind === 'tag' && n.tag === 'v1')!;
    const artifact = (await browser.children(tagNode))[0]!;
    assert.equal(artifact.kind, 'artifact');
    await runAttach(client, referenceString(artifact)!, scripted({ files: [join(work, 'card.md')], type: 'Attachment' }, {}));
    const kids = await browser.children(artifact);
    assert.deepEqual(kids.filter((k) => k.kind === 'referrer').map((k) => (k as { label: string }).label), ['Attachment']);
  });
});
