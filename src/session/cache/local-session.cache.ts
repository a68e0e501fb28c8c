import { LRUCache } from 'lru-cache';
import type { StoredSession } from '../stores/session-store.interface.js';

/** A validated session and its user, as the local cache keeps them. */
export interface CachedSession<TUser = unknown> {
  stored: StoredSession;
  user: TUser;
  /** Epoch ms (on the service's clock) after which the entry is not used: ttl or the session's end. */
  until: number;
}

/**
 * The in-process LRU of validated sessions, keyed by token hash. A hit costs no I/O. Entries
 * carry their own deadline on the service's clock, so none outlives its session even when the
 * clock is not the wall clock; the LRU's own ttl only frees the memory.
 */
export class LocalSessionCache<TUser = unknown> {
  private readonly lru: LRUCache<string, CachedSession<TUser>>;

  constructor(
    private readonly ttl: number,
    size: number,
  ) {
    this.lru = new LRUCache<string, CachedSession<TUser>>({ max: size, ttl, ttlAutopurge: false, updateAgeOnGet: false });
  }

  get(key: string, now: number): CachedSession<TUser> | undefined {
    const entry = this.lru.get(key);
    if (entry && now >= entry.until) {
      this.lru.delete(key);
      return undefined;
    }
    return entry;
  }

  /** Caches until the ttl or `deadline`, whichever is first; nothing when that is already past. */
  set(key: string, stored: StoredSession, user: TUser, now: number, deadline: number): void {
    const until = Math.min(now + this.ttl, deadline);
    if (until <= now) return;
    this.lru.set(key, { stored, user, until }, { ttl: until - now });
  }

  delete(key: string): void {
    this.lru.delete(key);
  }

  clear(): void {
    this.lru.clear();
  }

  get size(): number {
    return this.lru.size;
  }
}
