import { createHash, randomBytes } from 'node:crypto';
import {
  agentTagKey,
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
  const firefox = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';
  const key = agentTagKey(randomBytes(32));
  const keys = [key];
  const bound = (userAgent: string) => generateBoundToken({ issuedAt, agent: { userAgent, key } });

  it('stay well-formed 43-character tokens, each different', () => {
    const tokens = Array.from({ length: 500 }, () => bound(chrome(120)));
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
    const token = bound(chrome(120));
    expect(isTokenForUserAgent(token, chrome(120), keys)).toBe(true);
    expect(isTokenForUserAgent(token, chrome(131), keys)).toBe(true);
    expect(isTokenForUserAgent(token, firefox, keys)).toBe(false);
    expect(isTokenForUserAgent(token, '', keys)).toBe(false);
    expect(isTokenForUserAgent(token, undefined, keys)).toBe(false);
    expect(isTokenForUserAgent(bound(''), undefined, keys)).toBe(true);
  });

  it('carry a tag keyed with the secret: without the key, no candidate agent can be confirmed offline', () => {
    const token = bound(chrome(120));
    const bytes = Buffer.from(token, 'base64url');
    // The tag as it was before it was keyed: SHA-256 of the random part and the agent.
    const unkeyed = (agent: string) => createHash('sha256').update(bytes.subarray(0, 22)).update(normalizeUserAgent(agent)).digest().subarray(0, 4);
    const candidates = [chrome(120), chrome(99), firefox, '', 'curl/8.5.0'];
    expect(candidates.filter((agent) => unkeyed(agent).equals(bytes.subarray(22, 26)))).toEqual([]);
    // Nor with a key from another secret.
    expect(isTokenForUserAgent(token, chrome(120), [agentTagKey(randomBytes(32))])).toBe(false);
    // An old token (unkeyed tag) no longer matches its own agent.
    const old = Buffer.from(randomBytes(32));
    old.fill(0, 26);
    createHash('sha256').update(old.subarray(0, 22)).update(normalizeUserAgent(chrome(120))).digest().subarray(0, 4).copy(old, 22);
    expect(isTokenForUserAgent(old.toString('base64url'), chrome(120), keys)).toBe(false);
  });

  it('verify with every key of a rotation, the newest tagging', () => {
    const older = agentTagKey(randomBytes(32));
    const token = generateBoundToken({ issuedAt, agent: { userAgent: firefox, key: older } });
    expect(isTokenForUserAgent(token, firefox, [key, older])).toBe(true);
    expect(isTokenForUserAgent(token, firefox, [key])).toBe(false);
  });

  it('derive the tag key with a label of its own', () => {
    const secret = randomBytes(32);
    expect(agentTagKey(secret)).toHaveLength(32);
    expect(agentTagKey(secret).equals(agentTagKey(Buffer.from(secret)))).toBe(true);
    expect(agentTagKey(secret).equals(Buffer.from(secret))).toBe(false);
  });

  it('normalize the agent by dropping digits and extra spaces', () => {
    expect(normalizeUserAgent(' Foo/1.2.3  (Bar 10) ')).toBe('Foo/.. (Bar )');
    expect(normalizeUserAgent(null)).toBe('');
  });
});
