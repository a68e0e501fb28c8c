import { createHash } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import type { SessionStore, StoredSession } from '../stores/session-store.interface.js';
import { SessionEvents } from '../telemetry/session.events.js';
import type { SessionTelemetry } from '../telemetry/session.telemetry.js';
import { hashToken, tokenIssuedAt } from '../tokens/opaque-token.js';
import type { RefreshClaim } from '../tokens/refresh-token.js';
import type { SessionTokens } from '../tokens/session-tokens.js';
import { type LifetimeRules, refreshedExpiry, sessionEnd } from './lifetime.js';
import type { Validation } from './local-sessions.js';
import type { IssuedSession, SessionClientInfo, UserId } from './session.interfaces.js';
import type { SessionIssuer } from './session-issuer.js';
import type { SessionRevoker } from './session-revoker.js';
import { normalizeUserId, toSession } from './session-values.js';
import type { StoreCalls } from './store-calls.js';

// How long a token rotated on schedule still leads to its successor on this instance: long
// enough for the requests a browser sent before it saw the new cookie.
const ROTATION_GRACE_MS = 30_000;
// A refresh's successor token is issued at the nearest whole second, so that every attempt of
// it in that second, on any instance, mints the same bytes (see SessionTokens.successors); its
// lifetime then differs from the exact one by half a second at most, and a cookie's Max-Age,
// rounded to seconds, is the same as for any token.
const SECOND = 1_000;
const nearestSecond = (ms: number) => Math.round(ms / SECOND) * SECOND;


/** What rotation needs of the options. */
export interface RotationOptions {
  /** `rotationPolicy.interval`: rotate a cookie token once it is this old; null for never. */
  interval: number | null;
  onPrivilegeChange: boolean;
  clock: () => number;
  /**
   * How long a refresh token already traded gets a working pair again instead of a theft alarm
   * (twice storeTimeout: past a first attempt that timed out, and the client's retry after its
   * 503 or a lost answer): the same pair on this instance, its session token on any other.
   */
  refreshGrace: number;
}

/** Gives live sessions new tokens: by hand, on schedule, on a privilege change, and on refresh. */
export class SessionRotator {
  private readonly logger = new Logger('SessionService');
  // Tokens rotated on schedule here, to their successors (see ROTATION_GRACE_MS).
  private readonly successors = new LRUCache<string, string>({ max: 10_000, ttl: ROTATION_GRACE_MS });
  // Refreshes made here, by the refresh token's SHA-256 (see RotationOptions.refreshGrace), on the service's clock.
  private readonly refreshing: LRUCache<string, Promise<IssuedSession | null>>;

  constructor(
    private readonly store: SessionStore,
    private readonly calls: StoreCalls,
    private readonly telemetry: SessionTelemetry,
    private readonly tokens: SessionTokens,
    private readonly issuer: SessionIssuer,
    private readonly revoker: SessionRevoker,
    private readonly rules: LifetimeRules,
    private readonly options: RotationOptions,
  ) {
    this.refreshing = new LRUCache({ max: 10_000, ttl: options.refreshGrace, perf: { now: options.clock } });
  }

  /** The token a token rotated on schedule here was replaced by, while its grace lasts. */
  successorOf(key: string): string | undefined {
    return this.options.interval === null ? undefined : this.successors.get(key);
  }

  /** Whether tokens of this client rotate on schedule (an interval is set, and a new cookie can reach it). */
  rotates(client: { rotatable?: boolean } | undefined): client is SessionClientInfo & { rotatable: true } {
    return this.options.interval !== null && client?.rotatable === true;
  }

  /** Whether `token` is older than the rotation interval (a token with no issue time always is). */
  rotationDue(token: string, now: number): boolean {
    const issuedAt = tokenIssuedAt(token, now);
    return issuedAt === null || now - issuedAt >= this.options.interval!;
  }

  /** Rotates a token older than the interval; the validation then carries the new one. */
  async rotateIfDue(token: string, key: string, validation: Validation, now: number, client: SessionClientInfo): Promise<Validation> {
    if (!this.rotationDue(token, now)) return validation;
    const issued = await this.rotate(token, now, client.userAgent);
    // Of concurrent requests with the old token, one rotates; the others find its successor.
    const renewedToken = issued?.token ?? this.successors.get(key);
    if (renewedToken === undefined) return validation;
    if (issued) this.successors.set(key, issued.token);
    const expires = issued?.session.expires ?? validation.session.expires;
    return { ...validation, session: { ...validation.session, expires }, refreshed: true, renewedToken };
  }

  async rotateSession(presented: unknown, client: SessionClientInfo | undefined): Promise<IssuedSession | null> {
    this.tokens.requireAgent(client, 'rotateSession');
    const now = this.options.clock();
    const unwrapped = await this.tokens.unwrap(presented, client, { now });
    if ('refused' in unwrapped) return null;
    return this.rotate(unwrapped.token, now, client?.userAgent);
  }

  async privilegesChanged(userId: UserId, token: unknown, client: SessionClientInfo | undefined): Promise<IssuedSession | null> {
    if (token !== undefined) this.tokens.requireAgent(client, 'privilegesChanged');
    const id = normalizeUserId(userId);
    const sessions = await this.calls.run('listByUser', () => this.store.listByUser(id, new Date(this.options.clock())));
    // No session ends: their cached permissions and context are stale, so every instance drops them.
    await this.revoker.evict(sessions.map((s) => s.tokenHash));
    if (token === undefined || !this.options.onPrivilegeChange) return null;
    return this.rotateSession(token, client);
  }

