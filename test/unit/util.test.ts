import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { getEventListeners } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { normalizeHost as configNormalizeHost, parseConfig, settingsFor } from '../../src/core/config';
import { registryKey, serverUrl } from '../../src/core/credentials/dockerconfig';
import { OmlmdError } from '../../src/core/errors';
import { ProgressTally } from '../../src/core/transfer/tally';
import { anySignal, sleep } from '../../src/core/util/abort';
import { tempPathFor, writeFileAtomic } from '../../src/core/util/atomic';
import { apiHost, normalizeHost, sameHost } from '../../src/core/util/host';
import { mapLimit, Semaphore } from '../../src/core/util/limit';
import { acquireLock, LockBusy } from '../../src/core/util/lockfile';

const dir = mkdtempSync(join(tmpdir(), 'omlmd-util-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('sleep and signals', () => {
  it('an already-aborted signal rejects at once with CANCELLED', async () => {
    const c = new AbortController();
    c.abort();
    const t0 = Date.now();
    await assert.rejects(sleep(10_000, c.signal), (e) => OmlmdError.is(e, 'CANCELLED'));
    assert.ok(Date.now() - t0 < 5000);
  });

  it('an abort during the wait rejects with CANCELLED', async () => {
    const c = new AbortController();
    setTimeout(() => c.abort(), 10);
    await assert.rejects(sleep(10_000, c.signal), (e) => OmlmdError.is(e, 'CANCELLED'));
  });

  it('leaves no abort listener behind, however many waits a long-lived signal sees', async () => {
    const c = new AbortController();
    for (let i = 0; i < 200; i++) await sleep(0, c.signal);
    assert.equal(getEventListeners(c.signal, 'abort').length, 0);
  });

  it('anySignal aborts with either', () => {
    const a = new AbortController();
    const b = new AbortController();
    const s = anySignal(a.signal, undefined, b.signal)!;
    assert.equal(s.aborted, false);
    b.abort('why');
    assert.equal(s.aborted, true);
    assert.equal(anySignal(undefined, a.signal), a.signal);
    assert.equal(anySignal(), undefined);
  });
});

describe('Semaphore and mapLimit', () => {
  it('never lets more than its size run, and a waiter that aborts leaves the queue', async () => {
    const sem = new Semaphore(2);
    let running = 0;
    let peak = 0;
    const job = async (): Promise<void> => {
      running++;
      peak = Math.max(peak, running);
      await sleep(5);
      running--;
    };
    await Promise.all(Array.from({ length: 10 }, () => sem.run(job)));
    assert.equal(peak, 2);
    const r1 = await sem.acquire();
    const r2 = await sem.acquire();
    const c = new AbortController();
    const waiting = sem.acquire(c.signal);
    c.abort();
    await assert.rejects(waiting, (e) => OmlmdError.is(e, 'CANCELLED'));
    r1();
    r1(); // a second release is harmless
    const r3 = await sem.acquire();
    r2();
    r3();
  });

  it('mapLimit keeps order, stops at the first failure and aborts the others', async () => {
    assert.deepEqual(await mapLimit([3, 1, 2], 2, async (n) => n * 2), [6, 2, 4]);
    const seen: number[] = [];
    const aborted: boolean[] = [];
    await assert.rejects(
      mapLimit([1, 2, 3, 4, 5], 2, async (n, signal) => {
        seen.push(n);
        if (n === 2) throw new Error('two');
        await sleep(20).catch(() => undefined);
        aborted.push(signal.aborted);
        return n;
      }),
      /two/,
    );
    assert.ok(!seen.includes(5), `started after the failure: ${seen}`);
    assert.ok(aborted.every(Boolean));
  });
});

describe('writeFileAtomic', () => {
  it('replaces the file whole, with the mode asked, and leaves no temporary file', async () => {
    const p = join(dir, 'state.json');
    await writeFileAtomic(p, 'old');
    await writeFileAtomic(p, 'new', { mode: 0o600 });
    assert.equal(readFileSync(p, 'utf8'), 'new');
    assert.equal(statSync(p).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dir).filter((n) => n.includes('state')), ['state.json']);
  });

  it('on failure the old content stays and nothing is left beside it', async () => {
    const sub = mkdtempSync(join(dir, 'fail-'));
    // A non-empty folder at the final path: the rename fails after the temporary file was written.
    const target = join(sub, 'folder');
    mkdirSync(target);
    writeFileSync(join(target, 'kept'), 'kept');
    await assert.rejects(writeFileAtomic(target, 'no'));
    assert.equal(readFileSync(join(target, 'kept'), 'utf8'), 'kept');
    assert.ok(readdirSync(sub).every((n) => !n.endsWith('.tmp')), String(readdirSync(sub)));
  });
});

describe('writeFileAtomic options', () => {
  it('the mode is exact whatever the umask, and tempDir holds the temporary file', async () => {
    const sub = mkdtempSync(join(dir, 'opts-'));
    const scratch = join(sub, 'scratch');
    mkdirSync(scratch);
    const p = join(sub, 'secret.json');
    const old = process.umask(0o277); // would narrow 0o600 to 0o400
    try {
      await writeFileAtomic(p, '{}', { mode: 0o600, tempDir: scratch });
    } finally {
      process.umask(old);
    }
    assert.equal(statSync(p).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(sub).sort(), ['scratch', 'secret.json']);
    assert.deepEqual(readdirSync(scratch), []);
    assert.match(tempPathFor(p, scratch), /^.*\/scratch\/\.secret\.json\.\d+\.[0-9a-f]{12}\.tmp$/);
  });
});

