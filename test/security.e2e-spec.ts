import { Body, Controller, Get, HttpCode, type INestApplication, Post, Req, Res, UnauthorizedException } from '@nestjs/common';
import { EventEmitter2, EventEmitterModule } from '@nestjs/event-emitter';
import { Test } from '@nestjs/testing';
import { getDataSourceToken, TypeOrmModule } from '@nestjs/typeorm';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import request from 'supertest';
import type { DataSource } from 'typeorm';
import {
  CurrentSession,
  CurrentUser,
  Public,
  RequireSession,
  SessionTransport,
  SessionEvents,
  SessionGuard,
  SessionModule,
  type SessionModuleOptions,
  type SessionRefreshReusedEvent,
  SessionService,
  SessionStore,
  type ValidatedSession,
} from '../src/index.js';
import { CreateSessionsTable1763856000000, CreateTestUsers1700000000000, countCalls, resetCalls, totalCalls, type TestUser } from './support/app.js';
import { TestClock } from './support/clock.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { InMemorySessionStore } from './support/in-memory-session.store.js';
import { MemoryUsers } from './support/standalone-app.js';
import { listen, setCookie } from './support/http.js';

const SECRET = 'a-test-secret-of-more-than-32-bytes-0123456789';
const OTHER_SECRET = 'another-test-secret-of-32-bytes-or-more-9876543210';
const CHROME_120 = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
const CHROME_121 = CHROME_120.replace('Chrome/120', 'Chrome/121');
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';

type Req = Parameters<SessionTransport['readToken']>[0];

function agentOf(req: Req): string {
  const agent = req.headers['user-agent'];
  return typeof agent === 'string' ? agent : '';
}

@Controller()
class FixtureController {
  constructor(
    private readonly sessions: SessionService<TestUser>,
    private readonly cookies: SessionTransport,
  ) {}

  @Public()
  @Post('login')
  @HttpCode(200)
  async login(@Body() body: { userId: string }, @Req() req: Req, @Res({ passthrough: true }) res: object) {
    const issued = await this.sessions.createSession({ userId: body.userId, userAgent: agentOf(req) });
    this.cookies.write(res, issued);
    return issued;
  }

  @Public()
  @Post('refresh')
  @HttpCode(200)
  async refresh(@Body() body: { refreshToken: unknown }, @Req() req: Req) {
    const issued = await this.sessions.refresh(body.refreshToken, { userAgent: agentOf(req) });
    if (!issued) throw new UnauthorizedException();
    return issued;
  }

  @Get('me')
  me(@CurrentUser() user: TestUser, @CurrentSession() session: ValidatedSession) {
    return { user, permissions: session.permissions, context: session.context, expires: session.expires };
  }

  @RequireSession({ permissions: ['admin'] })
  @Get('admin')
  admin() {
    return { ok: true };
  }

  @Post('logout')
  @HttpCode(204)
  async logout(@Req() req: Req) {
    await this.sessions.revokeSession(this.cookies.readToken(req)!.token, { userAgent: agentOf(req) });
  }

  @Post('privileges-changed')
  @HttpCode(200)
  async privilegesChanged(@CurrentUser() user: TestUser, @Req() req: Req) {
    return (await this.sessions.privilegesChanged(user.id, this.cookies.readToken(req)!.token, { userAgent: agentOf(req) })) ?? {};
  }
}

interface Fixture {
  app: INestApplication;
  url: string;
  sessions: SessionService<TestUser>;
  /** Null in an app without TypeORM (Redis or a store of its own). */
  dataSource: DataSource | null;
  storeCalls: Record<string, number>;
  resolved: { permissions: number; context: number };
  events: { reused: SessionRefreshReusedEvent[]; destroyed: { reason: string; session: { id: string } }[] };
  createUser(email?: string): Promise<string>;
  login(userId: string, agent?: string): Promise<{ token: string; refreshToken?: string; session: { id: string; expires: string } }>;
}

