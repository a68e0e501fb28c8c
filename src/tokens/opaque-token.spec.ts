import { createHash } from 'node:crypto';
import {
  generateBoundToken,
  generateToken,
  hashToken,
  hashTokenBase64,
  isTokenForUserAgent,
  isWellFormedToken,
  normalizeUserAgent,
  TOKEN_LENGTH,
  tokenIssuedAt,
} from './opaque-token.js';

describe('session tokens', () => {
  it('are 32 random bytes in unpadded base64url, every one well formed and different', () => {
    const tokens = Array.from({ length: 2_000 }, generateToken);
    for (const token of tokens) {
      expect(token).toHaveLength(TOKEN_LENGTH);
      expect(Buffer.from(token, 'base64url')).toHaveLength(32);
      expect(Buffer.from(token, 'base64url').toString('base64url')).toBe(token);
      expect(isWellFormedToken(token)).toBe(true);
    }
    expect(new Set(tokens).size).toBe(tokens.length);
  });

  it('use the whole alphabet (no bias a fixed pattern would show)', () => {
    const seen = new Set(Array.from({ length: 500 }, generateToken).join(''));
    expect(seen.size).toBe(64);
  });

  it('hash to the SHA-256 of their ASCII text', () => {
    const token = generateToken();
    const hash = hashToken(token);
    expect(hash).toHaveLength(32);
    expect(hash.equals(createHash('sha256').update(token).digest())).toBe(true);
    // The cache key is the same digest, spelled in base64.
    expect(hashTokenBase64(token)).toBe(hash.toString('base64'));
  });

  it.each([
    ['a 42-character string', 'A'.repeat(42)],
    ['a 44-character string', 'A'.repeat(44)],
    ['base64 padding', 'A'.repeat(42) + '='],
    ['"+" from standard base64', '+'.repeat(42) + 'A'],
    ['"/" from standard base64', '/'.repeat(42) + 'A'],
    ['a last character with spare bits set', 'A'.repeat(42) + 'B'],
    ['a newline', 'A'.repeat(42) + '\n'],
    ['a multi-byte character', 'Ä'.repeat(42) + 'A'],
    ['a number', 1],
    ['a Buffer', Buffer.alloc(43, 65)],
  ])('refuses %s', (_label, value) => {
    expect(isWellFormedToken(value)).toBe(false);
  });
});

describe('tokens that record their facts', () => {
  const issuedAt = Date.UTC(2026, 10, 29, 12);
  const chrome = (version: number) => `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${version}.0.0.0 Safari/537.36`;

  it('stay well-formed 43-character tokens, each different', () => {
    const tokens = Array.from({ length: 500 }, () => generateBoundToken({ issuedAt, userAgent: chrome(120) }));
    expect(tokens.every(isWellFormedToken)).toBe(true);
    expect(new Set(tokens).size).toBe(tokens.length);
  });

  it('know when they were issued; a token without the field reads as unknown', () => {
    const token = generateBoundToken({ issuedAt });
    expect(tokenIssuedAt(token, issuedAt)).toBe(issuedAt);
    // Random bytes where the time would be: far in the future, so not a time at all.
    const legacy = Buffer.alloc(32, 0xff).toString('base64url');
    expect(tokenIssuedAt(legacy, issuedAt)).toBeNull();
  });

  it('match the user agent they were issued for, version numbers aside', () => {
    const token = generateBoundToken({ issuedAt, userAgent: chrome(120) });
    expect(isTokenForUserAgent(token, chrome(120))).toBe(true);
    expect(isTokenForUserAgent(token, chrome(131))).toBe(true);
    expect(isTokenForUserAgent(token, 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0')).toBe(false);
    expect(isTokenForUserAgent(token, '')).toBe(false);
    expect(isTokenForUserAgent(token, undefined)).toBe(false);
    expect(isTokenForUserAgent(generateBoundToken({ issuedAt, userAgent: '' }), undefined)).toBe(true);
  });

  it('normalize the agent by dropping digits and extra spaces', () => {
    expect(normalizeUserAgent(' Foo/1.2.3  (Bar 10) ')).toBe('Foo/.. (Bar )');
    expect(normalizeUserAgent(null)).toBe('');
  });
});
