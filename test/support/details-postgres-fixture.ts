import { afterAll } from '@jest/globals';
import { Column, DataSource, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { CreateSessionDetails1765000000000 } from '../../src/index.js';
import { CreateSessionsTable1763856000000, CreateTestUsers1700000000000 } from './app.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { QueryRecorder } from './query-recorder.js';

// What the PostgreSQL details suites share: a users table, the three migrations, databases made
// per suite and dropped after it, and a DataSource on one of them that records its statements.

@Entity('users')
export class UserRow {
  @PrimaryGeneratedColumn('uuid') id: string;
  @Column({ type: 'text' }) email: string;
}

export const MIGRATIONS = [CreateTestUsers1700000000000, CreateSessionsTable1763856000000, CreateSessionDetails1765000000000];

/** A new database per call, all dropped after the file's tests; call at the top of a spec file. */
export function freshDatabases(): (prefix: string) => Promise<TestDatabase> {
  const dbs: TestDatabase[] = [];
  afterAll(async () => {
    await Promise.all(dbs.map((db) => db.drop()));
  });
  return async (prefix) => {
    const db = await createTestDatabase(prefix);
    dbs.push(db);
    return db;
  };
}

/** A migrated DataSource on a fresh database whose statements `recorder` sees, and helpers on it. */
export async function detailsDataSource(db: TestDatabase, recorder: QueryRecorder) {
  const ds = await new DataSource({ type: 'postgres', url: db.url, entities: [UserRow], migrations: MIGRATIONS, logger: recorder, extra: { max: 20 } }).initialize();
  await ds.runMigrations();
  return {
    ds,
    newUser: async () => (await ds.query(`INSERT INTO users (email) VALUES (gen_random_uuid() || '@example.test') RETURNING id`))[0].id as string,
    detailRows: async (ids: string[]) => (await ds.query('SELECT count(*)::int AS n FROM session_details WHERE session_id = ANY($1::bigint[])', [ids]))[0].n as number,
  };
}
