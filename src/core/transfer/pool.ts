import { throwIfAborted } from '../errors';

/**
 * Runs `fn` over `items` with at most `limit` at once, in order of start. The first failure
 * aborts the others (through the signal handed to `fn`) and is what the call rejects with.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, signal: AbortSignal) => Promise<R>, signal?: AbortSignal): Promise<R[]> {
  const inner = new AbortController();
  const onAbort = () => inner.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { e: unknown } | undefined;
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      const i = next++;
      try {
        throwIfAborted(inner.signal);
        results[i] = await fn(items[i]!, inner.signal);
      } catch (e) {
        if (failure === undefined) failure = { e };
        inner.abort(e);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  if (failure) throw failure.e;
  return results;
}
