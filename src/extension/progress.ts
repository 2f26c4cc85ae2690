/**
 * The progress notification's words, without `vscode` (the host passes its
 * `vscode.Progress`, a test a plain object). The numbers are the core's ProgressTally, the
 * same reading the CLI's bars make: skipped files and resumed parts count as done, only
 * bytes moved now make the speed.
 */
import type { ProgressCallback } from '../core/transfer/progress';
import { ProgressTally } from '../core/transfer/tally';
import { humanSize } from '../core/units';
import { l10n } from './model/l10n';

/** What `vscode.Progress<{ message?: string; increment?: number }>` offers. */
export interface ProgressSink {
  report(value: { message?: string; increment?: number }): void;
}

/** Feeds core progress events to a VS Code progress notification: percent, bytes, throughput; byte events at most every 200 ms. */
export function progressReporter(progress: ProgressSink, now: () => number = Date.now): ProgressCallback {
  const tally = new ProgressTally(now);
  let reported = 0;
  let last = 0;
  return (e) => {
    tally.add(e);
    const t = now();
    if (t - last < 200 && e.type === 'bytes') return;
    last = t;
    const pct = tally.total > 0 ? Math.min(100, (tally.done / tally.total) * 100) : 0;
    progress.report({ increment: pct - reported, message: l10n.t('{0} of {1} · {2}/s', humanSize(tally.done), humanSize(tally.total), humanSize(tally.rate())) });
    reported = pct;
  };
}
