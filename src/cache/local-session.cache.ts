import { LRUCache } from 'lru-cache';
import { type CachedSession, type CachedSessionInput, cachedSession } from './cached-entry.js';

export type { CachedSession } from './cached-entry.js';

/**
 * The in-process LRU of validated sessions, keyed by token hash. A hit costs no I/O. Entries
 * carry their own deadline on the service's clock, so none outlives its session even when the
 * clock is not the wall clock; the size bound keeps the memory bounded.
 */
export class LocalSessionCache<TUser = unknown> {
  // Protected for scripts/cache-bench's byte-bounded variant, the comparison issue 20 asked for.
  protected lru: LRUCache<string, CachedSession<TUser>>;

  constructor(
    private readonly ttl: number,
    size: number,
  ) {
    this.lru = new LRUCache<string, CachedSession<TUser>>({ max: size });
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
  set(key: string, entry: CachedSessionInput<TUser>, now: number, deadline: number): void {
    const until = Math.min(now + this.ttl, deadline);
    if (until <= now) return;
    this.lru.set(key, cachedSession(entry, until));
  }

  delete(key: string): void {
    this.lru.delete(key);
  }

  /** The keys of the entries that `match`: a scan, for the rare revocation by user. */
  keysWhere(match: (entry: CachedSession<TUser>) => boolean): string[] {
    const keys: string[] = [];
    for (const [key, entry] of this.lru.entries()) if (match(entry)) keys.push(key);
    return keys;
  }

  clear(): void {
    this.lru.clear();
  }

  get size(): number {
    return this.lru.size;
  }
}
