import { Logger } from '@nestjs/common';
import type { SessionClientInfo, SessionValidation } from '../core/session.interfaces.js';
import type { SessionRevoker } from '../core/session-revoker.js';
import { SessionOptionsError } from '../core/session.exceptions.js';
import type { StoreCalls } from '../core/store-calls.js';
import type { SessionStore, StoredSession } from '../stores/session-store.interface.js';
import { type DeviceProofFailure, SessionEvents } from '../telemetry/session.events.js';
import { RateLimitedWarnings } from '../telemetry/rate-limited-warnings.js';
import type { SessionTelemetry } from '../telemetry/session.telemetry.js';
import { hashToken } from '../tokens/opaque-token.js';
import type { SessionTokens } from '../tokens/session-tokens.js';
import type { ResolvedDeviceBoundOptions } from './device-bound.options.js';
import { type ChallengePurpose, DeviceBoundTokens } from './device-bound-tokens.js';
import { requireJose } from '../tokens/jose.js';
import { verifyRefresh, verifyRegistration } from './device-proof.js';

/**
 * What a registration or refresh came to:
 * - `bound`: the key is registered or the proof holds; send a new bound cookie for `sessionId`;
 * - `challenge`: sign this first (a refresh without a proof, or one that failed: `failure` says why);
 * - `unauthenticated`: no live session behind the cookie;
 * - `foreign`: the browser refreshes another session than the cookie's (an older login's).
 */
export type DeviceStep =
  | { bound: true; sessionId: string; userId: string }
  | { challenge: string; sessionId: string; failure?: DeviceProofFailure }
  | { unauthenticated: true }
  | { foreign: true };

type Authenticate = (token: unknown, client: SessionClientInfo | undefined) => Promise<SessionValidation<unknown, unknown> | null>;

/**
 * Device Bound Session Credentials on the service's side: the challenges, the key registered
 * once per session, the proofs of each refresh, and the bound cookie they earn. HTTP is the
 * controller's (device-bound.controller.ts); every store call here is bounded by storeTimeout.
 */
export class SessionDevices {
  private readonly logger = new Logger('SessionService');
  // Who sends bad proofs may be an attacker with a stolen cookie, so the warnings are held back.
  private readonly failures = new RateLimitedWarnings(this.logger);
  private readonly signed: DeviceBoundTokens;

  constructor(
    private readonly store: SessionStore,
    private readonly calls: StoreCalls,
    private readonly revoker: SessionRevoker,
    private readonly tokens: SessionTokens,
    private readonly telemetry: SessionTelemetry,
    private readonly authenticate: Authenticate,
    /** The resolved option, and the service's clock. */
    readonly options: ResolvedDeviceBoundOptions & { clock: () => number },
  ) {
    this.signed = new DeviceBoundTokens(options.keys);
  }

  /** At startup: the store must keep device keys, and jose must load. */
  async ready(): Promise<void> {
    if (typeof this.store.bindDeviceKey !== 'function' || typeof this.store.acceptDeviceProof !== 'function') {
      throw new SessionOptionsError('deviceBound', 'needs a store with bindDeviceKey() and acceptDeviceProof(); the storage given has none.');
    }
    await requireJose('deviceBound', 'deviceBound');
  }

  /** A challenge for `sessionId`: in the login's registration header, or a refresh's 403. */
  challenge(purpose: ChallengePurpose, sessionId: string): string {
    return this.signed.challenge(purpose, sessionId, this.options.clock());
  }

  /** The value of a new bound cookie for `sessionId`, and its lifetime in ms. */
  boundCookie(sessionId: string): { value: string; maxAge: number } {
    const now = this.options.clock();
    return { value: this.signed.boundCookie(sessionId, now + this.options.cookieTtl), maxAge: this.options.cookieTtl };
  }

  /**
   * Whether a request of a device-bound session may go on: it carries a live bound cookie of that
   * session. Counted and logged (debug) when not: after its key is registered, a session never
   * goes back to working without proofs.
   */
  admits(session: { id: string; deviceBound: boolean }, boundCookie: string | undefined): boolean {
    return this.admittedUntil(session, boundCookie) !== null;
  }

