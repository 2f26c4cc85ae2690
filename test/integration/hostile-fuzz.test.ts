import assert from 'node:assert/strict';
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { join, relative, isAbsolute } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { OmlmdClient } from '../../src/core/client';
import { OmlmdError } from '../../src/core/errors';
import { rawTar, startHostileRegistry, type HostileRegistry, type TarEntry } from '../helpers/hostile';
import { tempDir } from '../helpers/tmp';

/** A case that neither settles nor fails within this long is a hang: the property fails (a guard, not a speed figure). */
const HANG_MS = 20_000;

async function settles<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${HANG_MS} ms: a hang`)), HANG_MS)));
  try {
    return { ok: true, value: await Promise.race([p, hang]) };
  } catch (error) {
    if (error instanceof Error && error.message.includes('a hang')) throw error;
    return { ok: false, error };
  } finally {
    clearTimeout(timer);
  }
}

/** Every path under `dir` stays under it (no link or name led out). */
function allInside(dir: string): void {
  if (!existsSync(dir)) return;
  const root = realpathSync(dir);
  for (const p of readdirSync(dir, { recursive: true }).map(String)) {
    const rel = relative(root, realpathSync(join(dir, p)));
    assert.ok(!rel.startsWith('..') && !isAbsolute(rel), `${p} leads out of the output folder`);
  }
}

/** A refusal is an OmlmdError with a message; anything else (TypeError, RangeError, EEXIST as internal) is a defect. */
function refusedCleanly(e: unknown): void {
  assert.ok(e instanceof OmlmdError, `not a refusal: ${String((e as Error)?.stack ?? e)}`);
  assert.ok(e.message.length > 0 && e.message.length < 2000, e.message);
}

const segment = fc.oneof(
  fc.constantFrom('..', '.', '', 'a', 'model', 'x.bin', 'CON', 'a\\b', 'C:', 'é', 'x'.repeat(240), '\u0000', ' ', '~'),
  fc.string({ minLength: 1, maxLength: 12 }),
);
const title = fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/')).chain((t) => fc.constantFrom(t, `/${t}`, `./${t}`, `${t}/`));

/**
 * fast-check drives the hostile-registry double (a fault-injection double) through titles,
 * manifests, 0.1.x folder tars and paging: every case settles (no hang, no crash), a refusal
 * is an OmlmdError, and nothing lands outside the output folder.
 */
describe('fuzz: hostile registries (hostile registry double, fast-check)', () => {
  let reg: HostileRegistry;
  let work: string;
  let client: OmlmdClient;
  let n = 0;
  before(async () => {
    reg = await startHostileRegistry();
    work = tempDir('omlmd-fuzz-');
    client = new OmlmdClient({ home: join(work, 'home') });
  });
  after(async () => reg?.close());

  test('titles: a pull writes only inside the output folder, or refuses', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.record({ title: title, body: fc.uint8Array({ maxLength: 64 }) }), { minLength: 1, maxLength: 4 }), async (files) => {
        const name = `fuzz/t${n++}`;
        reg.model(name, 'v1', files.map((f) => ({ title: f.title, bytes: Buffer.from(f.body) })));
        const out = join(work, 'out', name);
        const r = await settles(client.pull(`${reg.host}/${name}:v1`, out));
        if (!r.ok) refusedCleanly(r.error);
        allInside(out);
      }),
      { numRuns: 60 },
    );
  });

  test('manifests: any JSON as a manifest is read or refused, never a crash', async () => {
    const json = fc.jsonValue({ maxDepth: 4 });
    const manifest = fc.oneof(
      json,
      fc.record({ schemaVersion: fc.oneof(fc.constant(2), json), mediaType: fc.oneof(fc.constant('application/vnd.oci.image.manifest.v1+json'), json), config: json, layers: fc.oneof(json, fc.array(json, { maxLength: 3 })), annotations: json }, { requiredKeys: [] }),
    );
    await fc.assert(
      fc.asyncProperty(manifest, async (m) => {
        const name = `fuzz/m${n++}`;
        reg.manifest(name, Buffer.from(JSON.stringify(m) ?? 'null'), { tag: 'v1', mediaType: 'application/vnd.oci.image.manifest.v1+json' });
        const out = join(work, 'out', name);
        for (const op of [(): Promise<unknown> => client.inspect(`${reg.host}/${name}:v1`), (): Promise<unknown> => client.pull(`${reg.host}/${name}:v1`, out)]) {
          const r = await settles(op());
          if (!r.ok) refusedCleanly(r.error);
        }
        allInside(out);
      }),
      { numRuns: 80 },
    );
  });

  test('0.1.x folder tars: any entries unpack inside the folder, stay a file, or are refused', async () => {
    const entry: fc.Arbitrary<TarEntry> = fc.record({
      name: fc.oneof(title.map((t) => `model/${t}`), title),
      type: fc.constantFrom('file', 'dir', 'symlink', 'hardlink') as fc.Arbitrary<TarEntry['type']>,
      body: fc.uint8Array({ maxLength: 32 }).map((b) => Buffer.from(b)),
      linkname: fc.constantFrom('/etc/passwd', '../x', 'model/a'),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 5 }), async (entries) => {
        const name = `fuzz/z${n++}`;
        reg.model(name, 'v1', [{ title: 'model', bytes: gzipSync(rawTar([{ name: 'model/', type: 'dir' }, ...entries])) }]);
        const out = join(work, 'out', name);
        const r = await settles(client.pull(`${reg.host}/${name}:v1`, out));
        if (!r.ok) refusedCleanly(r.error);
        allInside(out);
        assert.deepEqual(existsSync(out) ? readdirSync(out).filter((f) => f.includes('omlmd')) : [], [], 'no side file left');
      }),
      { numRuns: 60 },
    );
  });

  test('tag paging: any Link chain ends, in a bounded number of requests', async () => {
    const link = fc.oneof(
      fc.constant(undefined),
      fc.constantFrom('<?p=0>; rel="next"', '<?p=1>; rel="next"', '<>; rel="next"', '<http://169.254.169.254/>; rel="next"', 'garbage', '<?p=1>; rel=next, <?p=2>; rel="last"'),
      fc.nat({ max: 20_000 }).map((p) => `<?p=${p}>; rel="next"`),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(link, { minLength: 1, maxLength: 6 }), async (links) => {
        const name = `fuzz/p${n++}`;
        let i = 0;
        reg.on('GET', `/v2/${name}/tags/list`, (_req, res) => {
          const l = links[i++ % links.length];
          res.writeHead(200, { 'content-type': 'application/json', ...(l ? { link: l.replace('<?', `</v2/${name}/tags/list?`) } : {}) });
          res.end(JSON.stringify({ name, tags: [`t${i}`] }));
        });
        const repo = await client.repository(`${reg.host}/${name}`);
        const r = await settles(repo.listTags());
        if (!r.ok) refusedCleanly(r.error);
        assert.ok(reg.count('GET', new RegExp(`/v2/${name}/tags/list`)) <= 10_001);
      }),
      { numRuns: 40 },
    );
  });
});
