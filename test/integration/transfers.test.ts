import assert from 'node:assert/strict';
import { ProgressTally } from '../../src/core/transfer/tally';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { globalAgent as httpGlobalAgent } from 'node:http';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { OmlmdClient } from '../../src/core/client';
import { OmlmdError } from '../../src/core/errors';
import { metadataToJson, validateMetadata } from '../../src/core/model/metadata';
import { sha256 } from '../../src/core/oci/digest';
import type { ProgressEvent } from '../../src/core/transfer/progress';
import { partialPaths } from '../../src/core/transfer/download';
import { CLI, runCli } from '../helpers/cli';
import { startFaultProxy, type FaultProxy } from '../helpers/faultproxy';
import { startRegistry, type RunningRegistry } from '../helpers/registry';
import { tempDir } from '../helpers/tmp';

const MiB = 1024 * 1024;
const MAXRSS = join(__dirname, '..', 'helpers', 'maxrss.cjs');

/** What a transfer reported, read by the same tally the CLI bars and the extension use. */
function tally(events: ProgressEvent[]): { bytes: number; resumed: number; skipped: string[] } {
  const t = new ProgressTally();
  for (const e of events) t.add(e);
  const skipped = [...t.items.values()].filter((it) => it.skipped !== undefined).map((it) => `${it.title}:${it.skipped}`);
  return { bytes: t.moved, resumed: t.resumed, skipped };
}

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The CLI as a child we can kill. */
function startCli(args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, OMLMD_NO_PROGRESS: '1', ...env }, stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited };
}

/** Blob GETs of one digest seen by the proxy: requests and response bytes. */
function blobGets(proxy: FaultProxy, digest: string): { count: number; bytes: number; ranges: string[] } {
  const gets = proxy.seen.filter((s) => s.method === 'GET' && s.path.endsWith(`/blobs/${digest}`));
  return { count: gets.length, bytes: gets.reduce((n, s) => n + s.responseBytes, 0), ranges: gets.map((s) => String(s.headers.range ?? '')) };
}

function held(statePath: string): number {
  try {
    const doc = JSON.parse(readFileSync(statePath, 'utf8')) as { done: [number, number][] };
    return doc.done.reduce((n, [a, b]) => n + (b - a), 0);
  } catch {
    return 0;
  }
}

