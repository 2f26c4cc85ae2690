import assert from 'node:assert/strict';
import { test } from 'node:test';
import { metricsFromOutputs, savedPaths, scanNotebook, type ScanCell } from '../../src/extension/model/notebookScan';

test('save calls in cell sources give the model paths', () => {
  const src = [
    'import joblib, torch, onnx',
    "joblib.dump(model, 'model.joblib')",
    'torch.save(net.state_dict(), "weights.pt")',
    "onnx.save(onx, 'out/model.onnx')",
    'model.save("keras_model.keras")',
    "tok.save_pretrained('hf_model')",
    'path = "vars.pkl"',
    'pickle.dump(clf, open(path, "wb"))',
    'with open("raw.onnx", "wb") as f:\n    f.write(onx.SerializeToString())',
    "df.to_csv('data.csv')",
    "print('not a model.onnx')",
  ].join('\n');
  const paths = savedPaths(src).map((p) => p.path);
  assert.deepEqual(paths.sort(), ['hf_model', 'keras_model.keras', 'model.joblib', 'out/model.onnx', 'raw.onnx', 'vars.pkl', 'weights.pt'].sort());
});

test('metrics printed in outputs become customProperties; unrelated numbers do not', () => {
  assert.deepEqual(metricsFromOutputs(['accuracy: 0.97\nEpoch 3\nval_loss = 0.12\n', "{'f1': 0.91, 'n': 3}", 'Accuracy: 0.98\nrows: 150']), { accuracy: 0.98, val_loss: 0.12, f1: 0.91 });
});

test('a notebook scan: candidates, name, framework, format, metrics', () => {
  const cells: ScanCell[] = [
    { kind: 'markup', source: '# Iris classifier\nTrains a model.', outputs: [] },
    { kind: 'code', source: 'from sklearn.linear_model import LogisticRegression\nimport joblib', outputs: [] },
    { kind: 'code', source: "joblib.dump(model, 'model.joblib')\nprint(f'accuracy: {acc}')", outputs: ['accuracy: 0.97\n'] },
  ];
  const r = scanNotebook(cells, '/w/nb/train.ipynb', [
    { path: '/w/nb/model.joblib', mtimeMs: 10 },
    { path: '/w/nb/old.onnx', mtimeMs: 5 },
    { path: '/w/nb/notes.txt', mtimeMs: 20 },
  ]);
  assert.equal(r.name, 'Iris classifier');
  assert.equal(r.framework, 'sklearn');
  assert.equal(r.modelFormatName, 'sklearn');
  assert.deepEqual(r.metrics, { accuracy: 0.97 });
  assert.deepEqual(r.candidates.map((c) => [c.path, c.exists]), [['/w/nb/model.joblib', true], ['/w/nb/old.onnx', true]]);
  assert.match(r.candidates[0]!.reason, /joblib.dump/);

  // With run times known, only files changed since the run are offered besides the written ones.
  const ran = scanNotebook(cells.map((c) => ({ ...c, lastRunStart: 8 })), '/w/nb/train.ipynb', [{ path: '/w/nb/old.onnx', mtimeMs: 5 }, { path: '/w/nb/new.pt', mtimeMs: 9 }]);
  assert.deepEqual(ran.candidates.map((c) => c.path), ['/w/nb/new.pt', '/w/nb/model.joblib']);
  assert.equal(ran.candidates[1]!.exists, false);
});

test('a symbolic link next to the notebook is offered as one, never pre-selected, and does not set the format', () => {
  const cells: ScanCell[] = [{ kind: 'code', source: "torch.save(model, 'model.pt')", outputs: [] }];
  const r = scanNotebook(cells, '/w/nb/train.ipynb', [
    { path: '/w/nb/model.pt', mtimeMs: 10, isSymbolicLink: true },
    { path: '/w/nb/other.onnx', mtimeMs: 10 },
  ]);
  const link = r.candidates.find((c) => c.path === '/w/nb/model.pt')!;
  assert.equal(link.link, true);
  assert.match(link.reason, /torch\.save.*a symbolic link/);
  assert.equal(r.candidates.find((c) => c.path === '/w/nb/other.onnx')!.link, undefined);
  assert.equal(r.modelFormatName, 'onnx', 'the format comes from the first file that is no link');
});

test('metadata rows: unset fields left out, one row per custom property', async () => {
  const { metadataFields } = await import('../../src/extension/model/browser');
  const rows = metadataFields('m', { name: 'x', uri: null, description: undefined, customProperties: { accuracy: 0.97, tags: ['a'] }, model_format_version: '1' });
  assert.deepEqual(rows.map((r) => [(r as { key: string }).key, (r as { value: string }).value]), [['name', 'x'], ['customProperties.accuracy', '0.97'], ['customProperties.tags', '["a"]'], ['model_format_version', '1']]);
});