  async refresh(refreshToken: unknown, client: SessionClientInfo | undefined): Promise<IssuedSession | null> {
    if (!this.tokens.refreshes) throw new TypeError('SessionService.refresh: refresh tokens are off; set the refreshToken option.');
    this.tokens.requireAgent(client, 'refresh');
    const now = this.options.clock();
    const claim = this.tokens.readRefresh(refreshToken, client);
    if (!claim) return this.telemetry.refuse('invalid_refresh');
    if (now >= claim.expires) return this.telemetry.refuse('expired');
    // A retry of a refresh this instance is making or just made (its answer was a 503, or lost
    // on the way) gets the same pair, not a theft alarm: the first attempt goes on in the
    // background after storeTimeout and its swap may still commit. A retry elsewhere finds the
    // swap by its successor token (see earlierSwap).
    const presented = refreshToken as string;
    const key = createHash('sha256').update(presented).digest('base64');
    let attempt = this.refreshing.get(key);
    if (!attempt) {
      attempt = this.swap(claim, presented, now, client);
      this.refreshing.set(key, attempt);
      // A failed attempt changed nothing a retry must honour.
      attempt.catch(() => this.refreshing.get(key) === attempt && this.refreshing.delete(key));
    }
    const issued = await this.calls.run('refresh', () => attempt);
    return issued ?? this.telemetry.refuse('refresh_reused');
  }

  // The refresh itself, its store calls unbounded: the caller bounds its wait, and a late
  // answer still counts for a retry.
  private async swap(claim: RefreshClaim, refreshToken: string, now: number, client: SessionClientInfo | undefined): Promise<IssuedSession | null> {
    const userAgent = client?.userAgent;
    const [next] = this.tokens.successors(refreshToken, nearestSecond(now), userAgent);
    const stored = await this.revoker.ending('replaceTokenHash', [claim.tokenHash], () => this.store.replaceTokenHash(claim.tokenHash, hashToken(next), new Date(now)), () => [], false);
    if (!stored || stored.id !== claim.sessionId) {
      const made = await this.earlierSwap(claim, refreshToken, now, userAgent);
      if (made) return this.issuer.issue(made.stored, made.token, now, userAgent);
      // Ours (the MAC holds) yet no longer current: it was used before, by its owner or a thief.
      const revoked = await this.store.deleteById(claim.userId, claim.sessionId);
      if (revoked) await this.revoker.revoked([revoked], 'refresh_reused');
      this.logger.warn(`refresh token of session ${claim.sessionId} (user ${claim.userId}) used twice; ${revoked ? 'session revoked' : 'session already ended'}`);
      this.telemetry.emit(SessionEvents.RefreshReused, { userId: claim.userId, sessionId: claim.sessionId, revoked: revoked && toSession(revoked) });
      return null;
    }
    const window = refreshedExpiry(this.rules, { expiresAt: stored.expiresAt.getTime(), createdAt: stored.createdAt.getTime() }, now);
    const slid = window !== null && (await this.store.extendExpiry(stored, new Date(window), new Date(window), new Date(now)));
    const current = slid ? { ...stored, expiresAt: new Date(window) } : stored;
    this.telemetry.emit(SessionEvents.Rotated, { session: toSession(current) });
    return this.issuer.issue(current, next, now, userAgent);
  }

  // The swap an earlier attempt of this refresh made within refreshGrace, here or on any
  // instance: the session's current token is then the successor that attempt minted, issued at
  // one of the whole seconds since (and one ahead, for an instance whose clock runs a little
  // fast). Only a holder of the refresh token can derive it; a second past the grace none matches.
  private async earlierSwap(claim: RefreshClaim, refreshToken: string, now: number, userAgent: string | null | undefined): Promise<{ stored: StoredSession; token: string } | null> {
    const stored = (await this.store.listByUser(claim.userId, new Date(now))).find((s) => s.id === claim.sessionId);
    if (!stored || now >= sessionEnd(this.rules, { expiresAt: stored.expiresAt.getTime(), createdAt: stored.createdAt.getTime() })) return null;
    for (let at = nearestSecond(now) + SECOND; at >= now - this.options.refreshGrace - SECOND / 2; at -= SECOND) {
      const token = this.tokens.successors(refreshToken, at, userAgent).find((t) => hashToken(t).equals(stored.tokenHash));
      if (token) return { stored, token };
    }
    return null;
  }

  private async rotate(token: string, now: number, userAgent: string | null | undefined): Promise<IssuedSession | null> {
    const next = this.tokens.mint(now, userAgent);
    const oldHash = hashToken(token);
    // The old token dies in every cache whatever the store answers, late or not at all.
    const stored: StoredSession | null = await this.revoker.ending('replaceTokenHash', [oldHash], () => this.store.replaceTokenHash(oldHash, hashToken(next), new Date(now)), () => []);
    if (!stored) return null;
    if (now >= sessionEnd(this.rules, { expiresAt: stored.expiresAt.getTime(), createdAt: stored.createdAt.getTime() })) return null;
    this.telemetry.emit(SessionEvents.Rotated, { session: toSession(stored) });
    return this.issuer.issue(stored, next, now, userAgent);
  }
}
