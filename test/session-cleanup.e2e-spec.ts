import { EventEmitter2 } from '@nestjs/event-emitter';
import { SchedulerRegistry } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { register } from 'prom-client';
import {
  CreateSessionsTable1763856000000,
  SESSION_CLEANUP_JOB,
  SessionCleanupTask,
  SessionEvents,
  SessionModule,
  SessionOptionsError,
} from '../src/index.js';
import { createSessionTestApp, resetCalls, type SessionTestApp } from './support/app.js';
import { TestClock } from './support/clock.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

const MINUTE = 60_000;

async function insertExpired(t: SessionTestApp, userId: string, count: number, now: number): Promise<void> {
  await t.dataSource.query(
    `INSERT INTO sessions (user_id, token, expires_at, created_at)
     SELECT $1::uuid, sha256(convert_to('expired-' || n || '-' || $1::text || '-' || $3::text, 'UTF8')), $2::timestamptz - interval '1 minute', $2::timestamptz - interval '2 hours'
       FROM generate_series(1, $3::int) AS n`,
    [userId, new Date(now), count],
  );
}

describe('the purge', () => {
  let db: TestDatabase;
  let a: SessionTestApp;
  let b: SessionTestApp;
  const clock = new TestClock(Date.now());

  beforeAll(async () => {
    db = await createTestDatabase('nss_purge');
    const options = { cleanup: false as const, cache: false as const, purgeBatchSize: 2_000, clock: clock.now };
    a = await createSessionTestApp(db.url, options);
    b = await createSessionTestApp(db.url, options);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await db?.drop();
  });

  it('deletes 200,000 expired rows in batches while validations of live sessions keep answering', async () => {
    const userId = await a.createUser();
    // Live sessions first: a login also drops that user's expired ones.
    const live = await Promise.all(Array.from({ length: 20 }, () => a.sessions.createSession({ userId })));
    await insertExpired(a, userId, 200_000, clock.now());
    resetCalls(a.storeCalls);

    let purging = true;
    let answered = 0;
    const validations = (async () => {
      while (purging) {
        const users = await Promise.all(live.map((s) => a.sessions.validateSession(s.token)));
        expect(users.every((u) => u?.id === userId)).toBe(true);
        answered += users.length;
      }
    })();
    const purged = await a.sessions.purgeExpiredSessions().finally(() => (purging = false));
    await validations;

    expect(purged).toBe(200_000);
    // 100 full batches of 2,000 and the empty one that ends the loop.
    expect(a.storeCalls.deleteExpired).toBe(101);
    expect(answered).toBeGreaterThan(live.length * 5);
    const [{ n }] = await a.dataSource.query('SELECT count(*)::int AS n FROM sessions WHERE user_id = $1', [userId]);
    expect(n).toBe(live.length);
  }, 120_000);

  it('runs once when two instances purge at the same time, and neither fails', async () => {
    const userId = await a.createUser();
    await insertExpired(a, userId, 30_000, clock.now());
    const [byA, byB] = await Promise.all([a.sessions.purgeExpiredSessions(), b.sessions.purgeExpiredSessions()]);
    // The lock lets one through; the other returns 0 at once.
    expect([byA, byB].sort((x, y) => x - y)).toEqual([0, 30_000]);
    const [{ n }] = await a.dataSource.query('SELECT count(*)::int AS n FROM sessions WHERE expires_at <= $1', [new Date(clock.now())]);
    expect(n).toBe(0);
  }, 60_000);

  it('releases the lock when a purge fails', async () => {
    const userId = await a.createUser();
    await insertExpired(a, userId, 10, clock.now());
    const store = a.store as { deleteExpired: (...args: unknown[]) => Promise<number> };
    const real = store.deleteExpired;
    // The one failure a test cannot cause for real without breaking the database for the lock too.
    store.deleteExpired = () => Promise.reject(new Error('disk full'));
    try {
      await expect(a.sessions.purgeExpiredSessions()).rejects.toThrow();
    } finally {
      store.deleteExpired = real;
    }
    await expect(b.sessions.purgeExpiredSessions()).resolves.toBe(10);
  });

  it('drops a user\'s own expired sessions at login', async () => {
    const userId = await a.createUser();
    const other = await a.createUser();
    await insertExpired(a, userId, 5, clock.now());
    await insertExpired(a, other, 5, clock.now());
    await a.sessions.createSession({ userId });
    const rows: { user_id: string; n: number }[] = await a.dataSource.query(
      'SELECT user_id, count(*)::int AS n FROM sessions WHERE user_id = ANY($1) GROUP BY user_id',
      [[userId, other]],
    );
    expect(Object.fromEntries(rows.map((r) => [r.user_id, r.n]))).toEqual({ [userId]: 1, [other]: 5 });
  });
});

