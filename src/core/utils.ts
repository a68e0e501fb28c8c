/**
 * The message of anything thrown. Duck-typed: errors from another realm (a test runner's
 * sandbox, a worker) are not `instanceof Error`.
 */
export function errorMessage(error: unknown): string {
  const text = (error as { message?: unknown } | null)?.message;
  return typeof text === 'string' ? text : String(error);
}

/**
 * `work`, or a rejection naming `what` once `ms` have passed; the timer never outlives it. A
 * synchronous throw of `work` becomes the rejection. One promise and one timer per call (no
 * race, no finally): this wraps every store call on the request path.
 */
export function withTimeout<T>(work: Promise<T> | (() => T | Promise<T>), ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    const fail = (error: unknown) => {
      clearTimeout(timer);
      reject(error);
    };
    try {
      Promise.resolve(typeof work === 'function' ? work() : work).then((value) => {
        clearTimeout(timer);
        resolve(value);
      }, fail);
    } catch (error) {
      fail(error);
    }
  });
}
