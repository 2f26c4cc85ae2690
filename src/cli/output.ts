import { OmlmdError, type ErrorCode } from '../core/errors';
import type { ProgressEvent } from '../core/transfer/progress';
import { humanSize } from '../core/units';

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
  cancelled: 130,
} as const;

const CODE_EXIT: Partial<Record<ErrorCode, number>> = {
  USAGE: ExitCode.usage,
  INVALID_REFERENCE: ExitCode.usage,
  INVALID_METADATA: ExitCode.usage,
  INVALID_QUERY: ExitCode.usage,
  CONFLICT: ExitCode.usage,
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
  NETWORK: ExitCode.network,
  TLS: ExitCode.network,
  TOOMANYREQUESTS: ExitCode.network,
  CANCELLED: ExitCode.cancelled,
};

export function exitCodeFor(e: unknown): number {
  return e instanceof OmlmdError ? (CODE_EXIT[e.code] ?? ExitCode.failure) : ExitCode.failure;
}

/** One line naming what failed, then the fix; a stack only with --debug. */
export function formatError(e: unknown, debug: boolean): string {
  if (e instanceof OmlmdError) {
    if (e.code === 'CANCELLED') return 'omlmd: cancelled';
    let s = `omlmd: error: ${e.message}`;
    if (e.hint) s += `\n  hint: ${e.hint}`;
    if (debug) s += `\n  code: ${e.code}${e.status ? `, HTTP ${e.status}` : ''}${e.url ? ` ${e.url}` : ''}\n${e.stack ?? ''}${e.cause ? `\ncause: ${(e.cause as Error).stack ?? String(e.cause)}` : ''}`;
    return s;
  }
  const err = e as Error;
  return `omlmd: internal error: ${err?.message ?? String(e)}${debug ? `\n${err?.stack ?? ''}` : '\n  (run with --debug for details; please report it)'}`;
}


/**
 * A one-line progress display on stderr: files done, bytes, throughput and ETA. Drawn only on
 * a terminal, at most every 100 ms, and erased at the end.
 */
export class ProgressLine {
  private total = 0;
  private done = 0;
  private files = 0;
  private filesDone = 0;
  private last = 0;
  private readonly start = Date.now();
  private drawn = false;

  constructor(private readonly label: string, private readonly out: NodeJS.WriteStream = process.stderr) {}

  readonly onProgress = (e: ProgressEvent): void => {
    switch (e.type) {
      case 'plan':
        this.total += e.totalBytes;
        this.files += e.items.length;
        break;
      case 'bytes':
        this.done += e.bytes;
        break;
      case 'skipped':
        this.done += e.size;
        this.filesDone++;
        break;
      case 'done':
        this.filesDone++;
        break;
    }
    const now = Date.now();
    if (now - this.last >= 100 || e.type === 'done') {
      this.last = now;
      this.draw(now);
    }
  };

  private draw(now: number): void {
    const secs = Math.max((now - this.start) / 1000, 0.001);
    const rate = this.done / secs;
    const pct = this.total > 0 ? Math.min(100, Math.floor((this.done / this.total) * 100)) : 100;
    const eta = rate > 0 && this.total > this.done ? `, ${Math.ceil((this.total - this.done) / rate)} s left` : '';
    const width = 20;
    const bar = '#'.repeat(Math.round((pct / 100) * width)).padEnd(width, '.');
    this.out.write(`\r\x1b[2K${this.label} [${bar}] ${pct}% ${this.filesDone}/${this.files} files, ${humanSize(this.done)}/${humanSize(this.total)} at ${humanSize(rate)}/s${eta}`);
    this.drawn = true;
  }

  finish(): void {
    if (this.drawn) this.out.write('\r\x1b[2K');
  }
}

export function progressEnabled(flag: boolean | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  if (flag === false) return false;
  if (env.OMLMD_NO_PROGRESS && env.OMLMD_NO_PROGRESS !== '0') return false;
  return Boolean(process.stderr.isTTY);
}
