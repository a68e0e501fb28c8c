/**
 * Memory per cached session: run as `node --expose-gc --import tsx bench/memory.ts` (by
 * bench/run.ts, or alone). Fills the cache of a real SessionService (cache size = N) through its
 * real validation path (authenticate: token shape check, hash, miss, lookup, resolveUser, cache
 * fill) with N distinct sessions of N distinct users, and measures the heap it retains.
 *
 * The store and resolveUser answer from memory, shaped as the TypeORM store and a pg row make
 * them (bigint id as a string, uuid user id, Buffer hash, Dates; the user {id, email} a new
 * object with its own strings), and keep nothing themselves: what stays on the heap is what
 * the service keeps. The baseline is taken before the service exists, so the cache's own
 * preallocated arrays (lru-cache sizes them by `max`) are counted too.
 */
import { randomUUID } from 'node:crypto';
import { NoopInvalidationBus } from '../src/invalidation/noop-invalidation.bus.js';
import { resolveSessionOptions } from '../src/options/resolve-options.js';
import { SessionService } from '../src/core/session.service.js';
import { SessionTelemetry } from '../src/telemetry/session.telemetry.js';
import { generateToken } from '../src/tokens/opaque-token.js';
import type { SessionStore, StoredSession } from '../src/stores/session-store.interface.js';
import { runChild } from './common.js';

const ENTRIES = Number(process.env.BENCH_MEMORY_ENTRIES ?? 100_000);
const BATCH = 1_000;

export interface MemoryResult {
  entries: number;
  cached: number;
  bytesPerSession: number;
  heapBeforeMb: number;
  heapAfterMb: number;
}

const flat = (text: string) => Buffer.from(text, 'latin1').toString('latin1');

function heapUsed(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  for (let i = 0; i < 4; i++) gc();
  return process.memoryUsage().heapUsed;
}

async function main(): Promise<MemoryResult> {
  const now = Date.now();
  let nextId = 1_000_000;
  // Answers like TypeORM's store: each call a new row, nothing kept here.
  const store = {
    async findByTokenHash(tokenHash: Buffer): Promise<StoredSession> {
      nextId += 1;
      return {
        id: String(nextId),
        userId: randomUUID(),
        tokenHash: Buffer.from(tokenHash),
        expiresAt: new Date(now + 30 * 86_400_000 - 3_600_000), // slid an hour ago: no write due
        createdAt: new Date(now - 86_400_000),
      };
    },
    async extendExpiry(): Promise<boolean> {
      return false;
    },
  } as unknown as SessionStore;
  const options = resolveSessionOptions({
    // A pg row of its own: flat strings decoded from the wire, as pg makes them (not the
    // session row's userId string, and not a concatenation).
    resolveUser: (userId: string) => ({ id: flat(userId), email: flat(`user-${userId.slice(0, 8)}@example.com`) }),
    cache: { ttl: '1h', size: ENTRIES },
    broadcast: false,
    cleanup: false,
  });

  const before = heapUsed();
  const telemetry = new SessionTelemetry({} as never); // no onModuleInit: no metrics, no events
  const service = new SessionService(options, store, new NoopInvalidationBus(), telemetry);
  let accepted = 0;
  for (let i = 0; i < ENTRIES; i += BATCH) {
    const results = await Promise.all(Array.from({ length: Math.min(BATCH, ENTRIES - i) }, () => service.validateSession(generateToken())));
    accepted += results.filter((user) => user !== null).length;
  }
  const after = heapUsed();
  // Read after the measurement, so the service (and its cache) is alive through it. The cache is
  // the authenticator's (core/local-sessions.ts), private to the service.
  const cached = (service as unknown as { authenticator: { local: { cache: { size: number } } } }).authenticator.local.cache.size;
  if (accepted !== ENTRIES || cached !== ENTRIES) throw new Error(`expected ${ENTRIES} cached sessions, got ${accepted} accepted, ${cached} cached`);
  return {
    entries: ENTRIES,
    cached,
    bytesPerSession: (after - before) / ENTRIES,
    heapBeforeMb: before / 2 ** 20,
    heapAfterMb: after / 2 ** 20,
  };
}

await runChild(main);
