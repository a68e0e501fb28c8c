import type { SessionContext, SessionUser } from './session-types.js';
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
export interface ValidatedSession<TContext = SessionContext> extends Session {
  /** What `resolvePermissions` returned (empty without it), cached with the session. */
  permissions: readonly string[];
  /** What `resolveContext` returned (undefined without it), cached with the session. */
  context: TContext | undefined;
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

// The options now live with their features; these names stay importable from here for the
// files that still do.
export type { SessionModuleOptions } from '../options/session-module.options.js';
export type { SessionCacheOptions } from '../cache/cache.options.js';
export type { SessionStorageOptions } from '../stores/storage.options.js';