describe('the cleanup task', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('nss_task');
  });
  afterAll(() => db?.drop());

  it('is registered with the configured schedule, and purges when it runs', async () => {
    const t = await createSessionTestApp(db.url, { cleanup: { schedule: '15 * *' } });
    try {
      const job = t.app.get(SchedulerRegistry).getCronJob(SESSION_CLEANUP_JOB);
      expect(job.cronTime.source).toBe('0 15 * * * *');
      expect(job.isActive).toBe(true);
      const next = job.nextDate().toJSDate();
      expect(next.getMinutes()).toBe(15);
      expect(next.getSeconds()).toBe(0);

      const userId = await t.createUser();
      await insertExpired(t, userId, 3, Date.now());
      await t.app.get(SessionCleanupTask).run();
      const [{ n }] = await t.dataSource.query('SELECT count(*)::int AS n FROM sessions');
      expect(n).toBe(0);
    } finally {
      await t.close();
    }
  });

  it('takes a cron string, and is absent with cleanup: false', async () => {
    const cron = await createSessionTestApp(db.url, { cleanup: { schedule: '*/10 3 * * 1-5' } });
    try {
      expect(cron.app.get(SchedulerRegistry).getCronJob(SESSION_CLEANUP_JOB).cronTime.source).toBe('0 */10 3 * * 1-5');
    } finally {
      await cron.close();
    }
    const off = await createSessionTestApp(db.url, { cleanup: false });
    try {
      expect(off.app.get(SchedulerRegistry).doesExist('cron', SESSION_CLEANUP_JOB)).toBe(false);
    } finally {
      await off.close();
    }
  });

  it('is stopped and unregistered when the app closes', async () => {
    const t = await createSessionTestApp(db.url, {});
    const registry = t.app.get(SchedulerRegistry);
    const job = registry.getCronJob(SESSION_CLEANUP_JOB);
    await t.close();
    expect(job.isActive).toBe(false);
    expect(registry.doesExist('cron', SESSION_CLEANUP_JOB)).toBe(false);
  });

  it('stops the app when ScheduleModule is missing, saying what to do', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({ type: 'postgres', url: db.url, autoLoadEntities: true, migrations: [CreateSessionsTable1763856000000], migrationsRun: true }),
        SessionModule.forRoot({ resolveUser: (id) => ({ id }) }),
      ],
    }).compile();
    try {
      const failure = await moduleRef.init().then(() => undefined, (error: unknown) => error);
      expect(failure).toBeInstanceOf(SessionOptionsError);
      expect((failure as Error).message).toMatch(/^SessionModule option "cleanup": needs @nestjs\/schedule: import ScheduleModule\.forRoot\(\)/);
    } finally {
      await moduleRef.close();
    }
  });
});