let seq = 0;

async function start(dbUrl: string, options: Partial<SessionModuleOptions<TestUser>> = {}): Promise<Fixture> {
  let dataSource: DataSource | null = null;
  // Sessions outside PostgreSQL (Redis, a store of the test's) run in an app with no TypeORM at
  // all, as a Redis-only app is, its users in memory.
  const type = options.storage === undefined ? 'database' : options.storage.type;
  const memory = type === 'database' || type === 'memcached' ? null : new MemoryUsers();
  const findUser = async (id: string): Promise<(TestUser & { disabled: boolean }) | null> => {
    if (memory) return memory.find(id);
    const [user]: ((TestUser & { disabled: boolean }) | undefined)[] = await dataSource!.query('SELECT id, email, disabled FROM users WHERE id = $1', [id]);
    return user ?? null;
  };
  const resolved = { permissions: 0, context: 0 };
  const moduleRef = await Test.createTestingModule({
    imports: [
      EventEmitterModule.forRoot(),
      ...(memory
        ? []
        : [
            TypeOrmModule.forRoot({
              type: 'postgres',
              url: dbUrl,
              migrations: [CreateTestUsers1700000000000, CreateSessionsTable1763856000000],
              migrationsRun: true,
            }),
          ]),
      SessionModule.forRoot<TestUser>({
        cleanup: false,
        broadcast: false,
        cookie: { secure: false },
        resolveUser: async (id) => {
          const user = await findUser(id);
          return user && { id: user.id, email: user.email };
        },
        resolvePermissions: async (user) => {
          resolved.permissions += 1;
          const row = await findUser(user.id);
          return user.email.startsWith('admin') && !row!.disabled ? ['admin'] : ['reader'];
        },
        resolveContext: (user) => {
          resolved.context += 1;
          return { account: user.email, quota: { sessions: 3 } };
        },
        ...options,
      }),
    ],
    controllers: [FixtureController],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  app.useGlobalGuards(app.get(SessionGuard));
  await app.init();
  if (!memory) dataSource = app.get<DataSource>(getDataSourceToken());
  const events: Fixture['events'] = { reused: [], destroyed: [] };
  const emitter = app.get(EventEmitter2);
  emitter.on(SessionEvents.RefreshReused, (event: SessionRefreshReusedEvent) => events.reused.push(event));
  emitter.on(SessionEvents.Revoked, (event: Fixture['events']['destroyed'][number]) => events.destroyed.push(event));
  const url = await listen(app);
  return {
    app,
    url,
    sessions: app.get<SessionService<TestUser>>(SessionService),
    dataSource,
    storeCalls: countCalls(app.get(SessionStore)),
    resolved,
    events,
    createUser: async (email = `user${++seq}-${randomBytes(3).toString('hex')}@example.test`) => {
      if (memory) return memory.create(email);
      const [row] = await dataSource!.query('INSERT INTO users (email) VALUES ($1) RETURNING id', [email]);
      return row.id as string;
    },
    login: async (userId, agent = CHROME_120) => {
      const res = await request(url).post('/login').set('user-agent', agent).send({ userId });
      expect(res.status).toBe(200);
      return res.body;
    },
  };
}

function me(f: Fixture, token: string, agent = CHROME_120) {
  return request(f.url).get('/me').set('user-agent', agent).set('authorization', `Bearer ${token}`);
}

function b64(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

let db: TestDatabase;
const apps: INestApplication[] = [];

beforeAll(async () => {
  db = await createTestDatabase('nss_security');
});
afterAll(async () => {
  for (const app of apps) await app.close();
  await db?.drop();
});

async function fixture(options: Partial<SessionModuleOptions<TestUser>> = {}): Promise<Fixture> {
  const f = await start(db.url, options);
  apps.push(f.app);
  return f;
}

describe("tokenType: 'jwt' (HS256)", () => {
  let f: Fixture;
  const clock = new TestClock(Date.now());

  beforeAll(async () => {
    f = await fixture({ tokenType: 'jwt', jwt: { keys: [{ kid: 'k1', secret: SECRET }] }, clock: clock.now, maxAge: '1h', updateAge: '10m' });
  });

  it('issues a JWT wrapping the session, checked against the store', async () => {
    const userId = await f.createUser();
    const { token, session } = await f.login(userId);
    expect(token.split('.')).toHaveLength(3);
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'HS256', kid: 'k1' });
    expect(decodeJwt(token)).toMatchObject({ sub: userId, sid: session.id, exp: Math.floor(Date.parse(session.expires) / 1000) });

    expect((await me(f, token)).status).toBe(200);
    expect((await request(f.url).post('/logout').set('authorization', `Bearer ${token}`)).status).toBe(204);
    expect((await me(f, token)).status).toBe(401);
  });

  it('refuses a forged signature, a tampered payload and alg none before any I/O', async () => {
    const userId = await f.createUser();
    const { token } = await f.login(userId);
    const claims = decodeJwt(token);
    const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(new TextEncoder().encode(OTHER_SECRET));
    const [header, , signature] = token.split('.');
    const tampered = `${header}.${b64({ ...claims, sub: 'someone-else', exp: (claims.exp as number) + 86_400 })}.${signature}`;
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
    const noneWithKid = `${b64({ alg: 'none', kid: 'k1' })}.${b64(claims)}.${signature}`;

    resetCalls(f.storeCalls);
    for (const bad of [forged, tampered, none, noneWithKid, claims.tok as string, `${token}x`]) {
      const res = await me(f, bad);
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ statusCode: 401, message: 'Unauthorized' });
    }
    expect(totalCalls(f.storeCalls)).toBe(0);
    expect((await me(f, token)).status).toBe(200);
  });

  it('refuses an expired JWT before any I/O, even one that passed a moment before', async () => {
    const { token, session } = await f.login(await f.createUser());
    expect((await me(f, token)).status).toBe(200);
    clock.set(Date.parse(session.expires) + 1_000);
    try {
      resetCalls(f.storeCalls);
      expect((await me(f, token)).status).toBe(401);
      expect(totalCalls(f.storeCalls)).toBe(0);
    } finally {
      clock.set(Date.now());
    }
  });

  it('re-signs the cookie when the session slides, so the JWT follows the expiry', async () => {
    const { token } = await f.login(await f.createUser());
    const exp = decodeJwt(token).exp as number;
    clock.advance(15 * 60_000);
    const res = await request(f.url).get('/me').set('user-agent', CHROME_120).set('cookie', `session=${token}`);
    expect(res.status).toBe(200);
    const renewed = setCookie(res.headers)!.value;
    expect(renewed).not.toBe(token);
    expect(decodeJwt(renewed).exp as number).toBeGreaterThanOrEqual(exp + 15 * 60 - 1);
    expect((await me(f, renewed)).status).toBe(200);
  });

  it('rotates keys by kid: old tokens pass while their key is listed, new ones use the first key', async () => {
    const userId = await f.createUser();
    const { token: old } = await f.login(userId);
    const rotated = await fixture({ tokenType: 'jwt', jwt: { keys: [{ kid: 'k2', secret: OTHER_SECRET }, { kid: 'k1', secret: SECRET }] }, clock: clock.now, maxAge: '1h' });
    expect((await me(rotated, old)).status).toBe(200);
    const { token: fresh } = await rotated.login(userId);
    expect(decodeProtectedHeader(fresh).kid).toBe('k2');
    expect((await me(f, fresh)).status).toBe(401);

    const retired = await fixture({ tokenType: 'jwt', jwt: { keys: [{ kid: 'k2', secret: OTHER_SECRET }] }, clock: clock.now, maxAge: '1h' });
    expect((await me(retired, old)).status).toBe(401);
    expect((await me(retired, fresh)).status).toBe(200);
  });
});

