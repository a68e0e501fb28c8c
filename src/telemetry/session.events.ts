import type { Session } from '../core/session.interfaces.js';

/**
 * The events SessionService emits through @nestjs/event-emitter, when the app has
 * `EventEmitterModule.forRoot()`. Payloads never carry a token or its hash.
 *
 * @example
 * @OnEvent(SessionEvents.Revoked)
 * audit(event: SessionRevokedEvent) { this.log.info({ user: event.session.userId, reason: event.reason }); }
 */
export const SessionEvents = {
  Created: 'session.created',
  Refreshed: 'session.refreshed',
  Rotated: 'session.rotated',
  Revoked: 'session.revoked',
  /** @deprecated Since 0.2: `Revoked` (the event is now `session.revoked`). */
  Destroyed: 'session.revoked',
  AllRevoked: 'session.all-revoked',
  Purged: 'session.purged',
  RefreshReused: 'session.refresh-reused',
  AgentMismatch: 'session.agent-mismatch',
  DeviceProofFailed: 'session.device-proof-failed',
} as const;

/** `session.created`: a login. */
export interface SessionCreatedEvent {
  session: Session;
}

/** `session.refreshed`: the expiry slid (written at most once per updateAge). */
export interface SessionRefreshedEvent {
  session: Session;
}

/** `session.rotated`: the session got a new token; the old one is dead. */
export interface SessionRotatedEvent {
  session: Session;
}

/** `session.revoked`: one session ended, by its own logout or revoked by id. */
export interface SessionRevokedEvent {
  session: Session;
  /**
   * `logout`: its own token; `revoked`: by id (or everywhere but one); `evicted`: a login over
   * `maxSessionsPerUser`; `refresh_reused`: a replayed refresh token revoked its login;
   * `agent_mismatch`: its token came from another user agent, with `bindToUserAgent.revoke`.
   */
  reason: 'logout' | 'revoked' | 'evicted' | 'refresh_reused' | 'agent_mismatch';
}

/** @deprecated Since 0.2: `SessionRevokedEvent`. */
export type SessionDestroyedEvent = SessionRevokedEvent;

/** `session.all-revoked`: a user's sessions ended at once (all, or all but `keptSessionId`). */
export interface SessionsRevokedEvent {
  userId: string;
  count: number;
  keptSessionId?: string;
}

/** `session.purged`: a purge of expired sessions finished. */
export interface SessionsPurgedEvent {
  count: number;
  durationMs: number;
}

/**
 * `session.refresh-reused`: a refresh token we issued was presented after it had been used, so
 * someone other than its owner holds a copy. The login it belonged to (`revoked`, null when it
 * had already ended) is revoked; alert on this.
 */
export interface SessionRefreshReusedEvent {
  userId: string;
  sessionId: string;
  revoked: Session | null;
}

/**
 * `session.agent-mismatch`: a session token was presented by another user agent than the one it
 * was issued to (`bindToUserAgent`), so it was refused: a copied token, or a client whose
 * User-Agent changed beyond its version numbers. Repeats for one session are someone trying
 * agents; alert on those.
 */
export interface SessionAgentMismatchEvent {
  /** The session, where the token names it (a JWT's `sid`); null for an opaque token, refused before any lookup. */
  sessionId: string | null;
  /** Its user, where the token names it (a JWT's `sub`); null for an opaque token. */
  userId: string | null;
  /** The User-Agent presented, as compared: version numbers dropped, at most 512 characters. */
  userAgent: string;
  /** Whether the session is revoked for it (`bindToUserAgent: { revoke: true }`); then `session.revoked` follows. */
  revoke: boolean;
}

/** Why a device-bound session's registration or refresh was refused (`session.device-proof-failed`). */
export type DeviceProofFailure = 'missing_proof' | 'invalid_proof' | 'stale_challenge' | 'replayed' | 'already_bound' | 'not_bound';

/**
 * `session.device-proof-failed`: a DBSC registration or refresh of a live session was refused:
 * a proof missing, not signed by the session's key, over a challenge that is not this session's
 * or no longer fresh, or replayed. Its owner's browser retries once with a new challenge, so
 * repeats for one session are someone holding its cookie without its key; alert on those.
 */
export interface SessionDeviceProofFailedEvent {
  sessionId: string;
  userId: string;
  reason: DeviceProofFailure;
}
