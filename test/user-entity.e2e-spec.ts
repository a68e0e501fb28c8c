import { Controller, Get, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { getDataSourceToken, TypeOrmModule } from '@nestjs/typeorm';
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { Column, CreateDateColumn, type DataSource, Entity, type MigrationInterface, PrimaryGeneratedColumn, type QueryRunner } from 'typeorm';
import {
  createSessionsMigration,
  CurrentUser,
  SessionGuard,
  SessionModule,
  type SessionModuleOptions,
  SessionOptionsError,
  SessionService,
} from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { listen } from './support/http.js';
import { QueryRecorder } from './support/query-recorder.js';

@Entity({ name: 'members', schema: 'app' })
class Member {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'text' })
  email: string;

  @Column({ name: 'password_hash', type: 'text', select: false })
  passwordHash: string;

  @Column({ name: 'display_name', type: 'text', transformer: { from: (v: string | null) => v?.toUpperCase() ?? null, to: (v: string) => v } })
  displayName: string;

  @Column({ type: 'bigint' })
  credits: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  greeting(): string {
    return `hello ${this.displayName}`;
  }
}

/** Not an entity of the DataSource. */
class Stranger {}

class CreateMembers1700000000000 implements MigrationInterface {
  async up(q: QueryRunner): Promise<void> {
    await q.query('CREATE SCHEMA app');
    await q.query(`CREATE TABLE app.members (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(), email text NOT NULL, password_hash text NOT NULL,
      display_name text NOT NULL, credits bigint NOT NULL DEFAULT 0, created_at timestamptz NOT NULL DEFAULT now())`);
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP SCHEMA app CASCADE');
  }
}

// With the foreign key (user_id uuid, like the members' key) and without (user_id varchar(255),
// the default migration): the join casts user_id to the key's type for the second.
class SessionsWithForeignKey1763856000000 extends createSessionsMigration({ usersTable: 'app.members' }) {}
class SessionsWithoutForeignKey1763856000000 extends createSessionsMigration() {}

@Controller()
class MeController {
  @Get('me')
  me(@CurrentUser() member: Member) {
    return { id: member.id, greeting: member.greeting(), hasPassword: 'passwordHash' in member };
  }
}

interface Fixture {
  app: INestApplication;
  sessions: SessionService<Member>;
  dataSource: DataSource;
  recorder: QueryRecorder;
  addMember(): Promise<string>;
}

