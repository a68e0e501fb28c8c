import { SessionOptionsError } from '../core/session.exceptions.js';
import { resolveSessionOptions } from '../options/resolve-options.js';
import { DeviceBoundTokens } from './device-bound-tokens.js';

const resolveUser = () => null;
const secret = 'a-device-bound-secret-of-32-bytes-or-more';
const now = Date.UTC(2026, 11, 2);

function fails(options: object): SessionOptionsError {
  try {
    resolveSessionOptions({ resolveUser, ...options });
  } catch (error) {
    if (error instanceof SessionOptionsError) return error;
    throw error;
  }
  throw new Error('accepted');
}

describe('the deviceBound option', () => {
  it('defaults: 10-minute bound cookie named after the session cookie, 5-minute challenges, the module\'s paths; details kept', () => {
    const options = resolveSessionOptions({ resolveUser, cookie: { name: '__Host-session', secure: true }, deviceBound: { secret } });
    expect(options.deviceBound).toMatchObject({ cookieTtl: 600_000, challengeTtl: 300_000, cookieName: '__Host-session-bound', registrationPath: '/auth/device-bound/register', refreshPath: '/auth/device-bound/refresh' });
    expect(options.details).toBe(true);
    expect(resolveSessionOptions({ resolveUser }).deviceBound).toBeNull();
  });

  it.each<[object, string, RegExp]>([
    [{ deviceBound: true }, 'deviceBound', /expected false or an object/],
    [{ deviceBound: {} }, 'deviceBound.secret', /missing/],
    [{ deviceBound: { secret: 'short' } }, 'deviceBound.secret', /at least 32 bytes/],
    [{ deviceBound: { secret: [] } }, 'deviceBound.secret', /empty list/],
    [{ deviceBound: { secret, cookieTtl: 'soon' } }, 'deviceBound.cookieTtl', /got "soon"/],
    [{ deviceBound: { secret, refreshPath: 'refresh' } }, 'deviceBound.refreshPath', /expected a path/],
    [{ deviceBound: { secret, refreshPath: '/auth/device-bound/register' } }, 'deviceBound.refreshPath', /the same as registrationPath/],
    [{ deviceBound: { secret, cookieName: 'session' } }, 'deviceBound.cookieName', /other than the session cookie's/],
    [{ deviceBound: { secret, ttl: '1m' } }, 'deviceBound.ttl', /unknown option/],
    [{ cookie: false, deviceBound: { secret } }, 'deviceBound', /needs the cookie/],
  ])('refuses %p, naming %s', (options, option, message) => {
    const error = fails(options);
    expect(error.option).toBe(option);
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain(secret);
  });
});

describe('DeviceBoundTokens', () => {
  const [key, older] = [Buffer.alloc(32, 1), Buffer.alloc(32, 2)];
  const tokens = new DeviceBoundTokens([key, older]);

  it('checks a challenge for its session, purpose and age, and tells when it was issued', () => {
    const challenge = tokens.challenge('refresh', '42', now);
    expect(tokens.challengeIssuedAt(challenge, 'refresh', '42', now + 1_000, 60_000)).toBe(now);
    expect(tokens.challengeIssuedAt(challenge, 'refresh', '43', now, 60_000)).toBeNull();
    expect(tokens.challengeIssuedAt(challenge, 'register', '42', now, 60_000)).toBeNull();
    expect(tokens.challengeIssuedAt(challenge, 'refresh', '42', now + 60_001, 60_000)).toBeNull();
    const [nonce, issued, tag] = challenge.split('.');
    expect(tokens.challengeIssuedAt(`${nonce}.${(now + 1).toString(36)}.${tag}`, 'refresh', '42', now, 60_000)).toBeNull();
    for (const bad of [`${challenge}.x`, 'a.b', 42, `${nonce}x.${issued}.${tag}`]) expect(tokens.challengeIssuedAt(bad, 'refresh', '42', now, 60_000)).toBeNull();
  });

  it('accepts what an older secret signed, so a secret can be rotated, and nothing from an unknown one', () => {
    const before = new DeviceBoundTokens([older]);
    expect(tokens.challengeIssuedAt(before.challenge('register', '7', now), 'register', '7', now, 60_000)).toBe(now);
    expect(tokens.isBoundCookie(before.boundCookie('7', now + 1_000), '7', now)).toBe(true);
    const stranger = new DeviceBoundTokens([Buffer.alloc(32, 3)]);
    expect(tokens.isBoundCookie(stranger.boundCookie('7', now + 1_000), '7', now)).toBe(false);
  });

  it('takes a bound cookie only for its session and until it expires', () => {
    const cookie = tokens.boundCookie('42', now + 600_000);
    expect(tokens.isBoundCookie(cookie, '42', now + 599_999)).toBe(true);
    expect(tokens.isBoundCookie(cookie, '42', now + 600_000)).toBe(false);
    expect(tokens.isBoundCookie(cookie, '4', now)).toBe(false);
    const [, tag] = cookie.split('.');
    expect(tokens.isBoundCookie(`${(now + 10 * 600_000).toString(36)}.${tag}`, '42', now)).toBe(false);
    expect(tokens.isBoundCookie(undefined, '42', now)).toBe(false);
  });
});