describe('transfers at model scale, against the real registry (faults injected by a proxy)', () => {
  let reg: RunningRegistry;
  let proxy: FaultProxy;
  let work: string;
  let client: OmlmdClient;
  const big = randomBytes(24 * MiB + 12345);
  const bigDigest = sha256(big);

  before(async () => {
    reg = await startRegistry();
    proxy = await startFaultProxy(reg.host);
    work = tempDir('omlmd-transfers-');
    client = new OmlmdClient({ home: join(work, 'home') });
    writeFileSync(join(work, 'big.bin'), big);
    await new OmlmdClient({ home: join(work, 'seed-home') }).push(`${reg.host}/xfer/big:v1`, { paths: [join(work, 'big.bin')], metadata: { name: 'big' } });
  });
  afterEach(() => proxy.clear());
  after(async () => {
    await proxy?.close();
    await reg?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('a large blob is pulled in parallel ranged parts and is byte-identical', async () => {
    const out = join(work, 'parallel');
    const res = await client.pull(`${proxy.host}/xfer/big:v1`, out, { download: 'parallel', partSize: MiB, concurrency: 4 });
    assert.ok(readFileSync(join(out, 'big.bin')).equals(big));
    assert.equal(res.files.find((f) => f.title === 'big.bin')?.digest, bigDigest);
    const gets = blobGets(proxy, bigDigest);
    assert.equal(gets.count, 25, 'one request per part');
    // The last part reads to the end: `bytes=START-`.
    const parts = gets.ranges.map((r) => /^bytes=(\d+)-(\d*)$/.exec(r)).map((m) => [Number(m?.[1]), m?.[2] ? Number(m[2]) + 1 : big.length] as const).sort((a, b) => a[0] - b[0]);
    let at = 0;
    for (const [a, b] of parts) {
      assert.equal(a, at, 'parts are contiguous, none overlaps');
      at = b;
    }
    assert.equal(at, big.length, 'the parts cover the blob');
    assert.equal(gets.bytes, big.length, 'every byte crossed the wire once');
    assert.ok((proxy.maxInFlight.GET ?? 0) >= 2, `parts were fetched at the same time (at most ${proxy.maxInFlight.GET} at once)`);
    assert.deepEqual(readdirSync(out).filter((f) => f.startsWith('.')), [], 'no partial or state file is left');
  });

  test('plain HTTP goes through Node\'s http client, and a large blob\'s body is read by the kernel into the segments: after a redirect to another origin too; with a proxy set all goes through undici, and with nodeHttpClient false all but the large blob', async () => {
    // undici and Node's http client announce every request they make on these channels; the direct GETs are neither's.
    const viaUndici: string[] = [];
    const viaNodeHttp: string[] = [];
    const seen = (m: unknown): void => {
      const r = (m as { request: { method: string; path: string } }).request;
      viaUndici.push(`${r.method} ${r.path}`);
    };
    // The fault-injecting proxy forwards with Node's http client too, in this process (keeping
    // the Host header), through Node's global agent: the client's requests are those of its own.
    const seenNode = (m: unknown): void => {
      const r = (m as { request: { method: string; path: string; agent?: unknown } }).request;
      if (r.agent !== httpGlobalAgent) viaNodeHttp.push(`${r.method} ${r.path}`);
    };
    subscribe('undici:request:create', seen);
    subscribe('http.client.request.start', seenNode);
    try {
      const out = join(work, 'direct-socket');
      // The registry's front sends the blob elsewhere (as registries send blobs to a store): the other origin gets no authorization.
      proxy.add({ method: 'GET', path: new RegExp(`/blobs/${bigDigest}$`), fault: { kind: 'status', status: 307, headers: { location: `http://${reg.host}/v2/xfer/big/blobs/${bigDigest}` } } });
      await client.pull(`${proxy.host}/xfer/big:v1`, out, { download: 'stream' });
      assert.ok(readFileSync(join(out, 'big.bin')).equals(big));
      assert.equal(blobGets(proxy, bigDigest).count, 1, 'the front answered the GET with its redirect');
      assert.ok(viaNodeHttp.some((r) => r.startsWith('GET /v2/xfer/big/manifests/')), 'the manifest came through Node\'s http client');
      assert.equal(viaUndici.length, 0, `through undici: ${viaUndici.join(', ')}`);
      assert.deepEqual(viaNodeHttp.filter((r) => r.includes(bigDigest)), [], 'the large blob came on its own socket');

      viaUndici.length = 0;
      viaNodeHttp.length = 0;
      const proxied = new OmlmdClient({ home: join(work, 'home-proxied'), proxy: { httpProxy: `http://${proxy.host}`, noProxy: '' } });
      const out2 = join(work, 'direct-proxied');
      await proxied.pull(`${reg.host}/xfer/big:v1`, out2, { download: 'stream' });
      assert.ok(readFileSync(join(out2, 'big.bin')).equals(big));
      assert.ok(viaUndici.some((r) => r.includes(bigDigest)), 'through a proxy the blob goes the dispatcher\'s way');
      assert.ok(viaUndici.some((r) => r.includes('/manifests/')), 'and so does the manifest');

      // As the extension's: Node's http client unused (VS Code patches it), the large blob still on its own socket.
      viaUndici.length = 0;
      viaNodeHttp.length = 0;
      const extensionLike = new OmlmdClient({ home: join(work, 'home-undici'), nodeHttpClient: false });
      const out3 = join(work, 'direct-undici');
      await extensionLike.pull(`${proxy.host}/xfer/big:v1`, out3, { download: 'stream' });
      assert.ok(readFileSync(join(out3, 'big.bin')).equals(big));
      assert.deepEqual(viaNodeHttp, [], 'nothing through Node\'s http client');
      assert.ok(viaUndici.some((r) => r.includes('/manifests/')), 'the manifest came through undici');
      assert.deepEqual(viaUndici.filter((r) => r.includes(bigDigest)), [], 'the large blob came on its own socket');
      rmSync(out, { recursive: true, force: true });
      rmSync(out2, { recursive: true, force: true });
      rmSync(out3, { recursive: true, force: true });
    } finally {
      unsubscribe('undici:request:create', seen);
      unsubscribe('http.client.request.start', seenNode);
    }
  });

  test('a large blob is written around the page cache (direct I/O), and through it with OMLMD_DIRECT_IO=0', async () => {
    // fincore (util-linux) counts the pages of a file the page cache holds.
    const cached = (file: string): number => {
      const out = execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', file], { encoding: 'utf8' });
      return Number(out.trim());
    };
    const direct = join(work, 'direct');
    await client.pull(`${reg.host}/xfer/big:v1`, direct, { download: 'parallel', partSize: 4 * MiB, concurrency: 3 });
    // Only the tail, which does not fill a 4 KiB block, went through the cache.
    const viaDirect = cached(join(direct, 'big.bin'));
    assert.ok(viaDirect <= 64 * 1024, `written around the page cache, almost nothing of it is cached (${viaDirect} bytes)`);
    assert.ok(readFileSync(join(direct, 'big.bin')).equals(big), 'byte-identical');

    const buffered = join(work, 'buffered');
    const saved = process.env.OMLMD_DIRECT_IO;
    process.env.OMLMD_DIRECT_IO = '0';
    try {
      await client.pull(`${reg.host}/xfer/big:v1`, buffered, { download: 'parallel', partSize: 4 * MiB, concurrency: 3 });
    } finally {
      if (saved === undefined) delete process.env.OMLMD_DIRECT_IO;
      else process.env.OMLMD_DIRECT_IO = saved;
    }
    const viaCache = cached(join(buffered, 'big.bin'));
    assert.ok(viaCache >= big.length / 2, `written through the page cache, most of it is cached (${viaCache} bytes)`);
    assert.ok(readFileSync(join(buffered, 'big.bin')).equals(big), 'byte-identical');
  });

  test('parts at offsets that are not block-aligned go through the page cache, byte-identical', async () => {
    const out = join(work, 'odd-parts');
    // 3 MiB + 1000: every part after the first starts off a 4 KiB boundary.
    await client.pull(`${reg.host}/xfer/big:v1`, out, { download: 'parallel', partSize: 3 * MiB + 1000, concurrency: 4 });
    assert.ok(readFileSync(join(out, 'big.bin')).equals(big));
    assert.deepEqual(readdirSync(out).filter((f) => f.startsWith('.')), [], 'no partial or state file is left');
  });

  test('a registry that ignores Range: the blob comes in one stream, byte-identical, never once per part', async () => {
    proxy.add({ method: 'GET', path: new RegExp(`/blobs/${bigDigest}$`), times: Infinity, fault: { kind: 'ignore-range' } });
    const out = join(work, 'norange');
    // A client of its own: what a registry does with Range is learned per registry.
    const fresh = new OmlmdClient({ home: join(work, 'home-norange') });
    await fresh.pull(`${proxy.host}/xfer/big:v1`, out, { download: 'parallel', partSize: MiB, concurrency: 4 });
    assert.ok(readFileSync(join(out, 'big.bin')).equals(big));
    const gets = blobGets(proxy, bigDigest);
    assert.equal(gets.count, 2, `the first part showed Range is ignored; the rest came in one request (${gets.ranges.join(', ')})`);
    assert.equal((await fresh.repository(`${proxy.host}/xfer/big`)).partialReads, false);
  });

  test('the reference path (download: stream): one request, byte-identical and digest-verified; a corrupted blob is refused and nothing is left', async () => {
    const out = join(work, 'reference');
    const res = await client.pull(`${proxy.host}/xfer/big:v1`, out, { download: 'stream', partSize: MiB, concurrency: 4 });
    assert.ok(readFileSync(join(out, 'big.bin')).equals(big), 'byte-identical');
    assert.equal(res.files.find((f) => f.title === 'big.bin')?.digest, bigDigest);
    const gets = blobGets(proxy, bigDigest);
    assert.equal(gets.count, 1, `one stream, never in parts (${gets.ranges.join(', ')})`);
    assert.equal(gets.bytes, big.length);
    assert.deepEqual(readdirSync(out).filter((f) => f.startsWith('.')), [], 'no partial or state file is left');

    proxy.clear();
    // One byte flipped on the way, past the first MiB.
    proxy.add({ method: 'GET', path: new RegExp(`/blobs/${bigDigest}$`), fault: { kind: 'corrupt-response', at: MiB + 7 } });
    const bad = join(work, 'reference-corrupt');
    await assert.rejects(client.pull(`${proxy.host}/xfer/big:v1`, bad, { download: 'stream', include: ['big.bin'] }), (e: unknown) => OmlmdError.is(e, 'DIGEST_MISMATCH'));
    assert.equal(proxy.seen.filter((s) => s.fault === 'corrupt-response').length, 1, 'the corrupted answer was the one checked');
    assert.ok(!existsSync(join(bad, 'big.bin')), 'nothing under the final name');
    assert.deepEqual(readdirSync(bad), [], 'no partial or state file is kept of bytes that are wrong');
  });

  test('the reference path resumes too: after a cancel it hashes what the partial file holds and fetches only the rest', async () => {
    const out = join(work, 'reference-resume');
    const ac = new AbortController();
    let seen = 0;
    await assert.rejects(
      client.pull(`${reg.host}/xfer/big:v1`, out, {
        signal: ac.signal,
        download: 'stream',
        include: ['big.bin'],
        onProgress: (e) => {
          if (e.type === 'bytes' && (seen += e.bytes) >= 8 * MiB) ac.abort();
        },
      }),
      (e: unknown) => OmlmdError.is(e, 'CANCELLED'),
    );
    const paths = partialPaths(join(out, 'big.bin'), bigDigest);
    assert.ok(!existsSync(join(out, 'big.bin')), 'nothing under the final name');
    const kept = held(paths.state);
    assert.ok(kept >= 8 * MiB && kept < big.length, `the state lists what was written (${kept} bytes)`);

    const events: ProgressEvent[] = [];
    await client.pull(`${proxy.host}/xfer/big:v1`, out, { download: 'stream', include: ['big.bin'], onProgress: (e) => events.push(e) });
    assert.ok(readFileSync(join(out, 'big.bin')).equals(big), 'byte-identical');
    const t = tally(events);
    assert.equal(t.resumed, kept, 'the next run starts from what the state lists');
    assert.equal(t.bytes, big.length - kept, 'and moves only the rest');
    const gets = blobGets(proxy, bigDigest);
    assert.deepEqual(gets.ranges, [`bytes=${kept}-`], 'one request, from where the partial file ends');
    assert.equal(gets.bytes, big.length - kept);
    assert.deepEqual(readdirSync(out).filter((f) => f.startsWith('.')), []);
  });

  test('a cancelled pull leaves only a hidden partial file and its state; the next pull goes on from it', async () => {
    const out = join(work, 'cancel');
    const ac = new AbortController();
    let seen = 0;
    await assert.rejects(
      client.pull(`${reg.host}/xfer/big:v1`, out, {
        signal: ac.signal,
        download: 'parallel',
        partSize: 4 * MiB,
        concurrency: 2,
        include: ['big.bin'],
        onProgress: (e) => {
          if (e.type === 'bytes' && (seen += e.bytes) >= 8 * MiB) ac.abort();
        },
      }),
      (e: unknown) => OmlmdError.is(e, 'CANCELLED'),
    );
    const paths = partialPaths(join(out, 'big.bin'), bigDigest);
    assert.ok(!existsSync(join(out, 'big.bin')), 'nothing under the final name');
    assert.ok(existsSync(paths.data) && existsSync(paths.state), 'the partial file and its state are kept');
    assert.ok(!existsSync(paths.lock), 'the lock is released');
    const kept = held(paths.state);
    assert.ok(kept >= 8 * MiB && kept < big.length, `the state lists what was written (${kept} bytes)`);

    const events: ProgressEvent[] = [];
    await client.pull(`${proxy.host}/xfer/big:v1`, out, { download: 'parallel', partSize: 4 * MiB, concurrency: 2, include: ['big.bin'], onProgress: (e) => events.push(e) });
    assert.ok(readFileSync(join(out, 'big.bin')).equals(big));
    const t = tally(events);
    assert.equal(t.resumed, kept, 'the next run starts from what the state lists');
    assert.equal(t.bytes, big.length - kept, 'and moves only the rest');
    assert.equal(blobGets(proxy, bigDigest).bytes, big.length - kept, 'the registry sent only the rest');
    assert.deepEqual(readdirSync(out).filter((f) => f.startsWith('.')), []);
  });

  test('a killed pull: the next run transfers only what was left, and the file is byte-identical', async () => {
    const home = join(work, 'home-kill');
    const out = join(work, 'killed');
    const model = randomBytes(80 * MiB + 333);
    writeFileSync(join(work, 'kill.bin'), model);
    const digest = sha256(model);
    await new OmlmdClient({ home }).push(`${reg.host}/xfer/kill:v1`, { paths: [join(work, 'kill.bin')], metadata: { name: 'kill' } });
    // The download (one stream, the CLI's default) delivers 6 MiB, then the registry goes silent: the process is killed while it waits.
    proxy.add({ method: 'GET', path: new RegExp(`/blobs/${digest}$`), times: Infinity, fault: { kind: 'stall-response', after: 6 * MiB } });
    const paths = partialPaths(join(out, 'kill.bin'), digest);
    const run = startCli(['pull', `${proxy.host}/xfer/kill:v1`, '-o', out], { OMLMD_HOME: home });
    // Stalled after 6 MiB, of which all but the last write batch (≤ 1 MiB) is written; the
    // state file follows within a second.
    await waitFor('the partial state to list what the stalled stream wrote', () => held(paths.state) >= 4 * MiB || undefined);
    await new Promise((r) => setTimeout(r, 1500));
    run.child.kill('SIGKILL');
    await run.exited;
    const kept = held(paths.state);
    assert.ok(!existsSync(join(out, 'kill.bin')));
    assert.ok(existsSync(paths.lock), 'a killed process leaves its lock behind');
    proxy.clear();

    const r = await runCli(['pull', `${proxy.host}/xfer/kill:v1`, '-o', out, '--json'], { env: { OMLMD_HOME: home } });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(readFileSync(join(out, 'kill.bin')).equals(model), 'byte-identical');
    assert.equal(blobGets(proxy, digest).bytes, model.length - kept, `the second run fetched only the ${model.length - kept} bytes left, not ${model.length}`);
    assert.deepEqual(readdirSync(out).filter((f) => f.startsWith('.')), [], 'partial, state and stale lock are gone');
  });

  test('a partial file whose bytes were damaged since is detected, dropped and fetched again', async () => {
    const out = join(work, 'damaged');
    const ac = new AbortController();
    let seen = 0;
    await assert.rejects(client.pull(`${reg.host}/xfer/big:v1`, out, {
      signal: ac.signal, download: 'parallel', partSize: 4 * MiB, concurrency: 1, include: ['big.bin'],
      onProgress: (e) => {
        if (e.type === 'bytes' && (seen += e.bytes) >= 8 * MiB) ac.abort();
      },
    }));
    const paths = partialPaths(join(out, 'big.bin'), bigDigest);
    const fd = openSync(paths.data, 'r+');
    writeSync(fd, Buffer.from('not the model'), 0, 13, 1000);
    closeSync(fd);
    const events: ProgressEvent[] = [];
    await client.pull(`${reg.host}/xfer/big:v1`, out, { download: 'parallel', partSize: 4 * MiB, include: ['big.bin'], onProgress: (e) => events.push(e) });
    assert.ok(readFileSync(join(out, 'big.bin')).equals(big));
    const t = tally(events);
    assert.ok(t.resumed > 0, 'it went on from the partial first');
    assert.equal(t.bytes, big.length - t.resumed + big.length, 'then fetched the whole blob again once the digest did not match');
  });

  test('two pulls into the same place do not write one partial file: the second waits, and is refused (CONFLICT) when its wait ends first', async () => {
    const out = join(work, 'locked');
    mkdirSync(out, { recursive: true });
    const paths = partialPaths(join(out, 'big.bin'), bigDigest);
    const other = spawn('sleep', ['30']);
    try {
      writeFileSync(paths.lock, String(other.pid));
      await assert.rejects(client.pull(`${reg.host}/xfer/big:v1`, out, { include: ['big.bin'], lockWaitMs: 300 }), (e: unknown) => OmlmdError.is(e, 'CONFLICT') && e.message.includes(String(other.pid)));
    } finally {
      other.kill();
    }
    await new Promise((r) => other.once('exit', r));
    // The process that held it is gone: its lock is broken.
    await client.pull(`${reg.host}/xfer/big:v1`, out, { include: ['big.bin'] });
    assert.ok(readFileSync(join(out, 'big.bin')).equals(big));
  });

  test('pulling into a directory that already holds the model reads no blob from the registry', async () => {
    const out = join(work, 'again');
    await client.pull(`${proxy.host}/xfer/big:v1`, out);
    proxy.clear();
    const events: ProgressEvent[] = [];
    const res = await client.pull(`${proxy.host}/xfer/big:v1`, out, { onProgress: (e) => events.push(e) });
    assert.ok(res.files.every((f) => f.existed));
    assert.equal(proxy.seen.filter((s) => s.path.includes('/blobs/')).length, 0);
    assert.equal(tally(events).bytes, 0);
  });
});

describe('pushes: digest cache, mounts, resumed uploads', () => {
  let reg: RunningRegistry;
  let proxy: FaultProxy;
  let work: string;

  before(async () => {
    reg = await startRegistry();
    proxy = await startFaultProxy(reg.host);
    work = tempDir('omlmd-push-');
  });
  afterEach(() => proxy.clear());
  after(async () => {
    await proxy?.close();
    await reg?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const blobWrites = (): string[] => proxy.seen.filter((s) => s.path.includes('/blobs/uploads/')).map((s) => `${s.method}${/[?&]mount=/.test(s.path) ? '(mount)' : ''}`);
  const sentBytes = (): number => proxy.seen.filter((s) => s.path.includes('/blobs/uploads/')).reduce((n, s) => n + s.bodyBytes, 0);
  const layerDigest = async (c: OmlmdClient, ref: string, title: string): Promise<string | undefined> =>
    (await c.inspect(ref)).view.files.find((f) => f.path === title)?.descriptor.digest;

  test('re-pushing an unchanged model reads none of it and sends no blob: existence checks only', async () => {
    const home = join(work, 'home-repush');
    const c = new OmlmdClient({ home });
    const a = randomBytes(3 * MiB);
    const b = randomBytes(MiB + 7);
    writeFileSync(join(work, 'a.bin'), a);
    writeFileSync(join(work, 'b.bin'), b);
    // Written more than the racy window ago, as a model file usually is.
    await new Promise((r) => setTimeout(r, 120));
    const paths = [join(work, 'a.bin'), join(work, 'b.bin')];
    await c.push(`${proxy.host}/repush/m:v1`, { paths, metadata: { name: 'm' } });
    proxy.clear();
    const events: ProgressEvent[] = [];
    await c.push(`${proxy.host}/repush/m:v2`, { paths, metadata: { name: 'm' } }, { onProgress: (e) => events.push(e) });
    assert.deepEqual(blobWrites(), [], 'no upload of any blob');
    assert.deepEqual(tally(events).skipped.sort(), ['a.bin:exists', 'b.bin:exists']);
    assert.equal(tally(events).bytes, 0);
    const heads = proxy.seen.filter((s) => s.method === 'HEAD' && s.path.includes('/blobs/'));
    assert.equal(heads.length, 4, 'one HEAD per blob: two files, config, metadata YAML');
  });

  test('the metadata blobs go beside the model files (fault proxy): when one fails, the push fails with its error, the model upload stops and no tag is written', async () => {
    const c = new OmlmdClient({ home: join(work, 'home-metafail') });
    const big = join(work, 'metafail.bin');
    writeFileSync(big, randomBytes(64 * MiB));
    const metadata = { name: 'm', description: 'the metadata of a push that fails' };
    const config = sha256(metadataToJson(validateMetadata(metadata, 'metadata')));
    // The upload of the config blob is refused when it completes; the model file's is under way then.
    const rule = proxy.add({ method: 'PUT', path: new RegExp(`/metafail/m/blobs/uploads/.*digest=${config.replace(':', '(:|%3A)')}`), times: Infinity, fault: { kind: 'status', status: 403, body: '{"errors":[{"code":"DENIED","message":"no metadata for you"}]}' } });
    await assert.rejects(c.push(`${proxy.host}/metafail/m:v1`, { paths: [big], metadata }), (e: unknown) => {
      assert.ok(e instanceof OmlmdError, String(e));
      assert.equal(e.code, 'DENIED', e.message);
      assert.match(e.message, /no metadata for you/);
      return true;
    });
    assert.ok(rule.hits >= 1, 'the config upload was refused');
    assert.equal(proxy.seen.filter((s) => s.method === 'PUT' && s.path.includes('/manifests/')).length, 0, 'no manifest, no tag');
    assert.ok(sentBytes() < 64 * MiB, `the model file's upload stopped: ${sentBytes()} bytes sent`);
  });

  test('the digest cache notices a changed file: same size with its mtime put back, or a file replaced by another', async () => {
    const home = join(work, 'home-change');
    const c = new OmlmdClient({ home });
    const file = join(work, 'change.bin');
    writeFileSync(file, randomBytes(2 * MiB));
    await new Promise((r) => setTimeout(r, 120));
    await c.push(`${reg.host}/change/m:v1`, { paths: [file], metadata: { name: 'm' } });

    // Same size, new bytes, mtime restored (as `touch -r` or a careless tool would): ctime still moves.
    const { atime, mtime } = statSync(file);
    const second = randomBytes(2 * MiB);
    writeFileSync(file, second);
    utimesSync(file, atime, mtime);
    await c.push(`${reg.host}/change/m:v2`, { paths: [file], metadata: { name: 'm' } });
    assert.equal(await layerDigest(c, `${reg.host}/change/m:v2`, 'change.bin'), sha256(second));

    // Replaced by another file (a new inode) with other bytes of the same size.
    const third = randomBytes(2 * MiB);
    writeFileSync(`${file}.new`, third);
    renameSync(`${file}.new`, file);
    await c.push(`${reg.host}/change/m:v3`, { paths: [file], metadata: { name: 'm' } });
    assert.equal(await layerDigest(c, `${reg.host}/change/m:v3`, 'change.bin'), sha256(third));
  });

  test('pushing to another repository of the same registry mounts what the cache knows is there', async () => {
    const home = join(work, 'home-mount');
    const c = new OmlmdClient({ home });
    const data = randomBytes(2 * MiB);
    writeFileSync(join(work, 'mount.bin'), data);
    await new Promise((r) => setTimeout(r, 120));
    await c.push(`${proxy.host}/mount/one:v1`, { paths: [join(work, 'mount.bin')], metadata: { name: 'm' } });
    proxy.clear();
    const events: ProgressEvent[] = [];
    await c.push(`${proxy.host}/mount/two:v1`, { paths: [join(work, 'mount.bin')], metadata: { name: 'm' } }, { onProgress: (e) => events.push(e) });
    assert.ok(tally(events).skipped.includes('mount.bin:mounted'), tally(events).skipped.join(' '));
    assert.deepEqual(blobWrites(), ['POST(mount)', 'POST(mount)', 'POST(mount)'], 'model, config and metadata YAML mounted, none sent');
    assert.equal(sentBytes(), 0);
    assert.equal(await layerDigest(c, `${reg.host}/mount/two:v1`, 'mount.bin'), sha256(data));
    const pulled = join(work, 'mount-out');
    await c.pull(`${reg.host}/mount/two:v1`, pulled);
    assert.ok(readFileSync(join(pulled, 'mount.bin')).equals(data));
  });

  test('copy within one registry mounts every blob instead of sending it', async () => {
    const c = new OmlmdClient({ home: join(work, 'home-copy') });
    writeFileSync(join(work, 'copy.bin'), randomBytes(MiB));
    await c.push(`${reg.host}/copy/src:v1`, { paths: [join(work, 'copy.bin')], metadata: { name: 'm' } });
    const res = await new OmlmdClient({ home: join(work, 'home-copy2') }).copy(`${proxy.host}/copy/src:v1`, `${proxy.host}/copy/dst:v1`);
    assert.equal(res.mounted, 3, 'model, config and metadata YAML');
    assert.equal(res.copied, 0);
    assert.deepEqual(blobWrites(), ['POST(mount)', 'POST(mount)', 'POST(mount)']);
    assert.equal(sentBytes(), 0);
    assert.deepEqual(await c.tags(`${reg.host}/copy/dst`), ['v1']);
  });

  test('a killed push: committed blobs are not sent again, and the open upload goes on from the offset the registry holds', async () => {
    const home = join(work, 'home-resume');
    const config = join(work, 'config.yaml');
    // Chunks of 1 MiB, so that the upload has offsets to resume from.
    writeFileSync(config, `registries:\n  ${proxy.host}:\n    chunkSizeMiB: 1\n`);
    const small = randomBytes(MiB / 2);
    const large = randomBytes(6 * MiB + 99);
    writeFileSync(join(work, 'first.bin'), small);
    writeFileSync(join(work, 'second.bin'), large);
    await new Promise((r) => setTimeout(r, 120));
    const env = { OMLMD_HOME: home, OMLMD_CONFIG: config };
    // The third PATCH of the large file never reaches the registry: it holds 2 MiB when the push is killed.
    proxy.add({ method: 'PATCH', passFirst: 3, fault: { kind: 'hang' } });
    const args = ['push', `${proxy.host}/resume/m:v1`, join(work, 'first.bin'), join(work, 'second.bin'), '--name', 'm', '--concurrency', '1'];
    const run = startCli(args, env);
    const uploads = join(home, 'cache', 'uploads');
    await waitFor('the hanging PATCH', () => proxy.seen.some((s) => s.fault === 'hang') || undefined);
    await waitFor('the saved upload session', () => (existsSync(uploads) && readdirSync(uploads).length > 0) || undefined);
    run.child.kill('SIGKILL');
    await run.exited;
    assert.equal(proxy.seen.filter((s) => s.method === 'PATCH').length, 4, 'the small file\'s PATCH, two of the large file, then the one that hung');
    proxy.clear();

    const r = await runCli(args, { env });
    assert.equal(r.code, 0, r.stderr);
    const seq = blobWrites();
    assert.equal(seq.filter((s) => s === 'POST').length, 0, `no new upload session: ${seq.join(' ')}`);
    assert.ok(seq[0] === 'GET', `it asked the registry where the upload stands: ${seq.join(' ')}`);
    assert.equal(proxy.seen.filter((s) => s.method === 'PATCH').reduce((n, s) => n + s.bodyBytes, 0), large.length - 2 * MiB, 'only what the registry did not hold was sent');
    assert.ok(!proxy.seen.some((s) => s.method === 'PATCH' && s.bodyBytes === small.length), 'the committed small file was not sent again');
    const out = join(work, 'resume-out');
    const c = new OmlmdClient({ home: join(work, 'home-resume-check') });
    await c.pull(`${reg.host}/resume/m:v1`, out);
    assert.ok(readFileSync(join(out, 'second.bin')).equals(large));
    assert.ok(readFileSync(join(out, 'first.bin')).equals(small));
  });
  test('a PATCH broken mid-body: the registry (distribution) drops the whole upload session, so that blob restarts from its first byte; committed blobs are still not sent again', async () => {
    const home = join(work, 'home-broken');
    const config = join(work, 'config-broken.yaml');
    writeFileSync(config, `registries:\n  ${proxy.host}:\n    chunkSizeMiB: 1\n`);
    const small = randomBytes(MiB / 2);
    const large = randomBytes(6 * MiB + 7);
    writeFileSync(join(work, 'b-first.bin'), small);
    writeFileSync(join(work, 'b-second.bin'), large);
    await new Promise((r) => setTimeout(r, 120));
    const env = { OMLMD_HOME: home, OMLMD_CONFIG: config };
    // The small file's PATCH and two of the large file's pass; the third is cut after 300 KB.
    proxy.add({ method: 'PATCH', passFirst: 3, times: 1, fault: { kind: 'drop-request', after: 300_000 } });
    const r = await runCli(['push', `${proxy.host}/broken/m:v1`, join(work, 'b-first.bin'), join(work, 'b-second.bin'), '--name', 'm', '--concurrency', '1'], { env });
    assert.equal(r.code, 0, r.stderr);
    const patches = proxy.seen.filter((s) => s.method === 'PATCH');
    const sent = patches.reduce((n, s) => n + s.bodyBytes, 0);
    // Measured here against distribution 2.8: after the cut, GET on the session answers 404; a new session sends all of it.
    const asked = proxy.seen.filter((s) => s.method === 'GET' && s.path.includes('/blobs/uploads/')).map((s) => s.status);
    assert.ok(asked.length > 0 && asked.every((st) => st === 404), `it asked where the upload stood, and the registry had dropped it: ${asked.join(',')}`);
    // Wasted: the two chunks the registry held, and the cut one as far as it got (the proxy reads in socket-sized pieces).
    const wasted = sent - small.length - large.length;
    assert.ok(wasted >= 2 * MiB + 300_000 && wasted < 2 * MiB + 300_000 + 64 * 1024, `the large blob went again from its first byte, the small one once: ${wasted} bytes sent twice`);
    const out = join(work, 'broken-out');
    await new OmlmdClient({ home: join(work, 'home-broken-check') }).pull(`${reg.host}/broken/m:v1`, out);
    assert.ok(readFileSync(join(out, 'b-second.bin')).equals(large));
  });
});

describe('bounded memory', () => {
  let reg: RunningRegistry;
  let work: string;
  before(async () => {
    reg = await startRegistry();
    work = tempDir('omlmd-memory-');
  });
  after(async () => {
    await reg?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** The CLI as a child process; returns its peak RSS (worker threads included). */
  async function cliPeak(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
    const file = join(work, `maxrss-${Date.now()}`);
    const child = spawn(process.execPath, ['--require', MAXRSS, CLI, ...args], { env: { ...process.env, OMLMD_NO_PROGRESS: '1', OMLMD_TEST_MAXRSS_FILE: file, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 0, stderr);
    return Number(await readFile(file, 'utf8'));
  }

  // The bound is the CLI's own (66 MB at start: Node's binary and the bundle) plus what the
  // transfer holds, a few MB per connection, plus what Node's GC lets float of buffers already
  // sent or written; never a blob, a chunk of 256 MiB or a part. docs/benchmarks.md has the figures.
  test('a 1.5 GiB model is pushed and pulled with bounded memory: peak RSS under 200 MB, whatever the file size', async () => {
    const size = 1.5 * 1024 * MiB;
    const file = join(work, 'sparse.bin');
    // Sparse: no disk used for it, yet every byte is read, hashed and sent.
    const fd = openSync(file, 'w');
    writeSync(fd, Buffer.from('head'), 0, 4, 0);
    writeSync(fd, Buffer.from('tail'), 0, 4, size - 4);
    closeSync(fd);
    const env = { OMLMD_HOME: join(work, 'home') };
    const pushPeak = await cliPeak(['push', `${reg.host}/mem/sparse:v1`, file, '--name', 'sparse'], env);
    const out = join(work, 'out');
    const pullPeak = await cliPeak(['pull', `${reg.host}/mem/sparse:v1`, '-o', out], env);
    assert.equal(statSync(join(out, 'sparse.bin')).size, size);
    assert.ok(pushPeak < 200 * 1e6, `push peak RSS ${(pushPeak / 1e6).toFixed(0)} MB`);
    assert.ok(pullPeak < 200 * 1e6, `pull peak RSS ${(pullPeak / 1e6).toFixed(0)} MB`);
  });
});

describe('concurrent pulls of one model into one folder (the real registry)', () => {
  let reg: RunningRegistry;
  let work: string;
  const files = Array.from({ length: 4 }, (_, i) => ({ name: `part-${i}.bin`, bytes: randomBytes(3 * MiB + i) }));
  before(async () => {
    reg = await startRegistry();
    work = tempDir('omlmd-concurrent-pulls-');
    for (const f of files) writeFileSync(join(work, f.name), f.bytes);
    await new OmlmdClient({ home: join(work, 'seed') }).push(`${reg.host}/xfer/parts:v1`, { paths: files.map((f) => join(work, f.name)), metadata: { name: 'parts' } });
  });
  after(async () => {
    await reg?.stop();
  });

  test('two at once, 8 rounds: both succeed every time, the files byte for byte (each used to hold one lock and refuse the other: both CONFLICT)', async () => {
    for (let round = 0; round < 8; round++) {
      const out = join(work, `round-${round}`);
      const pull = (who: string) => runCli(['pull', `${reg.host}/xfer/parts:v1`, '-o', out, '--concurrency', '4'], { env: { OMLMD_HOME: join(work, `home-${who}`) } });
      const [a, b] = await Promise.all([pull('a'), pull('b')]);
      assert.equal(a.code, 0, `round ${round}: ${a.stderr}`);
      assert.equal(b.code, 0, `round ${round}: ${b.stderr}`);
      for (const f of files) assert.ok(readFileSync(join(out, f.name)).equals(f.bytes), `round ${round}: ${f.name}`);
      assert.deepEqual(readdirSync(out).filter((n) => n.startsWith('.')), [], 'no partial or lock left');
    }
  });
});
