/**
 * Waiting and cancelling, one way for the whole code base: `timers/promises` (no listener
 * left behind, an already-aborted signal rejects at once) and `AbortSignal.any`.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { cancelled } from '../errors';

/** Waits `ms`; rejects with CANCELLED at once when `signal` is (or becomes) aborted. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) throw cancelled(signal);
  try {
    await delay(ms, undefined, signal ? { signal } : undefined);
  } catch (e) {
    if (signal?.aborted) throw cancelled(signal);
    throw e;
  }
}

/** A signal that aborts when any of the given ones does (the undefined ones are left out). */
export function anySignal(...signals: (AbortSignal | undefined)[]): AbortSignal | undefined {
  const present = signals.filter((s): s is AbortSignal => s !== undefined);
  if (present.length <= 1) return present[0];
  return AbortSignal.any(present);
}
