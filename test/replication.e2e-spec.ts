import { DataSource } from 'typeorm';
import { hashToken, SessionEntity } from '../src/index.js';
import { CreateSessionsTable1763856000000, CreateTestUsers1700000000000, createSessionTestApp, type SessionTestApp } from './support/app.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

// The replica is a second database with the same schema that receives nothing: a replica
// lagging forever. Reads go there first; a miss must fall back to the primary.
describe('validation on a read replica', () => {
  let primary: TestDatabase;
  let replica: TestDatabase;
  let replicaDs: DataSource;
  let t: SessionTestApp;

  beforeAll(async () => {
    primary = await createTestDatabase('nss_primary');
    replica = await createTestDatabase('nss_replica');
    replicaDs = new DataSource({ type: 'postgres', url: replica.url, entities: [SessionEntity], migrations: [CreateTestUsers1700000000000, CreateSessionsTable1763856000000] });
    await replicaDs.initialize();
    await replicaDs.runMigrations();
    t = await createSessionTestApp(primary.url, { cache: false }, { replicaUrls: [replica.url] });
  });
  afterAll(async () => {
    await t?.close();
    await replicaDs?.destroy();
    await primary?.drop();
    await replica?.drop();
  });

  it('never turns a fresh login into a refusal when the replica has not caught up', async () => {
    const userId = await t.createUser();
    for (let i = 0; i < 20; i++) {
      const { token } = await t.sessions.createSession({ userId });
      expect(await t.sessions.validateSession(token)).toMatchObject({ id: userId });
    }
    const [{ n }] = await replicaDs.query('SELECT count(*)::int AS n FROM sessions');
    expect(n).toBe(0);
  });

  it('reads from the replica first', async () => {
    // A row only the replica has (as if the primary had since lost it) is found: the read went there.
    const userId = await t.createUser();
    await replicaDs.query(`INSERT INTO users (id, email) VALUES ($1, 'replica-only@example.test')`, [userId]);
    const token = 'R'.repeat(42) + 'A';
    await replicaDs.query(`INSERT INTO sessions (user_id, token, expires_at) VALUES ($1, $2, now() + interval '1 hour')`, [userId, hashToken(token)]);
    expect(await t.sessions.validateSession(token)).toMatchObject({ id: userId });
  });

  it('still refuses a token neither has', async () => {
    await expect(t.sessions.validateSession('Z'.repeat(42) + 'A')).resolves.toBeNull();
  });
});
