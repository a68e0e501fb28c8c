import type { EntityTarget } from 'typeorm';
import type { Duration } from './duration.js';
import type { SessionCookieOptions } from './session-cookie.js';

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

/** What `createSession` and `rotateSession` return: the plain token, given out only here. */
export interface IssuedSession {
  token: string;
  session: Session;
}

/** A successful validation: the user, the session, and whether its expiry just slid. */
export interface SessionValidation<TUser = unknown> {
  user: TUser;
  session: Session;
  /** True when `expires` moved forward: a cookie carrying it should be sent again. */
  refreshed: boolean;
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
}
