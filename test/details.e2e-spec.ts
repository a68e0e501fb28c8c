import { Body, Controller, Get, HttpCode, Module, Patch, Post, Req, UseGuards } from '@nestjs/common';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { EventEmitter2, EventEmitterModule } from '@nestjs/event-emitter';
import { randomBytes, randomUUID } from 'node:crypto';
import request from 'supertest';
import { DataSource } from 'typeorm';
import {
  createSessionDetailsMigration,
  CurrentSession,
  CurrentUser,
  RequireSession,
  SessionGuard,
  SessionModule,
  type SessionModuleOptions,
  SessionService,
  SessionStore,
  SessionTransport,
  type ValidatedSession,
} from '../src/index.js';
import { countCalls, CreateSessionsTable1763856000000, CreateTestUsers1700000000000, type TestUser } from './support/app.js';
import { TestClock } from './support/clock.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { listen } from './support/http.js';

// Metadata, last seen, freshness and data as an app meets them: two instances over HTTP sharing
// one store (PostgreSQL with LISTEN/NOTIFY, or Redis with pub/sub), the cache on.
class CreateSessionDetails1763857000000 extends createSessionDetailsMigration() {}

const CHROME_MAC = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const STEP = 60_000;
const FRESH = 10 * 60_000;

type Request = { headers: Record<string, string | undefined> };

@Controller()
class DetailsController {
  constructor(
    private readonly sessions: SessionService<TestUser>,
    private readonly transport: SessionTransport,
  ) {}

  @Post('login')
  async login(@Req() req: Request, @Body() body: { userId: string }) {
    const { token } = await this.sessions.createSession({ userId: body.userId, ...this.transport.client(req as never) });
    return { token };
  }

  @UseGuards(SessionGuard)
  @Get('me')
  me(@CurrentUser() user: TestUser) {
    return user;
  }

  @UseGuards(SessionGuard)
  @Get('sessions')
  list(@CurrentUser() user: TestUser) {
    return this.sessions.listUserSessions(user.id);
  }

  @UseGuards(SessionGuard)
  @Post('reauthenticate')
  @HttpCode(204)
  async reauthenticate(@Req() req: Request) {
    await this.sessions.markReauthenticated(this.transport.readToken(req as never)?.token);
  }

  @UseGuards(SessionGuard)
  @RequireSession({ freshWithin: '10m' })
  @Get('sensitive')
  sensitive(@CurrentSession() session: ValidatedSession) {
    return { reauthenticatedAt: session.reauthenticatedAt };
  }

  @UseGuards(SessionGuard)
  @Get('data')
  data(@CurrentSession() session: ValidatedSession) {
    return session.data;
  }

  @UseGuards(SessionGuard)
  @Patch('data')
  patch(@Req() req: Request, @Body() body: Record<string, unknown>) {
    return this.sessions.updateSessionData(this.transport.readToken(req as never)?.token, body);
  }

  @UseGuards(SessionGuard)
  @Post('logout')
  @HttpCode(204)
  async logout(@Req() req: Request) {
    await this.sessions.revokeSession(this.transport.readToken(req as never)?.token);
  }
}

const users = new Map<string, TestUser>();
const clock = new TestClock(Date.now());

function detailsOptions(): Omit<SessionModuleOptions<TestUser>, 'resolveUser'> {
  return {
    metadata: { userAgent: true, device: true, ip: 'truncated', lastSeen: '1m' },
    reauthentication: true,
    data: { maxBytes: 1024 },
    maxAge: '1d',
    updateAge: '12h',
    clock: clock.now,
    cleanup: false,
    storeTimeout: '5s',
  };
}

async function start(kind: 'database' | 'redis', db: TestDatabase, prefix: string): Promise<{ app: INestApplication; url: string; calls: Record<string, number> }> {
  const storage = kind === 'redis' ? { storage: { type: 'redis' as const, url: 'redis://127.0.0.1:6379', keyPrefix: prefix } } : {};
  @Module({
    imports: [
      TypeOrmModule.forRoot({
        type: 'postgres',
        url: db.url,
        autoLoadEntities: true,
        migrations: [CreateTestUsers1700000000000, CreateSessionsTable1763856000000, CreateSessionDetails1763857000000],
        migrationsRun: true,
      }),
      EventEmitterModule.forRoot(),
      SessionModule.forRoot<TestUser>({ ...detailsOptions(), ...storage, resolveUser: (id) => users.get(id) ?? null }),
    ],
    controllers: [DetailsController],
  })
  class DetailsApp {}
  const moduleRef = await Test.createTestingModule({ imports: [DetailsApp] }).compile();
  const app = moduleRef.createNestApplication({ logger: ['error'] });
  const url = await listen(app);
  return { app, url, calls: countCalls(app.get(SessionStore)) };
}

