import { Logger } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import type { ResolvedAgentBinding } from '../core/core.options.js';
import type { IssuedSession, Session, SessionClientInfo } from '../core/session.interfaces.js';
import type { ResolvedSessionOptions } from '../options/resolve-options.js';
import type { StoredSession } from '../stores/session-store.interface.js';
import { type SessionAgentMismatchEvent, SessionEvents } from '../telemetry/session.events.js';
import { RateLimitedWarnings } from '../telemetry/rate-limited-warnings.js';
import type { RefusalReason } from '../telemetry/session.telemetry.js';
import { requireJose } from './jose.js';
import { type SessionJwtClaims, SessionJwtCodec } from './jwt-codec.js';
import { generateBoundToken, hashToken, isTokenForUserAgent, isWellFormedToken, normalizeUserAgent, type TokenFacts } from './opaque-token.js';
import { type RefreshClaim, RefreshTokens } from './refresh-token.js';

/** The options the tokens depend on. */
export type TokenOptions = Pick<ResolvedSessionOptions, 'jwt' | 'cache' | 'refreshToken' | 'bindToUserAgent'>;

/**
 * What a client presented, opened: the opaque token inside, or why it was refused. A refusal
 * with `revokeTokenHash` (a token from another agent, with `bindToUserAgent.revoke`) asks the
 * caller to end the session of that hash; the token itself never leaves a refusal.
 */
export type Unwrapped = { token: string } | { refused: RefusalReason; revokeTokenHash?: Buffer };

/** Where SessionTokens reports what it refuses (SessionTelemetry). */
export interface TokenEvents {
  emit(event: string, payload: object): void;
}

/**
 * Every form a token takes between the client and the store: the opaque token, the JWT that
 * wraps it, the user-agent tag inside it, and the refresh token naming it. No I/O here.
 */
export class SessionTokens {
  private readonly jwt: SessionJwtCodec | null;
  // JWTs whose signature (or JWE tag) already checked out here, by their exact text: that
  // never stops being true, so a repeat costs a map lookup instead of a signature check (the
  // expiry is still checked each time, and the session against the cache or store).
  private readonly verifiedJwts: LRUCache<string, SessionJwtClaims> | null;
  private readonly refreshTokens: RefreshTokens | null;
  private readonly binding: ResolvedAgentBinding | null;
  private readonly bindToUserAgent: boolean;
  // Who presents tokens from other agents is the client, maybe an attacker trying agents.
  private readonly mismatchWarnings = new RateLimitedWarnings(new Logger('SessionService'));
  /** Whether a presented token needs opening (a JWT, or a user-agent check) before its hash is looked up. */
  readonly wrapped: boolean;

  /** `events`: where `session.agent-mismatch` goes; without it a mismatch is only logged. */
  constructor(
    options: TokenOptions,
    private readonly events?: TokenEvents,
  ) {
    this.jwt = options.jwt ? new SessionJwtCodec(options.jwt) : null;
    this.verifiedJwts = options.jwt && options.cache ? new LRUCache({ max: options.cache.size }) : null;
    this.refreshTokens = options.refreshToken ? new RefreshTokens(options.refreshToken.keys) : null;
    this.binding = options.bindToUserAgent || null;
    this.bindToUserAgent = this.binding !== null;
    this.wrapped = this.jwt !== null || this.bindToUserAgent;
  }

  /**
   * Resolves once every package the token options need is loaded, so that a missing one stops
   * the app at startup, not at its first login; a SessionOptionsError names it.
   */
  async ready(): Promise<void> {
    if (this.jwt) await requireJose('tokenType', "'jwt'");
  }

  /** Whether refreshed sessions need a re-signed token for the client (JWTs carry their expiry). */
  get signsExpiry(): boolean {
    return this.jwt !== null;
  }

  /** Whether refresh tokens are on. */
  get refreshes(): boolean {
    return this.refreshTokens !== null;
  }

  /**
   * With bindToUserAgent, a call without the client's agent is a bug in the app: it would refuse
   * every token (or, for a logout, silently end nothing), so say so.
   */
  requireAgent(client: SessionClientInfo | undefined, method: string): void {
    if (this.bindToUserAgent && typeof client?.userAgent !== 'string') {
      throw new TypeError(`SessionService.${method}: bindToUserAgent is on, so pass { userAgent }: the request's User-Agent header ('' when it has none).`);
    }
  }

  /** A new opaque session token issued at `now`, tagged with the agent when sessions are bound. */
  mint(now: number, userAgent: string | null | undefined): string {
    return generateBoundToken({ issuedAt: now, agent: this.agentFact(userAgent) });
  }

  private agentFact(userAgent: string | null | undefined): TokenFacts['agent'] {
    return this.binding && typeof userAgent === 'string' ? { userAgent, key: this.binding.keys[0] } : undefined;
  }

