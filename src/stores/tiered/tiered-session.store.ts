import { Logger } from '@nestjs/common';
import { performance } from 'node:perf_hooks';
import type { SharedSessionCache } from './shared-session-cache.interface.js';
import type { MergeDataResult, NewStoredSession, SessionStore, StoredSession } from '../session-store.interface.js';
import { DEFAULT_SHARED_CACHE_TTL_MS } from '../store-defaults.js';
import { errorMessage } from '../../core/utils.js';

/** Options of `TieredSessionStore`. */
export interface TieredSessionStoreOptions {
  /** The longest a session stays in the cache, in ms; never past its expiry either. Default 1 hour. */
  ttlMs?: number;
  /** Cache a session as soon as it is created, so its first request is a hit. Default true. */
  primeOnCreate?: boolean;
  /**
   * A database answer older than this (ms from the start of the call) is not written to the
   * cache. It must stay below the cache's revocation marker lifetime (MemcachedSessionCache's
   * `revokedTtlSeconds`, 60 s by default), which is what stops a slow fill from re-caching a
   * session revoked meanwhile. Default 5000.
   */
  fillWindowMs?: number;
  /** How often evictions that failed are retried, in ms. Default 1000. */
  evictionRetryMs?: number;
  /** The clock expiry checks use (epoch ms); the service's clock. Default `Date.now`. */
  clock?: () => number;
}

/**
 * A `SessionStore` that reads through a shared cache (Memcached) in front of the store of
 * record (the TypeORM store). Lookups by token hash try the cache first; everything else goes
 * to the inner store, and every write keeps the cache right:
 *
 * - a revocation (deleteByTokenHash, deleteById, deleteByUser, replaceTokenHash) deletes from
 *   the store first, then from the cache, and returns only once the cache confirmed it; when
 *   the cache cannot, it rejects, keeps retrying in the background, and stops using the cache
 *   for those hashes meanwhile;
 * - a slid expiry rewrites the cached entry; a refused one drops it (it may be stale);
 * - a change of a session's data, reauthentication time, device key or last device proof
 *   evicts it the way a revocation does (and so it is read from the database until the
 *   cache's revocation marker expires);
 * - fills happen only from a database answer younger than `fillWindowMs`, and the cache
 *   itself refuses a fill of a hash revoked while it was under way.
 *
 * Listing, purging and creating pass through (a new session may prime the cache). The details
 * methods (touch, markReauthenticated, mergeData, bindDeviceKey, acceptDeviceProof) exist only
 * where the inner store has them.
 */
export class TieredSessionStore implements SessionStore {
  private readonly logger = new Logger('TieredSessionStore');
  private readonly ttlMs: number;
  private readonly primeOnCreate: boolean;
  private readonly fillWindowMs: number;
  private readonly evictionRetryMs: number;
  private readonly clock: () => number;
  // Hashes deleted from the store whose eviction from the cache failed: this instance neither
  // reads nor writes them in the cache until a retry succeeds.
  private readonly unevicted = new Map<string, Buffer>();
  private retryTimer?: NodeJS.Timeout;
  private closing?: Promise<void>;

  constructor(
    private readonly inner: SessionStore,
    private readonly cache: SharedSessionCache,
    options: TieredSessionStoreOptions = {},
  ) {
    const { ttlMs = DEFAULT_SHARED_CACHE_TTL_MS, primeOnCreate = true, fillWindowMs = 5_000, evictionRetryMs = 1_000, clock = Date.now } = options;
    if (typeof ttlMs !== 'number' || !(ttlMs > 0)) throw new TypeError(`TieredSessionStore: ttlMs must be a positive number of ms, got ${JSON.stringify(ttlMs)}.`);
    if (typeof fillWindowMs !== 'number' || !(fillWindowMs > 0)) throw new TypeError(`TieredSessionStore: fillWindowMs must be a positive number of ms, got ${JSON.stringify(fillWindowMs)}.`);
    if (!Number.isInteger(evictionRetryMs) || evictionRetryMs < 1) throw new TypeError(`TieredSessionStore: evictionRetryMs must be a positive integer, got ${JSON.stringify(evictionRetryMs)}.`);
    this.ttlMs = ttlMs;
    this.primeOnCreate = primeOnCreate;
    this.fillWindowMs = fillWindowMs;
    this.evictionRetryMs = evictionRetryMs;
    this.clock = clock;
    // Hidden by an own undefined where the inner store lacks them, so a check of the methods
    // (the module's, at startup) sees what the store of record can do.
    for (const method of ['touch', 'markReauthenticated', 'mergeData', 'bindDeviceKey', 'acceptDeviceProof'] as const) {
      if (typeof inner[method] !== 'function') Object.defineProperty(this, method, { value: undefined });
    }
  }

