import { Body, Controller, Get, Header, HttpCode, Inject, type INestApplication, Module, Post, Req, Res, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AuthGuard, PassportModule } from '@nestjs/passport';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { TypeOrmModule } from '@nestjs/typeorm';
import request from 'supertest';
import { CreateSessionsTable1763856000000, CurrentSession, type HttpRequestLike, type Session, SessionGuard, SessionModule, SessionService, SessionTransport } from '../src/index.js';
import { SessionStrategy } from '../src/passport.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { listen, setCookie } from './support/http.js';

// Two hardenings of the HTTP side, on Express and Fastify over real HTTP with PostgreSQL behind:
// a request that carries the session cookie twice is refused, whichever of them is live, and
// what a session sees or a token travels in is never kept by a cache.

const UNAUTHORIZED = { statusCode: 401, message: 'Unauthorized' };
const CACHEABLE = 'public, max-age=60';

@Controller()
class HardeningController {
  constructor(
    @Inject(SessionService) private readonly sessions: SessionService,
    @Inject(SessionTransport) private readonly transport: SessionTransport,
  ) {}

  @Post('login')
  @HttpCode(200)
  async login(@Body() body: { userId: string }, @Res({ passthrough: true }) res: object) {
    this.transport.write(res, await this.sessions.createSession({ userId: body.userId }));
    return {};
  }

  // A route that asks to be cached still may not be, once it carries a cookie.
  @Post('login-cached')
  @Header('Cache-Control', CACHEABLE)
  @HttpCode(200)
  async loginCached(@Body() body: { userId: string }, @Res({ passthrough: true }) res: object) {
    this.transport.write(res, await this.sessions.createSession({ userId: body.userId }));
    return {};
  }

  @UseGuards(SessionGuard)
  @Get('me')
  me(@CurrentSession() session: Session) {
    return { sessionId: session.id };
  }

  @UseGuards(SessionGuard)
  @Get('catalogue')
  @Header('Cache-Control', CACHEABLE)
  catalogue() {
    return { items: [] };
  }

  @UseGuards(SessionGuard)
  @Post('logout')
  @HttpCode(204)
  async logout(@Req() req: HttpRequestLike, @Res({ passthrough: true }) res: object) {
    await this.sessions.revokeSession(this.transport.readToken(req)?.token);
    this.transport.clear(res);
  }

  @UseGuards(AuthGuard('session'))
  @Get('passport')
  passport() {
    return { ok: true };
  }

  @Get('open')
  open() {
    return { open: true };
  }
}

function fixture(url: string) {
  @Module({
    imports: [
      TypeOrmModule.forRoot({ type: 'postgres', url, autoLoadEntities: true, migrations: [CreateSessionsTable1763856000000], migrationsRun: true }),
      PassportModule,
      SessionModule.forRoot({ cleanup: false, broadcast: false, resolveUser: (id) => ({ id }) }),
    ],
    controllers: [HardeningController],
    providers: [SessionStrategy],
  })
  class HardeningModule {}
  return HardeningModule;
}

describe.each(['express', 'fastify'] as const)('HTTP hardening on %s', (adapter) => {
  let db: TestDatabase;
  let app: INestApplication;
  let base: string;
  let sessions: SessionService;
  let seq = 0;

  beforeAll(async () => {
    db = await createTestDatabase(`nss_hardening_${adapter}`);
    app = await NestFactory.create(fixture(db.url), adapter === 'express' ? new ExpressAdapter() : new FastifyAdapter(), { logger: false });
    base = await listen(app);
    sessions = app.get(SessionService);
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  const live = async () => (await sessions.createSession({ userId: `u-${adapter}-${++seq}` })).token;
  const dead = async () => {
    const token = await live();
    await sessions.revokeSession(token);
    return token;
  };

  describe('duplicate session cookies', () => {
    it('refuses the cookie twice with a generic 401, whichever is live, on the guard and the passport strategy', async () => {
      const [a, b, gone] = [await live(), await live(), await dead()];
      const cases = {
        'dead then live': `session=${gone}; session=${a}`,
        'live then dead': `session=${a}; session=${gone}`,
        'two live ones': `session=${a}; session=${b}`,
        'the same one twice': `session=${a}; session=${a}`,
        'junk then live': `session=planted; session=${a}`,
        'empty then live': `session=; other=1; session=${a}`,
      };
      for (const route of ['/me', '/passport']) {
        for (const [name, header] of Object.entries(cases)) {
          const res = await request(base).get(route).set('Cookie', header);
          expect({ route, name, status: res.status, body: res.body }).toEqual({ route, name, status: 401, body: UNAUTHORIZED });
        }
        // Each alone still works: the refusal is about the pair.
        for (const token of [a, b]) await request(base).get(route).set('Cookie', `session=${token}`).expect(200);
      }
    });

    it('does not act on a refused request: a logout with two cookies ends neither session', async () => {
      const [a, b] = [await live(), await live()];
      await request(base).post('/logout').set('Cookie', `session=${a}; session=${b}`).expect(401, UNAUTHORIZED);
      await request(base).get('/me').set('Cookie', `session=${a}`).expect(200);
      await request(base).get('/me').set('Cookie', `session=${b}`).expect(200);
    });

    it('counts only cookies of exactly its name, and leaves a bearer request alone', async () => {
      const a = await live();
      const { token: b, session } = await sessions.createSession({ userId: `u-${adapter}-bearer` });
      await request(base).get('/me').set('Cookie', `Session=${b}; session2=${b}; xsession=${b}; session=${a}`).expect(200);
      await request(base).get('/me').set({ Cookie: `session=${a}; session=${b}`, Authorization: `Bearer ${b}` }).expect(200, { sessionId: session.id });
    });
  });

  describe('Cache-Control', () => {
    it('is no-store on a guarded route, on its 401 too, and without Pragma', async () => {
      const res = await request(base).get('/me').set('Cookie', `session=${await live()}`).expect(200);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers.pragma).toBeUndefined();
      const refused = await request(base).get('/me').expect(401);
      expect(refused.headers['cache-control']).toBe('no-store');
      const bearer = await request(base).get('/me').set('Authorization', `Bearer ${await live()}`).expect(200);
      expect(bearer.headers['cache-control']).toBe('no-store');
    });

    it("keeps a guarded route's own Cache-Control, and leaves unguarded routes alone", async () => {
      const res = await request(base).get('/catalogue').set('Cookie', `session=${await live()}`).expect(200);
      expect(res.headers['cache-control']).toBe(CACHEABLE);
      const open = await request(base).get('/open').expect(200);
      expect(open.headers['cache-control']).toBeUndefined();
    });

    it('is no-store on a response that sets or clears the cookie, even where the route asked to be cached', async () => {
      for (const route of ['/login', '/login-cached']) {
        const res = await request(base).post(route).send({ userId: `u-${adapter}-login` }).expect(200);
        expect({ route, cookie: Boolean(setCookie(res.headers)?.value), cacheControl: res.headers['cache-control'] }).toEqual({ route, cookie: true, cacheControl: 'no-store' });
        expect(res.headers.pragma).toBeUndefined();
      }
      const logout = await request(base).post('/logout').set('Cookie', `session=${await live()}`).expect(204);
      expect(setCookie(logout.headers)).toMatchObject({ value: '', attributes: { 'max-age': '0' } });
      expect(logout.headers['cache-control']).toBe('no-store');
    });
  });
});
