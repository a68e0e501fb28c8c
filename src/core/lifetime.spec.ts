import { absoluteEnd, firstExpiry, type LifetimeRules, refreshedExpiry, sessionEnd, slide, tokenEnd } from './lifetime.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 0, 1);

const sliding: LifetimeRules = { maxAge: 30 * DAY, updateAge: DAY, absoluteMaxAge: null, refreshWindow: null };
const capped: LifetimeRules = { ...sliding, absoluteMaxAge: 90 * DAY };
const refreshing: LifetimeRules = { maxAge: 15 * MINUTE, updateAge: 7 * MINUTE, absoluteMaxAge: 60 * DAY, refreshWindow: 30 * DAY };

describe('absoluteEnd and sessionEnd', () => {
  it('has no end without a cap, and creation + absoluteMaxAge with one', () => {
    expect(absoluteEnd(sliding, T0)).toBe(Infinity);
    expect(absoluteEnd(capped, T0)).toBe(T0 + 90 * DAY);
  });

  it('ends a session at its expiry or its cap, whichever is first', () => {
    expect(sessionEnd(sliding, { createdAt: T0, expiresAt: T0 + 400 * DAY })).toBe(T0 + 400 * DAY);
    expect(sessionEnd(capped, { createdAt: T0, expiresAt: T0 + 30 * DAY })).toBe(T0 + 30 * DAY);
    expect(sessionEnd(capped, { createdAt: T0, expiresAt: T0 + 100 * DAY })).toBe(T0 + 90 * DAY);
  });
});

describe('tokenEnd', () => {
  const session = { createdAt: T0, expiresAt: T0 + 30 * DAY };

  it('is the session end without refresh tokens, whatever the issue time', () => {
    expect(tokenEnd(capped, { issuedAt: T0, session })).toBe(T0 + 30 * DAY);
    expect(tokenEnd(capped, { issuedAt: T0 })).toBe(Infinity);
  });

  it('with refresh tokens, is maxAge after the issue time, never past the session', () => {
    expect(tokenEnd(refreshing, { issuedAt: T0 + HOUR, session })).toBe(T0 + HOUR + 15 * MINUTE);
    expect(tokenEnd(refreshing, { issuedAt: T0 + HOUR })).toBe(T0 + HOUR + 15 * MINUTE);
    const ending = { createdAt: T0, expiresAt: T0 + HOUR + 5 * MINUTE };
    expect(tokenEnd(refreshing, { issuedAt: T0 + HOUR, session: ending })).toBe(T0 + HOUR + 5 * MINUTE);
  });

  it('falls back to the session end for a token that carries no issue time', () => {
    expect(tokenEnd(refreshing, { issuedAt: null, session })).toBe(T0 + 30 * DAY);
  });
});

describe('firstExpiry', () => {
  it('is one idle window ahead, or one refresh window with refresh tokens', () => {
    expect(firstExpiry(sliding, { now: T0 })).toBe(T0 + 30 * DAY);
    expect(firstExpiry(refreshing, { now: T0 })).toBe(T0 + 30 * DAY);
    expect(firstExpiry({ ...sliding, maxAge: HOUR }, { now: T0 })).toBe(T0 + HOUR);
  });

  it('takes a requested expiry, and caps either at the absolute cap', () => {
    expect(firstExpiry(sliding, { now: T0, requested: T0 + 365 * DAY })).toBe(T0 + 365 * DAY);
    expect(firstExpiry(capped, { now: T0, requested: T0 + 365 * DAY })).toBe(T0 + 90 * DAY);
    expect(firstExpiry({ ...capped, maxAge: 100 * DAY }, { now: T0 })).toBe(T0 + 90 * DAY);
  });
});

describe('slide', () => {
  const fresh = { createdAt: T0, expiresAt: T0 + 30 * DAY };

  it('is not due until the expiry would move by updateAge', () => {
    expect(slide(sliding, fresh, T0 + DAY - 1)).toMatchObject({ due: false });
    expect(slide(sliding, fresh, T0 + DAY)).toEqual({ due: true, next: T0 + 31 * DAY, staleBelow: T0 + 30 * DAY + 1 });
  });

  it('writes only over an expiry still older than one step, so one of concurrent slides wins', () => {
    const { next, staleBelow } = slide(sliding, fresh, T0 + 2 * DAY);
    expect(next - staleBelow).toBe(DAY - 1);
    expect(staleBelow > fresh.expiresAt).toBe(true);
  });

  it('lands exactly on the absolute cap, then stops', () => {
    // 5 hours short of the cap: less than a step, yet due, so an active session lives to the cap.
    const nearCap = { createdAt: T0, expiresAt: T0 + 90 * DAY - 5 * HOUR };
    expect(slide(capped, nearCap, T0 + 61 * DAY)).toEqual({ due: true, next: T0 + 90 * DAY, staleBelow: T0 + 90 * DAY });
    expect(slide(capped, { createdAt: T0, expiresAt: T0 + 90 * DAY }, T0 + 89 * DAY)).toMatchObject({ due: false });
  });

  it('never slides with refresh tokens: the window moves on refresh', () => {
    expect(slide(refreshing, fresh, T0 + 20 * DAY)).toEqual({ due: false, next: fresh.expiresAt, staleBelow: fresh.expiresAt });
  });
});

describe('refreshedExpiry', () => {
  const login = { createdAt: T0, expiresAt: T0 + 30 * DAY };

  it('moves the window one refresh window ahead of the refresh', () => {
    expect(refreshedExpiry(refreshing, login, T0 + DAY)).toBe(T0 + 31 * DAY);
  });

  it('stops at the absolute cap, and is null once the window cannot move', () => {
    expect(refreshedExpiry(refreshing, { createdAt: T0, expiresAt: T0 + 59 * DAY }, T0 + 40 * DAY)).toBe(T0 + 60 * DAY);
    expect(refreshedExpiry(refreshing, { createdAt: T0, expiresAt: T0 + 60 * DAY }, T0 + 50 * DAY)).toBeNull();
  });

  it('is null without refresh tokens', () => {
    expect(refreshedExpiry(sliding, login, T0 + DAY)).toBeNull();
  });
});
