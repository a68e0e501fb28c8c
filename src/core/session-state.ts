import type { ResolvedSessionOptions } from '../options/resolve-options.js';
import type { SessionStore } from '../stores/session-store.interface.js';
import { hashToken } from '../tokens/opaque-token.js';
import type { SessionTokens } from '../tokens/session-tokens.js';
import { SessionDataTooLargeException } from './session.exceptions.js';
import type { SessionClientInfo, ValidatedSession } from './session.interfaces.js';
import type { SessionRevoker } from './session-revoker.js';
import type { StoreCalls } from './store-calls.js';

/** What a session's state needs of the options. */
export type StateOptions = Pick<ResolvedSessionOptions, 'clock' | 'reauthentication' | 'dataMaxBytes'>;

// Keys JSON.parse or a merge would treat specially; a session's data never has them.
const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * What a session holds beside its lifetime: when its user last proved who they are, and its own
 * data. Each change is one conditional write in the store, then the cached copies are evicted
 * on every instance (as on revocation), so the next request anywhere sees it.
 */
export class SessionState {
  constructor(
    private readonly store: SessionStore,
    private readonly calls: StoreCalls,
    private readonly tokens: SessionTokens,
    private readonly revoker: SessionRevoker,
    private readonly options: StateOptions,
  ) {}

  /** True when the session's user proved who they are within `withinMs` (the login counts). */
  isFresh(session: Pick<ValidatedSession<unknown, unknown>, 'reauthenticatedAt'>, withinMs: number): boolean {
    return this.options.clock() - session.reauthenticatedAt.getTime() <= withinMs;
  }

  async markReauthenticated(presented: unknown, client: SessionClientInfo | undefined): Promise<boolean> {
    if (!this.options.reauthentication) {
      throw new TypeError('SessionService.markReauthenticated: turn the reauthentication option on (SessionModule.forRoot({ reauthentication: true })) so sessions keep the time.');
    }
    const tokenHash = await this.liveTokenHash(presented, client, 'markReauthenticated');
    if (!tokenHash) return false;
    const marked = await this.calls.run('markReauthenticated', () => this.store.markReauthenticated!(tokenHash, new Date(this.options.clock())));
    if (!marked) return false;
    await this.revoker.evict([tokenHash]);
    return true;
  }

  async updateSessionData(presented: unknown, patch: unknown, client: SessionClientInfo | undefined): Promise<Record<string, unknown> | null> {
    const maxBytes = this.options.dataMaxBytes;
    if (maxBytes === null) {
      throw new TypeError('SessionService.updateSessionData: turn the data option on (SessionModule.forRoot({ data: true })) so sessions keep data.');
    }
    checkPatch(patch);
    // A patch that alone is over the bound cannot fit, whatever the session holds.
    if (Buffer.byteLength(JSON.stringify(withoutRemovals(patch))) > maxBytes) throw new SessionDataTooLargeException(maxBytes);
    const tokenHash = await this.liveTokenHash(presented, client, 'updateSessionData');
    if (!tokenHash) return null;
    const result = await this.calls.run('mergeData', () => this.store.mergeData!(tokenHash, patch, maxBytes, new Date(this.options.clock())));
    if (result === null) return null;
    if ('tooLarge' in result) throw new SessionDataTooLargeException(maxBytes);
    await this.revoker.evict([tokenHash]);
    return result.data;
  }

  private async liveTokenHash(presented: unknown, client: SessionClientInfo | undefined, method: string): Promise<Buffer | null> {
    this.tokens.requireAgent(client, method);
    const unwrapped = await this.tokens.unwrap(presented, client, { now: this.options.clock() });
    return 'refused' in unwrapped ? null : hashToken(unwrapped.token);
  }
}

/** A TypeError unless `patch` is a plain object of JSON values with ordinary keys. */
function checkPatch(patch: unknown): asserts patch is Record<string, unknown> {
  if (!isPlainObject(patch)) throw new TypeError('SessionService.updateSessionData: the patch must be a plain object, such as { orgId: "acme" } (null removes a key).');
  for (const key of Object.keys(patch)) {
    if (key === '' || RESERVED_KEYS.has(key)) throw new TypeError(`SessionService.updateSessionData: ${JSON.stringify(key)} cannot be a key of session data.`);
  }
  try {
    JSON.stringify(patch);
  } catch (error) {
    throw new TypeError(`SessionService.updateSessionData: the patch must be JSON (${(error as Error).message}).`);
  }
  // PostgreSQL's jsonb cannot hold it: refused here, not as a store failure (a 503).
  if (holdsNul(patch)) throw new TypeError('SessionService.updateSessionData: session data cannot hold the NUL character (U+0000).');
}

function holdsNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\0');
  if (value === null || typeof value !== 'object') return false;
  return Object.entries(value).some(([key, item]) => key.includes('\0') || holdsNul(item));
}

function withoutRemovals(patch: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== null));
}
