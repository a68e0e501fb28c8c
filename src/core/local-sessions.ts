import { LocalSessionCache } from '../cache/local-session.cache.js';
import type { StoredSessionDetails } from '../stores/session-store.interface.js';
import type { RefusalReason } from '../telemetry/session.telemetry.js';
import type { SessionConnections } from './session-connections.js';
import type { SessionValidation } from './session.interfaces.js';

/** A validation as the core handles it: the app's types are the facade's to apply. */
export type Validation = SessionValidation<unknown, unknown>;

/** A lookup's outcome: the validation (and the details it was made from, to cache), or why the token was refused. */
export type Lookup = { validation: Validation; details: StoredSessionDetails | undefined } | { refused: RefusalReason };

/**
 * What this process holds of sessions: the cache of validated ones, the lookups in flight and the
 * open connections (WebSockets). Authentication fills them; revocation empties them, here and
 * (through the bus) elsewhere.
 */
export class LocalSessions {
  readonly cache: LocalSessionCache | null;
  /** Set once by the service: connections are checked again whenever their token's entry drops. */
  connections: SessionConnections | null = null;
  /**
   * True while the invalidation channel is down: a revocation elsewhere would not be heard, so
   * the cache neither serves nor keeps sessions (every request reads the store) until it is back.
   */
  paused = false;
  // One validation in flight per token: a burst of requests with one token costs one lookup and
  // at most one expiry write. Revocation drops the entry, so nothing that starts after a logout
  // returns can join a lookup that started before it, and a lookup whose entry was dropped
  // does not fill the cache.
  readonly inflight = new Map<string, Promise<Lookup>>();

  constructor(cache: { ttl: number; size: number } | null) {
    this.cache = cache ? new LocalSessionCache(cache.ttl, cache.size) : null;
  }

  /** Forgets the session of one token hash (base64). */
  drop(key: string): void {
    this.inflight.delete(key);
    this.cache?.delete(key);
    this.connections?.evicted(key);
  }

  /** The token hashes (base64) of the cached sessions of a user whose ids `select` accepts. */
  keysOf(userId: string, select: (sessionId: string) => boolean = () => true): string[] {
    return this.cache ? this.cache.keysWhere((entry) => entry.userId === userId && select(entry.id)) : [];
  }

  /** Forgets everything (when evictions may have been missed). */
  clear(): void {
    this.cache?.clear();
    this.inflight.clear();
    this.connections?.recheckAll();
  }
}
