import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { getDataSourceToken, TypeOrmModule } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { CreateSessionDetails1765000000000, SessionModule, type SessionModuleOptions, SessionService } from '../../src/index.js';
import { CreateSessionsTable1763856000000, CreateTestUsers1700000000000, type TestUser } from './app.js';
import { TestClock } from './clock.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { CHROME_ON_MAC } from './details-fixtures.js';

const MEMCACHED = process.env.TEST_MEMCACHED ?? '127.0.0.1:11211';
const CLIENT = { userAgent: CHROME_ON_MAC, ip: '198.51.100.9' };
const MINUTE = 60_000;

/** An instance of the app: SessionModule on Memcached in front of `url`, the details table migrated. */
async function instance(url: string, options: Omit<SessionModuleOptions, 'resolveUser' | 'userEntity'>): Promise<{ app: INestApplicationContext; sessions: SessionService<TestUser> }> {
  let dataSource!: DataSource;
  const moduleRef = await Test.createTestingModule({
    imports: [
      TypeOrmModule.forRoot({ type: 'postgres', url, autoLoadEntities: true, migrations: [CreateTestUsers1700000000000, CreateSessionsTable1763856000000, CreateSessionDetails1765000000000], migrationsRun: true }),
      SessionModule.forRoot<TestUser>({
        ...options,
        resolveUser: async (id) => {
          const [user]: (TestUser | undefined)[] = await dataSource.query('SELECT id, email FROM users WHERE id = $1', [id]);
          return user ?? null;
        },
      }),
    ],
  }).compile();
  const app = await moduleRef.init();
  dataSource = app.get<DataSource>(getDataSourceToken());
  return { app, sessions: app.get<SessionService<TestUser>>(SessionService) };
}

/**
 * Two instances over one PostgreSQL and one Memcached, each without its own cache or a bus, so
 * what one reads after the other's change comes from the shared tier alone.
 */
export function describeMemcachedDetailsThroughService(): void {
  describe('SessionService over Memcached with details, two instances', () => {
    const clock = new TestClock(Date.now());
    let db: TestDatabase;
    let a: Awaited<ReturnType<typeof instance>>;
    let b: Awaited<ReturnType<typeof instance>>;
    let userSeq = 0;

    beforeAll(async () => {
      db = await createTestDatabase('nss_mcd_svc');
      const options: Omit<SessionModuleOptions, 'resolveUser' | 'userEntity'> = {
        storage: { type: 'memcached', servers: MEMCACHED, keyPrefix: `nss-details-svc-${randomBytes(4).toString('hex')}:`, secret: 'the-memcached-secret-of-the-details-tests-012345' },
        cache: false,
        broadcast: false,
        cleanup: false,
        clock: clock.now,
        metadata: { userAgent: true, device: true, ip: 'full', lastSeen: true },
        reauthentication: true,
        data: true,
      };
      a = await instance(db.url, options);
      b = await instance(db.url, options);
    });

    afterAll(async () => {
      await a?.app.close();
      await b?.app.close();
      await db?.drop();
    });

    async function login() {
      const dataSource = a.app.get<DataSource>(getDataSourceToken());
      const [{ id }] = await dataSource.query('INSERT INTO users (email) VALUES ($1) RETURNING id', [`mcd${++userSeq}-${Date.now()}@example.test`]);
      return a.sessions.createSession({ userId: id as string, ...CLIENT });
    }
    const sessionOn = async (instance: typeof a, token: string) => (await instance.sessions.authenticate(token, CLIENT))?.session;

    it('one instance sees the metadata recorded by the other', async () => {
      const issued = await login();
      const session = await sessionOn(b, issued.token);
      expect(session?.metadata).toEqual({ userAgent: CHROME_ON_MAC, device: 'Chrome on macOS', ip: '198.51.100.9', lastSeenAt: new Date(clock.now()) });
      expect(session?.data).toEqual({});
    });

    it('data and reauthentication changed on one instance are what the other reads next', async () => {
      const issued = await login();
      expect((await sessionOn(b, issued.token))?.data).toEqual({});
      expect(await a.sessions.updateSessionData(issued.token, { cart: [1, []], theme: 'dark' } as never, CLIENT)).toStrictEqual({ cart: [1, []], theme: 'dark' });
      expect((await sessionOn(b, issued.token))?.data).toStrictEqual({ cart: [1, []], theme: 'dark' });
      expect(await b.sessions.updateSessionData(issued.token, { theme: null } as never, CLIENT)).toStrictEqual({ cart: [1, []] });
      expect((await sessionOn(a, issued.token))?.data).toStrictEqual({ cart: [1, []] });

      clock.advance(6 * MINUTE);
      expect(b.sessions.isFresh((await sessionOn(b, issued.token))!, 5 * MINUTE)).toBe(false);
      expect(await a.sessions.markReauthenticated(issued.token, CLIENT)).toBe(true);
      const session = await sessionOn(b, issued.token);
      expect(session?.reauthenticatedAt).toEqual(new Date(clock.now()));
      expect(b.sessions.isFresh(session!, 5 * MINUTE)).toBe(true);
    });

    it('a rotation on one instance carries the details to the token the other reads', async () => {
      const issued = await login();
      await a.sessions.updateSessionData(issued.token, { step: 3 } as never, CLIENT);
      const rotated = await a.sessions.rotateSession(issued.token, CLIENT);
      expect(await b.sessions.authenticate(issued.token, CLIENT)).toBeNull();
      const session = await sessionOn(b, rotated!.token);
      expect(session?.data).toEqual({ step: 3 });
      expect(session?.metadata?.userAgent).toBe(CHROME_ON_MAC);
    });
  });
}
