import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Column, DataSource, Entity, type MigrationInterface, PrimaryGeneratedColumn, type QueryRunner } from 'typeorm';
import { CreateSessionsTable1763856000000, createSessionsMigration, SessionEntity } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

const run = promisify(execFile);

interface Column {
  column_name: string;
  data_type: string;
  character_maximum_length: number | null;
  is_nullable: 'YES' | 'NO';
  column_default: string | null;
  is_identity: 'YES' | 'NO';
  identity_generation: string | null;
}

async function columns(ds: DataSource): Promise<Column[]> {
  return ds.query(
    `SELECT column_name, data_type, character_maximum_length, is_nullable, column_default, is_identity, identity_generation
       FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'sessions' ORDER BY ordinal_position`,
  );
}

async function indexes(ds: DataSource): Promise<Record<string, string>> {
  const rows: { indexname: string; indexdef: string }[] = await ds.query(`SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'sessions'`);
  return Object.fromEntries(rows.map((r) => [r.indexname, r.indexdef.replace(/ ON public\.sessions/, ' ON sessions')]));
}

async function withDatabase(migrations: (Function | string)[], fn: (ds: DataSource) => Promise<void>): Promise<void> {
  const db = await createTestDatabase('nss_mig');
  const ds = new DataSource({ type: 'postgres', url: db.url, entities: [SessionEntity], migrations });
  await ds.initialize();
  try {
    await fn(ds);
  } finally {
    await ds.destroy();
    await db.drop();
  }
}