describe('events and metrics', () => {
  let db: TestDatabase;
  let t: SessionTestApp;
  const clock = new TestClock(Date.now());
  const seen: [string, unknown][] = [];

  beforeAll(async () => {
    db = await createTestDatabase('nss_events');
    t = await createSessionTestApp(db.url, { maxAge: '1h', updateAge: '10m', cleanup: false, clock: clock.now });
    t.app.get(EventEmitter2).onAny((event: string | string[], payload: unknown) => seen.push([String(event), payload]));
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });
  beforeEach(() => {
    seen.length = 0;
  });

  const value = async (name: string, labels: Record<string, string> = {}) => {
    const metric = register.getSingleMetric(name);
    const { values } = await metric!.get();
    return values.filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l)).reduce((sum, v) => sum + v.value, 0);
  };

  it('emit typed payloads with no token in them', async () => {
    const start = clock.now();
    const userId = await t.createUser();
    const first = await t.sessions.createSession({ userId });
    const second = await t.sessions.createSession({ userId });
    try {
      clock.set(start + 20 * MINUTE);
      await t.sessions.validateSession(first.token);
      const rotated = await t.sessions.rotateSession(first.token);
      await t.sessions.revokeUserSession(userId, second.session.id);
      await t.sessions.revokeSession(rotated!.token);
      const third = await t.sessions.createSession({ userId });
      await t.sessions.revokeOtherUserSessions(userId, third.session.id);
      await t.sessions.revokeAllUserSessions(userId);
      await t.sessions.purgeExpiredSessions();

      const session = (s: { session: object }) => ({ session: s.session });
      expect(seen).toEqual([
        [SessionEvents.Created, session(first)],
        [SessionEvents.Created, session(second)],
        [SessionEvents.Refreshed, { session: { ...first.session, expires: new Date(start + 80 * MINUTE) } }],
        [SessionEvents.Rotated, { session: { ...first.session, expires: new Date(start + 80 * MINUTE) } }],
        [SessionEvents.Revoked, { session: second.session, reason: 'revoked' }],
        [SessionEvents.Revoked, { session: { ...first.session, expires: new Date(start + 80 * MINUTE) }, reason: 'logout' }],
        [SessionEvents.Created, session(third)],
        [SessionEvents.AllRevoked, { userId, count: 0, keptSessionId: third.session.id }],
        [SessionEvents.AllRevoked, { userId, count: 1 }],
        [SessionEvents.Purged, { count: expect.any(Number), durationMs: expect.any(Number) }],
      ]);
      const everything = JSON.stringify(seen);
      for (const token of [first.token, second.token, third.token, rotated!.token]) expect(everything).not.toContain(token);
    } finally {
      clock.set(start);
    }
  });

  it('move the metrics as sessions are made, validated, refused, revoked and purged', async () => {
    const before = {
      created: await value('sessions_created_total'),
      accepted: await value('sessions_validated_total', { result: 'accepted' }),
      malformed: await value('sessions_refused_total', { reason: 'malformed' }),
      unknown: await value('sessions_refused_total', { reason: 'unknown' }),
      hits: await value('sessions_cache_total', { result: 'hit' }),
      revoked: await value('sessions_revoked_total'),
      purged: await value('sessions_purged_total'),
      lookups: await value('sessions_store_duration_seconds', { operation: 'findByTokenHash' }),
    };
    const userId = await t.createUser();
    const { token } = await t.sessions.createSession({ userId });
    await t.sessions.validateSession(token);
    await t.sessions.validateSession(token);
    await t.sessions.validateSession('nope');
    await t.sessions.validateSession('Q'.repeat(43));
    expect(await value('sessions_live')).toBeGreaterThanOrEqual(1);
    await t.sessions.revokeSession(token);
    await t.dataSource.query(`INSERT INTO sessions (user_id, token, expires_at) VALUES ($1, sha256('metrics'), now() - interval '1 day')`, [userId]);
    await t.sessions.purgeExpiredSessions();

    expect(await value('sessions_created_total')).toBe(before.created + 1);
    expect(await value('sessions_validated_total', { result: 'accepted' })).toBe(before.accepted + 2);
    expect(await value('sessions_refused_total', { reason: 'malformed' })).toBe(before.malformed + 1);
    expect(await value('sessions_refused_total', { reason: 'unknown' })).toBe(before.unknown + 1);
    expect(await value('sessions_cache_total', { result: 'hit' })).toBe(before.hits + 1);
    expect(await value('sessions_revoked_total')).toBe(before.revoked + 1);
    expect(await value('sessions_purged_total')).toBeGreaterThanOrEqual(before.purged + 1);
    // The histogram's _count moved by the two lookups (the miss and the unknown token).
    expect(await value('sessions_store_duration_seconds', { operation: 'findByTokenHash' })).toBeGreaterThan(before.lookups);
  });
});
