import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit, Optional } from '@nestjs/common';
import { SessionPurger } from '../cleanup/session-purger.js';
import { SessionInvalidationBus } from '../invalidation/session-invalidation.interface.js';
import type { ResolvedSessionOptions } from '../options/resolve-options.js';
import { SESSION_OPTIONS, SESSION_USERS } from '../session.constants.js';
import { SessionStore, type StoredSessionDetails } from '../stores/session-store.interface.js';
import type { EntityUsers } from '../stores/typeorm/entity-users.js';
import { SessionTelemetry } from '../telemetry/session.telemetry.js';
import { SessionTokens } from '../tokens/session-tokens.js';
import type { LifetimeRules } from './lifetime.js';
import { LocalSessions } from './local-sessions.js';
import type { IssuedSession, Session, SessionClientInfo, SessionValidation, UserId, ValidatedSession } from './session.interfaces.js';
import type { SessionData } from './session-types.js';
import type { SessionUser } from './session-types.js';
import { type AuthenticatingClient, SessionAuthenticator } from './session-authenticator.js';
import { type ConnectionHandlers, type SessionConnection, SessionConnections } from './session-connections.js';
import { type CreateSessionInput, SessionIssuer } from './session-issuer.js';
import { SessionRevoker } from './session-revoker.js';
import { SessionRotator } from './session-rotator.js';
import { isSessionId } from './session-values.js';
import { hashTokenBase64 } from '../tokens/opaque-token.js';
import { StoreCalls } from './store-calls.js';
import { scrapedCount } from './live-count.js';
import { SessionState } from './session-state.js';
import { ClientMetadata } from '../details/client-metadata.js';
import { LastSeen } from '../details/last-seen.js';
import { requireDetailMethods } from '../details/details.options.js';
import { SessionDevices } from '../device-bound/session-devices.js';

export type { CreateSessionInput } from './session-issuer.js';

/**
 * Creates, validates, slides, rotates and revokes sessions. Tokens are checked for shape before
 * any I/O and only their SHA-256 reaches the store. `TUser` is the user `resolveUser` (or
 * `userEntity`) gives; by default the one registered in `SessionTypes`.
 *
 * A facade: each job is done by one collaborator of core/ (issuing, authenticating, rotating,
 * revoking) or cleanup/ (purging), built here from the module's options.
 */
