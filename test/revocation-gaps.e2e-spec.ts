import pg from 'pg';
import { PostgresInvalidationBus } from '../src/invalidation/postgres-invalidation.bus.js';
import { createSessionTestApp, type SessionTestApp } from './support/app.js';
import { TestClock } from './support/clock.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { startProxy, type TcpProxy } from './support/tcp-proxy.js';

// Revocation that holds whatever the store and the broadcast do (issue 18, findings 1 and 10),
// on real PostgreSQL: a row lock stalls the logout past storeTimeout, a cut stops one
// instance's LISTEN connection while its store stays up.
const CHANNEL = `nss_gaps_${Date.now()}`;
const STORE_TIMEOUT = '500ms';

let db: TestDatabase;
let admin: pg.Pool;
const clock = new TestClock(Date.now());

beforeAll(async () => {
  db = await createTestDatabase('nss_gaps');
  admin = new pg.Pool({ connectionString: db.url });
});
afterAll(async () => {
  await admin?.end();
  await db?.drop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Holds the session row FOR UPDATE in a transaction of its own until the returned function is called. */
async function lockRow(sessionId: string): Promise<() => Promise<void>> {
  const client = await admin.connect();
  await client.query('BEGIN');
  await client.query('SELECT id FROM sessions WHERE id = $1 FOR UPDATE', [sessionId]);
  return async () => {
    await client.query('COMMIT');
    client.release();
  };
}

describe('a logout or a refresh that outlives storeTimeout', () => {
  let a: SessionTestApp;
  let b: SessionTestApp;
  beforeAll(async () => {
    const options = { storeTimeout: STORE_TIMEOUT, clock: clock.now, cleanup: false as const };
    a = await createSessionTestApp(db.url, options);
    b = await createSessionTestApp(db.url, options);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('still ends the session in every cache once the DELETE commits, and a retried logout answers', async () => {
    const userId = await a.createUser();
    const { token, session } = await a.sessions.createSession({ userId });
    expect(await a.sessions.validateSession(token)).not.toBeNull();
    expect(await b.sessions.validateSession(token)).not.toBeNull();

    const release = await lockRow(session.id);
    await expect(a.sessions.revokeSession(token)).rejects.toMatchObject({ status: 503 });
    // The lock is still held: the row is there, and B reads it back into its cache meanwhile.
    expect(await b.sessions.validateSession(token)).not.toBeNull();
    await release();
    await sleep(200);
    expect(await a.sessions.validateSession(token)).toBeNull();
    expect(await b.sessions.validateSession(token)).toBeNull();
    // Already gone: false, and nothing comes back to life.
    expect(await a.sessions.revokeSession(token)).toBe(false);
  });

  it('ends every session of a logout-all that timed out, on both instances', async () => {
    const userId = await a.createUser();
    const issued = await Promise.all([1, 2, 3].map(() => a.sessions.createSession({ userId })));
    for (const { token } of issued) expect(await b.sessions.validateSession(token)).not.toBeNull();
    const release = await lockRow(issued[0].session.id);
    await expect(a.sessions.revokeAllUserSessions(userId)).rejects.toMatchObject({ status: 503 });
    await release();
    await sleep(200);
    for (const { token } of issued) {
      expect(await a.sessions.validateSession(token)).toBeNull();
      expect(await b.sessions.validateSession(token)).toBeNull();
    }
  });
});

describe('a refresh that outlives storeTimeout', () => {
  let a: SessionTestApp;
  let b: SessionTestApp;
  beforeAll(async () => {
    const options = { storeTimeout: STORE_TIMEOUT, clock: clock.now, cleanup: false as const, refreshToken: { secret: 'a-refresh-secret-of-more-than-32-bytes-0123456789' } };
    a = await createSessionTestApp(db.url, options);
    b = await createSessionTestApp(db.url, options);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  /** A refresh on A that answers 503 while a second connection holds the row, its swap committed once the lock goes. */
  async function refreshPastTimeout(first: { session: { id: string }; refreshToken?: string }): Promise<void> {
    const release = await lockRow(first.session.id);
    await expect(a.sessions.refresh(first.refreshToken)).rejects.toMatchObject({ status: 503 });
    await release();
    await sleep(200);
  }

  it('answers the retry with the pair its late swap made, with no theft alarm, and the old token is dead everywhere', async () => {
    const userId = await a.createUser();
    const first = await a.sessions.createSession({ userId });
    expect(await b.sessions.validateSession(first.token)).not.toBeNull();
    const reused = await listenReused(a);

    await refreshPastTimeout(first);
    const retry = await a.sessions.refresh(first.refreshToken);
    expect(retry?.token).toEqual(expect.any(String));
    expect(reused).toEqual([]);
    expect(await a.sessions.validateSession(retry!.token)).not.toBeNull();
    expect(await a.sessions.validateSession(first.token)).toBeNull();
    expect(await b.sessions.validateSession(first.token)).toBeNull();
  });

  it('answers a retry on another instance with the session token the first swap made', async () => {
    const userId = await a.createUser();
    const first = await a.sessions.createSession({ userId });
    const reused = await listenReused(b);
    await refreshPastTimeout(first);
    const retry = await b.sessions.refresh(first.refreshToken);
    expect(reused).toEqual([]);
    // B could not know A's answer, yet lands on the token A's swap stored, on both instances.
    expect(await b.sessions.validateSession(retry!.token)).toMatchObject({ id: userId });
    expect(await a.sessions.validateSession(retry!.token)).toMatchObject({ id: userId });
    expect(retry!.session.id).toBe(first.session.id);
    expect(await b.sessions.validateSession(first.token)).toBeNull();
    // Its refresh token names the current token, so the next refresh works as any other.
    expect(await a.sessions.refresh(retry!.refreshToken)).not.toBeNull();
  });

  it('finds the first swap from another instance within the grace, and takes a use after it for theft', async () => {
    const userId = await a.createUser();
    const first = await a.sessions.createSession({ userId });
    const reused = await listenReused(b);
    const made = await a.sessions.refresh(first.refreshToken);
    // Within the grace (2 x storeTimeout, 1 s here), whatever second the retry falls in.
    clock.advance(900);
    const retry = await b.sessions.refresh(first.refreshToken);
    expect(retry!.token).toBe(made!.token);
    expect(await b.sessions.validateSession(retry!.token)).not.toBeNull();
    expect(await a.sessions.validateSession(made!.token)).not.toBeNull();
    expect(reused).toEqual([]);
    // Past it and the second it is rounded up to: a replay, which ends the login.
    clock.advance(1_200);
    expect(await b.sessions.refresh(first.refreshToken)).toBeNull();
    expect(reused).toHaveLength(1);
    await sleep(200);
    expect(await a.sessions.validateSession(made!.token)).toBeNull();
  });
});

async function listenReused(app: SessionTestApp): Promise<unknown[]> {
  const reused: unknown[] = [];
  app.app.get((await import('@nestjs/event-emitter')).EventEmitter2).on('session.refresh-reused', (event: unknown) => reused.push(event));
  return reused;
}

describe("an instance whose invalidation subscription is down", () => {
  let a: SessionTestApp;
  let b: SessionTestApp;
  let proxy: TcpProxy;
  let queries: pg.Pool;

  beforeAll(async () => {
    const url = new URL(db.url);
    proxy = await startProxy(url.hostname, Number(url.port));
    queries = new pg.Pool({ connectionString: db.url });
    // A listens through the proxy (so the test can take its subscription away) and reads the store directly.
    const bus = new PostgresInvalidationBus({
      connection: { connectionString: proxy.url(db.url) },
      query: (sql, params) => queries.query(sql, params),
      channel: CHANNEL,
      reconnect: { minDelayMs: 200, maxDelayMs: 400 },
    });
    a = await createSessionTestApp(db.url, { broadcast: bus, clock: clock.now, cleanup: false });
    const busB = new PostgresInvalidationBus({ connection: { connectionString: db.url }, query: (sql, params) => queries.query(sql, params), channel: CHANNEL });
    b = await createSessionTestApp(db.url, { broadcast: busB, clock: clock.now, cleanup: false });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await proxy?.close();
    await queries?.end();
  });

  it('serves no session from its cache until the subscription is back, so a revocation in the gap holds', async () => {
    const userId = await a.createUser();
    const { token } = await b.sessions.createSession({ userId });
    expect(await a.sessions.validateSession(token)).not.toBeNull();

    await proxy.cut();
    // Lost: A's cache is emptied and then not refilled, though its store answers.
    await sleep(100);
    expect(await a.sessions.validateSession(token)).not.toBeNull();
    a.storeCalls.findByTokenHash = 0;
    expect(await a.sessions.validateSession(token)).not.toBeNull();
    expect(a.storeCalls.findByTokenHash).toBe(1);

    // B's broadcast cannot reach A now; A must not answer from a cache.
    expect(await b.sessions.revokeSession(token)).toBe(true);
    expect(await a.sessions.validateSession(token)).toBeNull();

    proxy.restore();
    const fresh = await b.sessions.createSession({ userId });
    // Back: the cache serves again (one lookup, then hits).
    for (let i = 0; i < 50 && a.storeCalls.findByTokenHash >= 0; i++) {
      await sleep(100);
      a.storeCalls.findByTokenHash = 0;
      await a.sessions.validateSession(fresh.token);
      await a.sessions.validateSession(fresh.token);
      if (a.storeCalls.findByTokenHash === 1) break;
    }
    expect(a.storeCalls.findByTokenHash).toBe(1);
  });
});
