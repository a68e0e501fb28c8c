import { Logger } from '@nestjs/common';
import type { InvalidationListener, SessionInvalidationBus } from '../invalidation/session-invalidation.interface.js';
import type { SessionStore, StoredSession } from '../stores/session-store.interface.js';
import { type SessionRevokedEvent, SessionEvents } from '../telemetry/session.events.js';
import type { SessionTelemetry } from '../telemetry/session.telemetry.js';
import { hashToken } from '../tokens/opaque-token.js';
import type { SessionTokens } from '../tokens/session-tokens.js';
import type { LocalSessions } from './local-sessions.js';
import type { SessionClientInfo, UserId } from './session.interfaces.js';
import { isSessionId, normalizeUserId, toSession } from './session-values.js';
import type { StoreCalls } from './store-calls.js';
import { errorMessage } from './utils.js';

/** Why a session was revoked (the `reason` of `session.revoked`). */
export type RevokeReason = SessionRevokedEvent['reason'];

/**
 * Ends sessions: in the store, then in this process's cache and, through the invalidation bus,
 * in every other instance's.
 */
export class SessionRevoker {
  private readonly logger = new Logger('SessionService');

  constructor(
    private readonly store: SessionStore,
    private readonly bus: SessionInvalidationBus,
    private readonly calls: StoreCalls,
    private readonly telemetry: SessionTelemetry,
    private readonly local: LocalSessions,
    private readonly tokens: SessionTokens,
  ) {}

  private listening: Promise<void> | null = null;

  /** Listens for the other instances' revocations when a cache could hold a revoked session. */
  async start(): Promise<void> {
    if (this.local.cache) await this.listen();
  }

  /**
   * Listens for the other instances' revocations, once: at startup with a cache, else when the
   * first connection opens (only a cache or a connection can outlive a revocation here). A
   * failed start is tried again by the next caller.
   */
  listen(): Promise<void> {
    if (this.listening) return this.listening;
    const listener: InvalidationListener = {
      evict: (tokenHashes) => {
        for (const hash of tokenHashes) this.local.drop(hash.toString('base64'));
      },
      reset: () => this.local.clear(),
      paused: () => {
        this.local.paused = true;
      },
      resumed: () => {
        this.local.paused = false;
      },
    };
    this.listening = this.bus.start(listener).catch((error: unknown) => {
      this.listening = null;
      throw error;
    });
    return this.listening;
  }

  close(): Promise<void> {
    return this.bus.close();
  }

  /** Ends the session of a hash a refusal named (a token from another agent, with bindToUserAgent.revoke); false when there was none. */
  async revokeTokenHash(tokenHash: Buffer, reason: RevokeReason): Promise<boolean> {
    const removed = await this.ending('deleteByTokenHash', [tokenHash], () => this.store.deleteByTokenHash(tokenHash), (s) => (s ? [s] : []));
    if (!removed) return false;
    this.announce([removed], reason);
    return true;
  }

  /** Logs a token out. Idempotent: true if a session was removed, false otherwise. */
  async revokeSession(presented: unknown, client: SessionClientInfo | undefined): Promise<boolean> {
    this.tokens.requireAgent(client, 'revokeSession');
    const unwrapped = await this.tokens.unwrap(presented, client, { now: 0, ignoreExpiry: true });
    if ('refused' in unwrapped) return false;
    const tokenHash = hashToken(unwrapped.token);
    // Evicted whatever the store says: a retried logout of a session already gone still reaches
    // a cache that kept it.
    const removed = await this.ending('deleteByTokenHash', [tokenHash], () => this.store.deleteByTokenHash(tokenHash), (s) => (s ? [s] : []));
    if (!removed) return false;
    this.announce([removed], 'logout');
    return true;
  }

