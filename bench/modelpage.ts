/**
 * The model page of a repository with 100 tags: the time from opening it to interactive with
 * its versions chart drawn. The real page bundle in headless Chromium under its CSP (the
 * webview test harness), the real data loaders (src/extension/model/modelPage.ts) against
 * the real registry, run the way the extension host runs them: the page loads while the
 * manifest is read, each part is posted as it arrives (buffered until the page says ready).
 * "Interactive" is when the chart has drawn all 100 points and the data table has its rows.
 * Each run uses a new client (no token, connection or manifest cache carried over).
 *
 *   node --import tsx bench/modelpage.ts
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { OmlmdClient } from '../src/core/client';
import { loadHeaders, loadLineage, loadModelPage, loadVersions } from '../src/extension/model/modelPage';
import { startRegistry } from '../test/helpers/registry';
import { tempDir } from '../test/helpers/tmp';
import { median } from './measure';
import { startHarness, type PageGlobals } from '../test/webview/harness';

const TAGS = 100;
const RUNS = 7;
const ROOT = join(__dirname, '..');

void (async () => {
  const reg = await startRegistry();
  const h = await startHarness();
  try {
    const home = tempDir('omlmd-bench-page-');
    const seed = new OmlmdClient({ home });
    const repo = `${reg.host}/bench/classifier`;
    const t0 = performance.now();
    for (let i = 1; i <= TAGS; i++) {
      await seed.push(`${repo}:v${i}`, {
        paths: [join(ROOT, 'sample', 'model.onnx')],
        created: new Date(Date.UTC(2025, 0, 1) + i * 3600_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        metadata: { name: 'Classifier', model_format_name: 'onnx', customProperties: { accuracy: 0.8 + i / 1000, loss: 1 / i, epoch: i } },
      });
    }
    console.log(`pushed ${TAGS} tags in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const rows: { total: number; init: number; versions: number; draw: number }[] = [];
    for (let run = 0; run < RUNS; run++) {
      const client = new OmlmdClient({ home: tempDir('omlmd-bench-page-run-') });
      const page = await h.context.newPage();
      const started = performance.now();
      const queue: { method: string; params: unknown }[] = [];
      let ready = false;
      let initAt = 0;
      let versionsAt = 0;
      const post = async (method: string, params: unknown): Promise<void> => {
        if (!ready) return void queue.push({ method, params });
        await page.evaluate((m) => (globalThis as unknown as { postMessage(m: unknown, o: string): void }).postMessage(m, '*'), { id: `host:${method}`, method, params });
      };
      const booted = (async () => {
        await page.goto(`${h.url}model?theme=dark`);
        await page.waitForFunction(() => (globalThis as unknown as PageGlobals).__posted.some((x) => (x.method as string) === 'page/ready'));
        ready = true;
        for (const m of queue.splice(0)) await post(m.method, m.params);
      })();
      const loaded = (async () => {
        const reference = `${repo}:v${TAGS}`;
        const { page: p, info, ref } = await loadModelPage(client, reference, `bench-${run}`);
        initAt = performance.now() - started;
        await post('page/init', p);
        await Promise.all([
          loadHeaders(client, ref, info).then((x) => post('page/headers', x)),
          loadLineage(client, ref, p.digest).then((x) => post('page/lineage', x.lineage)),
          loadVersions(client, ref).then(async (x) => {
            versionsAt = performance.now() - started;
            await post('page/versions', x);
          }),
        ]);
      })();
      await Promise.all([booted, loaded]);
      await page.locator(`#versions-chart[data-drawn="${TAGS}"]`).waitFor();
      await page.locator('#versions-table tbody tr').nth(TAGS - 1).waitFor();
      const total = performance.now() - started;
      const violations = await page.evaluate(() => (globalThis as unknown as PageGlobals).__violations);
      if (violations.length) throw new Error(`CSP violations: ${violations.join(', ')}`);
      rows.push({ total, init: initAt, versions: versionsAt, draw: total - versionsAt });
      console.log(`run ${run + 1}: interactive ${total.toFixed(0)} ms (manifest + config ${initAt.toFixed(0)} ms, ${TAGS} tags read ${versionsAt.toFixed(0)} ms, chart and table after that ${(total - versionsAt).toFixed(0)} ms)`);
      await page.close();
    }
    const col = (k: keyof (typeof rows)[number]) => `${rows[0]![k].toFixed(0)} ms | ${median(rows.map((r) => r[k])).toFixed(0)} ms | ${Math.max(...rows.map((r) => r[k])).toFixed(0)} ms`;
    console.log('\n| step | first | median | slowest |\n|---|---|---|---|');
    console.log(`| open → interactive (chart of ${TAGS} tags drawn, table filled) | ${col('total')} |`);
    console.log(`| open → header shown data (manifest + config read) | ${col('init')} |`);
    console.log(`| open → ${TAGS} tags read (a manifest each: omlmd projects the metadata into it; 8 at a time) | ${col('versions')} |`);
    console.log(`| versions posted → chart and table drawn | ${col('draw')} |`);
  } finally {
    await h.close();
    await reg.stop();
  }
})();
