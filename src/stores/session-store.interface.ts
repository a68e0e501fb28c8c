/** A session row as a store holds it; `tokenHash` is the SHA-256 of the token. */
export interface StoredSession {
  id: string;
  userId: string;
  tokenHash: Buffer;
  expiresAt: Date;
  createdAt: Date;
}

/** What a new session is made of; the store assigns the id. */
export type NewStoredSession = Omit<StoredSession, 'id'>;

/**
 * Where sessions live. The TypeORM store is the default; each method is one atomic step,
 * so two instances sharing a store never need a lock to agree.
 */
export interface SessionStore {
  /** Stores a new session; a store may also drop that user's sessions expired by `createdAt`. */
  create(session: NewStoredSession): Promise<StoredSession>;
  findByTokenHash(tokenHash: Buffer): Promise<StoredSession | null>;
  /**
   * The session and its user in one read, where the store can join them (the TypeORM store
   * given the app's user entity); `user` is null when the session's user is gone. A store that
   * cannot leaves this out, and the service asks `resolveUser` after `findByTokenHash`.
   */
  findByTokenHashWithUser?(tokenHash: Buffer): Promise<{ session: StoredSession; user: unknown } | null>;
  /**
   * Moves a session's expiry to `expiresAt`, but only while it is still below `ifBefore` and
   * after `now`: of many concurrent refreshes, one writes and the rest find nothing to do.
   */
  extendExpiry(session: StoredSession, expiresAt: Date, ifBefore: Date, now: Date): Promise<boolean>;
  /** Swaps the token of a live session; of two concurrent swaps of one token, one wins. */
  replaceTokenHash(tokenHash: Buffer, newTokenHash: Buffer, now: Date): Promise<StoredSession | null>;
  deleteByTokenHash(tokenHash: Buffer): Promise<StoredSession | null>;
  /** Deletes a session only if it belongs to `userId`. */
  deleteById(userId: string, id: string): Promise<StoredSession | null>;
  /** Deletes a user's sessions, all or all but `exceptId`; returns what went. */
  deleteByUser(userId: string, exceptId?: string): Promise<StoredSession[]>;
  /** A user's sessions that have not expired by `now`, newest first. */
  listByUser(userId: string, now: Date): Promise<StoredSession[]>;
  /**
   * Deletes at most `limit` sessions expired by `now`; returns how many. A store whose entries
   * expire by themselves (Redis) may do only housekeeping here and return 0.
   */
  deleteExpired(now: Date, limit: number): Promise<number>;
  /**
   * Runs `work` holding the purge lock shared by every instance, or resolves null at once when
   * another instance holds it; the lock is released however `work` ends. A store without one
   * (Redis, which expires keys itself) leaves this out.
   */
  withPurgeLock?<T>(work: () => Promise<T>): Promise<T | null>;
  /** Live and expired sessions at `now`, for operators; left out where counting needs a scan. */
  countSessions?(now: Date): Promise<{ live: number; expired: number }>;
  /** Resolves when the store answers (a health check); rejects otherwise. */
  ping?(): Promise<void>;
  /** Releases connections the store opened itself (not those it was given). */
  close?(): Promise<void>;
}

/** Injection token of the active `SessionStore`. */
export const SessionStore = Symbol('SessionStore');
