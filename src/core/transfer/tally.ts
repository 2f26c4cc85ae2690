/**
 * One reading of a transfer's progress events, for every face that shows them (the CLI's
 * bars, the extension's notification, the tests): per item and in total, how many bytes
 * are in place (`done`: moved now, resumed from an earlier run, or skipped because the
 * target had them) and how many this run moved (`moved`: what throughput is made of).
 */
import type { ProgressEvent } from './progress';

export interface TallyItem {
  title: string;
  size: number;
  done: number;
  moved: number;
  resumed: number;
  /** Why nothing moved, when it was skipped. */
  skipped?: 'exists' | 'filtered' | 'mounted';
  finished: boolean;
  /** When its first byte moved (the clock given to the tally). */
  started?: number;
}

export class ProgressTally {
  readonly items = new Map<string, TallyItem>();
  total = 0;
  files = 0;
  filesDone = 0;
  done = 0;
  moved = 0;
  resumed = 0;
  /** Bytes of skipped items (not moved, counted as done). */
  skippedBytes = 0;
  firstByte?: number;

  constructor(private readonly now: () => number = Date.now) {}

  private item(title: string, size = 0): TallyItem {
    let it = this.items.get(title);
    if (!it) {
      it = { title, size, done: 0, moved: 0, resumed: 0, finished: false };
      this.items.set(title, it);
    } else if (size > 0 && it.size === 0) it.size = size;
    return it;
  }

  /** Takes one event; returns the item it concerned (none for a plan). */
  add(e: ProgressEvent): TallyItem | undefined {
    switch (e.type) {
      case 'plan':
        this.total += e.totalBytes;
        this.files += e.items.length;
        for (const i of e.items) this.item(i.title, i.size);
        return undefined;
      case 'bytes': {
        const it = this.item(e.title);
        const now = this.now();
        it.started ??= now;
        this.firstByte ??= now;
        it.done += e.bytes;
        it.moved += e.bytes;
        this.done += e.bytes;
        this.moved += e.bytes;
        return it;
      }
      case 'resumed': {
        const it = this.item(e.title);
        it.done += e.bytes;
        it.resumed += e.bytes;
        this.done += e.bytes;
        this.resumed += e.bytes;
        return it;
      }
      case 'skipped': {
        const it = this.item(e.title, e.size);
        it.skipped = e.reason;
        if (!it.finished) {
          it.finished = true;
          const rest = Math.max(0, e.size - it.done);
          this.done += rest;
          this.skippedBytes += rest;
          it.done = e.size;
          this.filesDone++;
        }
        return it;
      }
      case 'done': {
        const it = this.item(e.title, e.size);
        if (!it.finished) {
          it.finished = true;
          this.filesDone++;
        }
        return it;
      }
    }
  }

  /** In place, 0 to 1 (1 when there is nothing to move and every file is done). */
  fraction(): number {
    return this.total > 0 ? Math.min(1, this.done / this.total) : this.filesDone === this.files ? 1 : 0;
  }

  /** Bytes per second moved since the first byte. */
  rate(): number {
    if (this.firstByte === undefined) return 0;
    return this.moved / Math.max((this.now() - this.firstByte) / 1000, 0.001);
  }

  /** Items that have started and not finished. */
  active(): TallyItem[] {
    return [...this.items.values()].filter((it) => !it.finished && it.started !== undefined);
  }
}
