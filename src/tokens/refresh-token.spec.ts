import { randomBytes } from 'node:crypto';
import { RefreshTokens, refreshKey } from './refresh-token.js';

const claim = { sessionId: '9007199254740993', userId: 'e6f1c1f4-0000-4000-8000-000000000001', expires: Date.UTC(2026, 11, 29), tokenHash: randomBytes(32) };
const keyA = refreshKey('a-test-secret-of-more-than-32-bytes-0123456789');
const keyB = refreshKey('another-test-secret-of-32-bytes-or-more-9876543210');

describe('refresh tokens', () => {
  it('carry their claim under a MAC, read back exactly', () => {
    const tokens = new RefreshTokens([keyA]);
    const token = tokens.issue(claim, undefined);
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(tokens.read(token, undefined)).toEqual(claim);
  });

  it('refuse any changed byte, another key, trailing characters and junk', () => {
    const tokens = new RefreshTokens([keyA]);
    const token = tokens.issue(claim, undefined);
    const bytes = Buffer.from(token, 'base64url');
    for (let i = 0; i < bytes.length; i++) {
      const changed = Buffer.from(bytes);
      changed[i] ^= 0x40;
      expect(tokens.read(changed.toString('base64url'), undefined)).toBeNull();
    }
    expect(new RefreshTokens([keyB]).read(token, undefined)).toBeNull();
    expect(tokens.read(`${token}A`, undefined)).toBeNull();
    for (const junk of ['', 'x'.repeat(2_000), 42, null, undefined, '!!!']) expect(tokens.read(junk, undefined)).toBeNull();
  });

  it('verify with every listed key, so the secret can rotate', () => {
    const old = new RefreshTokens([keyA]).issue(claim, undefined);
    const rotated = new RefreshTokens([keyB, keyA]);
    expect(rotated.read(old, undefined)).toEqual(claim);
    expect(new RefreshTokens([keyA]).read(rotated.issue(claim, undefined), undefined)).toBeNull();
  });

  it('bind to the user agent they were issued for, when given one', () => {
    const tokens = new RefreshTokens([keyA]);
    const token = tokens.issue(claim, 'Firefox/133.0');
    expect(tokens.read(token, 'Firefox/134.0')).toEqual(claim);
    expect(tokens.read(token, 'Chrome/133.0')).toBeNull();
    expect(tokens.read(token, undefined)).toBeNull();
  });
});
