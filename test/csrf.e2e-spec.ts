import { All, Body, Controller, Get, HttpCode, Inject, type INestApplication, Module, Post, Req, Res, UseGuards } from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { AuthGuard, PassportModule } from '@nestjs/passport';
import { ExpressAdapter, type NestExpressApplication } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { TypeOrmModule } from '@nestjs/typeorm';
import request from 'supertest';
import { CreateSessionsTable1763856000000, CurrentSession, type HttpRequestLike, Public, type Session, SessionGuard, SessionModule, SessionService, SessionTransport } from '../src/index.js';
import { SessionOptionsError } from '../src/core/session.exceptions.js';
import type { SessionCsrfOptions } from '../src/http/http.options.js';
import { SameOriginGuard } from '../src/http/same-origin.guard.js';
import { SessionStrategy } from '../src/passport.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { InMemorySessionStore } from './support/in-memory-session.store.js';
import { listen, setCookie } from './support/http.js';
import { startGraphqlApp, type Driver, type GraphqlApp } from './transports/graphql-apps.js';

// The cross-origin rule of SessionGuard, the passport strategy and SameOriginGuard, over real
// HTTP on Express and Fastify, with PostgreSQL behind: what a browser on another origin (or a
// sibling subdomain) can make a victim's browser send, and what it cannot.

const FOREIGN = 'https://evil.example';
const TRUSTED = 'https://admin.example.test';
const FORBIDDEN = { statusCode: 403, message: 'Forbidden' };

@Controller()
class CsrfController {
  constructor(
    @Inject(SessionService) private readonly sessions: SessionService,
    @Inject(SessionTransport) private readonly transport: SessionTransport,
  ) {}

  @Public()
  @UseGuards(SameOriginGuard)
  @Post('login')
  @HttpCode(200)
  async login(@Body() body: { userId?: string }, @Res({ passthrough: true }) res: object) {
    this.transport.write(res, await this.sessions.createSession({ userId: String(body.userId) }));
    return { userId: body.userId };
  }

  @Get('me')
  me(@CurrentSession() session: Session) {
    return { sessionId: session.id };
  }

  @Post('logout')
  @HttpCode(204)
  async logout(@Req() req: HttpRequestLike, @Res({ passthrough: true }) res: object) {
    await this.sessions.revokeSession(this.transport.readToken(req)?.token);
    this.transport.clear(res);
  }

  @All('write')
  write(@Req() req: { method: string }) {
    return { method: req.method };
  }

  @Public()
  @UseGuards(AuthGuard('session'))
  @Post('passport')
  @HttpCode(200)
  passport() {
    return { ok: true };
  }
}

function fixture(url: string, csrf: false | SessionCsrfOptions | undefined) {
  @Module({
    imports: [
      TypeOrmModule.forRoot({ type: 'postgres', url, autoLoadEntities: true, migrations: [CreateSessionsTable1763856000000], migrationsRun: true }),
      PassportModule,
      SessionModule.forRoot({ cleanup: false, broadcast: false, csrf, resolveUser: (id) => ({ id }) }),
    ],
    controllers: [CsrfController],
    providers: [SessionStrategy, { provide: APP_GUARD, useClass: SessionGuard }],
  })
  class CsrfModule {}
  return CsrfModule;
}

type Adapter = 'express' | 'fastify';

async function start(adapter: Adapter, url: string, csrf: false | SessionCsrfOptions | undefined, trustProxy = false) {
  const http = adapter === 'express' ? new ExpressAdapter() : new FastifyAdapter({ trustProxy });
  const app = await NestFactory.create(fixture(url, csrf), http, { logger: false, abortOnError: false });
  if (adapter === 'express' && trustProxy) (app as NestExpressApplication).set('trust proxy', true);
  return { app, base: await listen(app), sessions: app.get(SessionService) };
}

