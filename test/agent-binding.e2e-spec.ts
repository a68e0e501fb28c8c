import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { createHash, createHmac } from 'node:crypto';
import { resolveSessionOptions } from '../src/options/resolve-options.js';
import type { SessionModuleOptions } from '../src/options/session-module.options.js';
import { type SessionAgentMismatchEvent, SessionEvents, type SessionRevokedEvent } from '../src/telemetry/session.events.js';
import { agentTagKey, normalizeUserAgent } from '../src/tokens/opaque-token.js';
import { InMemorySessionStore } from './support/in-memory-session.store.js';
import { refusal } from './support/options.js';
import { createStandaloneSessionTestApp } from './support/standalone-app.js';

// The user-agent tag in a token used to be an unkeyed SHA-256 of the token's random part and
// the agent: whoever stole a token could find its agent offline, then present it with that
// agent. It is now an HMAC keyed from the app's secret.

const SECRET = 'the-agent-binding-secret-of-this-test-0123456789';
const CHROME_120 = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
const CHROME_121 = CHROME_120.replace('Chrome/120', 'Chrome/121');
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';
const CANDIDATES = [CHROME_120, FIREFOX, 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15', 'curl/8.5.0', ''];
const resolveUser = async (id: string) => ({ id });

type App = Awaited<ReturnType<typeof createStandaloneSessionTestApp>>;

async function app(options: Omit<SessionModuleOptions, 'resolveUser'>): Promise<App & { events: [string, unknown][] }> {
  const created = await createStandaloneSessionTestApp({ storage: new InMemorySessionStore(), broadcast: false, cleanup: false, ...options });
  const events: [string, unknown][] = [];
  created.app.get(EventEmitter2).onAny((event: string | string[], payload: unknown) => events.push([String(event), payload]));
  return { ...created, events };
}

// Both tags spelled out here, so the test does not trust the code it checks: bytes 22..25 of a
// token hold the tag of its first 22 bytes and the normalized agent.
const tagOf = (token: string) => Buffer.from(token, 'base64url').subarray(22, 26);
const unkeyedTag = (token: string, agent: string) =>
  createHash('sha256').update(Buffer.from(token, 'base64url').subarray(0, 22)).update(normalizeUserAgent(agent)).digest().subarray(0, 4);
const keyedTag = (secret: string, token: string, agent: string) =>
  createHmac('sha256', agentTagKey(secret)).update(Buffer.from(token, 'base64url').subarray(0, 22)).update(normalizeUserAgent(agent)).digest().subarray(0, 4);

describe('bindToUserAgent keyed with a secret', () => {
  let a: Awaited<ReturnType<typeof app>>;
  beforeAll(async () => {
    a = await app({ bindToUserAgent: { secret: SECRET } });
  });
  afterAll(async () => {
    await a?.close();
  });
  beforeEach(() => {
    a.events.length = 0;
  });

  it('an offline guess no longer confirms the agent: the old unkeyed tag matches no candidate, the right one included', async () => {
    const { token } = await a.sessions.createSession({ userId: a.users.create(), userAgent: CHROME_120 });
    expect(CANDIDATES.filter((agent) => unkeyedTag(token, agent).equals(tagOf(token)))).toEqual([]);
    // Only with the key does the tag name its agent.
    expect(CANDIDATES.filter((agent) => keyedTag(SECRET, token, agent).equals(tagOf(token)))).toEqual([CHROME_120]);
  });

  it('the right agent still works, a browser update too', async () => {
    const userId = a.users.create();
    const { token } = await a.sessions.createSession({ userId, userAgent: CHROME_120 });
    await expect(a.sessions.validateSession(token, { userAgent: CHROME_120 })).resolves.toMatchObject({ id: userId });
    await expect(a.sessions.validateSession(token, { userAgent: CHROME_121 })).resolves.toMatchObject({ id: userId });
    expect(a.events.filter(([name]) => name === SessionEvents.AgentMismatch)).toEqual([]);
  });

  it('a mismatch is refused with no store call, logged at warn without the token, and emitted as session.agent-mismatch', async () => {
    const userId = a.users.create();
    const { token } = await a.sessions.createSession({ userId, userAgent: CHROME_120 });
    const calls = Object.values(a.storeCalls).reduce((x, y) => x + y, 0);
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      await expect(a.sessions.authenticate(token, { userAgent: FIREFOX })).resolves.toBeNull();
      const logged = warn.mock.calls.map(([text]) => String(text)).filter((text) => text.includes('another user agent'));
      expect(logged).toHaveLength(1);
      expect(logged[0]).toMatch(/A token of a session was presented by another user agent \(".*Firefox.*"\) than it was issued to; refused\./);
      expect(logged[0]).not.toContain(token);
    } finally {
      warn.mockRestore();
    }
    expect(Object.values(a.storeCalls).reduce((x, y) => x + y, 0)).toBe(calls);
    const mismatches = a.events.filter(([name]) => name === SessionEvents.AgentMismatch).map(([, payload]) => payload as SessionAgentMismatchEvent);
    expect(mismatches).toEqual([{ sessionId: null, userId: null, userAgent: normalizeUserAgent(FIREFOX), revoke: false }]);
    expect(JSON.stringify(mismatches)).not.toContain(token);
    // Refused, not revoked: the owner's browser carries on.
    await expect(a.sessions.validateSession(token, { userAgent: CHROME_120 })).resolves.toMatchObject({ id: userId });
  });
});

