import type { ResolvedSessionOptions } from '../options/resolve-options.js';
import type { SessionStore, StoredSession } from '../stores/session-store.interface.js';
import { SessionEvents } from '../telemetry/session.events.js';
import type { SessionTelemetry } from '../telemetry/session.telemetry.js';
import { hashTokenBase64, isWellFormedToken, tokenIssuedAt } from '../tokens/opaque-token.js';
import type { SessionTokens } from '../tokens/session-tokens.js';
import { type LifetimeRules, sessionEnd, slide, tokenEnd } from './lifetime.js';
import type { CachedSession } from '../cache/local-session.cache.js';
import type { LocalSessions, Lookup, Validation } from './local-sessions.js';
import type { SessionClientInfo } from './session.interfaces.js';
import type { SessionRotator } from './session-rotator.js';
import { checkPermissions, NO_PERMISSIONS, toSession, validatedSession } from './session-values.js';
import type { LastSeen } from '../details/last-seen.js';
import type { StoreCalls } from './store-calls.js';

/** What authentication needs of the options. */
export type AuthenticationOptions = Pick<ResolvedSessionOptions, 'clock' | 'resolvePermissions' | 'resolveContext'>;

/** The client behind a validation, and whether a renewed token can reach it (it came in a cookie). */
export type AuthenticatingClient = SessionClientInfo & { rotatable?: boolean };

/**
 * Turns a presented token into its user and session: shape first (no I/O for junk), then the
 * local cache, then one shared lookup per token in flight; slides the expiry on the way.
 */
export class SessionAuthenticator {
  constructor(
    private readonly store: SessionStore,
    private readonly calls: StoreCalls,
    private readonly telemetry: SessionTelemetry,
    private readonly tokens: SessionTokens,
    private readonly local: LocalSessions,
    private readonly rotator: SessionRotator,
    private readonly rules: LifetimeRules,
    private readonly options: AuthenticationOptions,
    private readonly resolveUser: (userId: string) => unknown,
    private readonly lastSeen: LastSeen,
    private readonly revokeRefused: (tokenHash: Buffer) => Promise<unknown> = async () => undefined,
  ) {}

  // The last token hashed and its hash: a miss asks authenticateNow, then authenticate, in one
  // tick, and a SHA-256 per ask is most of what the second one costs.
  private lastToken = '';
  private lastKey = '';

  /**
   * `fresh`: for a connection that will stay open (a WebSocket), the store is asked even when the
   * cache holds the token, and no lookup in flight is joined, so a token revoked on another
   * instance a moment ago is refused before that instance's eviction arrives here.
   */
  authenticate(presented: unknown, client: AuthenticatingClient | undefined, fresh = false): Promise<Validation | null> {
    let known: Validation | null | undefined;
    try {
      known = fresh ? undefined : this.authenticateNow(presented, client);
    } catch (error) {
      return Promise.reject(error);
    }
    return known === undefined ? this.authenticateAsync(presented, client, fresh) : Promise.resolve(known);
  }

  /**
   * The answer when it needs no I/O, synchronously: a cache hit that is not due to slide or
   * rotate, or a token refused by its shape or age. Undefined when the store must be asked. A
   * hit is most requests, and each promise and tick it skips is CPU on every one of them.
   */
  authenticateNow(presented: unknown, client: AuthenticatingClient | undefined): Validation | null | undefined {
    this.tokens.requireAgent(client, 'authenticate');
    if (this.tokens.wrapped || this.local.paused || !this.local.cache) return undefined;
    const now = this.options.clock();
    const refusal = this.shapeRefusal(presented, now);
    if (refusal !== undefined) return this.telemetry.refuse(refusal);
    const token = presented as string;
    const key = this.keyOf(token);
    if (this.rotator.successorOf(key) !== undefined) return undefined;
    const cached = this.local.cache.get(key, now);
    if (!cached || slide(this.rules, cached, now).due) return undefined;
    if (this.rotator.rotates(client) && this.rotator.rotationDue(token, now)) return undefined;
    return this.hit(cached, key, now);
  }

  private async authenticateAsync(presented: unknown, client: AuthenticatingClient | undefined, fresh: boolean): Promise<Validation | null> {
    this.tokens.requireAgent(client, 'authenticate');
    const now = this.options.clock();
    const unwrapped = this.tokens.wrapped ? await this.tokens.unwrap(presented, client, { now }) : null;
    if (unwrapped && 'refused' in unwrapped) {
      // Refused whatever the revocation does; a failed one is the store call's to report.
      if (unwrapped.revokeTokenHash) await this.revokeRefused(unwrapped.revokeTokenHash).catch(() => undefined);
      return this.telemetry.refuse(unwrapped.refused);
    }
    const token = unwrapped ? unwrapped.token : presented;
    const refusal = this.shapeRefusal(token, now);
    if (refusal !== undefined) return this.telemetry.refuse(refusal);
    const key = this.keyOf(token as string);

    const successor = this.rotator.successorOf(key);
    if (successor !== undefined) {
      const validation = await this.authenticate(successor, { ...client, rotatable: false }, fresh);
      return validation && { ...validation, refreshed: true, renewedToken: successor };
    }

    // A hit costs no I/O, unless the expiry is due to slide: then it goes the way of a miss,
    // which writes the expiry and re-reads the user, once per updateAge.
    const cached = fresh || this.local.paused ? undefined : this.local.cache?.get(key, now);
    if (cached && !slide(this.rules, cached, now).due) {
      const validation = this.hit(cached, key, now);
      return this.rotator.rotates(client) ? this.rotator.rotateIfDue(token as string, key, validation, now, client) : validation;
    }

    const result = fresh ? await this.lookup(token as string, Buffer.from(key, 'base64')) : await this.sharedLookup(token as string, key);
    if ('refused' in result) return this.telemetry.refuse(result.refused);
    this.telemetry.validated(this.local.cache ? 'miss' : 'off');
    let validation = result.validation;
    // A JWT carries the expiry it was signed with: when the session slid, the client needs a new one.
    if (validation.refreshed && this.tokens.signsExpiry) validation = { ...validation, renewedToken: await this.tokens.forClient(token as string, validation.session, now) };
    return this.rotator.rotates(client) ? this.rotator.rotateIfDue(token as string, key, validation, now, client) : validation;
  }

