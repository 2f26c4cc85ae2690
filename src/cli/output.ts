import { OmlmdError, type ErrorCode } from '../core/errors';
import type { ProgressEvent } from '../core/transfer/progress';
import { ProgressTally } from '../core/transfer/tally';
import { humanSize } from '../core/units';
import { cliRemedyLines } from './remedies';

export { humanSize };

/** Exit codes, documented in README.md. */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  auth: 3,
  notFound: 4,
  integrity: 5,
  network: 6,
  /** Busy or changed under us (another transfer holds the file, a tag moved): try again. */
  conflict: 7,
  cancelled: 130,
} as const;

const CODE_EXIT: Partial<Record<ErrorCode, number>> = {
  USAGE: ExitCode.usage,
  INVALID_REFERENCE: ExitCode.usage,
  INVALID_METADATA: ExitCode.usage,
  INVALID_QUERY: ExitCode.usage,
  CONFLICT: ExitCode.conflict,
  AMBIGUOUS: ExitCode.usage,
  NAME_INVALID: ExitCode.usage,
  UNAUTHORIZED: ExitCode.auth,
  DENIED: ExitCode.auth,
  NOT_FOUND: ExitCode.notFound,
  MANIFEST_UNKNOWN: ExitCode.notFound,
  BLOB_UNKNOWN: ExitCode.notFound,
  NAME_UNKNOWN: ExitCode.notFound,
  NOT_A_MODEL: ExitCode.notFound,
  DIGEST_MISMATCH: ExitCode.integrity,
  SIZE_MISMATCH: ExitCode.integrity,
  DIGEST_INVALID: ExitCode.integrity,
  // The registry's words for "the size is wrong" and "that manifest is not valid".
  SIZE_INVALID: ExitCode.integrity,
  MANIFEST_INVALID: ExitCode.integrity,
  INVALID_MANIFEST: ExitCode.integrity,
  UNSAFE_PATH: ExitCode.integrity,
  VERIFICATION_FAILED: ExitCode.integrity,
  INVALID_KEY: ExitCode.usage,
  DECRYPTION_FAILED: ExitCode.integrity,
  DECRYPTION_KEY_NEEDED: ExitCode.integrity,
  INVALID_MODEL_FILE: ExitCode.integrity,
  NETWORK: ExitCode.network,
  TLS: ExitCode.network,
  TOOMANYREQUESTS: ExitCode.network,
  CANCELLED: ExitCode.cancelled,
};

export function exitCodeFor(e: unknown): number {
  return e instanceof OmlmdError ? (CODE_EXIT[e.code] ?? ExitCode.failure) : ExitCode.failure;
}

/** One line naming what failed, then one hint line a remedy, in flags and commands; a stack only with --debug. */
export function formatError(e: unknown, debug: boolean): string {
  if (e instanceof OmlmdError) {
    if (e.code === 'CANCELLED') return 'omlmd: cancelled';
    let s = `omlmd: error: ${e.message}`;
    for (const line of cliRemedyLines(e.remedies)) s += `\n  hint: ${line}`;
    if (debug) s += `\n  code: ${e.code}${e.status ? `, HTTP ${e.status}` : ''}${e.url ? ` ${e.url}` : ''}\n${e.stack ?? ''}${e.cause ? `\ncause: ${(e.cause as Error).stack ?? String(e.cause)}` : ''}`;
    return s;
  }
  const err = e as Error;
  return `omlmd: internal error: ${err?.message ?? String(e)}${debug ? `\n${err?.stack ?? ''}` : '\n  (run with --debug for details; please report it)'}`;
}


function bar(fraction: number, width: number): string {
  const full = Math.max(0, Math.min(width, Math.round(fraction * width)));
  return '#'.repeat(full).padEnd(width, '.');
}