describe.each(['express', 'fastify'] as const)('cross-origin writes on %s', (adapter) => {
  let db: TestDatabase;
  const apps: INestApplication[] = [];
  let base: string;
  let sessions: SessionService;
  let open: { base: string; sessions: SessionService };
  let proxied: { base: string; sessions: SessionService };
  let seq = 0;

  beforeAll(async () => {
    db = await createTestDatabase(`nss_csrf_${adapter}`);
    // One after another: each runs the migrations on the same database.
    const main = await start(adapter, db.url, { trustedOrigins: [`${TRUSTED}:443`] });
    const off = await start(adapter, db.url, false);
    const behind = await start(adapter, db.url, undefined, true);
    apps.push(main.app, off.app, behind.app);
    ({ base, sessions } = main);
    open = off;
    proxied = behind;
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await db?.drop();
  });

  const login = async (service = sessions) => (await service.createSession({ userId: `u-${adapter}-${++seq}` })).token;
  const cookie = (token: string) => ({ Cookie: `session=${token}` });
  const meStatus = async (token: string, at = base) => (await request(at).get('/me').set(cookie(token))).status;

  it('refuses a cookie POST from another origin with 403 before anything changes: the logout does not happen', async () => {
    const token = await login();
    const port = new URL(base).port;
    const foreign = [FOREIGN, 'null', `http://127.0.0.1:${Number(port) + 1}`, `https://127.0.0.1:${port}`, `http://localhost:${port}`, '', `${base}/`];
    for (const origin of foreign) {
      const res = await request(base).post('/logout').set({ ...cookie(token), Origin: origin });
      expect({ origin, status: res.status, body: res.body, cookie: setCookie(res.headers) }).toEqual({ origin, status: 403, body: FORBIDDEN, cookie: undefined });
    }
    expect(await meStatus(token)).toBe(200);
  });

  it('refuses PUT, PATCH and DELETE from another origin the same, and lets GET and HEAD through', async () => {
    const token = await login();
    for (const method of ['put', 'patch', 'delete'] as const) {
      await request(base)[method]('/write').set({ ...cookie(token), Origin: FOREIGN }).expect(403, FORBIDDEN);
    }
    await request(base).get('/write').set({ ...cookie(token), Origin: FOREIGN }).expect(200, { method: 'GET' });
    await request(base).head('/write').set({ ...cookie(token), Origin: FOREIGN }).expect(200);
    await request(base).get('/me').set({ ...cookie(token), Origin: FOREIGN, 'Sec-Fetch-Site': 'cross-site' }).expect(200);
  });

  it("lets a POST from the request's own origin through: the logout happens", async () => {
    const token = await login();
    await request(base).post('/logout').set({ ...cookie(token), Origin: base, 'Sec-Fetch-Site': 'same-origin' }).expect(204);
    expect(await meStatus(token)).toBe(401);
  });

  it('lets a trusted origin through (as browsers serialize it), whatever Sec-Fetch-Site says', async () => {
    const token = await login();
    await request(base).post('/write').set({ ...cookie(token), Origin: TRUSTED, 'Sec-Fetch-Site': 'same-site' }).expect(200, { method: 'POST' });
    await request(base).post('/write').set({ ...cookie(token), Origin: 'https://ADMIN.example.test', 'Sec-Fetch-Site': 'cross-site' }).expect(200);
    await request(base).post('/write').set({ ...cookie(token), Origin: 'http://admin.example.test' }).expect(403, FORBIDDEN);
  });

  it('without Origin, goes by Sec-Fetch-Site: same-site and cross-site refused, same-origin, none and neither header pass', async () => {
    const token = await login();
    for (const site of ['same-site', 'cross-site']) {
      await request(base).post('/write').set({ ...cookie(token), 'Sec-Fetch-Site': site }).expect(403, FORBIDDEN);
    }
    for (const site of ['same-origin', 'none']) {
      await request(base).post('/write').set({ ...cookie(token), 'Sec-Fetch-Site': site }).expect(200, { method: 'POST' });
    }
    await request(base).post('/write').set(cookie(token)).expect(200, { method: 'POST' });
  });

  it('exempts a bearer token: code that holds it sent it on purpose', async () => {
    const token = await login();
    await request(base).post('/logout').set({ Authorization: `Bearer ${token}`, Origin: FOREIGN, 'Sec-Fetch-Site': 'cross-site' }).expect(204);
    expect(await meStatus(token)).toBe(401);
  });

  it('applies the rule to AuthGuard("session") too', async () => {
    const token = await login();
    await request(base).post('/passport').set({ ...cookie(token), Origin: FOREIGN }).expect(403, FORBIDDEN);
    await request(base).post('/passport').set({ ...cookie(token), 'Sec-Fetch-Site': 'same-site' }).expect(403, FORBIDDEN);
    await request(base).post('/passport').set({ ...cookie(token), Origin: base }).expect(200, { ok: true });
    await request(base).post('/passport').set({ Authorization: `Bearer ${token}`, Origin: FOREIGN }).expect(200, { ok: true });
  });

  it('with csrf: false lets a cross-origin cookie POST through', async () => {
    const token = await login(open.sessions);
    await request(open.base).post('/logout').set({ ...cookie(token), Origin: FOREIGN, 'Sec-Fetch-Site': 'cross-site' }).expect(204);
    expect(await meStatus(token, open.base)).toBe(401);
    const res = await request(open.base).post('/login').set({ Origin: FOREIGN }).send({ userId: 'u-open' }).expect(200);
    expect(setCookie(res.headers)?.value).toBeTruthy();
  });

  it('behind a trusted proxy counts the forwarded host and scheme, and without trust only the Host header', async () => {
    const forwarded = { 'X-Forwarded-Host': 'app.example.test', 'X-Forwarded-Proto': 'https' };
    const token = await login(proxied.sessions);
    await request(proxied.base).post('/write').set({ ...cookie(token), ...forwarded, Origin: 'https://app.example.test' }).expect(200, { method: 'POST' });
    // The hop the proxy says the browser talked to, not the one it talked to us on.
    await request(proxied.base).post('/write').set({ ...cookie(token), ...forwarded, Origin: proxied.base }).expect(403, FORBIDDEN);

    const direct = await login();
    await request(base).post('/write').set({ ...cookie(direct), ...forwarded, Origin: 'https://app.example.test' }).expect(403, FORBIDDEN);
    await request(base).post('/write').set({ ...cookie(direct), ...forwarded, Origin: base }).expect(200, { method: 'POST' });
  });

  describe('SameOriginGuard on a public login route', () => {
    it('refuses a login form or JSON posted from another origin, setting no cookie', async () => {
      const cases = [
        { name: 'form, foreign Origin', headers: { Origin: FOREIGN }, form: true },
        { name: 'JSON, foreign Origin', headers: { Origin: FOREIGN }, form: false },
        { name: 'form, Origin null', headers: { Origin: 'null' }, form: true },
        { name: 'form, sibling subdomain', headers: { 'Sec-Fetch-Site': 'same-site' }, form: true },
        { name: 'JSON, cross-site', headers: { 'Sec-Fetch-Site': 'cross-site' }, form: false },
        // Whatever credentials come along: the route does not look at them.
        { name: 'JSON with a bearer token', headers: { Origin: FOREIGN, Authorization: `Bearer ${await login()}` }, form: false },
      ];
      for (const { name, headers, form } of cases) {
        const post = request(base).post('/login').set(headers);
        const res = await (form ? post.type('form').send('userId=u-victim') : post.send({ userId: 'u-victim' }));
        expect({ name, status: res.status, body: res.body, cookie: setCookie(res.headers) }).toEqual({ name, status: 403, body: FORBIDDEN, cookie: undefined });
      }
    });

    it('lets a same-origin, trusted or header-less login through and sets the cookie', async () => {
      const cases = [{ Origin: base, 'Sec-Fetch-Site': 'same-origin' }, { Origin: TRUSTED }, {}];
      for (const [i, headers] of cases.entries()) {
        for (const form of [true, false]) {
          const post = request(base).post('/login').set(headers);
          const userId = `u-login-${i}-${form}`;
          const res = await (form ? post.type('form').send(`userId=${userId}`) : post.send({ userId })).expect(200, { userId });
          expect(await meStatus(setCookie(res.headers)!.value)).toBe(200);
        }
      }
    });
  });
});

