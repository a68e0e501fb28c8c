import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { DataSource, type MigrationInterface, type QueryRunner } from 'typeorm';
import { startEmbeddedDatabase, type EmbeddedDatabase } from '../sample/embedded-database.js';

// A first start in an empty directory runs initdb: several seconds, more on a busy machine.
const START_TIMEOUT = 60_000;
const POOL_SIZE = 4;

let tmp: string;
const open = new Set<EmbeddedDatabase>();

async function start(options: Parameters<typeof startEmbeddedDatabase>[0]): Promise<EmbeddedDatabase> {
  const db = await startEmbeddedDatabase(options);
  open.add(db);
  return db;
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'embedded-database-'));
});

afterAll(async () => {
  await Promise.all([...open].map((db) => db.close()));
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

it(
  'keeps rows written by concurrent queries on several pooled connections across a restart',
  async () => {
    const dir = join(tmp, 'persist', 'pgdata'); // does not exist yet
    const first = await start({ dir });
    expect(first.url).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);

    const pool = new pg.Pool({ connectionString: first.url, max: POOL_SIZE });
    try {
      await pool.query('CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL)');
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          i % 2 === 0
            ? pool.query('INSERT INTO notes (id, body) VALUES ($1, $2) RETURNING id, body', [i, `note ${i}`])
            : pool.query('SELECT $1::int AS n, count(*)::int >= 0 AS ok FROM notes', [i]),
        ),
      );
      results.forEach((result, i) => {
        expect(result.rows).toEqual([i % 2 === 0 ? { id: i, body: `note ${i}` } : { n: i, ok: true }]);
      });
      expect(pool.totalCount).toBe(POOL_SIZE); // the 50 queries really went over several connections
    } finally {
      await pool.end();
    }
    await first.close();
    await first.close(); // a second close is harmless

    const second = await start({ dir });
    const client = new pg.Client({ connectionString: second.url });
    await client.connect();
    try {
      const { rows } = await client.query('SELECT id, body FROM notes ORDER BY id');
      expect(rows).toEqual(Array.from({ length: 25 }, (_, k) => ({ id: 2 * k, body: `note ${2 * k}` })));
    } finally {
      await client.end();
    }
    await second.close();
  },
  2 * START_TIMEOUT,
);

it(
  'runs two independent instances on different directories at once',
  async () => {
    const [a, b] = await Promise.all([start({ dir: join(tmp, 'a') }), start({ dir: join(tmp, 'b'), maxConnections: 2 })]);
    expect(a.url).not.toBe(b.url);

    const pa = new pg.Pool({ connectionString: a.url, max: 2 });
    const pb = new pg.Pool({ connectionString: b.url, max: 2 });
    try {
      await Promise.all([pa.query('CREATE TABLE owner (name text)'), pb.query('CREATE TABLE owner (name text)')]);
      await Promise.all([pa.query(`INSERT INTO owner VALUES ('a')`), pb.query(`INSERT INTO owner VALUES ('b')`)]);
      expect((await pa.query('SELECT name FROM owner')).rows).toEqual([{ name: 'a' }]);
      expect((await pb.query('SELECT name FROM owner')).rows).toEqual([{ name: 'b' }]);

      // b accepts maxConnections (2) clients; one more is refused as PostgreSQL would.
      const held = await Promise.all([pb.connect(), pb.connect()]);
      const extra = new pg.Client({ connectionString: b.url });
      await expect(extra.connect()).rejects.toMatchObject({ code: '53300' });
      held.forEach((c) => c.release());
    } finally {
      await Promise.all([pa.end(), pb.end()]);
    }
    await Promise.all([a.close(), b.close()]);
  },
  START_TIMEOUT,
);

it('refuses a second instance on a directory already open', async () => {
  const dir = join(tmp, 'persist', 'pgdata');
  const db = await start({ dir });
  await expect(startEmbeddedDatabase({ dir })).rejects.toThrow(/already open/);
  await db.close();
});

