import type { Duration } from '../options/duration.js';
import type { SessionContext, SessionData, SessionUser } from './session-types.js';

/**
 * What a session recorded of its client (the `metadata` option; each field null when its
 * option is off): for a "your devices" page.
 */
export interface SessionMetadata {
  /** The User-Agent at login, cut to 512 characters. */
  userAgent: string | null;
  /** A short label parsed from it: "Chrome on macOS". */
  device: string | null;
  /** The client's address at login as the HTTP adapter gave it (so `trust proxy` applies), whole or truncated. */
  ip: string | null;
  /** When the session was last used, to within the `metadata.lastSeen` step (by default, `updateAge`). */
  lastSeenAt: Date | null;
}

/** A session as the API returns it. The token is never part of it. */
export interface Session {
  /** Primary key (a bigint, so a string). */
  id: string;
  /** The owner's id, as a string whatever the users table's key type. */
  userId: string;
  /** When the session ends unless used again (sliding). */
  expires: Date;
  createdAt: Date;
  /** With the `metadata` option on: what it recorded of the client. */
  metadata?: SessionMetadata;
  /** With `deviceBound` on: true once the browser bound the session to a key of its device (DBSC). */
  deviceBound?: boolean;
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
  /**
   * With `deviceBound` on, at login: the challenge a DBSC browser registers its key with.
   * `SessionTransport.write` sends it in the `Secure-Session-Registration` header.
   */
  deviceRegistration?: string;
}

/** A session as the guard validated it, with what the resolvers gave for its user. */
export interface ValidatedSession<TContext = SessionContext, TData = SessionData> extends Session {
  /** What `resolvePermissions` returned (empty without it), cached with the session. */
  permissions: readonly string[];
  /** What `resolveContext` returned (undefined without it), cached with the session. */
  context: TContext | undefined;
  /** When the user last proved who they are: the login, or `markReauthenticated`. */
  reauthenticatedAt: Date;
  /** The session's own data (the `data` option; `{}` until set), changed by `updateSessionData`. */
  data: Readonly<Partial<TData>>;
  /** True once the browser bound the session to a key (`deviceBound`): its requests then need the bound cookie too. */
  deviceBound: boolean;
}

/** A successful validation: the user, the session, and whether its expiry just slid. */
export interface SessionValidation<TUser = SessionUser, TContext = SessionContext> {
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

/** What the service needs to know of the client: for `bindToUserAgent`, and the metadata a login records. */
export interface SessionClientInfo {
  /** The request's User-Agent header ('' or undefined when it has none). */
  userAgent?: string | null;
  /** The client's address as the HTTP adapter reports it (`request.ip`), for `metadata.ip`. */
  ip?: string | null;
}

/** What `@RequireSession()` asks of a route's session. */
export interface SessionRequirements {
  /** Every one of these must be among the session's `permissions`, or the request gets a 403. */
  permissions?: string[];
  /**
   * The user must have proved who they are (logged in, or `markReauthenticated`) this recently,
   * or the request gets `403 {"error":"reauthentication_required"}`: for a sensitive action.
   */
  freshWithin?: Duration;
}

/** A user id as the application has it; stored and returned as a string. */
export type UserId = string | number | bigint;

// The options now live with their features; these names stay importable from here for the
// files that still do.
export type { SessionModuleOptions } from '../options/session-module.options.js';
export type { SessionCacheOptions } from '../cache/cache.options.js';
export type { SessionStorageOptions } from '../stores/storage.options.js';