describe('jwt with encryption, and EdDSA', () => {
  it('encryption: true hides the claims (a JWE) and still authenticates', async () => {
    const f = await fixture({ tokenType: 'jwt', encryption: true, jwt: { keys: [{ kid: 'e1', secret: SECRET }] } });
    const userId = await f.createUser();
    const { token } = await f.login(userId);
    const parts = token.split('.');
    expect(parts).toHaveLength(5);
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'dir', enc: 'A256GCM', kid: 'e1' });
    expect(parts.map((p) => Buffer.from(p, 'base64url').toString('latin1')).join('')).not.toContain(userId);
    expect((await me(f, token)).status).toBe(200);

    // A character in the middle: all six of its bits count (the last one's may be padding).
    const tampered = [...parts];
    const at = Math.floor(tampered[3].length / 2);
    tampered[3] = tampered[3].slice(0, at) + (tampered[3][at] === 'A' ? 'B' : 'A') + tampered[3].slice(at + 1);
    expect((await me(f, tampered.join('.'))).status).toBe(401);
  });

  it('EdDSA signs with the private key and verifies with the public one', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const f = await fixture({ tokenType: 'jwt', jwt: { algorithm: 'EdDSA', keys: [{ kid: 'ed1', privateKey, publicKey }] } });
    const { token } = await f.login(await f.createUser());
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'EdDSA', kid: 'ed1' });
    expect((await me(f, token)).status).toBe(200);
    // The HS256 confusion attack: the public key's PEM as an HMAC secret.
    const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const confused = await new SignJWT(decodeJwt(token)).setProtectedHeader({ alg: 'HS256', kid: 'ed1' }).sign(new TextEncoder().encode(pem));
    expect((await me(f, confused)).status).toBe(401);
  });
});

