import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit, Optional } from '@nestjs/common';
import { LocalSessionCache } from './cache/local-session.cache.js';
import { type InvalidationListener, SessionInvalidationBus } from './invalidation/session-invalidation.interface.js';
import { SESSION_OPTIONS, SESSION_USERS } from './session.constants.js';
import { SessionEvents } from './session.events.js';
import { SessionStoreUnavailableException } from './session.exceptions.js';
import type { IssuedSession, Session, SessionValidation, UserId } from './session.interfaces.js';
import type { ResolvedSessionOptions } from './session.options.js';
import { type RefusalReason, SessionTelemetry } from './session.telemetry.js';
import { generateToken, hashToken, hashTokenBase64, isWellFormedToken } from './session-token.js';
import type { EntityUsers } from './stores/entity-users.js';
import { SessionStore, type StoredSession } from './stores/session-store.interface.js';
import { errorMessage, withTimeout } from './session.utils.js';

/** Options of `createSession`. */
export interface CreateSessionInput {
  userId: UserId;
  /** The first expiry, instead of now + maxAge; still capped by absoluteMaxAge. */
  expires?: Date;
}

type Lookup<TUser> = { validation: SessionValidation<TUser> } | { refused: RefusalReason };

const SESSION_ID = /^[1-9]\d{0,18}$/;
const MAX_BIGINT = 9_223_372_036_854_775_807n;

// A session id as the table can hold it: a positive bigint. Anything else is nobody's session.
function isSessionId(value: unknown): value is string {
  return typeof value === 'string' && SESSION_ID.test(value) && BigInt(value) <= MAX_BIGINT;
}

function toSession(stored: StoredSession, expires = stored.expiresAt): Session {
  return { id: stored.id, userId: stored.userId, expires, createdAt: stored.createdAt };
}

function normalizeUserId(userId: unknown): string {
  if ((typeof userId === 'string' && userId !== '') || typeof userId === 'bigint' || (typeof userId === 'number' && Number.isSafeInteger(userId))) {
    return String(userId);
  }
  throw new TypeError(`SessionService: userId must be a non-empty string or an integer, got ${typeof userId}.`);
}

/**
 * Creates, validates, slides, rotates and revokes sessions. Tokens are checked for shape before
 * any I/O and only their SHA-256 reaches the store.
 */
