import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit, Optional } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { LocalSessionCache } from '../cache/local-session.cache.js';
import { type InvalidationListener, SessionInvalidationBus } from '../invalidation/session-invalidation.interface.js';
import { SESSION_OPTIONS, SESSION_USERS } from '../session.constants.js';
import { SessionEvents } from '../telemetry/session.events.js';
import { SessionLimitExceededException, SessionStoreUnavailableException } from './session.exceptions.js';
import type { IssuedSession, Session, SessionClientInfo, SessionValidation, UserId, ValidatedSession } from './session.interfaces.js';
import { type SessionJwtClaims, SessionJwtCodec } from '../tokens/jwt-codec.js';
import { RefreshTokens } from '../tokens/refresh-token.js';
import type { ResolvedSessionOptions } from '../options/resolve-options.js';
import { type RefusalReason, SessionTelemetry } from '../telemetry/session.telemetry.js';
import { generateBoundToken, hashToken, hashTokenBase64, isTokenForUserAgent, isWellFormedToken, tokenIssuedAt } from '../tokens/opaque-token.js';
import type { EntityUsers } from '../stores/typeorm/entity-users.js';
import { SessionStore, type StoredSession } from '../stores/session-store.interface.js';
import { errorMessage, withTimeout } from './utils.js';

/** Options of `createSession`. */
export interface CreateSessionInput {
  userId: UserId;
  /**
   * The first expiry, instead of now + maxAge (with refresh tokens: of the refresh window);
   * still capped by absoluteMaxAge.
   */
  expires?: Date;
  /** The client's User-Agent header ('' when it has none); required with `bindToUserAgent`. */
  userAgent?: string | null;
}

type Lookup<TUser> = { validation: SessionValidation<TUser> } | { refused: RefusalReason };

const NO_PERMISSIONS: readonly string[] = Object.freeze([]);
// How long a token rotated on schedule still leads to its successor on this instance: long
// enough for the requests a browser sent before it saw the new cookie.
const ROTATION_GRACE_MS = 30_000;

function byId(a: StoredSession, b: StoredSession): number {
  const x = BigInt(a.id);
  const y = BigInt(b.id);
  return x < y ? -1 : x > y ? 1 : 0;
}