  /** The inner store's startup check (its details table, where the options keep details). */
  async ready(): Promise<void> {
    await this.inner.ready?.();
  }

  async create(session: NewStoredSession): Promise<StoredSession> {
    const started = performance.now();
    const created = await this.inner.create(session);
    if (this.primeOnCreate) await this.fill(created, started);
    return created;
  }

  async findByTokenHash(tokenHash: Buffer): Promise<StoredSession | null> {
    if (!this.unevicted.has(tokenHash.toString('base64'))) {
      const cached = await this.cache.get(tokenHash).catch((error: unknown) => {
        this.logger.debug(`cache get failed: ${errorMessage(error)}`);
        return null;
      });
      // An expired entry is never served (memcached TTLs are whole seconds, rounded up).
      if (cached && cached.tokenHash.equals(tokenHash) && cached.expiresAt.getTime() > this.clock()) return cached;
    }
    const started = performance.now();
    const stored = await this.inner.findByTokenHash(tokenHash);
    if (stored) await this.fill(stored, started);
    return stored;
  }

  async extendExpiry(session: StoredSession, expiresAt: Date, ifBefore: Date, now: Date, seenAt?: Date): Promise<boolean> {
    const started = performance.now();
    const extended = await this.inner.extendExpiry(session, expiresAt, ifBefore, now, seenAt);
    if (extended) {
      const details = session.details && seenAt ? { ...session.details, lastSeenAt: seenAt } : session.details;
      await this.fill({ ...session, expiresAt, ...(details && { details }) }, started);
    } else if (!this.unevicted.has(session.tokenHash.toString('base64'))) {
      // Nothing written: the session is gone, expired, or another instance slid it first. Then
      // the cached copy (if that is where `session` came from) is stale; drop it. Best effort:
      // a stale expiry is earlier than the real one, never later.
      await this.cache.delete([session.tokenHash]).catch((error: unknown) => this.logger.debug(`cache delete failed: ${errorMessage(error)}`));
    }
    return extended;
  }

  // The cached entry keeps the lastSeenAt it had: a validation that finds it older than a step
  // sends another touch, which the inner store's condition answers without a write. Rewriting
  // the entry here would cost three cache round trips per step to save that one.
  touch?(session: StoredSession, seenAt: Date, ifSeenBefore: Date): Promise<boolean> {
    return this.inner.touch!(session, seenAt, ifSeenBefore);
  }

  // Evicted, not rewritten: a fill that read the old row could land after a rewrite and keep
  // the old time until its TTL, while after an eviction the revocation marker makes it remove
  // itself. Resolves only once the cache confirmed it, as a revocation does.
  async markReauthenticated?(tokenHash: Buffer, now: Date): Promise<StoredSession | null> {
    const marked = await this.inner.markReauthenticated!(tokenHash, now);
    if (marked) await this.evict([tokenHash]);
    return marked;
  }

  // As markReauthenticated; nothing was written (too large, no session) leaves the cache alone.
  async mergeData?(tokenHash: Buffer, patch: Record<string, unknown>, maxBytes: number, now: Date): Promise<MergeDataResult> {
    const merged = await this.inner.mergeData!(tokenHash, patch, maxBytes, now);
    if (merged && 'data' in merged) await this.evict([tokenHash]);
    return merged;
  }

  // As markReauthenticated: a cached copy without the key (or with the proof time before this
  // one) must not be served once the store has moved on.
  async bindDeviceKey?(tokenHash: Buffer, key: string, proofAt: Date, now: Date): Promise<StoredSession | null> {
    const bound = await this.inner.bindDeviceKey!(tokenHash, key, proofAt, now);
    if (bound) await this.evict([tokenHash]);
    return bound;
  }

  async acceptDeviceProof?(tokenHash: Buffer, proofAt: Date, now: Date): Promise<StoredSession | null> {
    const accepted = await this.inner.acceptDeviceProof!(tokenHash, proofAt, now);
    if (accepted) await this.evict([tokenHash]);
    return accepted;
  }

  async replaceTokenHash(tokenHash: Buffer, newTokenHash: Buffer, now: Date): Promise<StoredSession | null> {
    const replaced = await this.inner.replaceTokenHash(tokenHash, newTokenHash, now);
    // Evicted even when nothing was replaced: a cached entry of that hash is dead either way.
    await this.evict([tokenHash]);
    return replaced;
  }

