import type { ResolvedSessionOptions } from '../options/resolve-options.js';
import type { SessionStore, StoredSession, StoredSessionDetails } from '../stores/session-store.interface.js';
import { SessionEvents } from '../telemetry/session.events.js';
import type { SessionTelemetry } from '../telemetry/session.telemetry.js';
import { hashToken, tokenIssuedAt } from '../tokens/opaque-token.js';
import type { SessionTokens } from '../tokens/session-tokens.js';
import { firstExpiry, type LifetimeRules, sessionEnd, tokenEnd } from './lifetime.js';
import { SessionLimitExceededException } from './session.exceptions.js';
import type { IssuedSession, Session, UserId } from './session.interfaces.js';
import type { SessionRevoker } from './session-revoker.js';
import { byId, normalizeUserId, toSession } from './session-values.js';
import type { StoreCalls } from './store-calls.js';

/** Options of `createSession`. */
export interface CreateSessionInput {
  userId: UserId;
  /**
   * The first expiry, instead of now + maxAge (with refresh tokens: of the refresh window);
   * still capped by absoluteMaxAge.
   */
  expires?: Date;
  /** The client's User-Agent header ('' when it has none); required with `bindToUserAgent`, recorded with `metadata`. */
  userAgent?: string | null;
  /** The client's address (`request.ip`), recorded with `metadata.ip`. */
  ip?: string | null;
}

type Limit = NonNullable<ResolvedSessionOptions['maxSessionsPerUser']>;

/** Makes sessions, holds a user to `maxSessionsPerUser`, and hands out their tokens. */
export class SessionIssuer {
  constructor(
    private readonly store: SessionStore,
    private readonly calls: StoreCalls,
    private readonly telemetry: SessionTelemetry,
    private readonly tokens: SessionTokens,
    private readonly revoker: SessionRevoker,
    private readonly rules: LifetimeRules,
    private readonly limit: Limit | null,
    private readonly clock: () => number,
    private readonly details: ((input: CreateSessionInput, now: number) => StoredSessionDetails) | null,
  ) {}

  async createSession(input: CreateSessionInput): Promise<IssuedSession> {
    const userId = normalizeUserId(input?.userId);
    this.tokens.requireAgent(input, 'createSession');
    const now = this.clock();
    // Cheap refusal first; the count after the insert is the one that decides.
    if (this.limit?.policy === 'refuse' && (await this.liveSessions(userId, now)).length >= this.limit.max) {
      throw new SessionLimitExceededException();
    }
    let requested: number | undefined;
    if (input.expires !== undefined) {
      requested = input.expires instanceof Date ? input.expires.getTime() : NaN;
      if (!(requested > now)) throw new TypeError('SessionService.createSession: expires must be a Date in the future.');
    }
    const expires = firstExpiry(this.rules, { now, requested });
    const token = this.tokens.mint(now, input.userAgent);
    const stored = await this.calls.run('create', () =>
      this.store.create({ userId, tokenHash: hashToken(token), expiresAt: new Date(expires), createdAt: new Date(now), ...(this.details && { details: this.details(input, now) }) }),
    );
    if (this.limit) await this.enforceLimit(stored, this.limit);
    this.telemetry.created();
    this.telemetry.emit(SessionEvents.Created, { session: toSession(stored) });
    return this.issue(stored, token, now, input.userAgent);
  }

  /** The client's tokens for `token`, the current token of `stored`. */
  issue(stored: StoredSession, token: string, now: number, userAgent: string | null | undefined): Promise<IssuedSession> {
    const times = { expiresAt: stored.expiresAt.getTime(), createdAt: stored.createdAt.getTime() };
    const issuedAt = this.rules.refreshWindow === null ? null : tokenIssuedAt(token, now);
    const session = toSession(stored, new Date(tokenEnd(this.rules, { issuedAt, session: times })));
    return this.tokens.issue(session, token, now, { stored, expires: sessionEnd(this.rules, times), userAgent });
  }

  /** A user's live sessions, newest first. */
  async listUserSessions(userId: UserId): Promise<Session[]> {
    return (await this.liveSessions(normalizeUserId(userId), this.clock())).map((s) => toSession(s));
  }

  // Counted after the insert, so concurrent logins of one user agree without a lock: ids only
  // grow, so every instance ranks the same sessions the same way, and the last to count sees
  // every insert. The newest `max` stay; with more concurrent logins than that, even the one
  // being made may lose (its token is then dead on arrival, as the oldest of the lot).
  private async enforceLimit(created: StoredSession, limit: Limit): Promise<void> {
    const live = (await this.liveSessions(created.userId, this.clock()))
      .filter((s) => s.id !== created.id)
      .concat(created)
      .sort(byId);
    if (live.length <= limit.max) return;
    if (limit.policy === 'refuse') {
      // The oldest `max` were there first; a newer one is refused.
      if (live.indexOf(created) < limit.max) return;
      await this.calls.run('deleteById', () => this.store.deleteById(created.userId, created.id));
      throw new SessionLimitExceededException();
    }
    const removed: StoredSession[] = [];
    for (const session of live.slice(0, live.length - limit.max)) {
      const gone = await this.calls.run('deleteById', () => this.store.deleteById(session.userId, session.id));
      if (gone) removed.push(gone);
    }
    await this.revoker.revoked(removed, 'evicted');
  }

  // A user's sessions not past their end (the store filters by expiry, not by the cap).
  private async liveSessions(userId: string, now: number): Promise<StoredSession[]> {
    const stored = await this.calls.run('listByUser', () => this.store.listByUser(userId, new Date(now)));
    return stored.filter((s) => now < sessionEnd(this.rules, { expiresAt: s.expiresAt.getTime(), createdAt: s.createdAt.getTime() }));
  }
}