describe.each([
  ['PostgreSQL', {}],
  ['Redis', { storage: { type: 'redis' as const, url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', keyPrefix: `nss-sec-${randomBytes(4).toString('hex')}:` } }],
  ['a store of its own', { storage: new InMemorySessionStore() }],
])('refresh tokens on %s', (_label, storage) => {
  let f: Fixture;
  const clock = new TestClock(Date.now());

  beforeAll(async () => {
    f = await fixture({ ...storage, refreshToken: { secret: SECRET, maxAge: '7d' }, clock: clock.now });
  });

  it('trades a refresh token for a new pair and kills the old one', async () => {
    const userId = await f.createUser();
    const first = await f.login(userId);
    expect(first.refreshToken).toEqual(expect.any(String));
    // maxAge defaults to 15 minutes with refresh tokens.
    expect(Date.parse(first.session.expires) - clock.now()).toBe(15 * 60_000);

    const res = await request(f.url).post('/refresh').set('user-agent', CHROME_120).send({ refreshToken: first.refreshToken });
    expect(res.status).toBe(200);
    expect(res.body.token).not.toBe(first.token);
    expect(res.body.refreshToken).not.toBe(first.refreshToken);
    expect(res.body.session.id).toBe(first.session.id);
    expect(Date.parse(res.body.refreshExpires) - clock.now()).toBe(7 * 86_400_000);

    expect((await me(f, first.token)).status).toBe(401);
    expect((await me(f, res.body.token)).status).toBe(200);
    // One login, one row: the sessions list shows it once.
    expect(await f.sessions.listUserSessions(userId)).toHaveLength(1);
  });

  it('a replayed refresh token revokes the whole login and fires an event', async () => {
    const userId = await f.createUser();
    const first = await f.login(userId);
    const other = await f.login(userId);
    const second = (await request(f.url).post('/refresh').send({ refreshToken: first.refreshToken })).body;
    expect((await me(f, second.token)).status).toBe(200);

    // Past the grace in which a retry gets a working pair (twice storeTimeout, 10 s by default,
    // and up to a second more: the refreshed token is issued at the nearest whole second).
    clock.advance(11_001);
    const replay = await request(f.url).post('/refresh').send({ refreshToken: first.refreshToken });
    expect(replay.status).toBe(401);
    expect(replay.body).toEqual({ statusCode: 401, message: 'Unauthorized' });
    expect((await me(f, second.token)).status).toBe(401);
    expect((await request(f.url).post('/refresh').send({ refreshToken: second.refreshToken })).status).toBe(401);
    expect(f.events.reused).toContainEqual({ userId, sessionId: first.session.id, revoked: expect.objectContaining({ id: first.session.id }) });
    // The user's other login is not part of that family.
    expect((await me(f, other.token)).status).toBe(200);
  });

  it('gives a retried refresh the same pair within its grace, without a theft alarm', async () => {
    const userId = await f.createUser();
    const first = await f.login(userId);
    const reused = f.events.reused.length;
    const answer = (await request(f.url).post('/refresh').send({ refreshToken: first.refreshToken }).expect(200)).body;
    clock.advance(9_000);
    const retry = (await request(f.url).post('/refresh').send({ refreshToken: first.refreshToken }).expect(200)).body;
    expect(retry).toEqual(answer);
    expect(f.events.reused).toHaveLength(reused);
    expect((await me(f, answer.token)).status).toBe(200);
    expect((await me(f, first.token)).status).toBe(401);
  });

  it('refuses a forged refresh token without revoking anything', async () => {
    const userId = await f.createUser();
    const { token, refreshToken } = await f.login(userId);
    const bytes = Buffer.from(refreshToken!, 'base64url');
    bytes[60] ^= 1;
    for (const forged of [bytes.toString('base64url'), `${refreshToken}A`, 'x'.repeat(80), 42, null]) {
      expect((await request(f.url).post('/refresh').send({ refreshToken: forged })).status).toBe(401);
    }
    expect((await me(f, token)).status).toBe(200);
    expect(f.events.reused.filter((e) => e.userId === userId)).toEqual([]);
  });

  it('ends the session token at maxAge and the login at the refresh window', async () => {
    const { token, refreshToken } = await f.login(await f.createUser());
    clock.advance(15 * 60_000);
    expect((await me(f, token)).status).toBe(401);
    const renewed = await request(f.url).post('/refresh').send({ refreshToken });
    expect(renewed.status).toBe(200);
    expect((await me(f, renewed.body.token)).status).toBe(200);
    clock.advance(7 * 86_400_000);
    expect((await request(f.url).post('/refresh').send({ refreshToken: renewed.body.refreshToken })).status).toBe(401);
  });
});

describe('refresh tokens with JWTs', () => {
  it('refreshToken: true takes its key from the HS256 keys', async () => {
    const f = await fixture({ tokenType: 'jwt', jwt: { keys: [{ kid: 'k1', secret: SECRET }] }, refreshToken: true });
    const first = await f.login(await f.createUser());
    const next = await request(f.url).post('/refresh').send({ refreshToken: first.refreshToken });
    expect(next.status).toBe(200);
    expect(next.body.token.split('.')).toHaveLength(3);
    expect((await me(f, next.body.token)).status).toBe(200);
    expect((await me(f, first.token)).status).toBe(401);
  });
});

describe('permissions and context', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await fixture({ cache: { ttl: '5m', size: 100 } });
  });

  it('answers 403 to a session without the permission, 200 with it', async () => {
    const reader = await f.login(await f.createUser());
    const admin = await f.login(await f.createUser(`admin-${randomBytes(3).toString('hex')}@example.test`));
    const denied = await request(f.url).get('/admin').set('authorization', `Bearer ${reader.token}`);
    expect(denied.status).toBe(403);
    expect(denied.body).toEqual({ statusCode: 403, message: 'Forbidden' });
    expect((await request(f.url).get('/admin').set('authorization', `Bearer ${admin.token}`)).status).toBe(200);
    expect((await request(f.url).get('/admin')).status).toBe(401);
  });

  it('caches permissions and context with the session, and hands them to @CurrentSession()', async () => {
    const { token } = await f.login(await f.createUser(`ctx-${randomBytes(3).toString('hex')}@example.test`));
    const before = { ...f.resolved };
    for (let i = 0; i < 3; i++) {
      const res = await me(f, token);
      expect(res.body.permissions).toEqual(['reader']);
      expect(res.body.context).toEqual({ account: expect.stringMatching(/^ctx-/), quota: { sessions: 3 } });
    }
    expect(f.resolved.permissions - before.permissions).toBe(1);
    expect(f.resolved.context - before.context).toBe(1);
  });

  it('privilegesChanged re-resolves everywhere and rotates the current token', async () => {
    const adminId = await f.createUser(`admin-${randomBytes(3).toString('hex')}@example.test`);
    const current = await f.login(adminId);
    const elsewhere = await f.login(adminId);
    expect((await request(f.url).get('/admin').set('authorization', `Bearer ${elsewhere.token}`)).status).toBe(200);

    await f.dataSource!.query('UPDATE users SET disabled = true WHERE id = $1', [adminId]);
    const res = await request(f.url).post('/privileges-changed').set('authorization', `Bearer ${current.token}`);
    expect(res.status).toBe(200);
    expect(res.body.token).toEqual(expect.any(String));

    expect((await me(f, current.token)).status).toBe(401);
    expect((await request(f.url).get('/admin').set('authorization', `Bearer ${res.body.token}`)).status).toBe(403);
    expect((await request(f.url).get('/admin').set('authorization', `Bearer ${elsewhere.token}`)).status).toBe(403);
  });
});

