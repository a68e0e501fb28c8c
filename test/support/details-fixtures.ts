import { randomBytes } from 'node:crypto';
import type { NewStoredSession, StoredSessionDetails } from '../../src/index.js';

export const HOUR = 3_600_000;

/** A desktop Chrome on macOS, as bowser labels it. */
export const CHROME_ON_MAC =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';

/**
 * Data whose JSON cjson (Redis's Lua JSON) would not give back: empty arrays, which it turns
 * into {}; numbers past its 14 significant digits; text with quotes, escapes and non-ASCII.
 */
export const AWKWARD_DATA: Record<string, unknown> = {
  cart: [],
  nested: { list: [[], [1, 'two', null], {}], empty: {} },
  sum: 0.1 + 0.2,
  big: Number.MAX_SAFE_INTEGER,
  text: 'quote " backslash \\ slash / tab \t é 😀',
  flag: false,
};

/** Details with every field set and distinct, so a mix-up of two fields shows. */
export function fullDetails(at: number, data: Record<string, unknown> = {}): StoredSessionDetails {
  return {
    userAgent: CHROME_ON_MAC,
    device: 'Chrome on macOS',
    ip: '203.0.113.0',
    lastSeenAt: new Date(at + 1),
    reauthenticatedAt: new Date(at + 2),
    data,
  };
}

/** A new session of `userId` expiring in an hour, with `details` when given. */
export function draftSession(userId: string, details?: StoredSessionDetails): NewStoredSession {
  const now = Date.now();
  return { userId, tokenHash: randomBytes(32), expiresAt: new Date(now + HOUR), createdAt: new Date(now), ...(details && { details }) };
}

/** The JSON size of `data` in UTF-8 bytes: the measure of `data.maxBytes`. */
export const jsonBytes = (data: unknown): number => Buffer.byteLength(JSON.stringify(data));