describe('bindToUserAgent with JWTs', () => {
  it('names the session in the warning and the event, from the verified JWT', async () => {
    const jwt = await app({ tokenType: 'jwt', jwt: { keys: [{ kid: 'k1', secret: SECRET }] }, bindToUserAgent: true });
    try {
      const userId = jwt.users.create();
      const issued = await jwt.sessions.createSession({ userId, userAgent: CHROME_120 });
      const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      try {
        await expect(jwt.sessions.authenticate(issued.token, { userAgent: FIREFOX })).resolves.toBeNull();
        expect(warn.mock.calls.map(([text]) => String(text))).toContainEqual(expect.stringContaining(`A token of session ${issued.session.id} was presented by another user agent`));
      } finally {
        warn.mockRestore();
      }
      expect(jwt.events.filter(([name]) => name === SessionEvents.AgentMismatch).map(([, p]) => p)).toEqual([
        { sessionId: issued.session.id, userId, userAgent: normalizeUserAgent(FIREFOX), revoke: false },
      ]);
      await expect(jwt.sessions.validateSession(issued.token, { userAgent: CHROME_120 })).resolves.toMatchObject({ id: userId });
    } finally {
      await jwt.close();
    }
  });
});

describe('bindToUserAgent: { revoke: true }', () => {
  it('ends the session at the first mismatch: the owner’s agent is refused afterwards too', async () => {
    const strict = await app({ bindToUserAgent: { secret: SECRET, revoke: true } });
    try {
      const userId = strict.users.create();
      const issued = await strict.sessions.createSession({ userId, userAgent: CHROME_120 });
      await expect(strict.sessions.authenticate(issued.token, { userAgent: FIREFOX })).resolves.toBeNull();
      expect(strict.events.filter(([name]) => name === SessionEvents.AgentMismatch).map(([, p]) => (p as SessionAgentMismatchEvent).revoke)).toEqual([true]);
      const revoked = strict.events.filter(([name]) => name === SessionEvents.Revoked).map(([, p]) => p as SessionRevokedEvent);
      expect(revoked).toEqual([{ session: expect.objectContaining({ id: issued.session.id, userId }), reason: 'agent_mismatch' }]);
      await expect(strict.sessions.authenticate(issued.token, { userAgent: CHROME_120 })).resolves.toBeNull();
      await expect(strict.sessions.listUserSessions(userId)).resolves.toEqual([]);
    } finally {
      await strict.close();
    }
  });
});

describe('the secret bindToUserAgent is keyed with', () => {
  it('is its own, else refreshToken.secret, else the JWT keys’ secrets', async () => {
    const own = await app({ bindToUserAgent: { secret: [SECRET] } });
    const refresh = await app({ bindToUserAgent: true, refreshToken: { secret: SECRET } });
    try {
      // The same secret, whichever option gives it, keys the same tags (through its own HKDF label).
      for (const { sessions, users } of [own, refresh]) {
        const { token } = await sessions.createSession({ userId: users.create(), userAgent: FIREFOX });
        expect(keyedTag(SECRET, token, FIREFOX).equals(tagOf(token))).toBe(true);
      }
    } finally {
      await own.close();
      await refresh.close();
    }
  });

  it('verifies tokens tagged with an older secret of a list newest first', async () => {
    const OLD = 'an-older-agent-binding-secret-of-32-bytes-or-more';
    const store = new InMemorySessionStore();
    const first = await createStandaloneSessionTestApp({ storage: store, broadcast: false, cleanup: false, bindToUserAgent: { secret: OLD } });
    const rotated = await createStandaloneSessionTestApp({ storage: store, broadcast: false, cleanup: false, bindToUserAgent: { secret: [SECRET, OLD] } }, first.users);
    try {
      const userId = first.users.create();
      const { token } = await first.sessions.createSession({ userId, userAgent: CHROME_120 });
      await expect(rotated.sessions.validateSession(token, { userAgent: CHROME_120 })).resolves.toMatchObject({ id: userId });
      await expect(rotated.sessions.validateSession(token, { userAgent: FIREFOX })).resolves.toBeNull();
    } finally {
      await first.close();
      await rotated.close();
    }
  });

  it.each([
    [{ bindToUserAgent: true }, 'bindToUserAgent.secret', /missing; the user-agent tag in each token is keyed with a server secret/],
    [{ bindToUserAgent: {} }, 'bindToUserAgent.secret', /missing/],
    [{ bindToUserAgent: { secret: 'short' } }, 'bindToUserAgent.secret', /got a 5-byte secret; expected at least 32 bytes/],
    [{ bindToUserAgent: { secret: [] } }, 'bindToUserAgent.secret', /got an empty list/],
    [{ bindToUserAgent: { secret: [SECRET, 7] } }, 'bindToUserAgent.secret[1]', /got a number/],
    [{ bindToUserAgent: { secret: SECRET, revoke: 'yes' } }, 'bindToUserAgent.revoke', /expected true or false/],
    [{ bindToUserAgent: { secret: SECRET, strict: true } }, 'bindToUserAgent.strict', /known ones are secret, revoke/],
    [{ bindToUserAgent: 'yes' }, 'bindToUserAgent', /expected true or false, or \{ secret, revoke \}/],
  ])('refuses %p, naming %s, never showing the secret', (options, option, message) => {
    const error = refusal({ resolveUser, ...options });
    expect(error.option).toBe(option);
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain('short');
  });

  it('takes the HS256 JWT keys’ secrets when no other is given, newest first', () => {
    const keys = [{ kid: 'k2', secret: SECRET }, { kid: 'k1', secret: 'an-older-jwt-secret-of-32-bytes-or-more-000' }];
    const resolved = resolveSessionOptions({ resolveUser, bindToUserAgent: true, tokenType: 'jwt', jwt: { keys } });
    expect(resolved.bindToUserAgent).toEqual({ keys: [agentTagKey(keys[0].secret), agentTagKey(keys[1].secret)], revoke: false });
  });
});
