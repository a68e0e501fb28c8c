import type { StoredSession } from '../session-store.interface.js';

/**
 * A cache shared by all instances (Memcached), in front of the store of record. It holds
 * session rows by token hash; it is never asked to list or find by user.
 */
export interface SharedSessionCache {
  /** The cached session, or null on a miss (or when the cache server cannot answer). */
  get(tokenHash: Buffer): Promise<StoredSession | null>;
  /** Caches `session` for at most `ttlMs`. */
  set(session: StoredSession, ttlMs: number): Promise<void>;
  /** Removes these entries; resolves once the server has deleted them. */
  delete(tokenHashes: Buffer[]): Promise<void>;
  /** Closes the client; idempotent. */
  close(): Promise<void>;
}