describe.each(['apollo', 'mercurius'] as Driver[])('cross-origin GraphQL mutations on %s', (driver) => {
  let gql: GraphqlApp;
  beforeAll(async () => {
    gql = await startGraphqlApp(driver, 'code-first');
  });
  afterAll(async () => {
    await gql?.close();
  });

  const post = (query: string, headers: Record<string, string>) => request(gql.base).post('/graphql').set(headers).send({ query });

  it('refuses a cookie mutation from another origin with FORBIDDEN and keeps the session; same-origin and bearer pass', async () => {
    const { token } = await gql.sessions.createSession({ userId: 'alice' });
    const refused = await post('mutation { logout }', { Cookie: `session=${token}`, Origin: FOREIGN });
    expect({ data: refused.body.data, codes: refused.body.errors?.map((e: { extensions?: { code?: string } }) => e.extensions?.code) }).toEqual({ data: null, codes: ['FORBIDDEN'] });
    await post('{ me { id } }', { Cookie: `session=${token}` }).expect(200, { data: { me: { id: 'alice' } } });

    await post('mutation { logout }', { Cookie: `session=${token}`, Origin: gql.base }).expect(200, { data: { logout: true } });
    expect((await post('{ me { id } }', { Cookie: `session=${token}` })).body.errors?.[0].extensions.code).toBe('UNAUTHENTICATED');

    const bearer = await gql.sessions.createSession({ userId: 'alice' });
    await post('mutation { logout }', { Authorization: `Bearer ${bearer.token}`, Origin: FOREIGN }).expect(200, { data: { logout: true } });
  });
});

describe('csrf.trustedOrigins at startup', () => {
  // No database: the app must not get as far as opening one, and a half-started one would leak it.
  function appWith(csrf: SessionCsrfOptions) {
    @Module({ imports: [SessionModule.forRoot({ storage: new InMemorySessionStore(), cleanup: false, csrf, resolveUser: (id) => ({ id }) })] })
    class StartupModule {}
    return StartupModule;
  }

  it.each(['express', 'fastify'] as const)('refuses an origin with a path on %s, naming csrf.trustedOrigins', async (adapter) => {
    const http = adapter === 'express' ? new ExpressAdapter() : new FastifyAdapter();
    const starting = NestFactory.create(appWith({ trustedOrigins: [TRUSTED, 'https://admin.example.test/app'] }), http, { logger: false, abortOnError: false });
    await expect(starting).rejects.toThrow(SessionOptionsError);
    await expect(starting).rejects.toMatchObject({ option: 'csrf.trustedOrigins', message: expect.stringContaining('"https://admin.example.test/app"') });
  });
});
