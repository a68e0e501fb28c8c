import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { getDataSourceToken, TypeOrmModule } from '@nestjs/typeorm';
import { Column, DataSource, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { hashToken, SessionEntity, SessionModule, type SessionModuleOptions, SessionOptionsError, SessionService, SessionStore } from '../src/index.js';
import { CreateSessionsTable1763856000000, CreateTestUsers1700000000000 } from './support/app.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { InMemoryInvalidationHub } from './support/in-memory-invalidation.bus.js';
import { InMemorySessionStore } from './support/in-memory-session.store.js';

// The users table of CreateTestUsers1700000000000, as an entity for `userEntity`.
@Entity('users')
class Account {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'text' })
  email: string;

  @Column({ type: 'boolean' })
  disabled: boolean;
}

const resolveUser = (id: string) => ({ id });

/** Compiles a module with SessionModule and nothing else (no TypeORM); its compile error, if any. */
async function startAlone(session: ReturnType<typeof SessionModule.forRoot>) {
  return Test.createTestingModule({ imports: [session] }).compile();
}

describe('a store and a bus of the app own', () => {
  it('uses the store as given, with no TypeORM in the app, and never closes it', async () => {
    const store = new InMemorySessionStore();
    const app = await (await startAlone(SessionModule.forRoot({ resolveUser, storage: store, broadcast: false, cleanup: false }))).init();
    expect(app.get(SessionStore)).toBe(store);
    expect(() => app.get(DataSource, { strict: false })).toThrow();
    const sessions = app.get(SessionService);
    const { token } = await sessions.createSession({ userId: 'u-custom' });
    await expect(sessions.validateSession(token)).resolves.toEqual({ id: 'u-custom' });
    expect(await store.findByTokenHash(hashToken(token))).toMatchObject({ userId: 'u-custom' });
    await app.close();
    expect(store.closed).toBe(0);
  });

  it('hands a bus given as broadcast every revocation, starts it once and closes it at shutdown', async () => {
    const hub = new InMemoryInvalidationHub();
    const bus = hub.bus();
    const app = await (await startAlone(SessionModule.forRoot({ resolveUser, storage: new InMemorySessionStore(), broadcast: bus, cleanup: false }))).init();
    expect(bus.started).toBe(1);
    const sessions = app.get(SessionService);
    const { token } = await sessions.createSession({ userId: 'u-bus' });
    await sessions.validateSession(token);
    await sessions.revokeSession(token);
    // Twice: before the store is asked (a slow or failed DELETE must not leave it cached
    // anywhere), and once it answered (for a cache that refilled from the row meanwhile).
    expect(hub.published).toEqual([[hashToken(token)], [hashToken(token)]]);
    await app.close();
    expect(bus.closed).toBe(1);
  });

  it('starts a store of its own without a DataSource with broadcast on, saying revocations go nowhere', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const app = await (await startAlone(SessionModule.forRoot({ resolveUser, storage: new InMemorySessionStore(), cleanup: false }))).init();
      expect(warn).toHaveBeenCalledWith(expect.stringMatching(/revocations are not broadcast.*give broadcast a bus.*broadcast: false/));
      await app.close();
    } finally {
      warn.mockRestore();
    }
  });
});

