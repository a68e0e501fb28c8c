import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** What a challenge is for: the key's registration, or a refresh of the bound cookie. */
export type ChallengePurpose = 'register' | 'refresh';

const TAG_BYTES = 16;
// An instance whose clock runs a little ahead may issue a challenge another sees from the future.
const CLOCK_SKEW_MS = 5_000;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * The challenges and bound cookies of device-bound sessions, signed, so that any instance with
 * the secret can check them and none keeps state for them. A challenge names its session and
 * purpose and records when it was issued: the store's last-proof time makes each one good once.
 */
export class DeviceBoundTokens {
  /** `keys`: newest first; the first signs, all verify. */
  constructor(private readonly keys: readonly Buffer[]) {}

  /** A new challenge for `sessionId`, issued at `now`. */
  challenge(purpose: ChallengePurpose, sessionId: string, now: number): string {
    const nonce = randomBytes(12).toString('base64url');
    const issued = Math.floor(now).toString(36);
    return `${nonce}.${issued}.${this.tag(this.keys[0], purpose, sessionId, issued, nonce)}`;
  }

  /** When a challenge we issued for `sessionId` and `purpose` was issued, if it is still within `ttl`; else null. */
  challengeIssuedAt(value: unknown, purpose: ChallengePurpose, sessionId: string, now: number, ttl: number): number | null {
    if (typeof value !== 'string' || value.length > 128) return null;
    const [nonce, issued, tag, extra] = value.split('.');
    if (extra !== undefined || !nonce || !issued || !tag || !BASE64URL.test(nonce) || !/^[0-9a-z]{1,11}$/.test(issued)) return null;
    const at = parseInt(issued, 36);
    if (at > now + CLOCK_SKEW_MS || now - at > ttl) return null;
    return this.verifies(tag, (key) => this.tag(key, purpose, sessionId, issued, nonce)) ? at : null;
  }

  /** The bound cookie's value for `sessionId`, good until `expires` (epoch ms). */
  boundCookie(sessionId: string, expires: number): string {
    const until = Math.floor(expires).toString(36);
    return `${until}.${this.tag(this.keys[0], 'bound', sessionId, until, '')}`;
  }

  /** Whether `value` is a bound cookie we issued for `sessionId` that has not expired at `now`. */
  isBoundCookie(value: string | undefined, sessionId: string, now: number): boolean {
    return this.boundCookieExpiry(value, sessionId, now) !== null;
  }

  /** When a live bound cookie we issued for `sessionId` expires (epoch ms); null for any other value. */
  boundCookieExpiry(value: string | undefined, sessionId: string, now: number): number | null {
    if (value === undefined || value.length > 64) return null;
    const [until, tag, extra] = value.split('.');
    if (extra !== undefined || !until || !tag || !/^[0-9a-z]{1,11}$/.test(until)) return null;
    const expires = parseInt(until, 36);
    return now < expires && this.verifies(tag, (key) => this.tag(key, 'bound', sessionId, until, '')) ? expires : null;
  }

  private verifies(tag: string, expected: (key: Buffer) => string): boolean {
    const given = Buffer.from(tag, 'base64url');
    if (given.length !== TAG_BYTES) return false;
    let ok = false;
    for (const key of this.keys) ok = timingSafeEqual(given, Buffer.from(expected(key), 'base64url')) || ok;
    return ok;
  }

  private tag(key: Buffer, purpose: string, sessionId: string, time: string, nonce: string): string {
    return createHmac('sha256', key).update(`${purpose}\0${sessionId}\0${time}\0${nonce}`).digest().subarray(0, TAG_BYTES).toString('base64url');
  }
}
