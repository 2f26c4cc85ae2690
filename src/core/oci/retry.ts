/**
 * Retries of registry requests: which failures are worth another try, how long to wait,
 * and the one budget an operation (a blob push, a download, a manifest fetch) draws every
 * attempt from, whichever step (a PATCH, the commit PUT, a HEAD) it is in. One public call,
 * one budget: nested steps never bring budgets of their own, so attempts cannot multiply.
 */
import { sleep } from '../util/abort';
import { describeOperation, OmlmdError, type Operation } from '../errors';

export interface RetryPolicy {
  /** Retries after the first attempt. */
  retries: number;
  /** The first backoff's ceiling; it doubles per attempt, with full jitter. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** A `Retry-After` longer than this is not waited for: the step fails with the registry's answer. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { retries: 4, baseDelayMs: 500, maxDelayMs: 20_000, maxRetryAfterMs: 120_000 };

/** What a retry is about to do, for a log line or a status bar; never holds a secret. */
export interface RetryEvent {
  /** What was being done, worded (`push blob … to …`): {@link describeOperation} of `operation`. */
  action: string;
  operation: Operation;
  /** 1 for the first retry. */
  attempt: number;
  retries: number;
  delayMs: number;
  /** `HTTP 503`, `connection reset (ECONNRESET)`, … */
  reason: string;
}

export const RETRYABLE_STATUS: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);
/** Connection failures worth another try; refused connections and unknown hosts are not (nothing listens). */
export const RETRYABLE_ERRNO: ReadonlySet<string> = new Set([
  'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH',
  'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT',
]);

/** The Retry-After a failed response asked for, kept beside the error rather than in it. */
const retryAfterOf = new WeakMap<OmlmdError, number>();

export function rememberRetryAfter(e: OmlmdError, ms: number | undefined): void {
  if (ms !== undefined) retryAfterOf.set(e, ms);
}

/** The wait a registry asked for with Retry-After on the response behind this error, in ms. */
export function retryAfter(e: unknown): number | undefined {
  return e instanceof OmlmdError ? retryAfterOf.get(e) : undefined;
}

/** The errno-like code of an error or of one of its causes (`ECONNRESET`, `UND_ERR_SOCKET`, …). */
export function errnoCode(e: unknown): string {
  for (let cur: unknown = e, depth = 0; cur && depth < 5; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'NETWORK' && code !== 'TLS') return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return '';
}

/** Seconds or an HTTP date (RFC 9110 §10.2.3), as milliseconds from now; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Exponential backoff with full jitter: a random wait up to base·2^(attempt-1), capped. */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(random() * ceiling);
}

/** Whether a failed step may be tried again: a connection that broke, or a 408, 429, 5xx. */
export function isRetryable(e: unknown): boolean {
  if (!(e instanceof OmlmdError) || e.code === 'CANCELLED' || e.code === 'TLS') return false;
  if (e.status !== undefined) return RETRYABLE_STATUS.has(e.status);
  return e.code === 'NETWORK' && RETRYABLE_ERRNO.has(errnoCode(e.cause));
}


function reasonOf(e: OmlmdError): string {
  if (e.status !== undefined) return `HTTP ${e.status}`;
  const code = errnoCode(e.cause);
  return code ? `connection failed (${code})` : e.code;
}

/**
 * The retries one operation may still make. Created by the public method (or by the
 * request itself when it is the whole operation) and handed to every step and request
 * inside it; each retry, wherever it happens, takes one attempt from it.
 */
export class RetryBudget {
  private used = 0;

  constructor(
    readonly policy: RetryPolicy,
    readonly operation: Operation,
    private readonly onRetry?: (e: RetryEvent) => void,
  ) {}

  /** Retries taken so far. */
  get spent(): number {
    return this.used;
  }

  /** Takes one attempt without waiting (a step that must be redone, not a failure); false when none is left. */
  take(): boolean {
    if (this.used >= this.policy.retries) return false;
    this.used++;
    return true;
  }

  /**
   * Waits before another attempt after `e` and takes it from the budget. False when the
   * step must not be retried: the error is not transient, the budget is spent, or the
   * registry asks (Retry-After) for a longer wait than the policy allows.
   */
  async retry(e: unknown, signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted || !isRetryable(e)) return false;
    const err = e as OmlmdError;
    const asked = retryAfter(err);
    if (asked !== undefined && asked > this.policy.maxRetryAfterMs) return false;
    if (!this.take()) return false;
    const delayMs = asked ?? backoffDelay(this.used, this.policy);
    this.onRetry?.({ action: describeOperation(this.operation), operation: this.operation, attempt: this.used, retries: this.policy.retries, delayMs, reason: reasonOf(err) });
    await sleep(delayMs, signal);
    return true;
  }

  /** The operation made progress (a download delivered bytes since the last failure): the attempts so far are forgiven. */
  renew(): void {
    this.used = 0;
  }
}

export { sleep };
