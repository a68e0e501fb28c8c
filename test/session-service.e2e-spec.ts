import { hashToken, TOKEN_LENGTH } from '../src/session/index.js';
import { createSessionTestApp, type SessionTestApp } from './support/app.js';
import { TestClock } from './support/clock.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

let db: TestDatabase;
let t: SessionTestApp;
const clock = new TestClock();

beforeAll(async () => {
  db = await createTestDatabase();
  t = await createSessionTestApp(db.url, { maxAge: '1h', updateAge: '10m', purgeBatchSize: 100, clock: clock.now });
});

afterAll(async () => {
  await t?.close();
  await db?.drop();
});

beforeEach(() => t.recorder.clear());

async function row(id: string): Promise<{ user_id: string; token: Buffer; expires_at: Date; created_at: Date } | undefined> {
  const [r] = await t.dataSource.query('SELECT user_id, token, expires_at, created_at FROM sessions WHERE id = $1', [id]);
  return r;
}

describe('createSession', () => {
  it('issues a 43-character base64url token and stores only its SHA-256', async () => {
    const userId = await t.createUser();
    const { token, session } = await t.sessions.createSession({ userId });

    expect(token).toHaveLength(TOKEN_LENGTH);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    expect(session).toEqual({ id: expect.stringMatching(/^\d+$/), userId, expires: new Date(clock.now() + HOUR), createdAt: new Date(clock.now()) });
    expect(Object.keys(session).sort()).toEqual(['createdAt', 'expires', 'id', 'userId']);

    const stored = await row(session.id);
    expect(stored!.token.equals(hashToken(token))).toBe(true);
    expect(stored!.expires_at).toEqual(session.expires);
  });

  it('gives every session its own token', async () => {
    const userId = await t.createUser();
    const tokens = await Promise.all(Array.from({ length: 50 }, () => t.sessions.createSession({ userId }).then((s) => s.token)));
    expect(new Set(tokens).size).toBe(50);
  });

  it('takes an explicit first expiry, and refuses one in the past or a bad user id', async () => {
    const userId = await t.createUser();
    const expires = new Date(clock.now() + 5 * MINUTE);
    const { session } = await t.sessions.createSession({ userId, expires });
    expect(session.expires).toEqual(expires);

    await expect(t.sessions.createSession({ userId, expires: new Date(clock.now()) })).rejects.toThrow(/expires must be a Date in the future/);
    await expect(t.sessions.createSession({ userId: '' })).rejects.toThrow(/userId must be/);
    await expect(t.sessions.createSession({ userId: 1.5 })).rejects.toThrow(/userId must be/);
  });
});

describe('validateSession', () => {
  it('returns the user of a live session, and null for an unknown token', async () => {
    const userId = await t.createUser('alice-validate@example.test');
    const { token } = await t.sessions.createSession({ userId });

    await expect(t.sessions.validateSession(token)).resolves.toEqual({ id: userId, email: 'alice-validate@example.test' });
    const unknown = 'A'.repeat(42) + 'A';
    await expect(t.sessions.validateSession(unknown)).resolves.toBeNull();
  });

  it.each([
    ['empty', ''],
    ['too short', 'a'.repeat(42)],
    ['too long', 'a'.repeat(44)],
    ['padded', 'a'.repeat(42) + '='],
    ['standard base64 alphabet', 'a'.repeat(41) + '+A'],
    ['a slash', 'a'.repeat(41) + '/A'],
    ['non-canonical last character', 'a'.repeat(42) + 'B'],
    ['a space', 'a'.repeat(21) + ' ' + 'a'.repeat(20) + 'A'],
    ['non-ASCII', 'é'.repeat(42) + 'A'],
    ['a number', 12345],
    ['null', null],
    ['undefined', undefined],
    ['an object', { token: 'x' }],
  ])('refuses a token that is %s with no query at all', async (_label, token) => {
    await expect(t.sessions.validateSession(token)).resolves.toBeNull();
    await expect(t.sessions.destroySession(token)).resolves.toBe(false);
    await expect(t.sessions.rotateSession(token)).resolves.toBeNull();
    expect(t.recorder.count()).toBe(0);
  });

  it('refuses a session whose user resolves to null', async () => {
    const userId = await t.createUser();
    const { token } = await t.sessions.createSession({ userId });
    await t.dataSource.query('UPDATE users SET disabled = true WHERE id = $1', [userId]);
    await expect(t.sessions.validateSession(token)).resolves.toBeNull();
  });

  it('loses the session with its user (ON DELETE CASCADE)', async () => {
    const userId = await t.createUser();
    const { token, session } = await t.sessions.createSession({ userId });
    await t.dataSource.query('DELETE FROM users WHERE id = $1', [userId]);
    expect(await row(session.id)).toBeUndefined();
    await expect(t.sessions.validateSession(token)).resolves.toBeNull();
  });
});

