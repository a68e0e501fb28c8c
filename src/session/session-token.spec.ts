import { createHash } from 'node:crypto';
import { generateToken, hashToken, hashTokenBase64, isWellFormedToken, TOKEN_LENGTH } from './session-token.js';

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
