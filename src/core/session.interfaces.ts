import type { EntityTarget } from 'typeorm';
import type { Duration } from '../options/duration.js';
import type { SessionCookieOptions } from '../http/cookie.js';
import type { SessionJwtOptions } from '../tokens/jwt-codec.js';

/** A session as the API returns it. The token is never part of it. */
export interface Session {
  /** Primary key (a bigint, so a string). */
  id: string;
  /** The owner's id, as a string whatever the users table's key type. */
  userId: string;
  /** When the session ends unless used again (sliding). */
  expires: Date;
  createdAt: Date;
}

/**
 * What `createSession`, `rotateSession` and `refresh` return: the tokens, given out only here.
 * `token` is what the client presents: the opaque token, or the JWT wrapping it.
 */
export interface IssuedSession {
  token: string;
  /** `expires` is when this token ends (with refresh tokens: the short session, not the login). */
  session: Session;
  /** With `refreshToken` on: the token to trade for a new pair at `refresh()`. */
  refreshToken?: string;
  /** With `refreshToken` on: when the refresh token (and so the login) ends unless used. */
  refreshExpires?: Date;
}

/** A session as the guard validated it, with what the resolvers gave for its user. */
export interface ValidatedSession<TContext = unknown> extends Session {
  /** What `resolvePermissions` returned (empty without it), cached with the session. */
  permissions: readonly string[];
  /** What `resolveContext` returned (undefined without it), cached with the session. */
  context: TContext | undefined;
}

/** A successful validation: the user, the session, and whether its expiry just slid. */
export interface SessionValidation<TUser = unknown, TContext = unknown> {
  user: TUser;
  session: ValidatedSession<TContext>;
  /** True when `expires` moved forward: a cookie carrying it should be sent again. */
  refreshed: boolean;
  /**
   * The token to send the client instead of the one it presented, when that one should be
   * replaced: a JWT re-signed with the slid expiry, or the successor of a rotated token.
   */
  renewedToken?: string;
}

/** What the service needs to know of the client, for `bindToUserAgent`. */
export interface SessionClientInfo {
  /** The request's User-Agent header ('' or undefined when it has none). */
  userAgent?: string | null;
}

/** What `@RequireSession()` asks of a route's session. */
export interface SessionRequirements {
  /** Every one of these must be among the session's `permissions`, or the request gets a 403. */
  permissions?: string[];
}

/** A user id as the application has it; stored and returned as a string. */
export type UserId = string | number | bigint;

/** The in-process cache of validated sessions. */
export interface SessionCacheOptions {
  /** How long a validated session and its user are served from memory. Default `'5m'`. */
  ttl?: Duration;
  /** Entries at most (least recently used go first). Default `10000`. */
  size?: number;
}

/** Where sessions are stored: `storage.type`. */
export type SessionStorageOptions =
  /** PostgreSQL through the app's TypeORM DataSource (the default). */
  | { type: 'database' }
  /**
   * Redis as the store of record. Give exactly one of `url` (standalone, `redis://…`), `nodes`
   * (Redis Cluster, `['host:port', …]`) or `client` (an ioredis `Redis` or `Cluster` you own).
   * Needs the `ioredis` package.
   */
  | { type: 'redis'; url?: string; nodes?: string[]; client?: object; keyPrefix?: string }
  /**
   * PostgreSQL as the store of record, with Memcached as a cache shared by all instances in
   * front of it. `servers`: `'host:port[,host:port]'`. Needs the `memjs` package.
   */
  | { type: 'memcached'; servers: string; keyPrefix?: string; ttl?: Duration };