function checkPermissions(value: unknown): readonly string[] {
  if (!Array.isArray(value) || !value.every((p) => typeof p === 'string')) {
    throw new TypeError(`SessionModule option resolvePermissions: returned ${typeof value}; expected an array of permission names such as ['admin'].`);
  }
  return Object.freeze([...value]);
}

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
  private readonly jwt: SessionJwtCodec | null;
  // JWTs whose signature (or JWE tag) already checked out here, by their exact text: that
  // never stops being true, so a repeat costs a map lookup instead of a signature check (the
  // expiry is still checked each time, and the session against the cache or store).
  private readonly verifiedJwts: LRUCache<string, SessionJwtClaims> | null;
  private readonly refreshTokens: RefreshTokens | null;
  // Tokens rotated on schedule here, to their successors (see ROTATION_GRACE_MS).
  private readonly successors = new LRUCache<string, string>({ max: 10_000, ttl: ROTATION_GRACE_MS });

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
    this.jwt = options.jwt ? new SessionJwtCodec(options.jwt) : null;
    this.verifiedJwts = options.jwt && options.cache ? new LRUCache({ max: options.cache.size }) : null;
    this.refreshTokens = options.refreshToken ? new RefreshTokens(options.refreshToken.keys) : null;
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

  /**
   * A new session for `userId`; the token (and refresh token) is returned here and never again.
   * Over `maxSessionsPerUser`, the oldest session ends, or with policy 'refuse' this throws
   * SessionLimitExceededException (a 409).
   */
  async createSession(input: CreateSessionInput): Promise<IssuedSession> {
    const userId = normalizeUserId(input?.userId);
    this.requireAgent(input, 'createSession');
    const userAgent = input.userAgent ?? undefined;
    const now = this.options.clock();
    const limit = this.options.maxSessionsPerUser;
    // Cheap refusal first; the count after the insert is the one that decides.
    if (limit?.policy === 'refuse' && (await this.listUserSessions(userId)).length >= limit.max) {
      throw new SessionLimitExceededException();
    }
    let expires = now + (this.options.refreshToken?.maxAge ?? this.options.maxAge);
    if (input.expires !== undefined) {
      const requested = input.expires instanceof Date ? input.expires.getTime() : NaN;
      if (!(requested > now)) {
        throw new TypeError('SessionService.createSession: expires must be a Date in the future.');
      }
      expires = requested;
    }
    if (this.options.absoluteMaxAge !== null) expires = Math.min(expires, now + this.options.absoluteMaxAge);

    const token = this.newToken(now, userAgent);
    const stored = await this.io('create', () =>
      this.store.create({ userId, tokenHash: hashToken(token), expiresAt: new Date(expires), createdAt: new Date(now) }),
    );
    if (limit) await this.enforceLimit(stored, limit);
    this.telemetry.created();
    this.telemetry.emit(SessionEvents.Created, { session: toSession(stored) });
    return this.issue(stored, token, now, userAgent);
  }

  // Counted after the insert, so concurrent logins of one user agree without a lock: ids only
  // grow, so every instance ranks the same sessions the same way, and the last to count sees
  // every insert. The newest `max` stay; with more concurrent logins than that, even the one
  // being made may lose (its token is then dead on arrival, as the oldest of the lot).
  private async enforceLimit(created: StoredSession, limit: { max: number; policy: 'evict-oldest' | 'refuse' }): Promise<void> {
    const live = (await this.liveSessions(created.userId, this.options.clock()))
      .filter((s) => s.id !== created.id)
      .concat(created)
      .sort(byId);
    if (live.length <= limit.max) return;
    if (limit.policy === 'refuse') {
      // The oldest `max` were there first; a newer one is refused.
      if (live.indexOf(created) < limit.max) return;
      await this.io('deleteById', () => this.store.deleteById(created.userId, created.id));
      throw new SessionLimitExceededException();
    }
    const removed: StoredSession[] = [];
    for (const session of live.slice(0, live.length - limit.max)) {
      const gone = await this.io('deleteById', () => this.store.deleteById(session.userId, session.id));
      if (gone) removed.push(gone);
    }
    await this.forget(removed);
    for (const session of removed) this.telemetry.emit(SessionEvents.Destroyed, { session: toSession(session), reason: 'evicted' });
  }

  // With bindToUserAgent, a call without the client's agent is a bug in the app: it would refuse
  // every token (or, for a logout, silently end nothing), so say so.
  private requireAgent(client: SessionClientInfo | undefined, method: string): void {
    if (this.options.bindToUserAgent && typeof client?.userAgent !== 'string') {
      throw new TypeError(`SessionService.${method}: bindToUserAgent is on, so pass { userAgent }: the request's User-Agent header ('' when it has none).`);
    }
  }

  private newToken(now: number, userAgent: string | undefined): string {
    return generateBoundToken({ issuedAt: now, userAgent: this.options.bindToUserAgent ? userAgent : undefined });
  }

  // What the client gets for a session token: the token or its JWT, and with refresh tokens on,
  // a refresh token naming this token.
  private async issue(stored: StoredSession, token: string, now: number, userAgent: string | null | undefined): Promise<IssuedSession> {
    const session = toSession(stored, new Date(this.tokenDeadline(token, stored.expiresAt.getTime(), stored.createdAt.getTime(), now)));
    const issued: IssuedSession = { token: await this.clientToken(token, session, now), session };
    if (this.refreshTokens) {
      const expires = this.deadlineOf(stored);
      const claim = { sessionId: stored.id, userId: stored.userId, expires, tokenHash: hashToken(token) };
      issued.refreshToken = this.refreshTokens.issue(claim, this.options.bindToUserAgent ? userAgent : undefined);
      issued.refreshExpires = new Date(expires);
    }
    return issued;
  }

  private async clientToken(token: string, session: Session, now: number): Promise<string> {
    if (!this.jwt) return token;
    return this.jwt.sign({ tok: token, sub: session.userId, sid: session.id, exp: Math.floor(session.expires.getTime() / 1000) }, now);
  }

  // A token ends with its session; with refresh tokens, also maxAge after it was issued.
  private tokenDeadline(token: string, expiresAt: number, createdAt: number, now: number): number {
    const deadline = this.deadline(expiresAt, createdAt);
    const issuedAt = this.options.refreshToken ? tokenIssuedAt(token, now) : null;
    return issuedAt === null ? deadline : Math.min(deadline, issuedAt + this.options.maxAge);
  }

  private async verifyJwt(codec: SessionJwtCodec, presented: unknown, now: number): Promise<SessionJwtClaims | null> {
    const known = typeof presented === 'string' ? this.verifiedJwts?.get(presented) : undefined;
    if (known) return now < known.exp * 1000 ? known : null;
    const claims = await codec.verify(presented, now);
    if (claims) this.verifiedJwts?.set(presented as string, claims);
    return claims;
  }

  // The opaque token inside what the client presented (the JWT's `tok`), if it is one of ours
  // and, when sessions are bound, for this user agent. `now` 0 skips the JWT's expiry, for a
  // logout, which should work whenever the session is still alive.
  private async unwrap(presented: unknown, now: number, client: SessionClientInfo | undefined): Promise<{ token: string } | { refused: RefusalReason }> {
    let token = presented;
    if (this.jwt) {
      const claims = await this.verifyJwt(this.jwt, presented, now);
      if (!claims) return { refused: 'invalid_jwt' };
      token = claims.tok;
    }
    if (!isWellFormedToken(token)) return { refused: 'malformed' };
    if (this.options.bindToUserAgent && !isTokenForUserAgent(token, client?.userAgent)) return { refused: 'user_agent' };
    return { token };
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
   * it, as in every method taking a token). `client.rotatable` says a new token
   * can reach the client (it came in a cookie): with `rotationPolicy.interval`, a token that old
   * is then rotated and the new one returned as `renewedToken`.
   */
  async authenticate(presented: unknown, client?: SessionClientInfo & { rotatable?: boolean }): Promise<SessionValidation<TUser> | null> {
    this.requireAgent(client, 'authenticate');
    const now = this.options.clock();
    const unwrapped = this.jwt || this.options.bindToUserAgent ? await this.unwrap(presented, now, client) : null;
    if (unwrapped && 'refused' in unwrapped) return this.refuse(unwrapped.refused);
    const token = unwrapped ? unwrapped.token : presented;
    if (!isWellFormedToken(token)) return this.refuse('malformed');
    if (this.options.refreshToken && now >= this.tokenDeadline(token, Infinity, Infinity, now)) return this.refuse('expired');
    const key = hashTokenBase64(token);

    const successor = this.options.rotationPolicy.interval === null ? undefined : this.successors.get(key);
    if (successor !== undefined) {
      const validation = await this.authenticate(successor, { ...client, rotatable: false });
      return validation && { ...validation, refreshed: true, renewedToken: successor };
    }

    // A hit costs no I/O, unless the expiry is due to slide: then it goes the way of a miss,
    // which writes the expiry and re-reads the user, once per updateAge.
    const cached = this.cache?.get(key, now);
    if (cached && !this.slide(cached.expiresAt, cached.createdAt, now).due) {
      this.telemetry.validated('hit');
      const { id, userId, permissions, context } = cached;
      const session = { id, userId, expires: new Date(cached.expiresAt), createdAt: new Date(cached.createdAt), permissions, context };
      const validation = { user: cached.user, session, refreshed: false };
      return this.rotates(client) ? this.rotateIfDue(token, key, validation, now, client!) : validation;
    }

    let pending = this.inflight.get(key);
    if (!pending) {
      const current: Promise<Lookup<TUser>> = this.lookup(token, Buffer.from(key, 'base64'))
        .then((result) => {
          if ('validation' in result && this.inflight.get(key) === current) {
            const { session, user } = result.validation;
            const expiresAt = session.expires.getTime();
            const createdAt = session.createdAt.getTime();
            const { id, userId, permissions, context } = session;
            this.cache?.set(key, { id, userId, expiresAt, createdAt, user, permissions, context }, this.options.clock(), this.deadline(expiresAt, createdAt));
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
    let validation = result.validation;
    // A JWT carries the expiry it was signed with: when the session slid, the client needs a new one.
    if (validation.refreshed && this.jwt) validation = { ...validation, renewedToken: await this.clientToken(token, validation.session, now) };
    return this.rotates(client) ? this.rotateIfDue(token, key, validation, now, client!) : validation;
  }

  private rotates(client: { rotatable?: boolean } | undefined): boolean {
    return this.options.rotationPolicy.interval !== null && client?.rotatable === true;
  }

  private async rotateIfDue(
    token: string,
    key: string,
    validation: SessionValidation<TUser>,
    now: number,
    client: SessionClientInfo,
  ): Promise<SessionValidation<TUser>> {
    const issuedAt = tokenIssuedAt(token, now);
    if (issuedAt !== null && now - issuedAt < this.options.rotationPolicy.interval!) return validation;
    const issued = await this.rotate(token, now, client.userAgent);
    // Of concurrent requests with the old token, one rotates; the others find its successor.
    const renewedToken = issued?.token ?? this.successors.get(key);
    if (renewedToken === undefined) return validation;
    if (issued) this.successors.set(key, issued.token);
    const expires = issued?.session.expires ?? validation.session.expires;
    return { ...validation, session: { ...validation.session, expires }, refreshed: true, renewedToken };
  }

  private refuse(reason: RefusalReason): null {
    this.logger.debug(`refused: ${reason.replace(/_/g, ' ')}`);
    this.telemetry.refused(reason);
    return null;
  }

  // The expiry slides once it would move by at least updateAge (its last write is that old),
  // and once more to land exactly on the absolute cap, so an active session lives to the cap.
  private slide(expiresAt: number, createdAt: number, now: number): { due: boolean; next: number; staleBelow: number } {
    // With refresh tokens a login's window moves on refresh, not on use.
    if (this.options.refreshToken) return { due: false, next: expiresAt, staleBelow: expiresAt };
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

  private async lookup(token: string, tokenHash: Buffer): Promise<Lookup<TUser>> {
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
    const expiresAt = refreshed ? next : stored.expiresAt.getTime();
    const base = toSession(stored, new Date(this.tokenDeadline(token, expiresAt, stored.createdAt.getTime(), now)));
    if (refreshed) {
      this.telemetry.refreshed();
      this.telemetry.emit(SessionEvents.Refreshed, { session: base });
    }
    const { resolvePermissions, resolveContext } = this.options;
    let permissions = NO_PERMISSIONS;
    let context: unknown;
    // Without resolvers a miss stays as cheap as before them: no extra promises.
    if (resolvePermissions || resolveContext) {
      [permissions, context] = await Promise.all([
        resolvePermissions ? this.io('resolvePermissions', () => resolvePermissions(user, base)).then(checkPermissions) : NO_PERMISSIONS,
        resolveContext ? this.io('resolveContext', () => resolveContext(user, base)) : undefined,
      ]);
    }
    const session: ValidatedSession = { id: base.id, userId: base.userId, expires: base.expires, createdAt: base.createdAt, permissions, context };
    return { validation: { user: user as TUser, session, refreshed } };
  }

  /** Logs a token out. Idempotent: true if a session was removed, false otherwise. */
  async destroySession(presented: unknown, client?: SessionClientInfo): Promise<boolean> {
    this.requireAgent(client, 'destroySession');
    const unwrapped = await this.unwrap(presented, 0, client);
    if ('refused' in unwrapped) return false;
    const { token } = unwrapped;
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
  async rotateSession(presented: unknown, client?: SessionClientInfo): Promise<IssuedSession | null> {
    this.requireAgent(client, 'rotateSession');
    const now = this.options.clock();
    const unwrapped = await this.unwrap(presented, now, client);
    if ('refused' in unwrapped) return null;
    return this.rotate(unwrapped.token, now, client?.userAgent);
  }

  /**
   * Trades a refresh token for a new session token and refresh token, and kills both old ones.
   * Null for a refresh token that is malformed, forged, expired, from another user agent (with
   * `bindToUserAgent`) or already used. One already used was copied: the login it belongs to is
   * revoked on every instance and `session.refresh-reused` fires.
   */
  async refresh(refreshToken: unknown, client?: SessionClientInfo): Promise<IssuedSession | null> {
    if (!this.refreshTokens) throw new TypeError('SessionService.refresh: refresh tokens are off; set the refreshToken option.');
    this.requireAgent(client, 'refresh');
    const now = this.options.clock();
    const claim = this.refreshTokens.read(refreshToken, this.options.bindToUserAgent ? client?.userAgent : undefined);
    if (!claim) return this.refuse('invalid_refresh');
    if (now >= claim.expires) return this.refuse('expired');
    const next = this.newToken(now, client?.userAgent ?? undefined);
    const stored = await this.io('replaceTokenHash', () => this.store.replaceTokenHash(claim.tokenHash, hashToken(next), new Date(now)));
    if (!stored || stored.id !== claim.sessionId) {
      // Ours (the MAC holds) yet no longer current: it was used before, by its owner or a thief.
      const revoked = await this.io('deleteById', () => this.store.deleteById(claim.userId, claim.sessionId));
      if (revoked) {
        await this.forget([revoked]);
        this.telemetry.emit(SessionEvents.Destroyed, { session: toSession(revoked), reason: 'refresh_reused' });
      }
      this.logger.warn(`refresh token of session ${claim.sessionId} (user ${claim.userId}) used twice; ${revoked ? 'session revoked' : 'session already ended'}`);
      this.telemetry.emit(SessionEvents.RefreshReused, { userId: claim.userId, sessionId: claim.sessionId, revoked: revoked && toSession(revoked) });
      return this.refuse('refresh_reused');
    }
    await this.forget([{ ...stored, tokenHash: claim.tokenHash }], false);
    const window = Math.min(now + this.options.refreshToken!.maxAge, this.capOf(stored.createdAt.getTime()));
    const slid = window > stored.expiresAt.getTime() && (await this.io('extendExpiry', () => this.store.extendExpiry(stored, new Date(window), new Date(window), new Date(now))));
    const current = slid ? { ...stored, expiresAt: new Date(window) } : stored;
    this.telemetry.emit(SessionEvents.Rotated, { session: toSession(current) });
    return this.issue(current, next, now, client?.userAgent);
  }

  /**
   * Call after changing a user's permissions or context: every instance drops that user's cached
   * sessions, so each re-resolves them on its next request. With `token` (the session that made
   * the change) and `rotationPolicy.onPrivilegeChange` (the default), that session also gets a
   * new token, returned for the app to hand over (`SessionCookies.write` for a cookie); null
   * otherwise.
   */
  async privilegesChanged(userId: UserId, token?: unknown, client?: SessionClientInfo): Promise<IssuedSession | null> {
    if (token !== undefined) this.requireAgent(client, 'privilegesChanged');
    const id = normalizeUserId(userId);
    const sessions = await this.io('listByUser', () => this.store.listByUser(id, new Date(this.options.clock())));
    await this.forget(sessions, false);
    if (token === undefined || !this.options.rotationPolicy.onPrivilegeChange) return null;
    return this.rotateSession(token, client);
  }

  private async rotate(token: string, now: number, userAgent: string | null | undefined): Promise<IssuedSession | null> {
    const next = this.newToken(now, userAgent ?? undefined);
    const oldHash = hashToken(token);
    const stored = await this.io('replaceTokenHash', () => this.store.replaceTokenHash(oldHash, hashToken(next), new Date(now)));
    if (!stored) {
      this.drop(oldHash.toString('base64'));
      return null;
    }
    await this.forget([{ ...stored, tokenHash: oldHash }], false);
    if (now >= this.deadlineOf(stored)) return null;
    this.telemetry.emit(SessionEvents.Rotated, { session: toSession(stored) });
    return this.issue(stored, next, now, userAgent);
  }

  /** A user's live sessions, newest first. */
  async listUserSessions(userId: UserId): Promise<Session[]> {
    return (await this.liveSessions(normalizeUserId(userId), this.options.clock())).map((s) => toSession(s));
  }

  // A user's sessions not past their deadline (the store filters by expiry, not by the cap).
  private async liveSessions(userId: string, now: number): Promise<StoredSession[]> {
    const stored = await this.io('listByUser', () => this.store.listByUser(userId, new Date(now)));
    return stored.filter((s) => now < this.deadlineOf(s));
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
