import { Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { EventEmitter2, EventEmitterModule } from '@nestjs/event-emitter';
import {
  CreateSessionsTable1763856000000,
  SessionCookies,
  SessionEvents,
  SessionModule,
  SessionOptionsError,
  SessionService,
  SessionStoreUnavailableException,
  SessionTransport,
} from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

// A module that fails to compile never closes what it opened; keep every DataSource to close it here.
const opened: Promise<DataSource>[] = [];
afterEach(async () => {
  const settled = await Promise.allSettled(opened.splice(0));
  await Promise.all(settled.map((r) => (r.status === 'fulfilled' && r.value.isInitialized ? r.value.destroy() : undefined)));
});

const orm = () =>
  TypeOrmModule.forRootAsync({
    useFactory: () => ({
      type: 'postgres',
      url: db.url,
      autoLoadEntities: true,
      migrations: [CreateSessionsTable1763856000000],
      migrationsRun: true,
      retryAttempts: 1,
    }),
    dataSourceFactory: (options) => {
      const initializing = new DataSource(options!).initialize();
      opened.push(initializing);
      return initializing;
    },
  });

@Injectable()
class SessionSettings {
  readonly maxAge = '2h';
}

@Module({ providers: [SessionSettings], exports: [SessionSettings] })
class SettingsModule {}

describe('SessionModule', () => {
  it('forRootAsync builds its options from injected providers', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        orm(),
        SessionModule.forRootAsync({
          imports: [SettingsModule],
          inject: [SessionSettings],
          useFactory: (settings: SessionSettings) => ({ maxAge: settings.maxAge, cleanup: false, resolveUser: (id: string) => ({ id }) }),
        }),
      ],
    }).compile();
    const app = await moduleRef.init();
    try {
      const sessions = app.get(SessionService);
      const { token, session } = await sessions.createSession({ userId: 'u-async' });
      expect(session.expires.getTime() - session.createdAt.getTime()).toBe(2 * 3_600_000);
      await expect(sessions.validateSession(token)).resolves.toEqual({ id: 'u-async' });
    } finally {
      await app.close();
    }
  });

  it('is not global by default, and is with isGlobal: true', async () => {
    @Injectable()
    class Consumer {
      constructor(readonly sessions: SessionService) {}
    }
    @Module({ providers: [Consumer] })
    class FeatureModule {}

    const local = Test.createTestingModule({ imports: [orm(), SessionModule.forRoot({ cleanup: false, resolveUser: (id) => ({ id }) }), FeatureModule] }).compile();
    await expect(local).rejects.toThrow(/can't resolve dependencies of the Consumer/i);

    const moduleRef = await Test.createTestingModule({
      imports: [orm(), SessionModule.forRoot({ isGlobal: true, cleanup: false, resolveUser: (id) => ({ id }) }), FeatureModule],
    }).compile();
    try {
      expect(moduleRef.get(Consumer).sessions).toBeInstanceOf(SessionService);
    } finally {
      await moduleRef.close();
    }
  });

  it.each([
    ['forRoot', () => SessionModule.forRoot({ resolveUser: (id) => ({ id }), maxAge: '1h', updateAge: '2h' })],
    ['forRootAsync', () => SessionModule.forRootAsync({ useFactory: () => ({ resolveUser: (id: string) => ({ id }), maxAge: '1h', updateAge: '2h' }) })],
  ])('%s stops the app at startup on a bad option, naming it', async (_name, module) => {
    const compiling = Test.createTestingModule({ imports: [orm(), module()] }).compile();
    await expect(compiling).rejects.toThrow(SessionOptionsError);
    await expect(compiling).rejects.toThrow('SessionModule option "updateAge": got "2h" (2h); expected a duration below maxAge (1h)');
  });

  it('turns a failing resolveUser into a 503, and a bad argument into a TypeError, not a 503', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        orm(),
        SessionModule.forRoot({
          cleanup: false,
          resolveUser: () => {
            throw new Error('users database down');
          },
        }),
      ],
    }).compile();
    const app = await moduleRef.init();
    try {
      const sessions = app.get(SessionService);
      const { token } = await sessions.createSession({ userId: 'u-failing' });
      await expect(sessions.validateSession(token)).rejects.toBeInstanceOf(SessionStoreUnavailableException);
      await expect(sessions.revokeAllUserSessions('' as string)).rejects.toThrow(TypeError);
      await expect(sessions.revokeOtherUserSessions('u-failing', 'current')).rejects.toThrow(/currentSessionId must be a session's id/);
    } finally {
      await app.close();
    }
  });

  it('keeps the names of 0.1 working as deprecated aliases of the new ones', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [orm(), EventEmitterModule.forRoot(), SessionModule.forRoot({ cleanup: false, resolveUser: (id) => ({ id }) })],
    }).compile();
    const app = await moduleRef.init();
    try {
      expect(SessionEvents.Destroyed).toBe(SessionEvents.Revoked);
      expect(app.get(SessionCookies)).toBe(app.get(SessionTransport));
      const revoked: unknown[] = [];
      app.get(EventEmitter2).on(SessionEvents.Destroyed, (event: unknown) => revoked.push(event));
      const sessions = app.get(SessionService);
      const one = await sessions.createSession({ userId: 'u-aliases' });
      await expect(sessions.destroySession(one.token)).resolves.toBe(true);
      await expect(sessions.validateSession(one.token)).resolves.toBeNull();
      expect(revoked).toEqual([{ session: one.session, reason: 'logout' }]);
      const [kept, other] = [await sessions.createSession({ userId: 'u-aliases' }), await sessions.createSession({ userId: 'u-aliases' })];
      await expect(sessions.invalidateOtherUserSessions('u-aliases', kept.session.id)).resolves.toBe(1);
      await expect(sessions.validateSession(other.token)).resolves.toBeNull();
      await expect(sessions.invalidateAllUserSessions('u-aliases')).resolves.toBe(1);
      await expect(sessions.validateSession(kept.token)).resolves.toBeNull();
    } finally {
      await app.close();
    }
  });
});
