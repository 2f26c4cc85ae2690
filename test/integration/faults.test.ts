import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { OmlmdClient } from '../../src/core/client';
import { OmlmdError } from '../../src/core/errors';
import { sha256 } from '../../src/core/oci/digest';
import { MediaType } from '../../src/core/oci/mediatypes';
import type { Repository } from '../../src/core/oci/store';
import { runCli } from '../helpers/cli';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { tempDir } from '../helpers/tmp';

/**
 * A front for the real registry that flips one byte of one blob: fault injection, the only
 * place a fake is allowed.
 */
function corruptingProxy(upstream: string, digest: string): Promise<{ host: string; server: Server }> {
  const server = createServer((req, res) => {
    const [h, p] = upstream.split(':');
    const up = httpRequest({ host: h, port: Number(p), method: req.method, path: req.url, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      let flipped = false;
      ur.on('data', (chunk: Buffer) => {
        if (!flipped && req.method === 'GET' && req.url?.includes(`/blobs/${digest}`)) {
          chunk = Buffer.from(chunk);
          chunk[0] = chunk[0]! ^ 0xff;
          flipped = true;
        }
        res.write(chunk);
      });
      ur.on('end', () => res.end());
    });
    req.pipe(up);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    resolve({ host: `127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`, server });
  }));
}

async function putRawManifest(repo: Repository, layers: { title?: string; bytes: Buffer }[], tag: string): Promise<string> {
  const cfg = Buffer.from('{"name": "hostile"}');
  await repo.putBlob({ open: () => Readable.from([cfg]), size: cfg.length, digest: sha256(cfg) });
  const descs = [];
  for (const l of layers) {
    await repo.putBlob({ open: () => Readable.from([l.bytes]), size: l.bytes.length, digest: sha256(l.bytes) });
    descs.push({ mediaType: 'application/x-mlmodel', digest: sha256(l.bytes), size: l.bytes.length, ...(l.title === undefined ? {} : { annotations: { 'org.opencontainers.image.title': l.title } }) });
  }
  const m = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: 'application/x-config', digest: sha256(cfg), size: cfg.length }, layers: descs }));
  return (await repo.putManifest(m, MediaType.ociManifest, tag)).digest;
}

describe('hostile and broken input', () => {
  let reg: RunningRegistry;
  let work: string;
  let client: OmlmdClient;
  const model = randomBytes(2 * 1024 * 1024);

  before(async () => {
    reg = await startRegistry();
    work = tempDir('omlmd-faults-');
    client = new OmlmdClient({ home: join(work, 'home') });
    writeFileSync(join(work, 'model.bin'), model);
    await client.push(`${reg.host}/m/model:v1`, { paths: [join(work, 'model.bin')], metadata: { name: 'm' } });
  });
  after(async () => reg?.stop());

  test('a corrupted blob is refused: exit 5, nothing at the final path, no partial file', async () => {
    const { proxy, digest } = await (async () => {
      const digest = sha256(model);
      return { proxy: await corruptingProxy(reg.host, digest), digest };
    })();
    try {
      const out = join(work, 'corrupt');
      const r = await runCli(['pull', `${proxy.host}/m/model:v1`, '-o', out], { env: { OMLMD_HOME: join(work, 'home') } });
      assert.equal(r.code, 5, r.stderr);
      assert.match(r.stderr, new RegExp(`does not match its digest \\(expected ${digest}`));
      assert.ok(!existsSync(join(out, 'model.bin')));
      assert.deepEqual(readdirSync(out).filter((f) => f.includes('partial')), []);
    } finally {
      proxy.server.close();
    }
  });

  test('titles that climb out of the output directory are refused before anything is written', async () => {
    const repo = await client.repository(`${reg.host}/m/hostile`);
    for (const title of ['../evil.txt', '/tmp/evil.txt', 'a/../../evil.txt']) {
      await putRawManifest(repo, [{ title: 'fine.txt', bytes: Buffer.from('fine') }, { title, bytes: Buffer.from('evil') }], 'evil');
      const out = join(work, 'hostile', 'out');
      const r = await runCli(['pull', `${reg.host}/m/hostile:evil`, '-o', out], { env: { OMLMD_HOME: join(work, 'home') } });
      assert.equal(r.code, 5, r.stderr);
      assert.match(r.stderr, /refusing layer title/);
      assert.ok(!existsSync(join(work, 'hostile', 'evil.txt')));
      assert.ok(!existsSync(join(out, 'fine.txt')), 'nothing is written when a title is unsafe');
    }
  });

  test('layers without a title (other tools) are named after their digest', async () => {
    const repo = await client.repository(`${reg.host}/m/untitled`);
    const bytes = Buffer.from('no title here');
    await putRawManifest(repo, [{ bytes }], 'v1');
    const out = join(work, 'untitled');
    const res = await client.pull(`${reg.host}/m/untitled:v1`, out);
    assert.deepEqual(res.files.map((f) => f.title), [sha256(bytes).replace(':', '-')]);
  });

  test('an image index resolves to its model manifest; an ambiguous one lists the choices', async () => {
    const repo = await client.repository(`${reg.host}/m/model`);
    const child = await repo.resolve('v1');
    const one = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [child] }));
    await repo.putManifest(one, MediaType.ociIndex, 'index');
    const out = join(work, 'index');
    const res = await client.pull(`${reg.host}/m/model:index`, out);
    assert.equal(res.descriptor.digest, child.digest);
    assert.ok(existsSync(join(out, 'model.bin')));

    const otherDigest = await putRawManifest(repo, [{ title: 'x', bytes: Buffer.from('x') }], 'other');
    const other = await repo.resolve(otherDigest);
    const two = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [{ ...child, annotations: {} }, other] }));
    await repo.putManifest(two, MediaType.ociIndex, 'two');
    await assert.rejects(client.pull(`${reg.host}/m/model:two`, join(work, 'two')), (e: unknown) => OmlmdError.is(e, 'AMBIGUOUS') && e.message.includes(child.digest) && e.message.includes(otherDigest));
  });

  test('cancelling a pull leaves nothing behind', async () => {
    const out = join(work, 'cancel');
    const ac = new AbortController();
    await assert.rejects(
      client.pull(`${reg.host}/m/model:v1`, out, { signal: ac.signal, include: ['model.bin'], onProgress: (e) => { if (e.type === 'bytes') ac.abort(); } }),
      (e: unknown) => OmlmdError.is(e, 'CANCELLED'),
    );
    assert.deepEqual(readdirSync(out), []);
  });
});
