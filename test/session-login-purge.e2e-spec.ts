import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { CreateSessionDetails1765000000000, hashToken, TypeOrmSessionStore } from '../src/index.js';
import { CreateSessionsTable1763856000000, CreateTestUsers1700000000000 } from './support/app.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

// The login statement and the lookup by token hash are prepared once per connection (issue 20):
// these check that what a login does survives PostgreSQL's switch to a generic plan after five
// executions, and that a connection which lost a statement (as behind a pooler in transaction
// mode) still logs in and still finds sessions.

const HOUR = 3_600_000;

describe('the login statement, prepared', () => {
  let db: TestDatabase;
  let ds: DataSource;
  // One connection, so the statement this test deallocates is the one the store prepared.
  const newDataSource = () =>
    new DataSource({
      type: 'postgres',
      url: db.url,
      migrations: [CreateTestUsers1700000000000, CreateSessionsTable1763856000000, CreateSessionDetails1765000000000],
      extra: { max: 1 },
    }).initialize();

  const newUser = async () => (await ds.query(`INSERT INTO users (email) VALUES (gen_random_uuid() || '@example.test') RETURNING id`))[0].id as string;
  const insertExpired = (userId: string, count: number) =>
    ds.query(
      `INSERT INTO sessions (user_id, token, expires_at, created_at)
       SELECT $1::uuid, sha256(convert_to(gen_random_uuid()::text, 'UTF8')), now() - interval '1 minute', now() - interval '2 hours' FROM generate_series(1, $2::int)`,
      [userId, count],
    );
  const counts = async (userIds: string[]) => {
    const rows: { user_id: string; n: number }[] = await ds.query(
      'SELECT user_id, count(*)::int AS n FROM sessions WHERE user_id = ANY($1::uuid[]) AND expires_at <= now() GROUP BY user_id',
      [userIds],
    );
    return Object.fromEntries(userIds.map((id) => [id, rows.find((r) => r.user_id === id)?.n ?? 0]));
  };
  const login = (store: TypeOrmSessionStore, userId: string, details = false) => {
    const now = new Date();
    return store.create({
      userId,
      tokenHash: hashToken(randomBytes(32).toString('base64url')),
      expiresAt: new Date(now.getTime() + HOUR),
      createdAt: now,
      ...(details ? { details: { userAgent: 'test', device: null, ip: null, lastSeenAt: null, reauthenticatedAt: now, data: {} } } : {}),
    });
  };
  const prepared = async () =>
    ((await ds.query(`SELECT name FROM pg_prepared_statements WHERE name LIKE 'nss\\_%'`)) as { name: string }[]).map((r) => r.name);

  beforeAll(async () => {
    db = await createTestDatabase('nss_login_purge');
    ds = await newDataSource();
    await ds.runMigrations();
  });
  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  it.each([
    ['without details', false],
    ['with details', true],
  ])('%s: still removes the user’s expired sessions, and only theirs, at every login after the plan is cached', async (_, details) => {
    const store = new TypeOrmSessionStore(ds, { details });
    const [userId, other] = [await newUser(), await newUser()];
    // Past the five custom plans, so the later logins run PostgreSQL's generic one.
    for (let i = 0; i < 8; i++) await login(store, userId, details);
    expect(await prepared()).toHaveLength(details ? 2 : 1);
    for (let i = 0; i < 3; i++) {
      await insertExpired(userId, 3);
      await insertExpired(other, 2);
      await login(store, userId, details);
      expect(await counts([userId, other])).toEqual({ [userId]: 0, [other]: 2 * (i + 1) });
    }
  });

  it('logs in unprepared from then on when the connection lost the statement (26000)', async () => {
    const own = await newDataSource();
    try {
      const store = new TypeOrmSessionStore(own);
      const query = (sql: string) => own.query(sql) as Promise<{ name: string }[]>;
      const userId = await newUser();
      await login(store, userId);
      expect((await query(`SELECT name FROM pg_prepared_statements`)).length).toBe(1);
      // What a pooler's other server connection, or DISCARD ALL, leaves: pg still thinks it is there.
      await query('DEALLOCATE ALL');
      await insertExpired(userId, 2);
      const session = await login(store, userId);
      expect(session.userId).toBe(userId);
      expect(await counts([userId])).toEqual({ [userId]: 0 });
      await login(store, userId);
      expect(await query(`SELECT name FROM pg_prepared_statements`)).toEqual([]);
    } finally {
      await own.destroy();
    }
  });

  it('finds a session by token hash with a prepared statement, and unprepared once the connection lost it', async () => {
    const own = await newDataSource();
    try {
      const store = new TypeOrmSessionStore(own);
      const query = (sql: string) => own.query(sql) as Promise<{ name: string }[]>;
      const session = await login(store, await newUser());
      expect((await store.findByTokenHash(session.tokenHash))?.id).toBe(session.id);
      expect((await query(`SELECT name FROM pg_prepared_statements`)).length).toBe(2);
      await query('DEALLOCATE ALL');
      expect((await store.findByTokenHash(session.tokenHash))?.id).toBe(session.id);
      expect(await store.findByTokenHash(hashToken(randomBytes(32).toString('base64url')))).toBeNull();
      expect(await query(`SELECT name FROM pg_prepared_statements`)).toEqual([]);
    } finally {
      await own.destroy();
    }
  });
});
