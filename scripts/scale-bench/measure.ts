/** The scale benchmark's load loops and their summaries. */
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { SESSIONS_TABLE, type SessionService } from '../../src/index.js';
import { hashToken } from '../../src/tokens/opaque-token.js';

export const CONCURRENCY = 16;

export interface Summary {
  count: number;
  failures: number;
  seconds: number;
  perSecond: number;
  p50: number; // ms
  p99: number;
  max: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function summarize(latencies: number[], failures: number, seconds: number): Summary {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { count: sorted.length, failures, seconds, perSecond: sorted.length / seconds, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? NaN };
}

/** `stop` as a deadline `ms` from now. */
export const forMs = (ms: number) => {
  const deadline = performance.now() + ms;
  return () => performance.now() >= deadline;
};

/**
 * CONCURRENCY loops, each validating its own slice of the hot tokens (so no two loops share a
 * token and the service's in-flight de-duplication never turns a lookup into a free ride), until
 * `stop`. With the cache off each validation is one SELECT by token hash.
 */
export function validationLoad(sessions: SessionService<{ id: string }>, hot: { token: string; userId: string }[], stop: () => boolean): Promise<Summary> {
  return lookupLoad((token) => sessions.validateSession(token).then((user) => user?.id), hot, stop);
}

/**
 * The floor of a validation at this size: the same loops running the one indexed SELECT by token
 * hash on a pg pool of the same size, prepared as the store prepares its own. Its fall from the
 * smallest size to the largest is PostgreSQL's; ours beyond it would be the library's.
 */
export function rawValidationLoad(pool: pg.Pool, hot: { token: string; userId: string }[], stop: () => boolean): Promise<Summary> {
  const text = `SELECT id, user_id, expires_at, created_at FROM "${SESSIONS_TABLE}" WHERE token = $1`;
  return lookupLoad(async (token) => {
    const { rows } = await pool.query<{ user_id: string }>({ name: 'scale-bench-raw-find', text, values: [hashToken(token)] });
    return rows[0]?.user_id;
  }, hot, stop);
}

// `find` gives the user id a token belongs to; a wrong or missing one counts as a failure.
async function lookupLoad(find: (token: string) => Promise<string | undefined>, hot: { token: string; userId: string }[], stop: () => boolean): Promise<Summary> {
  const latencies: number[] = [];
  let failures = 0;
  const started = performance.now();
  const loop = async (slot: number): Promise<void> => {
    const mine = hot.filter((_, i) => i % CONCURRENCY === slot);
    // Each loop starts at its own random place, so a short run does not walk the same first tokens at every size.
    for (let i = Math.floor(Math.random() * mine.length); !stop(); i = (i + 1) % mine.length) {
      const { token, userId } = mine[i];
      const start = performance.now();
      try {
        const found = await find(token);
        latencies.push(performance.now() - start);
        if (found !== userId) failures += 1;
      } catch {
        latencies.push(performance.now() - start);
        failures += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, slot) => loop(slot)));
  return summarize(latencies, failures, (performance.now() - started) / 1000);
}

/** CONCURRENCY loops logging in random regular users until `stop`; returns which users it logged in. */
export async function loginLoad(sessions: SessionService<{ id: string }>, users: number, stop: () => boolean): Promise<{ summary: Summary; loggedIn: Set<number> }> {
  const latencies: number[] = [];
  const loggedIn = new Set<number>();
  let failures = 0;
  const started = performance.now();
  const loop = async (): Promise<void> => {
    while (!stop()) {
      const u = Math.floor(Math.random() * users);
      loggedIn.add(u);
      const start = performance.now();
      try {
        await sessions.createSession({ userId: `user-${u}` });
      } catch {
        failures += 1;
      }
      latencies.push(performance.now() - start);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, loop));
  return { summary: summarize(latencies, failures, (performance.now() - started) / 1000), loggedIn };
}

/** `calls` sequential listings of `userId`'s sessions, after a few unmeasured ones; fails when one does not list `expected`. */
export async function listingLoad(sessions: SessionService<{ id: string }>, userId: string, expected: number, calls: number): Promise<Summary> {
  const latencies: number[] = [];
  let failures = 0;
  for (let i = 0; i < 5; i += 1) await sessions.listUserSessions(userId);
  const started = performance.now();
  for (let i = 0; i < calls; i += 1) {
    const start = performance.now();
    const listed = await sessions.listUserSessions(userId);
    latencies.push(performance.now() - start);
    if (listed.length !== expected) failures += 1;
  }
  return summarize(latencies, failures, (performance.now() - started) / 1000);
}
