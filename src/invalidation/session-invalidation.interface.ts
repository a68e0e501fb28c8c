/** What an instance does with what the invalidation channel tells it. */
export interface InvalidationListener {
  /** Another instance revoked these sessions (SHA-256 token hashes): drop them from the local cache. */
  evict(tokenHashes: Buffer[]): void;
  /** The channel was lost or is back after a gap: evictions may have been missed, so drop everything. */
  reset(): void;
  /**
   * The channel is down (lost, or reconnected but not yet confirmed): evictions sent now would
   * not be heard, so the cache must not serve or keep sessions until `resumed`. Optional for a
   * bus of your own; the built-in buses call both.
   */
  paused?(): void;
  /** The channel is confirmed again (after a `reset`): the cache may serve once more. */
  resumed?(): void;
}

/**
 * Carries revocations between instances so every local cache drops a revoked session at once.
 * Implementations: PostgreSQL LISTEN/NOTIFY (default), Redis pub/sub.
 */
export interface SessionInvalidationBus {
  /**
   * Subscribes `listener`; resolves once the subscription is live. Rejects when the channel
   * cannot be reached at startup. After that, a lost connection calls `listener.reset()` and
   * is re-established with backoff, without further calls.
   */
  start(listener: InvalidationListener): Promise<void>;
  /** Tells every other instance (not this one) to evict these token hashes. */
  publish(tokenHashes: Buffer[]): Promise<void>;
  /** Unsubscribes and closes the connections the bus opened; idempotent. */
  close(): Promise<void>;
}

/** Injection token of the active `SessionInvalidationBus`. */
export const SessionInvalidationBus = Symbol('SessionInvalidationBus');