@Injectable()
export class SessionService<TUser = SessionUser> implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('SessionService');
  private readonly tokens: SessionTokens;
  private readonly calls: StoreCalls;
  private readonly issuer: SessionIssuer;
  private readonly authenticator: SessionAuthenticator;
  private readonly rotator: SessionRotator;
  private readonly revoker: SessionRevoker;
  private readonly purger: SessionPurger;
  private readonly connections: SessionConnections;
  private readonly metadata: ClientMetadata;
  private readonly state: SessionState;
  /** With `deviceBound` on: the DBSC side of sessions (its endpoints and the guard use it); else null. */
  readonly devices: SessionDevices | null;

  constructor(
    @Inject(SESSION_OPTIONS) private readonly options: ResolvedSessionOptions,
    @Inject(SessionStore) private readonly store: SessionStore,
    @Inject(SessionInvalidationBus) bus: SessionInvalidationBus,
    @Inject(SessionTelemetry) private readonly telemetry: SessionTelemetry,
    @Optional() @Inject(SESSION_USERS) users?: EntityUsers | null,
  ) {
    const resolveUser = options.resolveUser ?? (users ? (userId: string) => users.findById(userId) : null);
    if (!resolveUser) throw new TypeError('SessionService: options.userEntity needs the EntityUsers of the module; create the service through SessionModule.');
    const rules: LifetimeRules = {
      maxAge: options.maxAge,
      updateAge: options.updateAge,
      absoluteMaxAge: options.absoluteMaxAge,
      refreshWindow: options.refreshToken?.maxAge ?? null,
    };
    const { clock } = options;
    const tokens = (this.tokens = new SessionTokens(options, telemetry));
    const local = new LocalSessions(options.cache);
    this.calls = new StoreCalls(telemetry, options.storeTimeout);
    this.revoker = new SessionRevoker(store, bus, this.calls, telemetry, local, tokens);
    const metadata = (this.metadata = new ClientMetadata(options.metadata));
    // What a login records beside the five columns, when any option keeps details.
    const details = options.details
      ? (input: CreateSessionInput, now: number): StoredSessionDetails => ({
          ...metadata.record(input),
          lastSeenAt: options.metadata?.lastSeen ? new Date(now) : null,
          reauthenticatedAt: options.reauthentication ? new Date(now) : null,
          data: {},
        })
      : null;
    this.issuer = new SessionIssuer(store, this.calls, telemetry, tokens, this.revoker, rules, options.maxSessionsPerUser, clock, details);
    this.rotator = new SessionRotator(store, this.calls, telemetry, tokens, this.issuer, this.revoker, rules, { ...options.rotationPolicy, clock, refreshGrace: 2 * options.storeTimeout });
    const lastSeen = new LastSeen(store, this.calls, options.metadata?.lastSeen ?? null);
    this.authenticator = new SessionAuthenticator(store, this.calls, telemetry, tokens, local, this.rotator, rules, options, resolveUser, lastSeen, (hash) => this.revoker.revokeTokenHash(hash, 'agent_mismatch'));
    this.state = new SessionState(store, this.calls, tokens, this.revoker, options);
    const authenticate = (token: unknown, client: SessionClientInfo | undefined) => this.authenticator.authenticate(token, client);
    this.devices = options.deviceBound && new SessionDevices(store, this.calls, this.revoker, tokens, telemetry, authenticate, { ...options.deviceBound, clock });
    this.purger = new SessionPurger(store, this.calls, telemetry, options.purgeBatchSize, clock);
    this.connections = local.connections = new SessionConnections({
      authenticateFresh: (token, client) => this.authenticator.authenticate(token, client, true),
      keyOf: async (token, client) => {
        const unwrapped = await tokens.unwrap(token, client, { now: clock() });
        return 'refused' in unwrapped ? null : hashTokenBase64(unwrapped.token);
      },
      listen: () => this.calls.run('listen', () => this.revoker.listen()),
      clock,
    });
  }

  async onModuleInit(): Promise<void> {
    requireDetailMethods(this.options, this.store);
    await this.store.ready?.();
    await this.tokens.ready();
    await this.metadata.ready();
    await this.devices?.ready();
    const count = this.store.countSessions?.bind(this.store);
    if (count) this.telemetry.countLiveWith(scrapedCount(() => this.calls.run('countSessions', () => count(new Date(this.options.clock()))), this.logger, this.options.clock));
    await this.revoker.start();
  }

  async onApplicationShutdown(): Promise<void> {
    this.connections.close();
    await this.revoker.close();
  }

  /**
   * A new session for `userId`; the token (and refresh token) is returned here and never again.
   * Over `maxSessionsPerUser`, the oldest session ends, or with policy 'refuse' this throws
   * SessionLimitExceededException (a 409).
   */
  async createSession(input: CreateSessionInput): Promise<IssuedSession> {
    const issued = await this.issuer.createSession(input);
    if (this.devices) issued.deviceRegistration = this.devices.challenge('register', issued.session.id);
    return issued;
  }

  /** The user of a live session, or null; slides the expiry. Never throws for a bad token. */
  async validateSession(token: unknown, client?: SessionClientInfo): Promise<TUser | null> {
    return (await this.authenticate(token, client))?.user ?? null;
  }

  /**
   * Like `validateSession`, with the session and whether its expiry slid (so a cookie can be
   * re-sent). Null for a malformed, unknown, expired or orphaned token; throws only when the
   * store fails or exceeds storeTimeout (SessionStoreUnavailableException, a 503).
   *
   * `client.userAgent` is checked with `bindToUserAgent` (and required then: a TypeError without
   * it, as in every method taking a token). `client.rotatable` says a new token can reach the
   * client (it came in a cookie): with `rotationPolicy.interval`, a token that old is then
   * rotated and the new one returned as `renewedToken`.
   */
  authenticate(presented: unknown, client?: AuthenticatingClient): Promise<SessionValidation<TUser> | null> {
    return this.authenticator.authenticate(presented, client) as Promise<SessionValidation<TUser> | null>;
  }

  /**
   * `authenticate` without a promise when the answer needs no I/O: the validation of a cached
   * session, or null for a token refused by its shape alone. Undefined when the store must be
   * asked: then call `authenticate`. The guard uses it so that a cache hit costs no promise; a
   * guard of your own can too.
   */
  authenticateNow(presented: unknown, client?: AuthenticatingClient): SessionValidation<TUser> | null | undefined {
    return this.authenticator.authenticateNow(presented, client) as SessionValidation<TUser> | null | undefined;
  }

  /**
   * For a connection that stays open (a WebSocket): authenticates `token` against the store
   * (never a cache, so a token revoked anywhere is refused), then calls `handlers.close()` when
   * the session ends (revoked or rotated away on any instance, or expired) and
   * `handlers.update()` when it was re-checked after a privilege change. Null when refused;
   * throws SessionStoreUnavailableException (a 503) when the store fails. Call `release()` when
   * the connection closes by itself. The WebSocket adapters and the guard do this for gateways.
   */
  async openConnection(token: string, client: SessionClientInfo, handlers: ConnectionHandlers): Promise<SessionConnection<TUser> | null> {
    return (await this.connections.open(token, { ...client, rotatable: false }, handlers)) as SessionConnection<TUser> | null;
  }

  /** Logs a token out, on every instance. Idempotent: true if a session was removed, false otherwise. */
  revokeSession(token: unknown, client?: SessionClientInfo): Promise<boolean> {
    return this.revoker.revokeSession(token, client);
  }

  /** Logs a user out everywhere; returns how many sessions ended. */
  revokeAllUserSessions(userId: UserId): Promise<number> {
    return this.revoker.revokeUserSessions(userId);
  }

  /** Logs a user out everywhere but `currentSessionId`; returns how many sessions ended. */
  revokeOtherUserSessions(userId: UserId, currentSessionId: string): Promise<number> {
    if (!isSessionId(String(currentSessionId))) {
      return Promise.reject(new TypeError(`SessionService.revokeOtherUserSessions: currentSessionId must be a session's id, got ${JSON.stringify(currentSessionId)}.`));
    }
    return this.revoker.revokeUserSessions(userId, String(currentSessionId));
  }

  /**
   * Ends one session of a user, by id (a "sign out that device" button). False when the id is
   * not one of that user's sessions, so one user can never end another's.
   */
  revokeUserSession(userId: UserId, sessionId: string): Promise<boolean> {
    return this.revoker.revokeUserSession(userId, sessionId);
  }

  /**
   * Gives a live session a new token and kills the old one (after login, on privilege change).
   * Keeps the session's id, creation time and expiry. Null if the token is not a live session;
   * of two concurrent rotations of one token, one wins.
   */
  rotateSession(token: unknown, client?: SessionClientInfo): Promise<IssuedSession | null> {
    return this.rotator.rotateSession(token, client);
  }

  /**
   * Trades a refresh token for a new session token and refresh token, and kills both old ones.
   * Null for a refresh token that is malformed, forged, expired, from another user agent (with
   * `bindToUserAgent`) or already used. One already used was copied: the login it belongs to is
   * revoked on every instance and `session.refresh-reused` fires.
   */
  refresh(refreshToken: unknown, client?: SessionClientInfo): Promise<IssuedSession | null> {
    return this.rotator.refresh(refreshToken, client);
  }

  /**
   * Call after changing a user's permissions or context: every instance drops that user's cached
   * sessions, so each re-resolves them on its next request. With `token` (the session that made
   * the change) and `rotationPolicy.onPrivilegeChange` (the default), that session also gets a
   * new token, returned for the app to hand over (`SessionTransport.write` for a cookie); null
   * otherwise.
   */
  privilegesChanged(userId: UserId, token?: unknown, client?: SessionClientInfo): Promise<IssuedSession | null> {
    return this.rotator.privilegesChanged(userId, token, client);
  }

  /** A user's live sessions, newest first; with `metadata` on, each with what it recorded. */
  listUserSessions(userId: UserId): Promise<Session[]> {
    return this.issuer.listUserSessions(userId);
  }

  /**
   * After the app checked the user's password (or second factor) again: the session of `token`
   * counts as fresh for `@RequireSession({ freshWithin })` from now, on every instance. Needs
   * the `reauthentication` option. False when the token is not a live session.
   */
  markReauthenticated(token: unknown, client?: SessionClientInfo): Promise<boolean> {
    return this.state.markReauthenticated(token, client);
  }

  /**
   * Merges `patch` into the data of the session of `token`, atomically (concurrent updates of
   * other keys are kept; a null value removes its key), visible at once on every instance.
   * Needs the `data` option. Returns the new data; null when the token is not a live session;
   * throws SessionDataTooLargeException (a 413) past `data.maxBytes`, writing nothing.
   */
  async updateSessionData(token: unknown, patch: { [K in keyof SessionData]?: SessionData[K] | null }, client?: SessionClientInfo): Promise<Partial<SessionData> | null> {
    return (await this.state.updateSessionData(token, patch, client)) as Partial<SessionData> | null;
  }

  /** True when the session's user proved who they are within `withinMs` (what `freshWithin` checks). */
  isFresh(session: Pick<ValidatedSession<unknown, unknown>, 'reauthenticatedAt'>, withinMs: number): boolean {
    return this.state.isFresh(session, withinMs);
  }

  /**
   * Deletes expired sessions in batches of `purgeBatchSize`, each its own short statement, so
   * validations keep flowing while it runs. One instance of a cluster purges at a time: when
   * another holds the purge lock this returns 0 at once. Returns how many went.
   */
  purgeExpiredSessions(): Promise<number> {
    return this.purger.purge();
  }

  /**
   * Resolves when the session store answers within storeTimeout; otherwise throws
   * SessionStoreUnavailableException (a 503). For a health check.
   */
  async checkStore(): Promise<void> {
    const ping = this.store.ping?.bind(this.store);
    if (ping) await this.calls.run('ping', ping);
  }

  /** Live and expired sessions now, for operators. Throws where the store cannot count (Redis). */
  countSessions(): Promise<{ live: number; expired: number }> {
    const count = this.store.countSessions?.bind(this.store);
    if (!count) return Promise.reject(new TypeError('SessionService.countSessions: this storage cannot count sessions without a scan.'));
    return this.calls.run('countSessions', () => count(new Date(this.options.clock())));
  }

  /** @deprecated Since 0.2: `revokeSession`, the same. */
  destroySession(token: unknown, client?: SessionClientInfo): Promise<boolean> {
    return this.revokeSession(token, client);
  }

  /** @deprecated Since 0.2: `revokeAllUserSessions`, the same. */
  invalidateAllUserSessions(userId: UserId): Promise<number> {
    return this.revokeAllUserSessions(userId);
  }

  /** @deprecated Since 0.2: `revokeOtherUserSessions`, the same. */
  invalidateOtherUserSessions(userId: UserId, currentSessionId: string): Promise<number> {
    return this.revokeOtherUserSessions(userId, currentSessionId);
  }
}
