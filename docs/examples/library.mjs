// The omlmd library in one file: push a model with progress and cancel, pull it back, find
// it with a query. From a checkout, after `node esbuild.mjs` (docs/library.md):
//
//   node docs/examples/library.mjs [REGISTRY]      # default localhost:5000
//
// It pushes REGISTRY/examples/mnist:v1. test/integration/library.test.ts runs this file.
/* global AbortController */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCredentialsProvider, crawlToIndex, MemoryIndex, OmlmdClient, OmlmdError, query } from 'omlmd';

const registry = process.argv[2] ?? 'localhost:5000';
const target = `${registry}/examples/mnist:v1`;
const work = await mkdtemp(join(tmpdir(), 'omlmd-example-'));

/** A progress callback that tallies what a transfer reports. */
function tally() {
  const t = { files: 0, total: 0, moved: 0, resumed: 0, skipped: 0 };
  const onProgress = (e) => {
    if (e.type === 'plan') [t.files, t.total] = [e.items.length, e.totalBytes];
    else if (e.type === 'bytes') t.moved += e.bytes;
    else if (e.type === 'resumed') t.resumed += e.bytes;
    else if (e.type === 'skipped') t.skipped += e.size;
  };
  return { t, onProgress };
}

const sha256 = (bytes) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

try {
  // Loopback registries are plain HTTP; elsewhere TLS. Credentials come from the usual chain:
  // OMLMD_REGISTRY_* variables, `omlmd login`, Docker's config and helpers.
  const client = new OmlmdClient({ home: join(work, 'home'), credentials: createCredentialsProvider() });

  const model = randomBytes(4 * 1024 * 1024);
  await writeFile(join(work, 'mnist.onnx'), model);
  const input = {
    paths: ['mnist.onnx'],
    cwd: work,
    metadata: { name: 'mnist', description: 'A digit classifier', author: 'omlmd example', model_format_name: 'onnx', model_format_version: '1', customProperties: { accuracy: 0.97 } },
  };

  // 1. Cancel: abort as soon as the first bytes move. The push ends with a CANCELLED error.
  const ac = new AbortController();
  try {
    await client.push(target, input, { signal: ac.signal, onProgress: (e) => e.type === 'bytes' && ac.abort() });
    console.log('cancel: the push finished before it could be cancelled');
  } catch (e) {
    if (!OmlmdError.is(e, 'CANCELLED')) throw e;
    console.log(`cancel: ${e.code}`);
  }

  // 2. Push again, to the end, with progress.
  const push = tally();
  const pushed = await client.push(target, input, { onProgress: push.onProgress });
  console.log(`push: ${pushed.reference} (${push.t.files} file, ${push.t.total} bytes: ${push.t.moved} sent, ${push.t.resumed} resumed, ${push.t.skipped} already there)`);

  // 3. Pull it into a folder: every file is checked against its digest as it is written.
  const out = join(work, 'out');
  const pull = tally();
  const pulled = await client.pull(target, out, { onProgress: pull.onProgress });
  const same = sha256(await readFile(join(out, 'mnist.onnx'))) === sha256(model);
  console.log(`pull: ${pulled.files.map((f) => f.title).sort().join(', ')} (mnist.onnx ${same ? 'identical' : 'DIFFERENT'})`);

  // 4. Find it: crawl the repository into an index (in memory here; openWritableIndex(path)
  //    gives a SQLite file, openWritableIndex('postgres://...') PostgreSQL), then query it.
  const index = new MemoryIndex();
  const report = await crawlToIndex(client, index, [`${registry}/examples/mnist`]);
  const found = await query(index, '$[?@.customProperties.accuracy > 0.9]', { sort: 'name' });
  console.log(`query: ${report.indexed} indexed, ${found.items.length} found: ${found.items.map((d) => `${d.reference} ${d.name}`).join('; ')}`);
  await index.close();
} catch (e) {
  // Errors are data: a code, the whole message, and what the user can do (typed remedies).
  if (!(e instanceof OmlmdError)) throw e;
  console.error(`error ${e.code}: ${e.message}`);
  for (const r of e.remedies) console.error(`  remedy: ${JSON.stringify(r)}`);
  process.exitCode = 1;
} finally {
  await rm(work, { recursive: true, force: true });
}