describe('the sessions migration', () => {
  it('creates the table of the contract, and drops it on revert', () =>
    withDatabase([CreateSessionsTable1763856000000], async (ds) => {
      await ds.runMigrations();

      expect(await columns(ds)).toEqual([
        { column_name: 'id', data_type: 'bigint', character_maximum_length: null, is_nullable: 'NO', column_default: null, is_identity: 'YES', identity_generation: 'BY DEFAULT' },
        { column_name: 'user_id', data_type: 'character varying', character_maximum_length: 255, is_nullable: 'NO', column_default: null, is_identity: 'NO', identity_generation: null },
        { column_name: 'token', data_type: 'bytea', character_maximum_length: null, is_nullable: 'NO', column_default: null, is_identity: 'NO', identity_generation: null },
        { column_name: 'expires_at', data_type: 'timestamp with time zone', character_maximum_length: null, is_nullable: 'NO', column_default: null, is_identity: 'NO', identity_generation: null },
        { column_name: 'created_at', data_type: 'timestamp with time zone', character_maximum_length: null, is_nullable: 'NO', column_default: 'now()', is_identity: 'NO', identity_generation: null },
      ]);
      expect(await indexes(ds)).toEqual({
        PK_sessions: 'CREATE UNIQUE INDEX "PK_sessions" ON sessions USING btree (id)',
        UQ_sessions_token: 'CREATE UNIQUE INDEX "UQ_sessions_token" ON sessions USING btree (token)',
        IDX_sessions_user_id: 'CREATE INDEX "IDX_sessions_user_id" ON sessions USING btree (user_id)',
        IDX_sessions_expires_at: 'CREATE INDEX "IDX_sessions_expires_at" ON sessions USING btree (expires_at)',
      });

      // Only a 32-byte hash fits in token: a raw token cannot be stored even by mistake.
      await expect(ds.query(`INSERT INTO sessions (user_id, token, expires_at) VALUES ('u', convert_to($1, 'UTF8'), now())`, ['A'.repeat(43)])).rejects.toThrow(
        /CHK_sessions_token_sha256/,
      );

      await ds.undoLastMigration();
      const [{ exists }] = await ds.query(`SELECT to_regclass('public.sessions') IS NOT NULL AS exists`);
      expect(exists).toBe(false);
    }));

  it('matches the entity column for column', () =>
    withDatabase([CreateSessionsTable1763856000000], async (ds) => {
      await ds.runMigrations();
      const fromDb = Object.fromEntries((await columns(ds)).map((c) => [c.column_name, c.data_type]));
      const typeNames: Record<string, string> = { varchar: 'character varying', timestamptz: 'timestamp with time zone' };
      const fromEntity = Object.fromEntries(
        ds.getMetadata(SessionEntity).columns.map((c) => [c.databaseName, typeNames[String(c.type)] ?? String(c.type)]),
      );
      expect(fromEntity).toEqual(fromDb);
      expect(ds.getMetadata(SessionEntity).indices.map((i) => i.name).sort()).toEqual(['IDX_sessions_expires_at', 'IDX_sessions_user_id', 'UQ_sessions_token']);
    }));

  it.each([
    ['uuid', 'uuid PRIMARY KEY DEFAULT gen_random_uuid()', 'uuid'],
    ['bigint', 'bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY', 'bigint'],
    ['integer', 'serial PRIMARY KEY', 'integer'],
  ])('references a users table keyed by %s, with ON DELETE CASCADE', (_label, keyDefinition, expectedType) => {
    class CreateAppUsers1700000000000 implements MigrationInterface {
      async up(q: QueryRunner) {
        await q.query(`CREATE SCHEMA auth; CREATE TABLE auth."Users" (id ${keyDefinition}, email text)`);
      }
      async down(q: QueryRunner) {
        await q.query(`DROP SCHEMA auth CASCADE`);
      }
    }
    class CreateSessionsTable1763856000000 extends createSessionsMigration({ usersTable: 'auth."Users"' }) {}

    return withDatabase([CreateAppUsers1700000000000, CreateSessionsTable1763856000000], async (ds) => {
      await ds.runMigrations();
      const userId = (await columns(ds)).find((c) => c.column_name === 'user_id')!;
      expect(userId.data_type).toBe(expectedType);

      const [fk] = await ds.query(
        `SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = 'sessions'::regclass AND contype = 'f'`,
      );
      expect(fk).toEqual({ conname: 'FK_sessions_user_id', def: 'FOREIGN KEY (user_id) REFERENCES auth."Users"(id) ON DELETE CASCADE' });

      const [user] = await ds.query(`INSERT INTO auth."Users" (email) VALUES ('a@example.test') RETURNING id`);
      await ds.query(`INSERT INTO sessions (user_id, token, expires_at) VALUES ($1, sha256('x'), now())`, [user.id]);
      await expect(ds.query(`INSERT INTO sessions (user_id, token, expires_at) VALUES ($1, sha256('y'), now())`, [expectedType === 'uuid' ? '00000000-0000-0000-0000-000000000000' : 999999])).rejects.toThrow(
        /FK_sessions_user_id/,
      );
      await ds.query(`DELETE FROM auth."Users" WHERE id = $1`, [user.id]);
      const [{ count }] = await ds.query(`SELECT count(*)::int AS count FROM sessions`);
      expect(count).toBe(0);
    });
  });

  it('names the missing users table when there is none', () => {
    class CreateSessionsTable1763856000000 extends createSessionsMigration({ usersTable: 'members' }) {}
    return withDatabase([CreateSessionsTable1763856000000], async (ds) => {
      await expect(ds.runMigrations()).rejects.toThrow('Sessions migration: no column "id" in table "members"');
    });
  });

  it('says, when the users table is missing, how a synchronize app gets past it', () => {
    class CreateSessionsTable1763856000000 extends createSessionsMigration({ usersTable: 'members' }) {}
    return withDatabase([CreateSessionsTable1763856000000], async (ds) => {
      await expect(ds.runMigrations()).rejects.toThrow("ifUsersTableMissing: 'create-without-foreign-key' (nestjs-sessions migration:create --if-users-table-missing create-without-foreign-key)");
    });
  });

  it('refuses a user id type that is not a plain type name', () => {
    expect(() => createSessionsMigration({ userIdType: 'text); DROP TABLE users; --' })).toThrow(/not a plain SQL type name/);
    expect(() => createSessionsMigration({ usersTable: 'users', ifUsersTableMissing: 'skip' as never })).toThrow(/ifUsersTableMissing "skip" is not one of 'fail', 'create-without-foreign-key'/);
  });
});

