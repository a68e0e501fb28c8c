import pg from 'pg';
import { DataSource } from 'typeorm';
import { CreateSessionDetails1765000000000, TypeOrmSessionStore } from '../../src/index.js';
import { CreateSessionsTable1763856000000, CreateTestUsers1700000000000 } from './app.js';
import { createTestDatabase } from './database.js';
import { at, details, login, NOW } from './details-contract.js';

export interface TouchRace {
  /** Calls that answered true (their statement's RETURNING gave a row). */
  returned: number;
  /** Rows an AFTER ROW trigger logged: one per row PostgreSQL really inserted or updated. */
  logged: number;
  /** n_tup_ins + n_tup_upd of session_details over the race, from pg_stat_user_tables. */
  statWrites: number;
  /** Connections the race's pool had open at its end: how parallel it really was. */
  connections: number;
}

const RACE_APP = 'nss-touch-race';

async function statWrites(reader: pg.Client): Promise<number> {
  await reader.query('SELECT pg_stat_clear_snapshot()');
  const { rows } = await reader.query(`SELECT (n_tup_ins + n_tup_upd)::int AS writes FROM pg_stat_user_tables WHERE relname = 'session_details'`);
  return rows[0].writes as number;
}

// A backend flushes its table counters as it exits, before it leaves pg_stat_activity: once no
// other backend is connected, the statistics hold everything done in this database.
async function othersGone(reader: pg.Client): Promise<void> {
  for (const deadline = Date.now() + 10_000; ; await new Promise((r) => setTimeout(r, 50))) {
    const { rows } = await reader.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
    if (rows[0].n === 0) return;
    if (Date.now() > deadline) throw new Error(`${rows[0].n} backend(s) still connected`);
  }
}

/**
 * `calls` concurrent touches of one session (with a details row or without: then the first
 * write is an insert) through a pool of 20 connections, in a database of its own so that
 * nothing else moves its statistics, counted three independent ways (see TouchRace). The
 * trigger counts writes that happened: AFTER ROW triggers fire neither for an ON CONFLICT whose
 * WHERE refused nor for a speculative insert that lost, and its log rolls back with a failed
 * statement. The statistics are a second witness that needs no trigger.
 */
export async function touchRace(withDetailsRow: boolean, calls = 300): Promise<TouchRace> {
  const db = await createTestDatabase('nss_touch');
  try {
    const setup = await new DataSource({
      type: 'postgres',
      url: db.url,
      migrations: [CreateTestUsers1700000000000, CreateSessionsTable1763856000000, CreateSessionDetails1765000000000],
    }).initialize();
    await setup.runMigrations();
    const [{ id: userId }] = await setup.query(`INSERT INTO users (email) VALUES ('race@example.test') RETURNING id`);
    const session = await login(new TypeOrmSessionStore(setup, { details: withDetailsRow }), userId, withDetailsRow ? details({ lastSeenAt: at(-120_000) }) : undefined);
    await setup.query('CREATE TABLE detail_writes (op text NOT NULL)');
    await setup.query(`CREATE FUNCTION log_detail_write() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO detail_writes VALUES (TG_OP); RETURN NULL; END $$`);
    await setup.query('CREATE TRIGGER detail_writes AFTER INSERT OR UPDATE ON session_details FOR EACH ROW EXECUTE FUNCTION log_detail_write()');
    await setup.destroy();

    const reader = new pg.Client({ connectionString: db.url, application_name: 'nss-race-reader' });
    await reader.connect();
    try {
      await othersGone(reader);
      const before = await statWrites(reader);
      const race = await new DataSource({ type: 'postgres', url: db.url, applicationName: RACE_APP, extra: { max: 20 } }).initialize();
      const store = new TypeOrmSessionStore(race, { details: true });
      const results = await Promise.all(Array.from({ length: calls }, () => store.touch(session, NOW, at(-60_000 + 1))));
      const open = await reader.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [RACE_APP]);
      await race.destroy();
      await othersGone(reader);
      const logged = await reader.query('SELECT count(*)::int AS n FROM detail_writes');
      return { returned: results.filter(Boolean).length, logged: logged.rows[0].n, statWrites: (await statWrites(reader)) - before, connections: open.rows[0].n };
    } finally {
      await reader.end();
    }
  } finally {
    await db.drop();
  }
}