describe('expiry', () => {
  it('holds until the last millisecond before expires, and not at it', async () => {
    const start = clock.now();
    const userId = await t.createUser();
    const [a, b] = await Promise.all([t.sessions.createSession({ userId }), t.sessions.createSession({ userId })]);
    try {
      clock.set(start + HOUR - 1);
      expect(await t.sessions.validateSession(a.token)).not.toBeNull();
      clock.set(start + HOUR);
      await expect(t.sessions.validateSession(b.token)).resolves.toBeNull();
    } finally {
      clock.set(start);
    }
  });

  it('writes the expiry only once updateAge has passed, then slides it to now + maxAge', async () => {
    const start = clock.now();
    const userId = await t.createUser();
    const { token, session } = await t.sessions.createSession({ userId });
    try {
      clock.set(start + 10 * MINUTE - 1);
      const early = await t.sessions.authenticate(token);
      expect(early).toMatchObject({ refreshed: false, session: { expires: session.expires } });
      expect(t.recorder.count('UPDATE')).toBe(0);

      clock.set(start + 10 * MINUTE);
      const due = await t.sessions.authenticate(token);
      expect(due).toMatchObject({ refreshed: true, session: { expires: new Date(start + 10 * MINUTE + HOUR) } });
      expect(t.recorder.count('UPDATE')).toBe(1);
      expect((await row(session.id))!.expires_at).toEqual(new Date(start + 10 * MINUTE + HOUR));
    } finally {
      clock.set(start);
    }
  });

  it('keeps a session used once per maxAge alive for hours, and lets an idle one die', async () => {
    const start = clock.now();
    const userId = await t.createUser();
    const used = await t.sessions.createSession({ userId });
    const idle = await t.sessions.createSession({ userId });
    try {
      for (let step = 1; step <= 10; step++) {
        clock.set(start + step * 50 * MINUTE);
        expect(await t.sessions.validateSession(used.token)).not.toBeNull();
      }
      await expect(t.sessions.validateSession(idle.token)).resolves.toBeNull();
    } finally {
      clock.set(start);
    }
  });

  it('makes exactly one UPDATE for 200 concurrent validations at refresh time', async () => {
    const start = clock.now();
    const userId = await t.createUser();
    const { token, session } = await t.sessions.createSession({ userId });
    try {
      clock.set(start + 30 * MINUTE);
      t.recorder.clear();
      const results = await Promise.all(Array.from({ length: 200 }, () => t.sessions.authenticate(token)));
      expect(results.every((r) => r?.user.id === userId && r.session.expires.getTime() === start + 90 * MINUTE)).toBe(true);
      expect(t.recorder.count('UPDATE')).toBe(1);
      expect((await row(session.id))!.expires_at).toEqual(new Date(start + 90 * MINUTE));

      // The next burst sees the new expiry and writes nothing.
      t.recorder.clear();
      await Promise.all(Array.from({ length: 20 }, () => t.sessions.authenticate(token)));
      expect(t.recorder.count('UPDATE')).toBe(0);
    } finally {
      clock.set(start);
    }
  });
});