async function eventually(check: () => Promise<boolean>, what: string, ms = 2_000): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    if (Date.now() - started > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe.each(['database', 'redis'] as const)('session details on %s storage', (kind) => {
  let db: TestDatabase;
  let a: Awaited<ReturnType<typeof start>>;
  let b: Awaited<ReturnType<typeof start>>;
  const prefix = `nss-details-${randomBytes(4).toString('hex')}:`;

  beforeAll(async () => {
    db = await createTestDatabase(`nss_details_${kind}`);
    a = await start(kind, db, prefix);
    b = await start(kind, db, prefix);
  });
  afterAll(async () => {
    await a?.app.close();
    await b?.app.close();
    await db?.drop();
  });

  async function login(): Promise<{ userId: string; token: string; auth: [string, string] }> {
    const userId = randomUUID();
    await a.app.get(DataSource).query('INSERT INTO users (id, email) VALUES ($1, $2)', [userId, `${userId}@example.test`]);
    users.set(userId, { id: userId, email: `${userId}@example.test` });
    const res = await request(a.url).post('/login').set('User-Agent', CHROME_MAC).send({ userId }).expect(201);
    return { userId, token: res.body.token, auth: ['Authorization', `Bearer ${res.body.token}`] };
  }

  it('records the client at login, announces it in session.created, and lists it with the session', async () => {
    const at = clock.now();
    const created: unknown[] = [];
    const listener = (event: unknown) => created.push(event);
    a.app.get(EventEmitter2).on('session.created', listener);
    const { auth, userId } = await login();
    a.app.get(EventEmitter2).off('session.created', listener);
    expect(created).toEqual([{ session: expect.objectContaining({ userId, metadata: { userAgent: CHROME_MAC, device: 'Chrome on macOS', ip: '127.0.0.0', lastSeenAt: new Date(at) } }) }]);
    const listed = await request(b.url).get('/sessions').set(...auth).expect(200);
    expect(listed.body).toEqual([
      expect.objectContaining({ metadata: { userAgent: CHROME_MAC, device: 'Chrome on macOS', ip: '127.0.0.0', lastSeenAt: new Date(at).toISOString() } }),
    ]);
  });

  it('moves lastSeenAt at its step and not before, with one write for 300 concurrent requests', async () => {
    const start = clock.now();
    const { auth } = await login();
    await request(a.url).get('/me').set(...auth).expect(200);
    a.calls.touch = 0;
    clock.advance(STEP / 2);
    await Promise.all(Array.from({ length: 50 }, () => request(a.url).get('/me').set(...auth).expect(200)));
    expect(a.calls.touch).toBe(0);

    clock.advance(STEP / 2);
    await Promise.all(Array.from({ length: 300 }, () => request(a.url).get('/me').set(...auth).expect(200)));
    expect(a.calls.touch).toBe(1);
    const seen = new Date(start + STEP).toISOString();
    await eventually(async () => (await request(a.url).get('/sessions').set(...auth)).body[0]?.metadata?.lastSeenAt === seen, 'the new lastSeenAt');
  });

  it('holds a freshWithin route to the last proof of identity, on every instance', async () => {
    const { auth } = await login();
    await request(b.url).get('/sensitive').set(...auth).expect(200);
    clock.advance(FRESH);
    await request(b.url).get('/sensitive').set(...auth).expect(200);
    clock.advance(1);
    const refused = await request(b.url).get('/sensitive').set(...auth).expect(403);
    expect(refused.body).toEqual({ statusCode: 403, message: 'Reauthentication required', error: 'reauthentication_required' });
    // Listing one's sessions is not gated by it.
    await request(b.url).get('/sessions').set(...auth).expect(200);

    await request(a.url).post('/reauthenticate').set(...auth).expect(204);
    const waited = await eventually(async () => (await request(b.url).get('/sensitive').set(...auth)).status === 200, 'fresh on B');
    expect(waited).toBeLessThan(1_000);
  });

  it('merges data atomically: 50 concurrent keys all land, seen at once on the other instance', async () => {
    const { auth } = await login();
    expect((await request(b.url).get('/data').set(...auth).expect(200)).body).toEqual({});
    await Promise.all(Array.from({ length: 50 }, (_, i) => request(a.url).patch('/data').set(...auth).send({ [`k${i}`]: i }).expect(200)));
    const expected = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, i]));
    await eventually(async () => JSON.stringify((await request(b.url).get('/data').set(...auth)).body) !== '{}', 'data on B');
    expect((await request(b.url).get('/data').set(...auth).expect(200)).body).toEqual(expected);

    const removed = await request(b.url).patch('/data').set(...auth).send({ k0: null, org: 'acme' }).expect(200);
    expect(removed.body.k0).toBeUndefined();
    expect(removed.body.org).toBe('acme');
  });

  it('refuses data past its bound with a 413 and keeps what was there', async () => {
    const { auth } = await login();
    await request(a.url).patch('/data').set(...auth).send({ note: 'x'.repeat(500) }).expect(200);
    await request(a.url).patch('/data').set(...auth).send({ more: 'y'.repeat(600) }).expect(413);
    await request(a.url).patch('/data').set(...auth).send({ huge: 'z'.repeat(2_000) }).expect(413);
    const kept = await request(a.url).get('/data').set(...auth).expect(200);
    expect(kept.body).toEqual({ note: 'x'.repeat(500) });
  });

  it('refuses a patch that is not a plain object of JSON, or holds a NUL, without touching the store', async () => {
    const { token } = await login();
    const sessions = a.app.get<SessionService<TestUser>>(SessionService);
    a.calls.mergeData = 0;
    await expect(sessions.updateSessionData(token, [1, 2] as never)).rejects.toThrow(TypeError);
    await expect(sessions.updateSessionData(token, { note: 'a\0b' })).rejects.toThrow(/NUL/);
    await expect(sessions.updateSessionData(token, { ['__proto__']: 1 } as never)).rejects.toThrow(TypeError);
    expect(a.calls.mergeData).toBe(0);
    await expect(sessions.updateSessionData(token, { note: 'a\\0b' })).resolves.toEqual({ note: 'a\\0b' });
  });

  it("keeps two sessions of one user apart, and a session's data goes with it", async () => {
    const first = await login();
    const res = await request(a.url).post('/login').set('User-Agent', CHROME_MAC).send({ userId: first.userId }).expect(201);
    const second: [string, string] = ['Authorization', `Bearer ${res.body.token}`];
    await request(a.url).patch('/data').set(...first.auth).send({ org: 'one' }).expect(200);
    await request(a.url).patch('/data').set(...second).send({ org: 'two' }).expect(200);
    expect((await request(b.url).get('/data').set(...first.auth)).body).toEqual({ org: 'one' });
    expect((await request(b.url).get('/data').set(...second)).body).toEqual({ org: 'two' });

    await request(a.url).post('/logout').set(...first.auth).expect(204);
    await request(a.url).get('/data').set(...first.auth).expect(401);
    const again = await request(a.url).post('/login').set('User-Agent', CHROME_MAC).send({ userId: first.userId }).expect(201);
    expect((await request(a.url).get('/data').set('Authorization', `Bearer ${again.body.token}`)).body).toEqual({});
  });

  if (kind === 'database') {
    it('purges the details with the expired session', async () => {
      const { auth, userId } = await login();
      await request(a.url).patch('/data').set(...auth).send({ org: 'gone' }).expect(200);
      const dataSource = a.app.get(DataSource);
      const rows = async () => (await dataSource.query('SELECT count(*)::int AS n FROM session_details d JOIN sessions s ON s.id = d.session_id WHERE s.user_id = $1', [userId]))[0].n;
      const all = async () => (await dataSource.query('SELECT count(*)::int AS n FROM session_details'))[0].n as number;
      expect(await rows()).toBe(1);
      const before = await all();
      clock.advance(2 * 24 * 60 * 60_000);
      expect(await a.app.get<SessionService<TestUser>>(SessionService).purgeExpiredSessions()).toBeGreaterThan(0);
      expect(await all()).toBeLessThan(before);
      expect(await rows()).toBe(0);
    });
  }
});