  /**
   * Like `admits`, for a connection that outlives its request (a socket): until when it may stay
   * open (the bound cookie's expiry; Infinity for a session that is not bound), or null.
   */
  admittedUntil(session: { id: string; deviceBound: boolean }, boundCookie: string | undefined): number | null {
    if (!session.deviceBound) return Infinity;
    const until = this.signed.boundCookieExpiry(boundCookie, session.id, this.options.clock());
    if (until === null) this.telemetry.refuse('device_unbound');
    return until;
  }

  /** Registration: the browser's key, over the challenge of the login's registration header. */
  async register(token: unknown, proof: unknown, client: SessionClientInfo | undefined): Promise<DeviceStep> {
    const validation = await this.authenticate(token, client);
    if (!validation) return { unauthenticated: true };
    const { session } = validation;
    const now = this.options.clock();
    if (session.deviceBound) return this.refuse(session, 'already_bound', 'register');
    if (proof === undefined) return this.refuse(session, 'missing_proof', 'register');
    const checked = await verifyRegistration(proof, now);
    if (!checked?.key) return this.refuse(session, 'invalid_proof', 'register');
    const issuedAt = this.signed.challengeIssuedAt(checked.challenge, 'register', session.id, now, this.options.challengeTtl);
    if (issuedAt === null) return this.refuse(session, 'stale_challenge', 'register');
    const hash = await this.tokenHash(token, client, now);
    const bound = hash && (await this.calls.run('bindDeviceKey', () => this.store.bindDeviceKey!(hash, checked.key!, new Date(issuedAt), new Date(now))));
    if (!bound) return this.refuse(session, 'already_bound', 'register');
    // Every instance's cached validation still says unbound: dropped, so the bound cookie is asked for everywhere from now on.
    await this.revoker.evict([hash]);
    return { bound: true, sessionId: session.id, userId: session.userId };
  }

  /**
   * Refresh of the session the browser names (`Sec-Secure-Session-Id`): a challenge first, then
   * a proof over it signed with the registered key.
   */
  async refresh(token: unknown, named: string, proof: unknown, client: SessionClientInfo | undefined): Promise<DeviceStep> {
    const validation = await this.authenticate(token, client);
    if (!validation) return { unauthenticated: true };
    const { session } = validation;
    if (session.id !== named) return { foreign: true };
    if (!session.deviceBound) return this.refuse(session, 'not_bound', 'refresh');
    if (proof === undefined) return { challenge: this.challenge('refresh', session.id), sessionId: session.id };
    const now = this.options.clock();
    const hash = await this.tokenHash(token, client, now);
    // The key from the store, not the cache: it decides who may hold this session.
    const stored: StoredSession | null = hash && (await this.calls.run('findByTokenHash', () => this.store.findByTokenHash(hash)));
    const key = stored?.details?.deviceKey;
    if (!hash || !key) return { unauthenticated: true };
    const checked = await verifyRefresh(proof, key, now);
    if (!checked) return this.refuse(session, 'invalid_proof', 'refresh');
    const issuedAt = this.signed.challengeIssuedAt(checked.challenge, 'refresh', session.id, now, this.options.challengeTtl);
    if (issuedAt === null) return this.refuse(session, 'stale_challenge', 'refresh');
    const accepted = await this.calls.run('acceptDeviceProof', () => this.store.acceptDeviceProof!(hash, new Date(issuedAt), new Date(now)));
    if (!accepted) return this.refuse(session, 'replayed', 'refresh');
    return { bound: true, sessionId: session.id, userId: session.userId };
  }

  private async tokenHash(token: unknown, client: SessionClientInfo | undefined, now: number): Promise<Buffer | null> {
    const unwrapped = await this.tokens.unwrap(token, client, { now });
    return 'refused' in unwrapped ? null : hashToken(unwrapped.token);
  }

  // Logged, counted and emitted; the answer carries a new challenge, so the owner's browser can
  // try once more (its first proof may have crossed a newer challenge).
  private refuse(session: { id: string; userId: string }, reason: DeviceProofFailure, purpose: ChallengePurpose): DeviceStep {
    this.failures.warn(`device-bound ${purpose} of session ${session.id} (user ${session.userId}) refused: ${reason.replace(/_/g, ' ')}`);
    this.telemetry.refuse('device_proof');
    this.telemetry.emit(SessionEvents.DeviceProofFailed, { sessionId: session.id, userId: session.userId, reason });
    return { challenge: this.challenge(purpose, session.id), sessionId: session.id, failure: reason };
  }
}