describe('destroySession', () => {
  it('kills the token and is idempotent', async () => {
    const userId = await t.createUser();
    const { token, session } = await t.sessions.createSession({ userId });
    await expect(t.sessions.destroySession(token)).resolves.toBe(true);
    await expect(t.sessions.destroySession(token)).resolves.toBe(false);
    await expect(t.sessions.validateSession(token)).resolves.toBeNull();
    expect(await row(session.id)).toBeUndefined();
  });

  it('refuses every validation that starts after it returns, even amid a burst', async () => {
    const userId = await t.createUser();
    const { token } = await t.sessions.createSession({ userId });
    const before = Array.from({ length: 20 }, () => t.sessions.validateSession(token));
    await t.sessions.destroySession(token);
    const after = await Promise.all(Array.from({ length: 20 }, () => t.sessions.validateSession(token)));
    await Promise.all(before);
    expect(after.every((u) => u === null)).toBe(true);
  });
});

describe('invalidating a user\'s sessions', () => {
  it('invalidateAllUserSessions ends every session of that user and no one else\'s', async () => {
    const alice = await t.createUser();
    const bob = await t.createUser();
    const a = await Promise.all([1, 2, 3].map(() => t.sessions.createSession({ userId: alice })));
    const b = await t.sessions.createSession({ userId: bob });

    await expect(t.sessions.invalidateAllUserSessions(alice)).resolves.toBe(3);
    for (const s of a) await expect(t.sessions.validateSession(s.token)).resolves.toBeNull();
    expect(await t.sessions.validateSession(b.token)).toMatchObject({ id: bob });
    await expect(t.sessions.invalidateAllUserSessions(alice)).resolves.toBe(0);
  });

  it('invalidateOtherUserSessions keeps the current session only', async () => {
    const userId = await t.createUser();
    const [current, ...others] = await Promise.all([1, 2, 3].map(() => t.sessions.createSession({ userId })));
    await expect(t.sessions.invalidateOtherUserSessions(userId, current.session.id)).resolves.toBe(2);
    expect(await t.sessions.validateSession(current.token)).toMatchObject({ id: userId });
    for (const s of others) await expect(t.sessions.validateSession(s.token)).resolves.toBeNull();
  });

  it('revokeUserSession ends a session for its owner only', async () => {
    const alice = await t.createUser();
    const mallory = await t.createUser();
    const target = await t.sessions.createSession({ userId: alice });

    await expect(t.sessions.revokeUserSession(mallory, target.session.id)).resolves.toBe(false);
    expect(await t.sessions.validateSession(target.token)).toMatchObject({ id: alice });

    t.recorder.clear();
    for (const bad of ['', 'abc', '1; DROP TABLE sessions', '-1', '0', '99999999999999999999', '1.5']) {
      await expect(t.sessions.revokeUserSession(alice, bad)).resolves.toBe(false);
    }
    expect(t.recorder.count()).toBe(0);

    await expect(t.sessions.revokeUserSession(alice, target.session.id)).resolves.toBe(true);
    await expect(t.sessions.validateSession(target.token)).resolves.toBeNull();
    await expect(t.sessions.revokeUserSession(alice, target.session.id)).resolves.toBe(false);
  });
});