describe('startup without the DataSource an option needs', () => {
  it.each([
    ['database', { storage: { type: 'database' } }, 'storage.type', /storage\.type 'database' keeps sessions in PostgreSQL/],
    ['memcached', { storage: { type: 'memcached', servers: '127.0.0.1:11211', secret: 'a-memcached-secret-of-32-bytes-or-more-0123' } }, 'storage.type', /PostgreSQL/],
    ['the default', {}, 'storage.type', /storage\.type 'database'/],
    ['userEntity', { userEntity: Account, resolveUser: undefined, storage: new InMemorySessionStore(), broadcast: false }, 'userEntity', /userEntity reads your users through TypeORM/],
  ] as [string, Partial<SessionModuleOptions>, string, RegExp][])('%s storage fails naming the option and how to fix it', async (_label, options, option, why) => {
    const compiling = startAlone(SessionModule.forRoot({ resolveUser, cleanup: false, ...options }));
    await expect(compiling).rejects.toThrow(SessionOptionsError);
    await expect(compiling).rejects.toMatchObject({ option });
    await expect(compiling).rejects.toThrow(why);
    await expect(compiling).rejects.toThrow(/has no TypeORM DataSource\. Import TypeOrmModule\.forRoot\(\{ type: 'postgres'.*dataSource: '<its name>'/);
  });

  it('stops before opening anything, so a refused userEntity on Redis leaves no connection behind', async () => {
    const sockets = () => process.getActiveResourcesInfo().filter((kind) => kind === 'TCPSocketWrap').length;
    const before = sockets();
    const compiling = startAlone(SessionModule.forRoot({ userEntity: Account, storage: { type: 'redis', url: 'redis://127.0.0.1:6379' }, cleanup: false }));
    await expect(compiling).rejects.toMatchObject({ option: 'userEntity' });
    await new Promise((r) => setTimeout(r, 200));
    expect(sockets()).toBeLessThanOrEqual(before);
  });

  it('a named DataSource that is not registered fails naming dataSource', async () => {
    const compiling = startAlone(SessionModule.forRoot({ resolveUser, dataSource: 'auth', cleanup: false }));
    await expect(compiling).rejects.toMatchObject({ option: 'dataSource' });
    await expect(compiling).rejects.toThrow(/got "auth", but no TypeORM DataSource of that name is registered.*TypeOrmModule\.forRoot\(\{ name: "auth"/);
  });

  it("forRootAsync's factory cannot pick the DataSource: it says to give it beside useFactory", async () => {
    const compiling = Test.createTestingModule({
      imports: [SessionModule.forRootAsync({ useFactory: () => ({ resolveUser, dataSource: 'auth', storage: new InMemorySessionStore(), broadcast: false }) })],
    }).compile();
    await expect(compiling).rejects.toMatchObject({ option: 'dataSource' });
    await expect(compiling).rejects.toThrow(/give it beside useFactory, SessionModule\.forRootAsync\(\{ dataSource: "auth", useFactory \}\)/);
  });
});

describe('a named DataSource, and no default one', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('nss_named');
  });
  afterAll(() => db?.drop());

  const orm = () =>
    TypeOrmModule.forRoot({
      name: 'auth',
      type: 'postgres',
      url: db.url,
      entities: [Account],
      autoLoadEntities: true,
      migrations: [CreateTestUsers1700000000000, CreateSessionsTable1763856000000],
      migrationsRun: true,
    });

  it('carries the store, the LISTEN/NOTIFY bus, userEntity and the entity registration, in forRoot and forRootAsync', async () => {
    const options = { userEntity: Account, cleanup: false } as const;
    const a = await (await Test.createTestingModule({ imports: [orm(), SessionModule.forRoot({ ...options, dataSource: 'auth' })] }).compile()).init();
    const b = await (
      await Test.createTestingModule({ imports: [orm(), SessionModule.forRootAsync({ dataSource: 'auth', useFactory: () => options })] }).compile()
    ).init();
    try {
      expect(() => a.get(DataSource, { strict: false })).toThrow();
      const auth = a.get<DataSource>(getDataSourceToken('auth'));
      // autoLoadEntities picked SessionEntity up on 'auth', so migration:generate keeps the table.
      expect(auth.hasMetadata(SessionEntity)).toBe(true);

      const [{ id }] = await auth.query(`INSERT INTO users (email) VALUES ('named@example.test') RETURNING id`);
      const { token } = await a.get(SessionService).createSession({ userId: id });
      const [{ n }] = await auth.query('SELECT count(*)::int AS n FROM sessions WHERE user_id = $1', [id]);
      expect(n).toBe(1);
      // The user comes from the 'auth' DataSource, through the entity.
      const onB = b.get(SessionService);
      expect(await onB.validateSession(token)).toEqual(Object.assign(new Account(), { id, email: 'named@example.test', disabled: false }));

      // B's cache holds it; only the broadcast over 'auth' can make B refuse it now.
      await a.get(SessionService).revokeSession(token);
      const until = Date.now() + 2_000;
      while ((await onB.validateSession(token)) !== null && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
      await expect(onB.validateSession(token)).resolves.toBeNull();
    } finally {
      await a.close();
      await b.close();
    }
  });
});
