/**
 * The message of anything thrown. Duck-typed: errors from another realm (a test runner's
 * sandbox, a worker) are not `instanceof Error`.
 */
export function errorMessage(error: unknown): string {
  const text = (error as { message?: unknown } | null)?.message;
  return typeof text === 'string' ? text : String(error);
}

/** `work`, or a rejection naming `what` once `ms` have passed; the timer never outlives it. */
export function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms))),
  ]).finally(() => clearTimeout(timer));
}
