/**
 * A promise with its resolve and reject at hand. A caller that stops waiting (a failed
 * transfer) must not see an unhandled rejection, so a rejection nobody awaits is dropped.
 */
export function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}
