import { Body, Controller, Get, HttpCode, type INestApplication, Module, Post, Req, Res, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AuthGuard, PassportModule } from '@nestjs/passport';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { TypeOrmModule } from '@nestjs/typeorm';
import request from 'supertest';
import { DataSource } from 'typeorm';
import {
  CreateSessionsTable1763856000000,
  CurrentSession,
  CurrentUser,
  type Session,
  SessionTransport,
  SessionGuard,
  SessionModule,
  SessionService,
} from '../src/index.js';
import { SessionStrategy } from '../src/passport.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { listen, setCookie } from './support/http.js';

@Controller()
class FixtureController {
  constructor(
    private readonly sessions: SessionService,
    private readonly cookies: SessionTransport,
  ) {}

  @Post('login')
  @HttpCode(200)
  async login(@Body() body: { userId: string }, @Res({ passthrough: true }) response: object) {
    this.cookies.write(response, await this.sessions.createSession({ userId: body.userId }));
    return {};
  }

  @UseGuards(SessionGuard)
  @Post('logout')
  @HttpCode(204)
  async logout(@Req() req: Parameters<SessionTransport['readToken']>[0], @Res({ passthrough: true }) response: object) {
    await this.sessions.revokeSession(this.cookies.readToken(req)?.token);
    this.cookies.clear(response);
  }
  @Get('open')
  open() {
    return { open: true };
  }

  @UseGuards(SessionGuard)
  @Get('guarded')
  guarded(@CurrentUser() user: { id: string }, @CurrentSession() session: Session) {
    return { user, sessionId: session.id };
  }

  @UseGuards(AuthGuard('session'))
  @Get('passport')
  passport(@CurrentUser() user: { id: string }, @CurrentSession() session: Session) {
    return { user, sessionId: session.id };
  }
}

function fixture(url: string) {
  @Module({
    imports: [
      TypeOrmModule.forRoot({ type: 'postgres', url, autoLoadEntities: true, migrations: [CreateSessionsTable1763856000000], migrationsRun: true }),
      PassportModule,
      SessionModule.forRoot({
        cleanup: false,
        cookie: { name: '__Host-sid' },
        storeTimeout: '300ms',
        resolveUser: (id) => (id.startsWith('gone-') ? null : { id }),
      }),
    ],
    controllers: [FixtureController],
    providers: [SessionStrategy],
  })
  class FixtureModule {}
  return FixtureModule;
}

describe.each(['express', 'fastify'] as const)('SessionGuard and the passport strategy on %s', (adapter) => {
  let db: TestDatabase;
  let app: INestApplication;
  let base: string;
  let sessions: SessionService;

  beforeAll(async () => {
    db = await createTestDatabase(`nss_guard_${adapter}`);
    app = await NestFactory.create(fixture(db.url), adapter === 'express' ? new ExpressAdapter() : new FastifyAdapter(), { logger: false });
    base = await listen(app);
    sessions = app.get(SessionService);
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('leaves unguarded routes alone', async () => {
    await request(base).get('/open').expect(200, { open: true });
  });

  it.each(['guarded', 'passport'])('/%s lets a session through by cookie or bearer and exposes user and session', async (route) => {
    const { token, session } = await sessions.createSession({ userId: `u-${route}` });
    const expected = { user: { id: `u-${route}` }, sessionId: session.id };
    await request(base).get(`/${route}`).set('Cookie', `__Host-sid=${token}`).expect(200, expected);
    await request(base).get(`/${route}`).set('Authorization', `bearer ${token}`).expect(200, expected);
  });

  it.each(['guarded', 'passport'])('/%s refuses a missing, unknown, destroyed or orphaned session with a generic 401', async (route) => {
    const { token } = await sessions.createSession({ userId: 'u-destroyed' });
    await sessions.revokeSession(token);
    const orphan = await sessions.createSession({ userId: 'gone-1' });
    for (const headers of [{}, { Cookie: `__Host-sid=${'A'.repeat(43)}` }, { Cookie: `__Host-sid=${token}` }, { Authorization: `Bearer ${orphan.token}` }]) {
      const res = await request(base).get(`/${route}`).set(headers).expect(401);
      expect(res.body).toEqual({ statusCode: 401, message: 'Unauthorized' });
    }
  });

  it('refuses a request carrying the session cookie twice, whichever holds the live token', async () => {
    // Nothing tells which one is ours: a parent domain may have planted either (issue 18, finding 7).
    const { token } = await sessions.createSession({ userId: 'u-dup' });
    await request(base).get('/guarded').set('Cookie', `__Host-sid=planted; __Host-sid=${token}`).expect(401);
    await request(base).get('/guarded').set('Cookie', `__Host-sid=${token}`).expect(200);
  });

  it('sets and clears the cookie under the configured __Host- name through SessionTransport', async () => {
    const login = await request(base).post('/login').send({ userId: 'u-cookie' }).expect(200);
    const cookie = setCookie(login.headers, '__Host-sid')!;
    expect(cookie.attributes).toMatchObject({ path: '/', secure: true, httponly: true, samesite: 'Lax', 'max-age': String(30 * 86_400) });
    await request(base).get('/guarded').set('Cookie', `__Host-sid=${cookie.value}`).expect(200);

    const logout = await request(base).post('/logout').set('Cookie', `__Host-sid=${cookie.value}`).expect(204);
    expect(setCookie(logout.headers, '__Host-sid')).toMatchObject({ value: '', attributes: { 'max-age': '0' } });
    await request(base).get('/guarded').set('Cookie', `__Host-sid=${cookie.value}`).expect(401);
  });

  it.each(['guarded', 'passport'])('/%s answers 503, not 401, when the store does not answer in time', async (route) => {
    const { token } = await sessions.createSession({ userId: 'u-503' });
    const dataSource = app.get(DataSource);
    const runner = dataSource.createQueryRunner();
    await runner.connect();
    await runner.startTransaction();
    try {
      await runner.query('LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE');
      const res = await request(base).get(`/${route}`).set('Authorization', `Bearer ${token}`).expect(503);
      expect(res.body).toEqual({ statusCode: 503, message: 'Service Unavailable' });
    } finally {
      await runner.rollbackTransaction();
      await runner.release();
    }
    await request(base).get(`/${route}`).set('Authorization', `Bearer ${token}`).expect(200);
  });
});