describe('rotateSession', () => {
  it('gives the session a new token and kills the old one, keeping its id and age', async () => {
    const userId = await t.createUser();
    const old = await t.sessions.createSession({ userId });
    const rotated = await t.sessions.rotateSession(old.token);

    expect(rotated!.token).not.toBe(old.token);
    expect(rotated!.session).toEqual(old.session);
    await expect(t.sessions.validateSession(old.token)).resolves.toBeNull();
    expect(await t.sessions.validateSession(rotated!.token)).toMatchObject({ id: userId });
  });

  it('lets one of two concurrent rotations win', async () => {
    const userId = await t.createUser();
    const old = await t.sessions.createSession({ userId });
    const results = await Promise.all([t.sessions.rotateSession(old.token), t.sessions.rotateSession(old.token)]);
    const winners = results.filter((r) => r !== null);
    expect(winners).toHaveLength(1);
    await expect(t.sessions.validateSession(old.token)).resolves.toBeNull();
    expect(await t.sessions.validateSession(winners[0]!.token)).toMatchObject({ id: userId });
  });

  it('refuses an expired or unknown session', async () => {
    const start = clock.now();
    const userId = await t.createUser();
    const { token } = await t.sessions.createSession({ userId });
    try {
      clock.set(start + HOUR);
      await expect(t.sessions.rotateSession(token)).resolves.toBeNull();
      await expect(t.sessions.rotateSession('Q'.repeat(43))).resolves.toBeNull();
    } finally {
      clock.set(start);
    }
  });
});

describe('listUserSessions', () => {
  it('lists the live sessions of one user, newest first', async () => {
    const start = clock.now();
    const userId = await t.createUser();
    const other = await t.createUser();
    try {
      const first = await t.sessions.createSession({ userId, expires: new Date(start + 5 * MINUTE) });
      clock.set(start + 1000);
      const second = await t.sessions.createSession({ userId });
      await t.sessions.createSession({ userId: other });

      expect(await t.sessions.listUserSessions(userId)).toEqual([second.session, first.session]);
      clock.set(start + 5 * MINUTE);
      expect(await t.sessions.listUserSessions(userId)).toEqual([second.session]);
    } finally {
      clock.set(start);
    }
  });
});

describe('purgeExpiredSessions', () => {
  it('deletes expired sessions in batches and leaves live ones', async () => {
    const userId = await t.createUser();
    const now = new Date(clock.now());
    await t.dataSource.query(
      `INSERT INTO sessions (user_id, token, expires_at, created_at)
       SELECT $1::uuid, sha256(convert_to('purge-' || n || '-' || $1::text, 'UTF8')), $2::timestamptz - (n || ' seconds')::interval, $2::timestamptz - interval '2 hours'
         FROM generate_series(0, 1049) AS n`,
      [userId, now],
    );
    const live = await t.sessions.createSession({ userId });
    t.recorder.clear();

    await expect(t.sessions.purgeExpiredSessions()).resolves.toBeGreaterThanOrEqual(1050);
    // 1050 rows at 100 a statement: 11 batches, the last one short.
    expect(t.recorder.count('DELETE')).toBeGreaterThanOrEqual(11);
    const [{ expired }] = await t.dataSource.query('SELECT count(*)::int AS expired FROM sessions WHERE expires_at <= $1', [now]);
    expect(expired).toBe(0);
    expect(await t.sessions.validateSession(live.token)).toMatchObject({ id: userId });
    await expect(t.sessions.purgeExpiredSessions()).resolves.toBe(0);
  });
});

describe('the raw token', () => {
  it('never reaches the database, in any statement or parameter', async () => {
    const userId = await t.createUser();
    t.recorder.clear();
    const { token } = await t.sessions.createSession({ userId });
    await t.sessions.validateSession(token);
    const rotated = await t.sessions.rotateSession(token);
    await t.sessions.validateSession(rotated!.token);
    await t.sessions.destroySession(rotated!.token);

    expect(t.recorder.count()).toBeGreaterThanOrEqual(5);
    const sent = JSON.stringify(t.recorder.queries.map((q) => [q.sql, q.params.map((p) => (Buffer.isBuffer(p) ? p.toString('latin1') : p))]));
    for (const raw of [token, rotated!.token]) {
      expect(sent).not.toContain(raw);
      expect(sent).not.toContain(Buffer.from(raw, 'base64url').toString('latin1'));
    }
  });
});