  /** Ends every session of a user but `keptSessionId` (when given); returns how many ended. */
  async revokeUserSessions(userId: UserId, keptSessionId?: string): Promise<number> {
    const id = normalizeUserId(userId);
    const known = this.cachedOf(id, (sessionId) => sessionId !== keptSessionId);
    const removed = await this.ending('deleteByUser', known, () => this.store.deleteByUser(id, keptSessionId), (s) => s);
    this.announce(removed);
    this.telemetry.emit(SessionEvents.AllRevoked, keptSessionId === undefined ? { userId: id, count: removed.length } : { userId: id, count: removed.length, keptSessionId });
    return removed.length;
  }

  /** Ends one session of a user, by id; false when it is not one of that user's sessions. */
  async revokeUserSession(userId: UserId, sessionId: string): Promise<boolean> {
    if (!isSessionId(sessionId)) return false;
    const id = normalizeUserId(userId);
    const removed = await this.ending('deleteById', this.cachedOf(id, (cached) => cached === sessionId), () => this.store.deleteById(id, sessionId), (s) => (s ? [s] : []));
    if (!removed) return false;
    this.announce([removed], 'revoked');
    return true;
  }

  /**
   * Runs a store call that ends sessions so that no answer of the store can leave one alive in
   * a cache: the `known` hashes are evicted here and everywhere before it, and what it ended is
   * evicted as soon as it settles, also when that is after storeTimeout gave up on it (the
   * DELETE may still commit) or when it failed.
   */
  async ending<T>(operation: string, known: Buffer[], work: () => Promise<T>, ended: (result: T) => StoredSession[], bounded = true): Promise<T> {
    const pending = Promise.resolve().then(work);
    // Handled from the start: a store call that fails while the broadcast below is still
    // failing too must not be an unhandled rejection (Node would end the process).
    pending.catch(() => undefined);
    await this.evict(known);
    let result: T;
    try {
      // Unbounded for a caller that bounds its own wait (a refresh, whose late answer a retry takes).
      result = bounded ? await this.calls.run(operation, () => pending) : await pending;
    } catch (error) {
      // Late (the DELETE may still commit) or failed: once it settles, evict again.
      pending.then(
        (late) => this.evict(distinct([...known, ...ended(late).map((s) => s.tokenHash)])),
        () => this.evict(known),
      );
      throw error;
    }
    await this.evict(ended(result).map((s) => s.tokenHash));
    return result;
  }

  // The hashes of what this instance caches of a user (or one session): evicted before the
  // store is asked, since the store gives the rest only once it answers.
  private cachedOf(userId: string, select?: (sessionId: string) => boolean): Buffer[] {
    return this.local.keysOf(userId, select).map((key) => Buffer.from(key, 'base64'));
  }

  /** Sessions the store no longer holds: counted, evicted everywhere, and announced with `reason`. */
  async revoked(removed: StoredSession[], reason?: RevokeReason): Promise<void> {
    if (removed.length === 0) return;
    await this.evict(removed.map((s) => s.tokenHash));
    this.announce(removed, reason);
  }

  // Counted and, with a reason, emitted; their eviction is the caller's.
  private announce(removed: StoredSession[], reason?: RevokeReason): void {
    if (removed.length === 0) return;
    this.telemetry.revoked(removed.length);
    if (reason) for (const session of removed) this.telemetry.emit(SessionEvents.Revoked, { session: toSession(session), reason });
  }

  /**
   * Token hashes whose cached sessions are stale (revoked, rotated away, or their user's
   * privileges changed): dropped here at once, then on the other instances. A failed broadcast
   * does not undo anything (the store has it); it is logged, and other caches age it out.
   */
  async evict(tokenHashes: Buffer[]): Promise<void> {
    if (tokenHashes.length === 0) return;
    for (const hash of tokenHashes) this.local.drop(hash.toString('base64'));
    try {
      // Bounded like the store: a logout waits for its broadcast, never for a hung channel.
      await this.calls.run('publish', () => this.bus.publish(tokenHashes));
    } catch (error) {
      this.logger.error(`revocation of ${tokenHashes.length} session(s) not broadcast: ${errorMessage(error)}`);
    }
  }
}

function distinct(hashes: Buffer[]): Buffer[] {
  const seen = new Set<string>();
  return hashes.filter((hash) => {
    const key = hash.toString('base64');
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