  private keyOf(token: string): string {
    if (token !== this.lastToken) {
      this.lastKey = hashTokenBase64(token);
      this.lastToken = token;
    }
    return this.lastKey;
  }

  // Refused with no lookup: not a token of ours, or (with refresh tokens) past maxAge from its issue.
  private shapeRefusal(token: unknown, now: number): 'malformed' | 'expired' | undefined {
    if (!isWellFormedToken(token)) return 'malformed';
    if (this.rules.refreshWindow !== null && now >= tokenEnd(this.rules, { issuedAt: tokenIssuedAt(token, now) })) return 'expired';
    return undefined;
  }

  private hit(cached: CachedSession, key: string, now: number): Validation {
    this.telemetry.validated('hit');
    const { id, userId, permissions, context } = cached;
    const base = { id, userId, expires: new Date(cached.expiresAt), createdAt: new Date(cached.createdAt) };
    let details = cached.details;
    if (details) {
      details = cached.details = this.lastSeen.touchIfDue(details, now, () => ({ ...base, tokenHash: Buffer.from(key, 'base64'), expiresAt: base.expires }));
    }
    return { user: cached.user, session: validatedSession(base, permissions, context, details), refreshed: false };
  }

  // Joins the lookup in flight for this token, or starts one that fills the cache unless a
  // revocation dropped it meanwhile.
  private sharedLookup(token: string, key: string): Promise<Lookup> {
    const inflight = this.local.inflight;
    const pending = inflight.get(key);
    if (pending) return pending;
    const current: Promise<Lookup> = this.lookup(token, Buffer.from(key, 'base64'))
      .then((result) => {
        // Not while the channel is down: an eviction of this entry could not be heard.
        if ('validation' in result && inflight.get(key) === current && !this.local.paused) {
          const { session, user } = result.validation;
          const expiresAt = session.expires.getTime();
          const createdAt = session.createdAt.getTime();
          const { id, userId, permissions, context } = session;
          const entry = { id, userId, expiresAt, createdAt, user, permissions, context, details: result.details };
          this.local.cache?.set(key, entry, this.options.clock(), sessionEnd(this.rules, { expiresAt, createdAt }));
        }
        return result;
      })
      .finally(() => {
        if (inflight.get(key) === current) inflight.delete(key);
      });
    inflight.set(key, current);
    return current;
  }

  private async lookup(token: string, tokenHash: Buffer): Promise<Lookup> {
    // Where the store can join the user to the session (userEntity on PostgreSQL), one read
    // brings both; otherwise the user is resolved after the session.
    const findWithUser = this.store.findByTokenHashWithUser;
    const found: { session: StoredSession; user?: unknown } | null = await this.calls.run('findByTokenHash', () =>
      findWithUser ? findWithUser.call(this.store, tokenHash) : this.store.findByTokenHash(tokenHash).then((session) => session && { session }),
    );
    if (!found) return { refused: 'unknown' };
    const stored = found.session;
    const now = this.options.clock();
    const times = { expiresAt: stored.expiresAt.getTime(), createdAt: stored.createdAt.getTime() };
    if (now >= sessionEnd(this.rules, times)) return { refused: 'expired' };

    const { due, next, staleBelow } = slide(this.rules, times, now);
    const [user, refreshed] = await Promise.all([
      // The user lookup is bounded like the store: its database can be down too.
      'user' in found ? found.user : this.calls.run('resolveUser', () => this.resolveUser(stored.userId)),
      due ? this.calls.run('extendExpiry', () => this.store.extendExpiry(stored, new Date(next), new Date(staleBelow), new Date(now), this.seenAt(stored, now))) : false,
    ]);
    if (user === null || user === undefined) return { refused: 'user_not_found' };
    const expiresAt = refreshed ? next : times.expiresAt;
    const issuedAt = this.rules.refreshWindow === null ? null : tokenIssuedAt(token, now);
    const base = toSession(stored, new Date(tokenEnd(this.rules, { issuedAt, session: { expiresAt, createdAt: times.createdAt } })));
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
        resolvePermissions ? this.calls.run('resolvePermissions', () => resolvePermissions(user, base)).then(checkPermissions) : NO_PERMISSIONS,
        resolveContext ? this.calls.run('resolveContext', () => resolveContext(user, base)) : undefined,
      ]);
    }
    let details = stored.details;
    if (details) {
      // The sliding write set it; otherwise its own step may be due.
      details = refreshed && this.lastSeen.withSlide ? { ...details, lastSeenAt: new Date(now) } : this.lastSeen.touchIfDue(details, now, () => stored);
    }
    return { validation: { user, session: validatedSession(base, permissions, context, details), refreshed }, details };
  }

  // The sliding write also moves lastSeenAt, where the session keeps one.
  private seenAt(stored: StoredSession, now: number): Date | undefined {
    return stored.details && this.lastSeen.withSlide ? new Date(now) : undefined;
  }
}