  async deleteByTokenHash(tokenHash: Buffer): Promise<StoredSession | null> {
    const removed = await this.inner.deleteByTokenHash(tokenHash);
    await this.evict([tokenHash]);
    return removed;
  }

  async deleteById(userId: string, id: string): Promise<StoredSession | null> {
    const removed = await this.inner.deleteById(userId, id);
    if (removed) await this.evict([removed.tokenHash]);
    return removed;
  }

  async deleteByUser(userId: string, exceptId?: string): Promise<StoredSession[]> {
    const removed = await this.inner.deleteByUser(userId, exceptId);
    await this.evict(removed.map((s) => s.tokenHash));
    return removed;
  }

  listByUser(userId: string, now: Date): Promise<StoredSession[]> {
    return this.inner.listByUser(userId, now);
  }

  // Expired entries leave the cache by their TTL, which never outlives the session.
  deleteExpired(now: Date, limit: number): Promise<number> {
    return this.inner.deleteExpired(now, limit);
  }

  // Memcached being away only slows reads down, so health is the store of record's.
  async ping(): Promise<void> {
    await this.inner.ping?.();
  }

  // Expired entries age out of memcached by their ttl; the lock and the counts are the inner store's.
  withPurgeLock<T>(work: () => Promise<T>): Promise<T | null> {
    return this.inner.withPurgeLock ? this.inner.withPurgeLock(work) : work();
  }

  countSessions(now: Date): Promise<{ live: number; expired: number }> {
    if (!this.inner.countSessions) throw new TypeError('the inner store cannot count sessions');
    return this.inner.countSessions(now);
  }

  /** Closes the cache (after one last try at evictions still pending); idempotent. The inner store is the caller's. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.unevicted.size > 0) {
      const hashes = [...this.unevicted.values()];
      try {
        await this.cache.delete(hashes);
        this.unevicted.clear();
      } catch (error) {
        this.logger.error(`closing with ${hashes.length} revoked session(s) still in the cache (${errorMessage(error)}); they stay there until their TTL`);
      }
    }
    await this.cache.close();
  }

  // Caches a session the store just answered, for min(ttlMs, time to its expiry). Skipped for
  // a slow answer (see fillWindowMs) and for a hash whose eviction is pending. Never fails.
  private async fill(session: StoredSession, startedAt: number): Promise<void> {
    if (this.closing || this.unevicted.has(session.tokenHash.toString('base64'))) return;
    if (performance.now() - startedAt > this.fillWindowMs) return;
    const ttl = Math.min(this.ttlMs, session.expiresAt.getTime() - this.clock());
    if (!(ttl > 0)) return;
    try {
      await this.cache.set(session, ttl);
    } catch (error) {
      this.logger.debug(`cache set failed: ${errorMessage(error)}`);
    }
  }

  // Resolves once the cache has none of these hashes; otherwise remembers them and rejects.
  private async evict(tokenHashes: Buffer[]): Promise<void> {
    if (tokenHashes.length === 0) return;
    try {
      await this.cache.delete(tokenHashes);
    } catch (error) {
      for (const hash of tokenHashes) this.unevicted.set(hash.toString('base64'), hash);
      this.scheduleRetry();
      throw new Error(
        `TieredSessionStore: ${tokenHashes.length} session(s) were deleted from the store but could not be evicted from the cache (${errorMessage(error)}); ` +
          `retrying every ${this.evictionRetryMs} ms, and this instance does not read them from the cache meanwhile.`,
        { cause: error },
      );
    }
    for (const hash of tokenHashes) this.unevicted.delete(hash.toString('base64'));
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.closing) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.retryEvictions();
    }, this.evictionRetryMs);
    this.retryTimer.unref();
  }

  private async retryEvictions(): Promise<void> {
    if (this.closing || this.unevicted.size === 0) return;
    const pending = [...this.unevicted];
    try {
      await this.cache.delete(pending.map(([, hash]) => hash));
    } catch (error) {
      this.logger.debug(`evicting ${pending.length} revoked session(s) failed again: ${errorMessage(error)}`);
      this.scheduleRetry();
      return;
    }
    for (const [key] of pending) this.unevicted.delete(key);
    this.logger.log(`evicted ${pending.length} revoked session(s) from the cache after an earlier failure`);
  }

  /** How many revoked sessions still wait for eviction from the cache (for health checks). */
  get pendingEvictions(): number {
    return this.unevicted.size;
  }
}