describe('one instance under concurrent load', () => {
  let db: EmbeddedDatabase;
  let pool: pg.Pool;

  beforeAll(async () => {
    db = await start({ dir: join(tmp, 'load') });
    pool = new pg.Pool({ connectionString: db.url, max: POOL_SIZE });
  }, START_TIMEOUT);

  afterAll(async () => {
    await pool?.end();
    await db?.close();
  });

  it('keeps each connection’s parameterized query whole when its messages arrive in several TCP reads', async () => {
    // ~320 KB per parameter: Parse/Bind/Execute/Sync span several reads, the case where
    // pglite-socket's own queue let other connections' statements run in between.
    const big = (i: number): string => String(i).padStart(8, '0').repeat(40_000);
    await pool.query('CREATE TABLE blobs (id int PRIMARY KEY, body text NOT NULL)');
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        i % 2 === 1
          ? pool.query('INSERT INTO blobs VALUES ($1, $2) RETURNING id, length(body)::int AS len', [i, big(i)])
          : pool.query('SELECT $1::int AS id, $2::text AS echo', [i, `small ${i}`]),
      ),
    );
    results.forEach((result, i) => {
      expect(result.rows).toEqual([i % 2 === 1 ? { id: i, len: 320_000 } : { id: i, echo: `small ${i}` }]);
    });
    const { rows } = await pool.query(`SELECT count(*)::int AS n, count(*) FILTER (WHERE body = repeat(lpad(id::text, 8, '0'), 40000))::int AS intact FROM blobs`);
    expect(rows).toEqual([{ n: 30, intact: 30 }]);
  });

  it('runs transactions on several connections alongside plain queries without errors or lost isolation', async () => {
    await pool.query('CREATE TABLE ledger (id int PRIMARY KEY, kept boolean NOT NULL)');
    const outcomes = await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        if (i % 3 !== 0) return (await pool.query('SELECT $1::int AS n', [i])).rows[0].n;
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          await client.query('INSERT INTO ledger VALUES ($1, $2)', [i, i % 2 === 0]);
          await new Promise((r) => setTimeout(r, 5)); // hold the transaction across a turn of the event loop
          await client.query(i % 2 === 0 ? 'COMMIT' : 'ROLLBACK');
          return i;
        } finally {
          client.release();
        }
      }),
    );
    expect(outcomes).toEqual(Array.from({ length: 30 }, (_, i) => i));
    const { rows } = await pool.query('SELECT id FROM ledger ORDER BY id');
    expect(rows.map((r) => r.id)).toEqual([0, 6, 12, 18, 24]);
  });

  it('rolls back the open transaction of a connection that goes away, and lets the waiting ones run', async () => {
    await pool.query('CREATE TABLE drafts (id int)');
    const quitter = new pg.Client({ connectionString: db.url });
    await quitter.connect();
    await quitter.query('BEGIN');
    await quitter.query('INSERT INTO drafts VALUES (1)');

    const waiting = pool.query('SELECT count(*)::int AS n FROM drafts');
    await new Promise((r) => setTimeout(r, 50));
    await quitter.end(); // no COMMIT
    expect((await waiting).rows).toEqual([{ n: 0 }]);
  });

  it('works with TypeORM’s postgres driver on a small pool, migrations and transactions included', async () => {
    class CreateWidgets1700000000001 implements MigrationInterface {
      async up(q: QueryRunner): Promise<void> {
        await q.query('CREATE TABLE widgets (id serial PRIMARY KEY, name text NOT NULL UNIQUE)');
      }
      async down(q: QueryRunner): Promise<void> {
        await q.query('DROP TABLE widgets');
      }
    }
    const dataSource = new DataSource({
      type: 'postgres',
      url: db.url,
      extra: { max: POOL_SIZE },
      migrations: [CreateWidgets1700000000001],
      migrationsRun: true,
    });
    await dataSource.initialize();
    try {
      await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          i % 4 === 0
            ? dataSource.transaction(async (m) => {
                await m.query('INSERT INTO widgets (name) VALUES ($1)', [`w${i}`]);
                await m.query('SELECT count(*) FROM widgets');
              })
            : dataSource.query('INSERT INTO widgets (name) VALUES ($1)', [`w${i}`]),
        ),
      );
      await expect(dataSource.query('INSERT INTO widgets (name) VALUES ($1)', ['w0'])).rejects.toMatchObject({ driverError: { code: '23505' } });
      const [{ n }] = await dataSource.query('SELECT count(*)::int AS n FROM widgets');
      expect(n).toBe(40);
    } finally {
      await dataSource.destroy();
    }
  });
});