async function start(url: string, migration: new () => MigrationInterface, options: Partial<SessionModuleOptions<Member>> = {}): Promise<Fixture> {
  const recorder = new QueryRecorder();
  const moduleRef = await Test.createTestingModule({
    imports: [
      TypeOrmModule.forRoot({ type: 'postgres', url, entities: [Member], autoLoadEntities: true, migrations: [CreateMembers1700000000000, migration], migrationsRun: true, logger: recorder }),
      SessionModule.forRoot<Member>({ userEntity: Member, cache: false, broadcast: false, cleanup: false, ...options }),
    ],
    controllers: [MeController],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  app.useGlobalGuards(app.get(SessionGuard));
  await app.init();
  const dataSource = app.get<DataSource>(getDataSourceToken());
  return {
    app,
    sessions: app.get<SessionService<Member>>(SessionService),
    dataSource,
    recorder,
    addMember: async () => {
      const [row] = await dataSource.query(`INSERT INTO app.members (email, password_hash, display_name, credits) VALUES ($1, 'secret', 'ada', 9007199254740993) RETURNING id`, [
        `m-${randomBytes(4).toString('hex')}@example.test`,
      ]);
      return row.id as string;
    },
  };
}

describe.each([
  ['with a foreign key', SessionsWithForeignKey1763856000000],
  ['without a foreign key (user_id varchar)', SessionsWithoutForeignKey1763856000000],
])('userEntity on PostgreSQL, sessions table %s', (_label, migration) => {
  let db: TestDatabase;
  let t: Fixture;

  beforeAll(async () => {
    db = await createTestDatabase('nss_users');
    t = await start(db.url, migration);
  });
  afterAll(async () => {
    await t?.app.close();
    await db?.drop();
  });

  it('reads the session and its user in one statement, hydrated as the entity', async () => {
    const memberId = await t.addMember();
    const { token } = await t.sessions.createSession({ userId: memberId });
    t.recorder.clear();

    const member = await t.sessions.validateSession(token);

    expect(t.recorder.count()).toBe(1);
    expect(t.recorder.queries[0].sql).toMatch(/LEFT JOIN "app"\."members"/);
    expect(member).toBeInstanceOf(Member);
    expect(member).toMatchObject({ id: memberId, displayName: 'ADA', credits: '9007199254740993' });
    expect(member!.createdAt).toBeInstanceOf(Date);
    // select: false stays out, as with findOneBy.
    expect(member).not.toHaveProperty('passwordHash');
  });

  it('refuses a session whose user is gone', async () => {
    const memberId = await t.addMember();
    const { token } = await t.sessions.createSession({ userId: memberId });
    expect(await t.sessions.validateSession(token)).not.toBeNull();

    await t.dataSource.query('DELETE FROM app.members WHERE id = $1', [memberId]);

    expect(await t.sessions.validateSession(token)).toBeNull();
  });

  it('gives the guard the entity over HTTP', async () => {
    const memberId = await t.addMember();
    const { token } = await t.sessions.createSession({ userId: memberId });
    const url = await listen(t.app);
    const ok = await request(url).get('/me').set('authorization', `Bearer ${token}`);
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ id: memberId, greeting: 'hello ADA', hasPassword: false });
    const refused = await request(url).get('/me').set('authorization', `Bearer ${'A'.repeat(43)}`);
    expect(refused.status).toBe(401);
  });
});

describe('userEntity with Redis storage', () => {
  let db: TestDatabase;
  let t: Fixture;

  beforeAll(async () => {
    db = await createTestDatabase('nss_users_redis');
    t = await start(db.url, SessionsWithForeignKey1763856000000, {
      storage: { type: 'redis', url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', keyPrefix: `nss-users-${randomBytes(4).toString('hex')}:` },
    });
  });
  afterAll(async () => {
    await t?.app.close();
    await db?.drop();
  });

  it('reads the user by primary key after the session', async () => {
    const memberId = await t.addMember();
    const { token } = await t.sessions.createSession({ userId: memberId });
    t.recorder.clear();

    const member = await t.sessions.validateSession(token);

    expect(member).toBeInstanceOf(Member);
    expect(member).toMatchObject({ id: memberId, displayName: 'ADA' });
    expect(t.recorder.queries.map((q) => q.sql)).toEqual([expect.stringMatching(/FROM "app"\."members" u WHERE u\."id" = \$1::uuid$/)]);

    await t.dataSource.query('DELETE FROM app.members WHERE id = $1', [memberId]);
    expect(await t.sessions.validateSession(token)).toBeNull();
  });
});

describe('userEntity options', () => {
  // A database each: a start that fails on our options leaves TypeORM's own start running.
  const dbs: TestDatabase[] = [];
  const freshUrl = async () => {
    const db = await createTestDatabase('nss_users_opts');
    dbs.push(db);
    return db.url;
  };
  afterAll(async () => {
    await Promise.all(dbs.map((db) => db.drop()));
  });

  it('refuses to start with both resolveUser and userEntity', async () => {
    const starting = start(await freshUrl(), SessionsWithForeignKey1763856000000, { resolveUser: (id) => Object.assign(new Member(), { id }) });
    await expect(starting).rejects.toThrow(SessionOptionsError);
    await expect(starting).rejects.toThrow(/option "resolveUser": got both resolveUser and userEntity/);
  });

  it('refuses to start with a class that is not an entity of the DataSource, naming userEntity', async () => {
    const starting = start(await freshUrl(), SessionsWithForeignKey1763856000000, { userEntity: Stranger as never });
    await expect(starting).rejects.toThrow(/option "userEntity": got Stranger, which is not an entity of the DataSource/);
  });
});
