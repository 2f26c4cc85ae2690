import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OmlmdClient } from '../../src/core/client';
import { OmlmdError } from '../../src/core/errors';
import { openWritableIndex } from '../../src/core/search';
import { createSearchServer } from '../../src/server/server';
import { runCli } from '../helpers/cli';
import { startHostileRegistry, type HostileRegistry } from '../helpers/hostile';
import { tempDir } from '../helpers/tmp';

/**
 * Lists that never end (issue: hostile registries), from the hostile-registry double: a
 * catalog whose Link always points back, one that goes backwards, one that grows for ever,
 * and tag pages of 30 MB each. Each is an error after a bounded number of requests and
 * bytes; the server's re-crawl stops at its time budget so later ones still run.
 */
describe('catalog and tag paging from a hostile registry (hostile registry double)', () => {
  let reg: HostileRegistry;
  let work: string;
  let client: OmlmdClient;
  before(async () => {
    reg = await startHostileRegistry();
    work = tempDir('omlmd-hostile-paging-');
    client = new OmlmdClient({ home: join(work, 'home') });
  });
  after(async () => reg?.close());

  // One route (the double's routes are first-come): each test sets how it answers.
  let mode: 'same' | 'backwards' | 'growing' = 'same';
  let delayMs = 0;
  const catalogs = (m: typeof mode, delay = 0) => {
    mode = m;
    delayMs = delay;
  };
  before(() => {
    reg.on('GET', '/v2/_catalog', async (req, res) => {
      const last = new URL(req.url!, 'http://x').searchParams.get('last');
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      const page = mode === 'growing' ? Number(last?.slice(5) ?? '0') + 1 : 1;
      const names = mode === 'growing' ? [`repo-${String(page).padStart(9, '0')}`] : ['a', 'b'];
      const next = mode === 'same' ? 'b' : mode === 'backwards' ? (last === 'b' ? 'a' : 'b') : names[0]!;
      res.writeHead(200, { 'content-type': 'application/json', link: `</v2/_catalog?last=${next}&n=2>; rel="next"` });
      res.end(JSON.stringify({ repositories: names }));
    });
  });

  test('repos --all: a catalog whose next page is the same page ends with an error after 2 requests, not 2,637', async () => {
    catalogs('same');
    const before = reg.count('GET', /_catalog/);
    const r = await runCli(['repos', reg.host, '--all'], { env: { OMLMD_HOME: join(work, 'home') } });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /the catalog's pages do not end: page 2 sends back to "b"/);
    assert.ok(reg.count('GET', /_catalog/) - before <= 3, `${reg.count('GET', /_catalog/) - before} requests`);
  });

  test('a catalog that goes backwards is refused too; the library says the same as the CLI', async () => {
    catalogs('backwards');
    const pages = async () => {
      for await (const _ of client.repositoryPages(reg.host)) void _;
    };
    await assert.rejects(pages(), (e: unknown) => OmlmdError.is(e, 'HTTP') && /pages do not end/.test(e.message));
  });

  test('a crawl over a catalog that never ends reports a problem and removes nothing', async () => {
    catalogs('same');
    const index = await openWritableIndex(join(work, 'crawl.sqlite'));
    try {
      const { crawlToIndex } = await import('../../src/core/search/crawler');
      const report = await crawlToIndex(client, index, [reg.host]);
      assert.ok(report.problems.some((p) => /pages do not end/.test(p.message)), JSON.stringify(report.problems));
      assert.equal(report.removed, 0);
    } finally {
      await index.close();
    }
  });

  test("serve: a catalog that grows without end stops at the crawl's time budget, and the next re-crawl runs", async () => {
    catalogs('growing', 20);
    const index = await openWritableIndex(join(work, 'serve.sqlite'));
    const errors: string[] = [];
    const server = createSearchServer({ index, client, registries: [reg.host], allowAnonymous: true, crawlBudgetMs: 700, log: { info: () => undefined, warn: () => undefined, error: (m) => errors.push(m) } });
    try {
      await server.recrawl();
      assert.ok(errors.some((m) => /stopped after its time budget/.test(m)), errors.join('\n'));
      const n = reg.count('GET', /_catalog/);
      await server.recrawl();
      assert.ok(reg.count('GET', /_catalog/) > n, 'a second re-crawl ran');
    } finally {
      await server.close();
      await index.close();
    }
  });

  test('tag pages of 30 MB each stop at 64 MiB in all, not 2.1 GB', async () => {
    const big = Buffer.from(JSON.stringify({ name: 'fat/tags', tags: Array.from({ length: 1_000_000 }, (_, i) => `t${String(i).padStart(26, '0')}`) }));
    assert.ok(big.length > 29_000_000);
    reg.on('GET', '/v2/fat/tags/tags/list', (req, res) => {
      const p = Number(new URL(req.url!, 'http://x').searchParams.get('p') ?? '0');
      res.writeHead(200, { 'content-type': 'application/json', link: `</v2/fat/tags/tags/list?p=${p + 1}>; rel="next"` });
      res.end(big);
    });
    const repo = await client.repository(`${reg.host}/fat/tags`);
    const before = reg.count('GET', /fat\/tags\/tags\/list/);
    await assert.rejects(repo.listTags(), (e: unknown) => OmlmdError.is(e, 'HTTP') && /more than 67108864 bytes in all/.test(e.message));
    assert.ok(reg.count('GET', /fat\/tags\/tags\/list/) - before <= 3);
  });
});