function seconds(s: number): string {
  if (!Number.isFinite(s)) return '';
  if (s < 60) return `${Math.ceil(s)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.ceil(s - m * 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/**
 * Progress on stderr while a transfer runs: a total bar (files, bytes, throughput, time
 * left) and one bar per file in flight. Drawn only on a terminal, at most every 100 ms, in
 * place (the cursor goes back up over the previous drawing), and erased at the end.
 * Throughput counts only bytes this run moved: skipped files and resumed parts fill the bars
 * without inflating the speed.
 */
export class ProgressBars {
  private readonly tally: ProgressTally;
  private last = 0;
  private drawnLines = 0;

  constructor(
    private readonly label: string,
    private readonly out: Pick<NodeJS.WriteStream, 'write'> & { columns?: number } = process.stderr,
    private readonly now: () => number = Date.now,
    private readonly maxFiles = 6,
  ) {
    this.tally = new ProgressTally(now);
  }

  readonly onProgress = (e: ProgressEvent): void => {
    this.tally.add(e);
    const now = this.now();
    if (now - this.last >= 100 || e.type === 'done' || e.type === 'plan') {
      this.last = now;
      this.draw();
    }
  };

  /** The lines to show now: the total first, then the files in flight. */
  render(): string[] {
    const now = this.now();
    const t = this.tally;
    const rate = t.rate();
    const fraction = t.fraction();
    const left = rate > 0 && t.total > t.done ? `  ${seconds((t.total - t.done) / rate)} left` : '';
    const speed = rate > 0 ? `  ${humanSize(rate)}/s` : '';
    const lines = [`${this.label} [${bar(fraction, 24)}] ${String(Math.floor(fraction * 100)).padStart(3)}%  ${t.filesDone}/${t.files} files  ${humanSize(t.done)} / ${humanSize(t.total)}${speed}${left}`];
    const active = t.active();
    const width = Math.min(32, Math.max(...active.map((it) => it.title.length), 8));
    for (const it of active.slice(0, this.maxFiles)) {
      const f = it.size > 0 ? Math.min(1, it.done / it.size) : 0;
      const s = Math.max((now - (it.started ?? now)) / 1000, 0.001);
      const r = it.moved / s;
      const eta = r > 0 && it.size > it.done ? `  ${seconds((it.size - it.done) / r)}` : '';
      const title = it.title.length > width ? `…${it.title.slice(-(width - 1))}` : it.title.padEnd(width);
      lines.push(`  ${title} [${bar(f, 16)}] ${String(Math.floor(f * 100)).padStart(3)}%  ${humanSize(it.done)} / ${humanSize(it.size)}  ${humanSize(r)}/s${eta}`);
    }
    if (active.length > this.maxFiles) lines.push(`  … and ${active.length - this.maxFiles} more`);
    const cols = this.out.columns;
    return cols && cols > 10 ? lines.map((l) => (l.length >= cols ? l.slice(0, cols - 1) : l)) : lines;
  }

  /** Redraws in place: back to the first line drawn last time, every line cleared and written. */
  draw(): void {
    const lines = this.render();
    const rows = Math.max(lines.length, this.drawnLines);
    let s = this.drawnLines > 1 ? `\x1b[${this.drawnLines - 1}A` : '';
    for (let i = 0; i < rows; i++) s += `\r\x1b[2K${lines[i] ?? ''}${i < rows - 1 ? '\n' : ''}`;
    // Lines left over from a taller drawing are blank now: go back up to the last one in use.
    if (rows > lines.length) s += `\x1b[${rows - lines.length}A`;
    this.out.write(s);
    this.drawnLines = lines.length;
  }

  /** Erases the bars, for a message or the end. */
  clear(): void {
    if (this.drawnLines === 0) return;
    let s = this.drawnLines > 1 ? `\x1b[${this.drawnLines - 1}A` : '';
    for (let i = 0; i < this.drawnLines; i++) s += `\r\x1b[2K${i < this.drawnLines - 1 ? '\n' : ''}`;
    if (this.drawnLines > 1) s += `\x1b[${this.drawnLines - 1}A`;
    this.out.write(s + '\r');
    this.drawnLines = 0;
  }

  /** Writes a line above the bars (a retry, a warning) and draws them again below it. */
  note(line: string): void {
    this.clear();
    this.out.write(line.endsWith('\n') ? line : `${line}\n`);
    this.draw();
  }

  finish(): void {
    this.clear();
  }
}

export function progressEnabled(flag: boolean | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  if (flag === false) return false;
  if (env.OMLMD_NO_PROGRESS && env.OMLMD_NO_PROGRESS !== '0') return false;
  return Boolean(process.stderr.isTTY);
}