describe('callers of the host normaliser', () => {
  it("config's normalizeHost is util/host's, and settings keyed by a Docker Hub alias apply to docker.io", () => {
    assert.equal(configNormalizeHost, normalizeHost);
    const config = parseConfig('registries:\n  https://Index.Docker.io/v1/:\n    retries: 7\n  Quay.io:\n    retries: 2\n', 'config.yaml');
    assert.equal(settingsFor(config, 'docker.io').retries, 7);
    assert.equal(settingsFor(config, 'quay.io').retries, 2);
  });

  it("Docker config keys: registryKey is the normaliser, serverUrl keeps Docker Hub's own key", () => {
    assert.equal(registryKey('https://index.docker.io/v1/'), 'docker.io');
    assert.equal(registryKey('HTTPS://Quay.io'), 'quay.io');
    assert.equal(serverUrl('registry-1.docker.io'), 'https://index.docker.io/v1/');
    assert.equal(serverUrl('Quay.io'), 'quay.io');
    assert.equal(apiHost('index.docker.io'), 'registry-1.docker.io');
  });
});

describe('acquireLock', () => {
  it('a second holder in the same process is refused; after release it is granted', async () => {
    const p = join(dir, 'a.lock');
    const release = await acquireLock(p);
    await assert.rejects(acquireLock(p), (e) => e instanceof LockBusy && e.holder.here);
    await release();
    const again = await acquireLock(p);
    await again();
    assert.throws(() => statSync(p));
  });

  it('a lock of a process that is gone is broken at once', async () => {
    const p = join(dir, 'dead.lock');
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    const deadPid = Number(child.stdout.toString());
    writeFileSync(p, `${deadPid} ${(await import('node:os')).hostname()} feedfeed`);
    const release = await acquireLock(p);
    assert.match(readFileSync(p, 'utf8'), new RegExp(`^${process.pid} `));
    await release();
  });

  it('a lock of a live process elsewhere waits, then is refused naming the holder; staleMs breaks an old one', async () => {
    const p = join(dir, 'live.lock');
    writeFileSync(p, `1 ${(await import('node:os')).hostname()} 0123`); // PID 1 is alive
    await assert.rejects(acquireLock(p, { waitMs: 50 }), (e) => e instanceof LockBusy && e.holder.pid === 1 && !e.holder.here);
    const old = (Date.now() - 60_000) / 1000;
    utimesSync(p, old, old);
    const release = await acquireLock(p, { staleMs: 30_000 });
    await release();
  });

  it('release never removes a lock another holder took after ours was broken', async () => {
    const p = join(dir, 'stolen.lock');
    const release = await acquireLock(p);
    writeFileSync(p, `1 other-host someone-else`);
    await release();
    assert.equal(readFileSync(p, 'utf8'), '1 other-host someone-else');
  });
});

describe('normalizeHost', () => {
  for (const [input, want] of [
    ['quay.io', 'quay.io'], ['https://Quay.io/v2/', 'quay.io'], [' localhost:5000 ', 'localhost:5000'],
    ['https://index.docker.io/v1/', 'docker.io'], ['registry-1.docker.io', 'docker.io'], ['registry.hub.docker.com', 'docker.io'],
    ['[::1]:5000', '[::1]:5000'], ['http://127.0.0.1:5000', '127.0.0.1:5000'],
  ] as const) {
    it(`${JSON.stringify(input)} → ${want}`, () => assert.equal(normalizeHost(input), want));
  }
  it('sameHost and apiHost', () => {
    assert.ok(sameHost('index.docker.io', 'docker.io'));
    assert.ok(!sameHost('quay.io', 'docker.io'));
    assert.equal(apiHost('docker.io'), 'registry-1.docker.io');
    assert.equal(apiHost('localhost:5000'), 'localhost:5000');
  });
});

describe('ProgressTally', () => {
  it('counts skipped and resumed bytes as done but not as moved', () => {
    let t = 0;
    const tally = new ProgressTally(() => t);
    tally.add({ type: 'plan', items: [{ title: 'a', size: 100 }, { title: 'b', size: 50 }, { title: 'c', size: 30 }], totalBytes: 180 });
    tally.add({ type: 'resumed', title: 'a', bytes: 40 });
    t = 1000;
    tally.add({ type: 'bytes', title: 'a', bytes: 60 });
    tally.add({ type: 'done', title: 'a', digest: 'sha256:x', size: 100 });
    tally.add({ type: 'bytes', title: 'b', bytes: 10 });
    tally.add({ type: 'skipped', title: 'b', size: 50, reason: 'mounted' });
    tally.add({ type: 'skipped', title: 'c', size: 30, reason: 'exists' });
    t = 2000;
    assert.equal(tally.done, 180);
    assert.equal(tally.moved, 70);
    assert.equal(tally.resumed, 40);
    assert.equal(tally.skippedBytes, 70);
    assert.equal(tally.filesDone, 3);
    assert.equal(tally.fraction(), 1);
    assert.equal(tally.rate(), 70);
    assert.equal(tally.items.get('b')?.skipped, 'mounted');
  });
});