/** Options of `SessionModule.forRoot()` / `forRootAsync()`. */
export interface SessionModuleOptions<TUser = unknown> {
  /**
   * Loads the user a session belongs to; a session whose user is gone (null) is refused.
   * Give this or `userEntity`.
   */
  resolveUser?: (userId: string) => TUser | null | undefined | Promise<TUser | null | undefined>;
  /**
   * The app's TypeORM user entity, instead of `resolveUser`: the user is then read in the same
   * statement as the session (one round trip on a cache miss instead of two), with the columns
   * `findOneBy` would load; relations are not loaded and `@AfterLoad` does not run (use
   * `resolveUser` for those). With Redis or Memcached storage it is read by primary key.
   */
  userEntity?: EntityTarget<TUser>;
  /** Inactivity window: a session unused for this long expires. Default `'30d'`. */
  maxAge?: Duration;
  /**
   * How often, at most, a used session's expiry is written back (the sliding step).
   * Must be below `maxAge`. Default `'1d'`, or half of `maxAge` when that is shorter.
   */
  updateAge?: Duration;
  /** Hard cap on a session's life from its creation, used or not. Default: none (`false`). */
  absoluteMaxAge?: Duration | false;
  /** The session cookie, or `false` to accept and send bearer tokens only. */
  cookie?: SessionCookieOptions | false;
  /** Whether `Authorization: Bearer <token>` is accepted. Default `true`. */
  bearer?: boolean;
  /**
   * How long a store call may take before the request gets a 503 instead of hanging.
   * Default `'5s'`.
   */
  storeTimeout?: Duration;
  /** The in-process session cache, or `false` for none. Default `{ ttl: '5m', size: 10000 }`. */
  cache?: SessionCacheOptions | false;
  /** Where sessions live. Default `{ type: 'database' }`. */
  storage?: SessionStorageOptions;
  /**
   * Tell other instances of revocations so their caches drop the session at once: PostgreSQL
   * LISTEN/NOTIFY, or Redis pub/sub with `storage.type: 'redis'`. Default `true`; `false` for a
   * single instance (or a database without LISTEN/NOTIFY across connections, such as PGlite).
   */
  broadcast?: boolean;
  /**
   * Validate on TypeORM's read replicas (`replication` in the DataSource options), retrying a
   * miss on the primary. Default: on when the DataSource has replicas.
   */
  replication?: boolean;
  /**
   * The scheduled purge of expired sessions (@nestjs/schedule; the app imports
   * `ScheduleModule.forRoot()`). `schedule` is a cron string or the short form
   * `<minute> <hour> <week-day>` (week-day 1 = Monday … 7 = Sunday, `*` for any), server local
   * time. One instance of a cluster runs it at a time. `false` turns it off (for an external
   * job). Default `{ schedule: '0 * *' }`: hourly, on the hour.
   */
  cleanup?: { schedule?: string } | false;
  /** Rows deleted per statement when purging expired sessions. Default `5000`. */
  purgeBatchSize?: number;
  /** The time source, in epoch milliseconds. For tests; default `Date.now`. */
  clock?: () => number;
  /**
   * What the client holds. `'opaque'` (the default): 32 random bytes, nothing to read, nothing
   * to verify but the store. `'jwt'`: the opaque token wrapped in a JWT signed with `jwt.keys`,
   * so a forged, tampered or expired token is refused without any I/O and a client (or another
   * service holding the key) can read `sub`, `sid` and `exp`; it is still checked against the
   * store, so logout and revocation work the same. Needs the `jose` package.
   */
  tokenType?: 'opaque' | 'jwt';
  /** The JWT keys and algorithm, with `tokenType: 'jwt'`. */
  jwt?: SessionJwtOptions;
  /**
   * With `tokenType: 'jwt'`: encrypt the JWT (a JWE, `dir` + A256GCM, key derived from each
   * key's `secret`), so the client cannot read its claims. Default `false`.
   */
  encryption?: boolean;
  /**
   * Short sessions renewed by a long refresh token. `maxAge` then is the life of one session
   * token (default `'15m'`, not slid on use) and `refreshToken.maxAge` the refresh window
   * (default `'30d'`, slid on each refresh, capped by `absoluteMaxAge`). `refresh()` trades a
   * refresh token for a new pair and kills the old one; a refresh token presented a second time
   * revokes the whole login and emits `session.refresh-reused`. `secret` (at least 32 bytes, or a
   * list newest first) signs refresh tokens; with HS256 JWT keys it may be left out.
   * Default `false`.
   */
  refreshToken?: boolean | { maxAge?: Duration; secret?: string | string[] };
  /**
   * When a session token is replaced while its session goes on. `interval`: a cookie session's
   * token older than this is rotated on its next request (the new cookie rides on the response;
   * the old token keeps working on that instance for a few seconds, for requests already in
   * flight). `onPrivilegeChange`: `privilegesChanged(userId, token)` rotates the current token
   * too. Default `{ interval: false, onPrivilegeChange: true }`.
   */
  rotationPolicy?: { interval?: Duration | false; onPrivilegeChange?: boolean };
  // Method syntax: the resolvers' parameters stay bivariant, so `SessionModuleOptions<User>` (a typed
  // factory's result) still fits where forRoot takes `SessionModuleOptions`.
  /**
   * The user's permissions, checked by `@RequireSession({ permissions })` (403 when one is
   * missing). Called on a cache miss and cached with the session; call `privilegesChanged()`
   * after changing them. Default: none.
   */
  resolvePermissions?(user: TUser, session: Session): readonly string[] | Promise<readonly string[]>;
  /**
   * Anything the app wants at hand with the session (account details, quotas, settings), read
   * with `@CurrentSession()` as `session.context`. Called and cached like `resolvePermissions`.
   */
  resolveContext?(user: TUser, session: Session): unknown;
  /**
   * Live sessions per user at most. A number evicts the oldest session at a login over the
   * limit; `{ max, policy: 'refuse' }` refuses that login instead (a 409). Default: no limit.
   */
  maxSessionsPerUser?: number | { max: number; policy?: 'evict-oldest' | 'refuse' };
  /**
   * Refuse a session presented by another user agent than the one it was created for (version
   * numbers aside, so a browser update does not log anyone out). Stops a copied cookie from
   * working in another browser, not a thief who copies the User-Agent too. Default `false`.
   */
  bindToUserAgent?: boolean;
}