describe.each([
  ['PostgreSQL', {}],
  ['Redis', { storage: { type: 'redis' as const, url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', keyPrefix: `nss-lim-${randomBytes(4).toString('hex')}:` } }],
  ['a store of its own', { storage: new InMemorySessionStore() }],
])('maxSessionsPerUser on %s', (_label, storage) => {
  it('evicts the oldest session at a login over the limit', async () => {
    const f = await fixture({ ...storage, maxSessionsPerUser: 2 });
    const userId = await f.createUser();
    const [a, b, c] = [await f.login(userId), await f.login(userId), await f.login(userId)];
    expect((await me(f, a.token)).status).toBe(401);
    expect((await me(f, b.token)).status).toBe(200);
    expect((await me(f, c.token)).status).toBe(200);
    expect(f.events.destroyed).toContainEqual(expect.objectContaining({ reason: 'evicted', session: expect.objectContaining({ id: a.session.id }) }));

    // Concurrent logins settle at the limit too.
    await Promise.all(Array.from({ length: 6 }, () => f.login(userId)));
    expect(await f.sessions.listUserSessions(userId)).toHaveLength(2);
  });

  it("with policy 'refuse', answers 409 to a login over the limit, even among concurrent ones", async () => {
    const f = await fixture({ ...storage, maxSessionsPerUser: { max: 2, policy: 'refuse' } });
    const userId = await f.createUser();
    const statuses = await Promise.all(Array.from({ length: 6 }, () => request(f.url).post('/login').send({ userId }).then((r) => r.status)));
    expect(statuses.filter((s) => s === 200)).toHaveLength(2);
    expect(statuses.filter((s) => s === 409)).toHaveLength(4);
    expect(await f.sessions.listUserSessions(userId)).toHaveLength(2);

    const refused = await request(f.url).post('/login').send({ userId });
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ statusCode: 409, message: 'Too many sessions' });
    const other = await f.createUser();
    expect((await request(f.url).post('/login').send({ userId: other })).status).toBe(200);
  });
});

describe('bindToUserAgent', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await fixture({ bindToUserAgent: true, refreshToken: { secret: SECRET } });
  });

  it('refuses a token from another user agent before any I/O, and survives a browser update', async () => {
    const { token } = await f.login(await f.createUser(), CHROME_120);
    resetCalls(f.storeCalls);
    expect((await me(f, token, FIREFOX)).status).toBe(401);
    expect((await me(f, token, '')).status).toBe(401);
    expect(totalCalls(f.storeCalls)).toBe(0);
    expect((await me(f, token, CHROME_121)).status).toBe(200);
    const cookie = await request(f.url).get('/me').set('user-agent', FIREFOX).set('cookie', `session=${token}`);
    expect(cookie.status).toBe(401);
  });

  it('refuses a stolen refresh token from another user agent, without revoking the login', async () => {
    const { token, refreshToken } = await f.login(await f.createUser(), CHROME_120);
    expect((await request(f.url).post('/refresh').set('user-agent', FIREFOX).send({ refreshToken })).status).toBe(401);
    expect((await me(f, token, CHROME_120)).status).toBe(200);
    const renewed = await request(f.url).post('/refresh').set('user-agent', CHROME_120).send({ refreshToken });
    expect(renewed.status).toBe(200);
    expect((await me(f, renewed.body.token, FIREFOX)).status).toBe(401);
    expect((await me(f, renewed.body.token, CHROME_120)).status).toBe(200);
  });

  it('needs the user agent in every call that makes or takes a token, rather than refuse in silence', async () => {
    const userId = await f.createUser();
    await expect(f.sessions.createSession({ userId })).rejects.toThrow(/userAgent/);
    const { token, refreshToken } = await f.login(userId, CHROME_120);
    await expect(f.sessions.validateSession(token)).rejects.toThrow(/userAgent/);
    await expect(f.sessions.revokeSession(token)).rejects.toThrow(/userAgent/);
    await expect(f.sessions.refresh(refreshToken)).rejects.toThrow(/userAgent/);
    expect((await me(f, token, CHROME_120)).status).toBe(200);
    expect(await f.sessions.revokeSession(token, { userAgent: CHROME_121 })).toBe(true);
    expect((await me(f, token, CHROME_120)).status).toBe(401);
  });
});

