import { hashToken, SessionStore } from '../src/index.js';
import { createSessionTestApp, type SessionTestApp } from './support/app.js';
import { TestClock } from './support/clock.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

let db: TestDatabase;
const clock = new TestClock();
let a: SessionTestApp;
let b: SessionTestApp;

beforeAll(async () => {
  db = await createTestDatabase();
  const options = { maxAge: '1h', updateAge: '10m', absoluteMaxAge: '3h', clock: clock.now };
  a = await createSessionTestApp(db.url, options);
  b = await createSessionTestApp(db.url, options);
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  await db?.drop();
});

async function expiresAt(id: string): Promise<Date> {
  const [row] = await a.dataSource.query('SELECT expires_at FROM sessions WHERE id = $1', [id]);
  return row.expires_at;
}

describe('absoluteMaxAge', () => {
  it('ends a session at created_at + absoluteMaxAge however often it is used', async () => {
    const start = clock.now();
    const userId = await a.createUser();
    const { token, session } = await a.sessions.createSession({ userId });
    try {
      for (let at = 30 * MINUTE; at < 3 * HOUR; at += 30 * MINUTE) {
        clock.set(start + at);
        expect(await a.sessions.validateSession(token)).not.toBeNull();
        expect((await expiresAt(session.id)).getTime()).toBeLessThanOrEqual(start + 3 * HOUR);
      }
      // The last slide lands exactly on the cap, so the session lives to its last millisecond.
      expect(await expiresAt(session.id)).toEqual(new Date(start + 3 * HOUR));
      clock.set(start + 3 * HOUR - 1);
      expect(await a.sessions.validateSession(token)).not.toBeNull();
      clock.set(start + 3 * HOUR);
      await expect(a.sessions.validateSession(token)).resolves.toBeNull();
      await expect(a.sessions.listUserSessions(userId)).resolves.toEqual([]);
    } finally {
      clock.set(start);
    }
  });

  it('caps an explicit first expiry too', async () => {
    const userId = await a.createUser();
    const { session } = await a.sessions.createSession({ userId, expires: new Date(clock.now() + 10 * HOUR) });
    expect(session.expires).toEqual(new Date(clock.now() + 3 * HOUR));
  });

  it('still refuses a session once the cap is lowered below its stored expiry', async () => {
    const start = clock.now();
    const userId = await a.createUser();
    const { token, session } = await a.sessions.createSession({ userId });
    // As if an earlier configuration had allowed longer: expiry beyond today's cap.
    await a.dataSource.query(`UPDATE sessions SET expires_at = $2 WHERE id = $1`, [session.id, new Date(start + 5 * HOUR)]);
    try {
      clock.set(start + 3 * HOUR);
      await expect(a.sessions.validateSession(token)).resolves.toBeNull();
      await expect(a.sessions.rotateSession(token)).resolves.toBeNull();
    } finally {
      clock.set(start);
    }
  });
});

describe('two instances on one database', () => {
  it('refresh a session once between them, however many validations race', async () => {
    const start = clock.now();
    const userId = await a.createUser();
    const { token, session } = await a.sessions.createSession({ userId });
    try {
      clock.set(start + 20 * MINUTE);
      const results = await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).sessions.authenticate(token)));
      expect(results.every((r) => r?.user.id === userId)).toBe(true);
      // Each instance sends at most one UPDATE, and the conditional write lets exactly one land.
      expect(results.filter((r) => r?.refreshed).length).toBeGreaterThan(0);
      const refreshedBy = new Set(results.filter((r) => r?.refreshed).map((r) => r!.session.expires.getTime()));
      expect(refreshedBy).toEqual(new Set([start + 80 * MINUTE]));
      expect(await expiresAt(session.id)).toEqual(new Date(start + 80 * MINUTE));
    } finally {
      clock.set(start);
    }
  });

  it('the store lets one of many concurrent expiry writes land', async () => {
    const userId = await a.createUser();
    const { token } = await a.sessions.createSession({ userId });
    const store = (app: SessionTestApp) => app.app.get<SessionStore>(SessionStore);
    const session = (await store(a).findByTokenHash(hashToken(token)))!;
    const next = new Date(clock.now() + 2 * HOUR);
    const writes = await Promise.all(
      Array.from({ length: 40 }, (_, i) => store(i % 2 ? a : b).extendExpiry(session, next, new Date(next.getTime() - 10 * MINUTE + 1), new Date(clock.now()))),
    );
    expect(writes.filter(Boolean)).toHaveLength(1);
  });
});
