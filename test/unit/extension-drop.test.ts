import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { dropTarget, pathsFromUriList } from '../../src/extension/model/drop';

test('a drop onto a repository, a tag, a registry or the Local store proposes that target; elsewhere nothing', () => {
  const store = { kind: 'registry', host: 'localhost:5000' } as const;
  assert.deepEqual(dropTarget({ kind: 'repository', id: 'r', store, repository: 'models/iris' }), { store, repository: 'models/iris' });
  assert.deepEqual(dropTarget({ kind: 'tag', id: 't', store, repository: 'models/iris', tag: 'v1' }), { store, repository: 'models/iris' });
  assert.deepEqual(dropTarget({ kind: 'registry', id: 'g', host: 'localhost:5000' }), { store });
  assert.deepEqual(dropTarget({ kind: 'localStore', id: 'local' }), { store: { kind: 'local' } });
  assert.equal(dropTarget({ kind: 'field', id: 'f', key: 'k', value: 'v' }), undefined);
  assert.equal(dropTarget(undefined), undefined, 'empty space of the view');
});

test('a uri-list gives its local files: comments, blank lines, other schemes and repeats left out; spaces and non-ASCII decoded', () => {
  const a = '/work/sample/model.onnx';
  const b = '/work/my models/Modèle 1.joblib';
  const list = ['# dragged from the explorer', pathToFileURL(a).href, '', pathToFileURL(b).href, 'untitled:Untitled-1', 'https://example.com/x.onnx', 'not a uri', pathToFileURL(a).href].join('\r\n');
  assert.deepEqual(pathsFromUriList(list), [a, b]);
  assert.deepEqual(pathsFromUriList(''), []);
});