  /**
   * The session tokens a refresh of `refreshToken` issued at `issuedAt` (a whole second) mints:
   * the first is the one to mint (newest key), the others what an instance on an older secret
   * minted. The same bytes on every instance, so a retry can find the swap its first attempt made.
   */
  successors(refreshToken: string, issuedAt: number, userAgent: string | null | undefined): string[] {
    const agent = this.agentFact(userAgent);
    return (this.refreshTokens?.successorSeeds(refreshToken, issuedAt) ?? []).map((seed) => generateBoundToken({ issuedAt, agent }, seed));
  }

  /**
   * The opaque token inside what the client presented (the JWT's `tok`), if it is one of ours
   * and, when sessions are bound, for this user agent. `ignoreExpiry` accepts an expired JWT,
   * for a logout, which should work whenever the session itself is still alive.
   */
  async unwrap(presented: unknown, client: SessionClientInfo | undefined, at: { now: number; ignoreExpiry?: boolean }): Promise<Unwrapped> {
    let token = presented;
    let claims: SessionJwtClaims | null = null;
    if (this.jwt) {
      // Epoch 0: every exp is ahead of it.
      claims = await this.verifyJwt(this.jwt, presented, at.ignoreExpiry ? 0 : at.now);
      if (!claims) return { refused: 'invalid_jwt' };
      token = claims.tok;
    }
    if (!isWellFormedToken(token)) return { refused: 'malformed' };
    if (this.binding && !isTokenForUserAgent(token, client?.userAgent, this.binding.keys)) return this.agentMismatch(this.binding, token, client, claims);
    return { token };
  }

  // Only a token we issued reaches here as a JWT; an opaque one may be anyone's 43 characters,
  // and stays unlooked-up: its session id is the store's to tell, on revocation.
  private agentMismatch(binding: ResolvedAgentBinding, token: string, client: SessionClientInfo | undefined, claims: SessionJwtClaims | null): Unwrapped {
    const event: SessionAgentMismatchEvent = {
      sessionId: claims?.sid ?? null,
      userId: claims?.sub ?? null,
      userAgent: normalizeUserAgent(client?.userAgent),
      revoke: binding.revoke,
    };
    const session = event.sessionId === null ? 'a session' : `session ${event.sessionId}`;
    const agent = JSON.stringify(event.userAgent.slice(0, 120));
    this.mismatchWarnings.warn(`A token of ${session} was presented by another user agent (${agent}) than it was issued to; refused${binding.revoke ? ', and the session revoked' : ''}`);
    this.events?.emit(SessionEvents.AgentMismatch, event);
    return binding.revoke ? { refused: 'user_agent', revokeTokenHash: hashToken(token) } : { refused: 'user_agent' };
  }

  private async verifyJwt(codec: SessionJwtCodec, presented: unknown, now: number): Promise<SessionJwtClaims | null> {
    const known = typeof presented === 'string' ? this.verifiedJwts?.get(presented) : undefined;
    if (known) return now < known.exp * 1000 ? known : null;
    const claims = await codec.verify(presented, now);
    if (claims) this.verifiedJwts?.set(presented as string, claims);
    return claims;
  }

  /** What the client holds for `token`: the token itself, or its JWT carrying the session's expiry. */
  async forClient(token: string, session: Session, now: number): Promise<string> {
    if (!this.jwt) return token;
    return this.jwt.sign({ tok: token, sub: session.userId, sid: session.id, exp: Math.floor(session.expires.getTime() / 1000) }, now);
  }

  /**
   * What the client gets for a session token: the token (or its JWT) and, with refresh tokens
   * on, a refresh token naming it that lasts until `refreshExpires`.
   */
  async issue(session: Session, token: string, now: number, refresh: { stored: StoredSession; expires: number; userAgent: string | null | undefined }): Promise<IssuedSession> {
    const issued: IssuedSession = { token: await this.forClient(token, session, now), session };
    if (this.refreshTokens) {
      const { stored, expires, userAgent } = refresh;
      const claim = { sessionId: stored.id, userId: stored.userId, expires, tokenHash: hashToken(token) };
      issued.refreshToken = this.refreshTokens.issue(claim, this.bindToUserAgent ? userAgent : undefined);
      issued.refreshExpires = new Date(expires);
    }
    return issued;
  }

  /** The claim of a refresh token we issued (for this agent, when bound), or null. */
  readRefresh(refreshToken: unknown, client: SessionClientInfo | undefined): RefreshClaim | null {
    if (!this.refreshTokens) return null;
    return this.refreshTokens.read(refreshToken, this.bindToUserAgent ? client?.userAgent : undefined);
  }
}
