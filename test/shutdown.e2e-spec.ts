import { Controller, Get, type INestApplication, Module, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { ScheduleModule, SchedulerRegistry } from '@nestjs/schedule';
import { TypeOrmModule } from '@nestjs/typeorm';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import request from 'supertest';
import {
  CreateSessionsTable1763856000000,
  CurrentUser,
  SESSION_CLEANUP_JOB,
  SessionGuard,
  SessionModule,
  type SessionModuleOptions,
  SessionService,
} from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { listen } from './support/http.js';

// A request held open until the test lets it go, to close the app under it.
let release: () => void = () => undefined;
let entered: () => void = () => undefined;

@Controller()
class SlowController {
  constructor(private readonly sessions: SessionService) {}

  @UseGuards(SessionGuard)
  @Get('slow')
  async slow(@CurrentUser() user: { id: string }) {
    entered();
    await new Promise<void>((resolve) => (release = resolve));
    // Still needs the database after app.close() has begun.
    return { sessions: (await this.sessions.listUserSessions(user.id)).length };
  }
}

// `orm: false` is an app with no TypeORM at all, as a Redis-only one is.
function fixture(url: string, session: Partial<SessionModuleOptions>, orm: boolean) {
  @Module({
    imports: [
      ScheduleModule.forRoot(),
      ...(orm ? [TypeOrmModule.forRoot({ type: 'postgres', url, autoLoadEntities: true, migrations: [CreateSessionsTable1763856000000], migrationsRun: true })] : []),
      SessionModule.forRoot({ ...session, resolveUser: (id) => ({ id }) }),
    ],
    controllers: [SlowController],
  })
  class ShutdownModule {}
  return ShutdownModule;
}

const handles = () => {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
};

describe.each([
  ['database', { type: 'database' as const }, true],
  ['redis', { type: 'redis' as const, url: 'redis://127.0.0.1:6379', keyPrefix: `shut${randomBytes(3).toString('hex')}:` }, false],
])('app.close() with %s storage', (_name, storage, orm) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('nss_shutdown');
  });
  afterAll(() => db?.drop());

  it('finishes the request in flight, stops the cron, closes every connection, and returns promptly', async () => {
    const before = handles();
    // Other processes on this Redis (a benchmark, another app) may hold clients of that name too.
    const ours = async () => {
      const redis = new Redis('redis://127.0.0.1:6379');
      try {
        return (String(await redis.client('LIST')).match(/name=nestjs-sessions/g) ?? []).length;
      } finally {
        redis.disconnect();
      }
    };
    const namedBefore = await ours();
    const app: INestApplication = await NestFactory.create(fixture(db.url, { storage }, orm), new ExpressAdapter(), { logger: false });
    const base = await listen(app);
    const registry = app.get(SchedulerRegistry);
    const job = registry.getCronJob(SESSION_CLEANUP_JOB);
    const { token } = await app.get(SessionService).createSession({ userId: 'u-shutdown' });

    const inside = new Promise<void>((resolve) => (entered = resolve));
    const inFlight = request(base).get('/slow').set('Authorization', `Bearer ${token}`);
    const response = inFlight.then((res) => res);
    await inside;

    const started = performance.now();
    const closing = app.close();
    await new Promise((r) => setTimeout(r, 50));
    release();
    const res = await response;
    await closing;
    const tookMs = performance.now() - started;

    expect(res.status).toBe(200);
    expect(res.body).toEqual({ sessions: 1 });
    expect(tookMs).toBeLessThan(2_000);
    expect(job.isActive).toBe(false);
    expect(registry.doesExist('cron', SESSION_CLEANUP_JOB)).toBe(false);

    // No connection of ours is left on the servers.
    const admin = new pg.Client({ connectionString: db.url.replace(`/${db.name}`, '/postgres') });
    await admin.connect();
    try {
      const { rows } = await admin.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [db.name]);
      expect(rows[0].n).toBe(0);
    } finally {
      await admin.end();
    }
    expect(await ours()).toBeLessThanOrEqual(namedBefore);

    // Nor a socket, server or timer in this process, once the sockets closed above have gone.
    const leftover = () => ['TCPSocketWrap', 'TCPServerWrap', 'Timeout'].filter((kind) => (handles()[kind] ?? 0) > (before[kind] ?? 0));
    const until = Date.now() + 2_000;
    while (leftover().length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(leftover()).toEqual([]);
  }, 30_000);
});
