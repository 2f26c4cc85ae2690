/** The served-root rule (src/core/model/served.ts): which folder of an artifact is /models's root. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { viewArtifact } from '../../src/core/model/artifact';
import { commonFolder, servedPath, servedRoot, SERVED_ROOT_ANNOTATION } from '../../src/core/model/served';
import type { ImageManifest } from '../../src/core/oci/types';

const D = `sha256:${'a'.repeat(64)}`;
const manifest = (titles: string[], extra: Partial<ImageManifest> = {}): ImageManifest => ({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  artifactType: 'application/vnd.omlmd.model.v1+json',
  config: { mediaType: 'application/x-config', digest: D, size: 2 },
  layers: titles.map((t) => ({ mediaType: 'application/x-mlmodel', digest: D, size: 1, annotations: { 'org.opencontainers.image.title': t } })),
  ...extra,
});
const rootOf = (m: ImageManifest): string | undefined => servedRoot(m, viewArtifact(m).files.filter((f) => f.role === 'model'));

test('commonFolder: one top folder, else none', () => {
  assert.equal(commonFolder(['m/a', 'm/b/c', './m/d']), 'm');
  assert.equal(commonFolder(['m/a', 'n/b']), undefined);
  assert.equal(commonFolder(['m/a', 'top.bin']), undefined);
  assert.equal(commonFolder([]), undefined);
});

test('servedRoot: the named folder, else the single top folder of an omlmd artifact; none for peers or loose files', () => {
  assert.equal(rootOf(manifest(['my-model/config.json', 'my-model/w/x.bin'])), 'my-model', 'old way: the single top folder');
  assert.equal(rootOf(manifest(['my-model/config.json'], { annotations: { [SERVED_ROOT_ANNOTATION]: 'my-model' } })), 'my-model');
  assert.equal(rootOf(manifest(['a/x', 'b/y'], { annotations: { [SERVED_ROOT_ANNOTATION]: 'a' } })), 'a', 'named: b/y keeps its path');
  assert.equal(rootOf(manifest(['a/x'], { annotations: { [SERVED_ROOT_ANNOTATION]: '../etc' } })), undefined, 'a name that is not one folder is ignored');
  assert.equal(rootOf(manifest(['a/x'], { annotations: { [SERVED_ROOT_ANNOTATION]: 'zzz' } })), undefined, 'a name no file sits under is ignored');
  assert.equal(rootOf(manifest(['model.onnx', 'labels.txt'])), undefined);
  assert.equal(rootOf(manifest(['weights/a.bin'], { artifactType: 'application/vnd.cncf.model.manifest.v1+json', config: { mediaType: 'application/vnd.cncf.model.config.v1+json', digest: D, size: 2 } })), undefined, 'a peer\'s ModelPack is served as written');
  assert.equal(servedPath('my-model/tokenizer/t.json', 'my-model'), 'tokenizer/t.json');
  assert.equal(servedPath('other/x', 'my-model'), 'other/x');
  assert.equal(servedPath('x', undefined), 'x');
});
