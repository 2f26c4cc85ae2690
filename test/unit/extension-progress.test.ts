import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProgressBars } from '../../src/cli/output';
import type { ProgressEvent } from '../../src/core/transfer/progress';
import { progressReporter } from '../../src/extension/progress';

type Report = { message?: string; increment?: number };

function drive(): { report: (e: ProgressEvent) => void; reports: Report[]; clock: { t: number } } {
  const reports: Report[] = [];
  const clock = { t: 0 };
  // A plain object shaped like vscode.Progress: the reporter needs nothing else.
  const report = progressReporter({ report: (v) => reports.push(v) }, () => clock.t);
  return { report, reports, clock };
}

const plan: ProgressEvent = { type: 'plan', items: [{ title: 'a.bin', size: 100e6 }, { title: 'b.bin', size: 100e6 }, { title: 'c.json', size: 1000 }], totalBytes: 200e6 + 1000 };

describe("the extension's progress notification", () => {
  it('counts skipped and resumed bytes as done, only moved bytes as speed', () => {
    const { report, reports, clock } = drive();
    report(plan);
    assert.deepEqual(reports.at(-1), { increment: 0, message: '0 B of 200.0 MB · 0 B/s' });
    report({ type: 'skipped', title: 'c.json', size: 1000, reason: 'exists' });
    report({ type: 'resumed', title: 'b.bin', bytes: 50e6 });
    assert.equal(reports.at(-1)?.message, '50.0 MB of 200.0 MB · 0 B/s', 'nothing moved yet: no speed');
    report({ type: 'bytes', title: 'a.bin', bytes: 1 });
    clock.t = 1000;
    report({ type: 'bytes', title: 'a.bin', bytes: 50e6 - 1 });
    report({ type: 'bytes', title: 'b.bin', bytes: 10e6 });
    report({ type: 'done', title: 'a.bin', digest: 'sha256:x', size: 100e6 });
    assert.equal(reports.at(-1)?.message, '110.0 MB of 200.0 MB · 60.0 MB/s');
    const total = reports.reduce((a, r) => a + (r.increment ?? 0), 0);
    assert.ok(Math.abs(total - (110e6 + 1000) / (200e6 + 1000) * 100) < 1e-9, `increments add up to the percentage in place (${total})`);
  });

  it('a file skipped after some of its bytes moved is counted once', () => {
    const { report, reports } = drive();
    report(plan);
    report({ type: 'bytes', title: 'a.bin', bytes: 30e6 });
    report({ type: 'skipped', title: 'a.bin', size: 100e6, reason: 'mounted' });
    assert.match(reports.at(-1)!.message!, /^100\.0 MB of 200\.0 MB · /);
  });

  it('byte events are reported at most every 200 ms; the others always', () => {
    const { report, reports, clock } = drive();
    report(plan);
    clock.t = 1000;
    report({ type: 'bytes', title: 'a.bin', bytes: 1e6 });
    const n = reports.length;
    clock.t = 1100;
    report({ type: 'bytes', title: 'a.bin', bytes: 1e6 });
    assert.equal(reports.length, n, 'a byte event 100 ms after the last report waits');
    report({ type: 'done', title: 'c.json', digest: 'sha256:x', size: 1000 });
    assert.equal(reports.length, n + 1);
    assert.equal(reports.at(-1)?.message, '2.00 MB of 200.0 MB · 20.0 MB/s');
  });

  it('agrees with the CLI bars on the bytes in place for the same events', () => {
    const { report, reports, clock } = drive();
    const bars = new ProgressBars('pull', { write: () => true, columns: 200 }, () => clock.t);
    const events: ProgressEvent[] = [
      plan,
      { type: 'bytes', title: 'a.bin', bytes: 20e6 },
      { type: 'skipped', title: 'a.bin', size: 100e6, reason: 'exists' },
      { type: 'resumed', title: 'b.bin', bytes: 5e6 },
      { type: 'skipped', title: 'c.json', size: 1000, reason: 'filtered' },
    ];
    for (const e of events) {
      report(e);
      bars.onProgress(e);
    }
    const done = /^(\S+ \S+) of (\S+ \S+)/.exec(reports.at(-1)!.message!)!;
    assert.ok(bars.render()[0]!.includes(`${done[1]} / ${done[2]}`), `${bars.render()[0]} vs ${reports.at(-1)!.message}`);
  });
});
