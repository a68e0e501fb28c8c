import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { SessionEvents } from '../telemetry/session.events.js';
import { agentTagKey, hashToken, tokenIssuedAt } from './opaque-token.js';
import { SessionTokens, type TokenOptions } from './session-tokens.js';

const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';
const now = Date.UTC(2026, 11, 1);

function tokens(revoke: boolean) {
  const options: TokenOptions = { jwt: null, cache: null, refreshToken: null, bindToUserAgent: { keys: [agentTagKey(randomBytes(32))], revoke } };
  const emitted: [string, object][] = [];
  return { tokens: new SessionTokens(options, { emit: (event, payload) => emitted.push([event, payload]) }), emitted };
}

describe('SessionTokens with bindToUserAgent', () => {
  let warn: ReturnType<typeof jest.spyOn>;
  beforeEach(() => {
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => warn.mockRestore());

  it('opens a token for the agent it was minted for', async () => {
    const { tokens: t, emitted } = tokens(false);
    const token = t.mint(now, CHROME);
    await expect(t.unwrap(token, { userAgent: CHROME }, { now })).resolves.toEqual({ token });
    expect(emitted).toEqual([]);
    expect(warn).not.toHaveBeenCalled();
  });

  it('refuses another agent: a warning without the token, the event, and nothing for the caller to revoke', async () => {
    const { tokens: t, emitted } = tokens(false);
    const token = t.mint(now, CHROME);
    await expect(t.unwrap(token, { userAgent: FIREFOX }, { now })).resolves.toEqual({ refused: 'user_agent' });
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0][0])).not.toContain(token);
    expect(emitted).toEqual([[SessionEvents.AgentMismatch, { sessionId: null, userId: null, userAgent: expect.stringContaining('Firefox'), revoke: false }]]);
  });

  it('with revoke, hands the caller the hash to revoke, never the token', async () => {
    const { tokens: t, emitted } = tokens(true);
    const token = t.mint(now, CHROME);
    const refused = await t.unwrap(token, { userAgent: FIREFOX }, { now });
    expect(refused).toEqual({ refused: 'user_agent', revokeTokenHash: hashToken(token) });
    expect(JSON.stringify(refused)).not.toContain(token);
    expect(emitted.map(([, payload]) => payload)).toEqual([expect.objectContaining({ revoke: true })]);
    expect(String(warn.mock.calls[0][0])).toMatch(/refused, and the session revoked/);
  });

  it('holds repeated warnings back (an attacker trying agents), but emits each mismatch', async () => {
    const { tokens: t, emitted } = tokens(false);
    const token = t.mint(now, CHROME);
    for (let i = 0; i < 5; i++) await t.unwrap(token, { userAgent: `agent ${i}` }, { now });
    expect(warn).toHaveBeenCalledTimes(1);
    expect(emitted).toHaveLength(5);
  });
});

describe("SessionTokens' refresh successors", () => {
  const refreshKeys = [randomBytes(32), randomBytes(32)];
  const options = (keys: Buffer[]): TokenOptions => ({ jwt: null, cache: null, refreshToken: { maxAge: 60_000, keys }, bindToUserAgent: { keys: [agentTagKey('agent-secret')], revoke: false } });
  const step = Math.round(now / 1_000) * 1_000;

  it('mints the same token for the same refresh on every instance, issued at the step, for the agent', async () => {
    const [first] = new SessionTokens(options(refreshKeys)).successors('refresh-a', step, CHROME);
    const [again] = new SessionTokens(options(refreshKeys)).successors('refresh-a', step, CHROME);
    expect(again).toBe(first);
    const t = new SessionTokens(options(refreshKeys));
    await expect(t.unwrap(first, { userAgent: CHROME }, { now })).resolves.toEqual({ token: first });
    expect(tokenIssuedAt(first, now)).toBe(step);
  });

  it('mints another token for another refresh token, step or secret, one per key', () => {
    const t = new SessionTokens(options(refreshKeys));
    const [first, older] = t.successors('refresh-a', step, CHROME);
    expect(new Set([first, older, t.successors('refresh-b', step, CHROME)[0], t.successors('refresh-a', step + 1_000, CHROME)[0]]).size).toBe(4);
    // An instance still on the older secret alone minted what this one finds second.
    expect(new SessionTokens(options([refreshKeys[1]])).successors('refresh-a', step, CHROME)).toEqual([older]);
  });
});
