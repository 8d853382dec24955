/**
 * Promise helpers for tests: await an event with a timeout instead of sleeping.
 */

export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A deferred nobody awaited must not turn into an unhandled rejection of its own.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/** Rejects with a message naming `what` when `promise` has not settled within `ms`. */
export function withTimeout<T>(promise: Promise<T>, what: string, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Re-checks `predicate` whenever `subscribe`'s callback fires (e.g. on each new event) and resolves
 * with its first truthy result; rejects after `ms`.
 */
export function waitFor<T>(
  subscribe: (notify: () => void) => () => void,
  predicate: () => T | undefined | null | false,
  what: string,
  ms = 5000,
): Promise<T> {
  const d = deferred<T>();
  const check = (): void => {
    try {
      const value = predicate();
      if (value) d.resolve(value);
    } catch (error) {
      d.reject(error);
    }
  };
  const unsubscribe = subscribe(check);
  check();
  return withTimeout(d.promise, what, ms).finally(unsubscribe);
}

/** Resolves with the first `event` emitted by `emitter` (its arguments as an array). */
export function once<A extends unknown[] = unknown[]>(
  emitter: NodeJS.EventEmitter,
  event: string,
  what = event,
  ms = 5000,
): Promise<A> {
  const d = deferred<A>();
  const listener = (...args: unknown[]): void => d.resolve(args as A);
  emitter.once(event, listener);
  return withTimeout(d.promise, what, ms).finally(() => emitter.removeListener(event, listener));
}