describe('rotationPolicy.interval', () => {
  it('rotates an old cookie token on its next request; in-flight requests with the old one still pass here', async () => {
    const clock = new TestClock(Date.now());
    const options = { rotationPolicy: { interval: '1h' }, clock: clock.now, cache: false as const };
    const f = await fixture(options);
    const other = await fixture(options);
    const { token } = await f.login(await f.createUser());

    const fresh = await request(f.url).get('/me').set('cookie', `session=${token}`);
    expect(fresh.status).toBe(200);
    expect(setCookie(fresh.headers)).toBeUndefined();

    clock.advance(60 * 60_000);
    const rotated = await request(f.url).get('/me').set('cookie', `session=${token}`);
    expect(rotated.status).toBe(200);
    const next = setCookie(rotated.headers)!.value;
    expect(next).not.toBe(token);

    const inFlight = await request(f.url).get('/me').set('cookie', `session=${token}`);
    expect(inFlight.status).toBe(200);
    expect(setCookie(inFlight.headers)!.value).toBe(next);
    // Elsewhere the old token is dead, the new one alive.
    expect((await request(other.url).get('/me').set('cookie', `session=${token}`)).status).toBe(401);
    expect((await request(other.url).get('/me').set('cookie', `session=${next}`)).status).toBe(200);
    // A bearer client cannot be handed a new token, so its token is not rotated.
    const bearer = await f.login(await f.createUser());
    clock.advance(2 * 60 * 60_000);
    expect((await me(f, bearer.token)).status).toBe(200);
    expect((await me(f, bearer.token)).status).toBe(200);
  });
});
