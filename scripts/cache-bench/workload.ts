import { performance } from 'node:perf_hooks';
import type { SessionService } from '../../src/index.js';

/** Which session the next request presents: an index into the loaded sessions. */
export type Pattern = { name: string; next: () => number };

/** Every session as likely as any other. */
export function uniform(n: number): Pattern {
  return { name: 'uniform', next: () => Math.floor(Math.random() * n) };
}

/**
 * Zipf (s = 1) over the sessions in a shuffled order, so the hot ones are not the first loaded:
 * the top 10% of sessions take about 80% of the requests (for 100,000: the top 10,000, 81%),
 * "some users are much more active".
 */
export function zipf(n: number, s = 1): Pattern {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 0; k < n; k++) cdf[k] = sum += 1 / (k + 1) ** s;
  for (let k = 0; k < n; k++) cdf[k] /= sum;
  const order = Uint32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const next = () => {
    const u = Math.random();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return order[lo];
  };
  return { name: 'zipf', next };
}

export interface LoadResult {
  requests: number;
  failures: number;
  seconds: number;
  p50: number; // ms
  p99: number; // ms
}

/** `loops` concurrent loops validating `pattern`'s tokens for `ms`, or over `indexes` once when given. */
export async function drive(
  sessions: SessionService<{ id: string }>,
  tokens: readonly string[],
  userIds: readonly string[],
  loops: number,
  work: { pattern: Pattern; ms: number } | { indexes: ArrayLike<number> },
): Promise<LoadResult> {
  const latencies: number[] = [];
  let failures = 0;
  let cursor = 0;
  const started = performance.now();
  const deadline = 'ms' in work ? started + work.ms : Infinity;
  const pick = 'indexes' in work ? () => (cursor < work.indexes.length ? work.indexes[cursor++] : -1) : work.pattern.next;
  const loop = async (): Promise<void> => {
    for (;;) {
      const i = pick();
      if (i < 0 || performance.now() >= deadline) return;
      const start = performance.now();
      try {
        const user = await sessions.validateSession(tokens[i]);
        if (user?.id !== userIds[i]) failures += 1;
      } catch {
        failures += 1;
      }
      latencies.push(performance.now() - start);
    }
  };
  await Promise.all(Array.from({ length: loops }, loop));
  const seconds = (performance.now() - started) / 1000;
  const sorted = Float64Array.from(latencies).sort();
  const at = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] : NaN);
  return { requests: latencies.length, failures, seconds, p50: at(0.5), p99: at(0.99) };
}