@Injectable()
export class SessionService<TUser = unknown> implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('SessionService');
  // One validation in flight per token: a burst of requests with one token costs one lookup and
  // at most one expiry write. Revocation drops the entry, so nothing that starts after a logout
  // returns can join a lookup that started before it, and a lookup whose entry was dropped
  // does not fill the cache.
  private readonly inflight = new Map<string, Promise<Lookup<TUser>>>();
  private readonly cache: LocalSessionCache<TUser> | null;
  private readonly resolveUser: (userId: string) => unknown;

  constructor(
    @Inject(SESSION_OPTIONS) private readonly options: ResolvedSessionOptions,
    @Inject(SessionStore) private readonly store: SessionStore,
    @Inject(SessionInvalidationBus) private readonly bus: SessionInvalidationBus,
    @Inject(SessionTelemetry) private readonly telemetry: SessionTelemetry,
    @Optional() @Inject(SESSION_USERS) users?: EntityUsers | null,
  ) {
    this.cache = options.cache ? new LocalSessionCache<TUser>(options.cache.ttl, options.cache.size) : null;
    const resolveUser = options.resolveUser ?? (users ? (userId: string) => users.findById(userId) : null);
    if (!resolveUser) throw new TypeError('SessionService: options.userEntity needs the EntityUsers of the module; create the service through SessionModule.');
    this.resolveUser = resolveUser;
  }

  async onModuleInit(): Promise<void> {
    const count = this.store.countSessions?.bind(this.store);
    if (count) this.telemetry.countLiveWith(async () => (await count(new Date(this.options.clock()))).live);
    // Only a cache can hold a revoked session, so only a cache needs to hear of revocations.
    if (!this.cache) return;
    const listener: InvalidationListener = {
      evict: (tokenHashes) => {
        for (const hash of tokenHashes) this.drop(hash.toString('base64'));
      },
      reset: () => {
        this.cache?.clear();
        this.inflight.clear();
      },
    };
    await this.bus.start(listener);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.bus.close();
  }

  /** A new session for `userId`; the plain token is returned here and never again. */
  async createSession(input: CreateSessionInput): Promise<IssuedSession> {
    const userId = normalizeUserId(input?.userId);
    const now = this.options.clock();
    let expires = now + this.options.maxAge;
    if (input.expires !== undefined) {
      const requested = input.expires instanceof Date ? input.expires.getTime() : NaN;
      if (!(requested > now)) {
        throw new TypeError('SessionService.createSession: expires must be a Date in the future.');
      }
      expires = requested;
    }
    if (this.options.absoluteMaxAge !== null) expires = Math.min(expires, now + this.options.absoluteMaxAge);

    const token = generateToken();
    const stored = await this.io('create', () =>
      this.store.create({ userId, tokenHash: hashToken(token), expiresAt: new Date(expires), createdAt: new Date(now) }),
    );
    const session = toSession(stored);
    this.telemetry.created();
    this.telemetry.emit(SessionEvents.Created, { session });
    return { token, session };
  }

  /** The user of a live session, or null; slides the expiry. Never throws for a bad token. */
  async validateSession(token: unknown): Promise<TUser | null> {
    return (await this.authenticate(token))?.user ?? null;
  }

  /**
   * Like `validateSession`, with the session and whether its expiry slid (so a cookie can be
   * re-sent). Null for a malformed, unknown, expired or orphaned token; throws only when the
   * store fails or exceeds storeTimeout (SessionStoreUnavailableException, a 503).
   */
  async authenticate(token: unknown): Promise<SessionValidation<TUser> | null> {
    if (!isWellFormedToken(token)) return this.refuse('malformed');
    const key = hashTokenBase64(token);

    // A hit costs no I/O, unless the expiry is due to slide: then it goes the way of a miss,
    // which writes the expiry and re-reads the user, once per updateAge.
    const now = this.options.clock();
    const cached = this.cache?.get(key, now);
    if (cached && !this.slide(cached.expiresAt, cached.createdAt, now).due) {
      this.telemetry.validated('hit');
      const session = { id: cached.id, userId: cached.userId, expires: new Date(cached.expiresAt), createdAt: new Date(cached.createdAt) };
      return { user: cached.user, session, refreshed: false };
    }

    let pending = this.inflight.get(key);
    if (!pending) {
      const current: Promise<Lookup<TUser>> = this.lookup(Buffer.from(key, 'base64'))
        .then((result) => {
          if ('validation' in result && this.inflight.get(key) === current) {
            const { session, user } = result.validation;
            const expiresAt = session.expires.getTime();
            const createdAt = session.createdAt.getTime();
            this.cache?.set(key, { id: session.id, userId: session.userId, expiresAt, createdAt, user }, this.options.clock(), this.deadline(expiresAt, createdAt));
          }
          return result;
        })
        .finally(() => {
          if (this.inflight.get(key) === current) this.inflight.delete(key);
        });
      pending = current;
      this.inflight.set(key, pending);
    }
    const result = await pending;
    if ('refused' in result) return this.refuse(result.refused);
    this.telemetry.validated(this.cache ? 'miss' : 'off');
    return result.validation;
  }

  private refuse(reason: RefusalReason): null {
    this.logger.debug(`refused: ${reason.replace(/_/g, ' ')}`);
    this.telemetry.refused(reason);
    return null;
  }

  // The expiry slides once it would move by at least updateAge (its last write is that old),
  // and once more to land exactly on the absolute cap, so an active session lives to the cap.
  private slide(expiresAt: number, createdAt: number, now: number): { due: boolean; next: number; staleBelow: number } {
    const cap = this.capOf(createdAt);
    const next = Math.min(now + this.options.maxAge, cap);
    const atCap = next === cap;
    return {
      due: next - expiresAt >= this.options.updateAge || (atCap && next > expiresAt),
      next,
      // The store writes only while the row is still that stale: of concurrent refreshes on
      // several instances, the first wins and the others match no row.
      staleBelow: atCap ? next : next - this.options.updateAge + 1,
    };
  }

  private async lookup(tokenHash: Buffer): Promise<Lookup<TUser>> {
    // Where the store can join the user to the session (userEntity on PostgreSQL), one read
    // brings both; otherwise the user is resolved after the session.
    const findWithUser = this.store.findByTokenHashWithUser;
    const found: { session: StoredSession; user?: unknown } | null = await this.io('findByTokenHash', () =>
      findWithUser ? findWithUser.call(this.store, tokenHash) : this.store.findByTokenHash(tokenHash).then((session) => session && { session }),
    );
    if (!found) return { refused: 'unknown' };
    const stored = found.session;
    const now = this.options.clock();
    if (now >= this.deadlineOf(stored)) return { refused: 'expired' };

    const { due, next, staleBelow } = this.slide(stored.expiresAt.getTime(), stored.createdAt.getTime(), now);
    const [user, refreshed] = await Promise.all([
      // The user lookup is bounded like the store: its database can be down too.
      'user' in found ? found.user : this.io('resolveUser', () => this.resolveUser(stored.userId)),
      due ? this.io('extendExpiry', () => this.store.extendExpiry(stored, new Date(next), new Date(staleBelow), new Date(now))) : false,
    ]);
    if (user === null || user === undefined) return { refused: 'user_not_found' };
    const session = toSession(stored, refreshed ? new Date(next) : stored.expiresAt);
    if (refreshed) {
      this.telemetry.refreshed();
      this.telemetry.emit(SessionEvents.Refreshed, { session });
    }
    return { validation: { user: user as TUser, session, refreshed } };
  }

  /** Logs a token out. Idempotent: true if a session was removed, false otherwise. */
  async destroySession(token: unknown): Promise<boolean> {
    if (!isWellFormedToken(token)) return false;
    const removed = await this.io('deleteByTokenHash', () => this.store.deleteByTokenHash(hashToken(token)));
    if (!removed) return false;
    await this.forget([removed]);
    this.telemetry.emit(SessionEvents.Destroyed, { session: toSession(removed), reason: 'logout' });
    return true;
  }

  /** Logs a user out everywhere; returns how many sessions ended. */
  async invalidateAllUserSessions(userId: UserId): Promise<number> {
    const id = normalizeUserId(userId);
    const removed = await this.io('deleteByUser', () => this.store.deleteByUser(id));
    await this.forget(removed);
    this.telemetry.emit(SessionEvents.AllRevoked, { userId: id, count: removed.length });
    return removed.length;
  }

  /** Logs a user out everywhere but `currentSessionId`; returns how many sessions ended. */
  async invalidateOtherUserSessions(userId: UserId, currentSessionId: string): Promise<number> {
    if (!isSessionId(String(currentSessionId))) {
      throw new TypeError(`SessionService.invalidateOtherUserSessions: currentSessionId must be a session's id, got ${JSON.stringify(currentSessionId)}.`);
    }
    const id = normalizeUserId(userId);
    const keptSessionId = String(currentSessionId);
    const removed = await this.io('deleteByUser', () => this.store.deleteByUser(id, keptSessionId));
    await this.forget(removed);
    this.telemetry.emit(SessionEvents.AllRevoked, { userId: id, count: removed.length, keptSessionId });
    return removed.length;
  }

  /**
   * Ends one session of a user, by id (a "sign out that device" button). False when the id is
   * not one of that user's sessions, so one user can never end another's.
   */
  async revokeUserSession(userId: UserId, sessionId: string): Promise<boolean> {
    if (!isSessionId(sessionId)) return false;
    const id = normalizeUserId(userId);
    const removed = await this.io('deleteById', () => this.store.deleteById(id, sessionId));
    if (!removed) return false;
    await this.forget([removed]);
    this.telemetry.emit(SessionEvents.Destroyed, { session: toSession(removed), reason: 'revoked' });
    return true;
  }

  /**
   * Gives a live session a new token and kills the old one (after login, on privilege change).
   * Keeps the session's id, creation time and expiry. Null if the token is not a live session;
   * of two concurrent rotations of one token, one wins.
   */
  async rotateSession(token: unknown): Promise<IssuedSession | null> {
    if (!isWellFormedToken(token)) return null;
    const next = generateToken();
    const now = this.options.clock();
    const oldHash = hashToken(token);
    const stored = await this.io('replaceTokenHash', () => this.store.replaceTokenHash(oldHash, hashToken(next), new Date(now)));
    if (!stored) {
      this.drop(oldHash.toString('base64'));
      return null;
    }
    await this.forget([{ ...stored, tokenHash: oldHash }], false);
    if (now >= this.deadlineOf(stored)) return null;
    const session = toSession(stored);
    this.telemetry.emit(SessionEvents.Rotated, { session });
    return { token: next, session };
  }

  /** A user's live sessions, newest first. */
  async listUserSessions(userId: UserId): Promise<Session[]> {
    const now = this.options.clock();
    const id = normalizeUserId(userId);
    const stored = await this.io('listByUser', () => this.store.listByUser(id, new Date(now)));
    return stored.filter((s) => now < this.deadlineOf(s)).map((s) => toSession(s));
  }

  /**
   * Deletes expired sessions in batches of `purgeBatchSize`, each its own short statement, so
   * validations keep flowing while it runs. One instance of a cluster purges at a time: when
   * another holds the purge lock this returns 0 at once. Returns how many went.
   */
  async purgeExpiredSessions(): Promise<number> {
    const started = performance.now();
    const now = new Date(this.options.clock());
    const purge = async () => {
      let total = 0;
      for (;;) {
        const deleted = await this.io('deleteExpired', () => this.store.deleteExpired(now, this.options.purgeBatchSize));
        total += deleted;
        if (deleted < this.options.purgeBatchSize) return total;
      }
    };
    const count = this.store.withPurgeLock ? await this.store.withPurgeLock(purge) : await purge();
    if (count === null) {
      this.logger.debug('purge skipped: another instance is purging');
      return 0;
    }
    const durationMs = Math.round(performance.now() - started);
    this.logger.log(`purged ${count} expired session(s) in ${durationMs} ms`);
    this.telemetry.purged(count);
    this.telemetry.emit(SessionEvents.Purged, { count, durationMs });
    return count;
  }

  /**
   * Resolves when the session store answers within storeTimeout; otherwise throws
   * SessionStoreUnavailableException (a 503). For a health check.
   */
  async checkStore(): Promise<void> {
    const ping = this.store.ping?.bind(this.store);
    if (ping) await this.io('ping', ping);
  }

  /** Live and expired sessions now, for operators. Throws where the store cannot count (Redis). */
  async countSessions(): Promise<{ live: number; expired: number }> {
    const count = this.store.countSessions?.bind(this.store);
    if (!count) throw new TypeError('SessionService.countSessions: this storage cannot count sessions without a scan.');
    return this.io('countSessions', () => count(new Date(this.options.clock())));
  }

  // Every store call (and resolveUser) is bounded: one that errs or hangs becomes a 503, never
  // a 401 or a request stuck until the client gives up.
  private async io<T>(operation: string, work: () => T | Promise<T>): Promise<T> {
    const done = this.telemetry.time(operation);
    try {
      return await withTimeout(work, this.options.storeTimeout, operation);
    } catch (error) {
      this.logger.error(`session store failed (${operation}): ${errorMessage(error)}`);
      throw new SessionStoreUnavailableException({ cause: error });
    } finally {
      done();
    }
  }

  // A session stops at its expiry or at its absolute cap, whichever comes first.
  private deadline(expiresAt: number, createdAt: number): number {
    return Math.min(expiresAt, this.capOf(createdAt));
  }

  private deadlineOf(stored: StoredSession): number {
    return this.deadline(stored.expiresAt.getTime(), stored.createdAt.getTime());
  }

  private capOf(createdAt: number): number {
    return this.options.absoluteMaxAge === null ? Infinity : createdAt + this.options.absoluteMaxAge;
  }

  // Revoked here: drop locally at once, then tell the other instances. A failed broadcast does
  // not undo the revocation (the store has it); it is logged, and other caches age it out.
  private async forget(removed: StoredSession[], counted = true): Promise<void> {
    if (removed.length === 0) return;
    if (counted) this.telemetry.revoked(removed.length);
    const hashes = removed.map((s) => s.tokenHash);
    for (const hash of hashes) this.drop(hash.toString('base64'));
    try {
      await this.bus.publish(hashes);
    } catch (error) {
      this.logger.error(`revocation of ${hashes.length} session(s) not broadcast: ${errorMessage(error)}`);
    }
  }

  private drop(key: string): void {
    this.inflight.delete(key);
    this.cache?.delete(key);
  }
}