// TypeORM runs migrations before synchronize (DataSource.initialize), so in an app whose users
// table comes from synchronize the sessions migration finds no users table on a new database.
describe('the sessions migration in an app on synchronize', () => {
  @Entity('members')
  class Member {
    @PrimaryGeneratedColumn('uuid') id: string;
    @Column() email: string;
  }
  class CreateSessionsTable1763856000000 extends createSessionsMigration({ usersTable: 'members', ifUsersTableMissing: 'create-without-foreign-key' }) {}

  async function boot(url: string): Promise<DataSource> {
    const ds = new DataSource({ type: 'postgres', url, entities: [Member, SessionEntity], migrations: [CreateSessionsTable1763856000000], migrationsRun: true, synchronize: true });
    return ds.initialize();
  }
  const foreignKeys = (ds: DataSource) => ds.query(`SELECT conname FROM pg_constraint WHERE conrelid = 'sessions'::regclass AND contype = 'f'`);

  it('fails by default, naming the option', async () => {
    class Strict1763856000000 extends createSessionsMigration({ usersTable: 'members' }) {}
    const db = await createTestDatabase('nss_mig');
    const ds = new DataSource({ type: 'postgres', url: db.url, entities: [Member], migrations: [Strict1763856000000], migrationsRun: true, synchronize: true });
    try {
      await expect(ds.initialize()).rejects.toThrow(/no column "id" in table "members".*ifUsersTableMissing/);
    } finally {
      if (ds.isInitialized) await ds.destroy();
      await db.drop();
    }
  });

  it("with 'create-without-foreign-key': the app starts, sessions without the foreign key, user_id typed from the entity, a warning with the ALTER TABLE", async () => {
    const db = await createTestDatabase('nss_mig');
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    let ds: DataSource | undefined;
    try {
      ds = await boot(db.url);
      expect(warn).toHaveBeenCalledTimes(1);
      const message = String(warn.mock.calls[0][0]);
      expect(message).toContain('table members does not exist yet (made by synchronize, which runs after migrations?): created "sessions" with user_id uuid and no foreign key.');
      expect(message).toContain(
        'ALTER TABLE "sessions" ADD CONSTRAINT "FK_sessions_user_id" FOREIGN KEY ("user_id") REFERENCES members ("id") ON DELETE CASCADE',
      );
      expect(await foreignKeys(ds)).toEqual([]);
      const [{ type }] = await ds.query(`SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = 'sessions'::regclass AND attname = 'user_id'`);
      expect(type).toBe('uuid');

      // synchronize made members after the migration; sessions work, and the ALTER TABLE of the warning adds the key.
      const [member] = await ds.query(`INSERT INTO members (email) VALUES ('a@example.test') RETURNING id`);
      await ds.query(`INSERT INTO sessions (user_id, token, expires_at) VALUES ($1, sha256('x'), now())`, [member.id]);
      await ds.query(message.slice(message.indexOf('ALTER TABLE')));
      expect(await foreignKeys(ds)).toEqual([{ conname: 'FK_sessions_user_id' }]);
    } finally {
      warn.mockRestore();
      await ds?.destroy();
      await db.drop();
    }
  });

  it('adds the foreign key where the users table already exists (a database synchronize had made before)', async () => {
    const db = await createTestDatabase('nss_mig');
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    let ds: DataSource | undefined;
    try {
      const first = new DataSource({ type: 'postgres', url: db.url, entities: [Member], synchronize: true });
      await (await first.initialize()).destroy();
      ds = await boot(db.url);
      expect(warn).not.toHaveBeenCalled();
      expect(await foreignKeys(ds)).toEqual([{ conname: 'FK_sessions_user_id' }]);
    } finally {
      warn.mockRestore();
      await ds?.destroy();
      await db.drop();
    }
  });
});

describe('npm run migration:run / migration:revert', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('nss_cli');
  });
  afterAll(() => db?.drop());

  const npm = (script: string) => run('npm', ['run', '-s', script], { env: { ...process.env, DATABASE_URL: db.url }, timeout: 60_000 });
  const hasTable = async () => {
    const ds = new DataSource({ type: 'postgres', url: db.url });
    await ds.initialize();
    try {
      const [{ exists }] = await ds.query(`SELECT to_regclass('public.sessions') IS NOT NULL AS exists`);
      return exists as boolean;
    } finally {
      await ds.destroy();
    }
  };

  it('create and then drop the sessions table on an empty database', async () => {
    const up = await npm('migration:run');
    expect(up.stdout).toContain('Migration CreateSessionsTable1763856000000 has been executed successfully.');
    expect(up.stdout).toContain('Migration CreateSessionDetails1763857000000 has been executed successfully.');
    expect(up.stdout).toContain('Migration AddSessionDeviceBinding1763858000000 has been executed successfully.');
    expect(await hasTable()).toBe(true);

    // Last in, first out: the device columns, the details table, then the sessions table.
    const device = await npm('migration:revert');
    expect(device.stdout).toContain('Migration AddSessionDeviceBinding1763858000000 has been reverted successfully.');
    const details = await npm('migration:revert');
    expect(details.stdout).toContain('Migration CreateSessionDetails1763857000000 has been reverted successfully.');
    expect(await hasTable()).toBe(true);
    const down = await npm('migration:revert');
    expect(down.stdout).toContain('Migration CreateSessionsTable1763856000000 has been reverted successfully.');
    expect(await hasTable()).toBe(false);
  }, 180_000);

  it('says which variable is missing when DATABASE_URL is not set', async () => {
    const env = { ...process.env };
    delete env.DATABASE_URL;
    await expect(run('npm', ['run', '-s', 'migration:run'], { env, timeout: 60_000 })).rejects.toMatchObject({
      stderr: expect.stringContaining('DATABASE_URL is not set'),
    });
  }, 60_000);
});
