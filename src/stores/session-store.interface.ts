/**
 * What a session keeps beside its five columns (metadata, freshness, data), in a store that
 * keeps details: PostgreSQL's `session_details` companion table, fields of the Redis hash.
 */
export interface StoredSessionDetails {
  userAgent: string | null;
  device: string | null;
  ip: string | null;
  lastSeenAt: Date | null;
  /** Null until the store recorded one (a session from before the option): the login counts then. */
  reauthenticatedAt: Date | null;
  /** A JSON object; `{}` when nothing is set. */
  data: Record<string, unknown>;
  /**
   * With `deviceBound`: the public key (a JWK, as JSON text) the browser registered for this
   * session over DBSC. Once set it is never cleared or replaced. The stores leave it (and
   * `deviceProofAt`) out until a key is bound, so a session without one reads as before.
   */
  deviceKey?: string | null;
  /** With `deviceBound`: the issue time of the challenge of the last accepted proof (at binding, the first). */
  deviceProofAt?: Date | null;
}

/** A session row as a store holds it; `tokenHash` is the SHA-256 of the token. */
export interface StoredSession {
  id: string;
  userId: string;
  tokenHash: Buffer;
  expiresAt: Date;
  createdAt: Date;
  /**
   * Where the module's options keep details (`metadata`, `reauthentication`, `data`): what the
   * store has of them, or undefined when it has none for this session (one made before they
   * were on). Stores that keep no details never set it.
   */
  details?: StoredSessionDetails;
}

/** What a new session is made of; the store assigns the id. With `details`, the store keeps them too. */
export type NewStoredSession = Omit<StoredSession, 'id'>;

/** What `mergeData` found: the new data, a result over the size bound (nothing written), or no live session. */
export type MergeDataResult = { data: Record<string, unknown> } | { tooLarge: true } | null;

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
   * after `now`: of many concurrent refreshes, one writes and the rest find nothing to do. With
   * `seenAt` (the `metadata.lastSeen` option), the same write sets the session's `lastSeenAt`.
   */
  extendExpiry(session: StoredSession, expiresAt: Date, ifBefore: Date, now: Date, seenAt?: Date): Promise<boolean>;

  // ---- details: required by the options that keep them, checked at startup ----
  /**
   * Sets `lastSeenAt` to `seenAt` while it is null or before `ifSeenBefore`, for a live session
   * (a finer `metadata.lastSeen` step than the sliding write): of concurrent calls, one writes.
   */
  touch?(session: StoredSession, seenAt: Date, ifSeenBefore: Date): Promise<boolean>;
  /** Sets `reauthenticatedAt` of the live session of `tokenHash` (at `now`); returns it, or null. */
  markReauthenticated?(tokenHash: Buffer, now: Date): Promise<StoredSession | null>;
  /**
   * Merges `patch` into the data of the live session of `tokenHash`, atomically: its top-level
   * keys replace the session's, a null value removes its key, and no concurrent merge is lost.
   * Nothing is written when the result's JSON would exceed `maxBytes` bytes.
   */
  mergeData?(tokenHash: Buffer, patch: Record<string, unknown>, maxBytes: number, now: Date): Promise<MergeDataResult>;
  /**
   * With `deviceBound`: records `key` (a public JWK as JSON) for the live session of
   * `tokenHash` when it has none yet, with `proofAt` as its last proof; returns the session as
   * it now is, or null (no such live session, or it has a key already: a key is set once).
   */
  bindDeviceKey?(tokenHash: Buffer, key: string, proofAt: Date, now: Date): Promise<StoredSession | null>;
  /**
   * With `deviceBound`: records a proof over a challenge issued at `proofAt` for the live
   * session of `tokenHash` that has a key, when `proofAt` is later than its last proof (so each
   * challenge is good once, and of two concurrent uses one wins); returns the session, or null.
   */
  acceptDeviceProof?(tokenHash: Buffer, proofAt: Date, now: Date): Promise<StoredSession | null>;
  /** Swaps the token of a live session; of two concurrent swaps of one token, one wins. */
  replaceTokenHash(tokenHash: Buffer, newTokenHash: Buffer, now: Date): Promise<StoredSession | null>;
  deleteByTokenHash(tokenHash: Buffer): Promise<StoredSession | null>;
  /** Deletes a session only if it belongs to `userId`. */
  deleteById(userId: string, id: string): Promise<StoredSession | null>;
  /** Deletes a user's sessions, all or all but `exceptId`; returns what went. */
  deleteByUser(userId: string, exceptId?: string): Promise<StoredSession[]>;
  /** A user's sessions that have not expired by `now`, newest first (with their details, where kept). */
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
  /**
   * Called once at startup, before any other method: a store checks what it needs (the
   * PostgreSQL store, its details table when the options keep details) and throws a
   * SessionOptionsError naming the option when something is missing.
   */
  ready?(): Promise<void>;
  /** Resolves when the store answers (a health check); rejects otherwise. */
  ping?(): Promise<void>;
  /** Releases connections the store opened itself (not those it was given). */
  close?(): Promise<void>;
}

/** Injection token of the active `SessionStore`. */
export const SessionStore = Symbol('SessionStore');
