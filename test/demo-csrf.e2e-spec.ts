import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { createDemoApp, type HttpAdapterName } from '../sample/app.js';
import { readDemoConfig, SESSION_OPTION_VARIABLES } from '../sample/config.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { listen, setCookie } from './support/http.js';

// The demo's side of issue 18's login CSRF and duplicate cookies: SameOriginGuard on the login
// and register routes (JSON and form), SESSION_TRUSTED_ORIGINS, the library's check on the
// cookie-authenticated pages, and the __Host- cookie, built from readDemoConfig as npm start does.

const PASSWORD = 'correct horse battery';
const COOKIE = '__Host-session';
const FORBIDDEN = { statusCode: 403, message: 'Forbidden' };
const ADMIN = 'https://admin.example.test';
const EVIL = 'https://evil.example';

describe.each<HttpAdapterName>(['express', 'fastify'])('demo cross-origin defence on %s', (adapter) => {
  let db: TestDatabase;
  let app: INestApplication;
  let base: string;
  let seq = 0;
  const email = () => `csrf${++seq}@example.test`;

  beforeAll(async () => {
    db = await createTestDatabase(`nss_demo_csrf_${adapter}`);
    const config = readDemoConfig({ SESSION_TRUSTED_ORIGINS: ` ${ADMIN} , ` });
    app = await createDemoApp({ databaseUrl: db.url, loginThrottle: config.loginThrottle, session: { ...config.session, cleanup: false } }, adapter);
    base = await listen(app);
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  const http = () => request(base);
  const register = async () => {
    const address = email();
    await http().post('/auth/register').send({ email: address, password: PASSWORD }).expect(201);
    return address;
  };

  it('refuses a login form posted from another site (login CSRF) before any password is tried, and lets its own through', async () => {
    const attacker = await register();
    const cross = await http().post('/login').set('Origin', EVIL).type('form').send({ email: attacker, password: PASSWORD }).expect(403);
    expect(cross.headers['set-cookie']).toBeUndefined();
    expect(cross.text).toContain('Forbidden');
    // A sibling subdomain's page has no Origin of its own here, only Fetch Metadata.
    await http().post('/login').set('Sec-Fetch-Site', 'same-site').type('form').send({ email: attacker, password: PASSWORD }).expect(403);

    const ok = await http().post('/login').set('Origin', base).type('form').send({ email: attacker, password: PASSWORD }).expect(303);
    expect(setCookie(ok.headers, COOKIE)?.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('refuses cross-origin JSON logins and registrations, and the refused ones count nothing', async () => {
    const user = await register();
    for (let i = 0; i < 12; i++) {
      expect((await http().post('/auth/login').set('Origin', EVIL).send({ email: user, password: 'wrong password!' }).expect(403)).body).toEqual(FORBIDDEN);
    }
    await http().post('/auth/login').set('Sec-Fetch-Site', 'cross-site').send({ email: user, password: PASSWORD }).expect(403);
    // Twelve refusals, and the user's email is not locked: none reached the throttling.
    await http().post('/auth/login').send({ email: user, password: PASSWORD }).expect(200);

    const address = email();
    expect((await http().post('/auth/register').set('Origin', EVIL).send({ email: address, password: PASSWORD }).expect(403)).body).toEqual(FORBIDDEN);
    await http().post('/register').set('Origin', 'null').type('form').send({ email: address, password: PASSWORD }).expect(403);
    await http().post('/auth/login').send({ email: address, password: PASSWORD }).expect(401);
  });

  it('lets an origin listed in SESSION_TRUSTED_ORIGINS post, with its cookie too', async () => {
    const user = await register();
    const res = await http().post('/login').set('Origin', ADMIN).type('form').send({ email: user, password: PASSWORD }).expect(303);
    const cookie = `${COOKIE}=${setCookie(res.headers, COOKIE)!.value}`;
    await http().post('/account/logout').set('Origin', EVIL).set('Cookie', cookie).expect(403);
    await http().get('/account').set('Cookie', cookie).expect(200);
    await http().post('/account/logout').set('Origin', ADMIN).set('Cookie', cookie).expect(303).expect('Location', '/login');
    await http().get('/account').set('Cookie', cookie).expect(303).expect('Location', '/login');
  });

  it('refuses a cookie write from a sibling site (logout everywhere), but not the same request with a bearer token', async () => {
    const user = await register();
    const token = (await http().post('/auth/login').send({ email: user, password: PASSWORD }).expect(200)).body.token as string;
    await http().post('/auth/logout-all').set('Sec-Fetch-Site', 'same-site').set('Cookie', `${COOKIE}=${token}`).expect(403);
    await http().get('/me').set('Authorization', `Bearer ${token}`).expect(200);
    await http().post('/auth/logout-all').set('Sec-Fetch-Site', 'same-site').set('Authorization', `Bearer ${token}`).expect(204);
    await http().get('/me').set('Authorization', `Bearer ${token}`).expect(401);
  });

  it('the cookie is __Host-session, and two of them (a planted one beside the live one) answer 401', async () => {
    const user = await register();
    const res = await http().post('/auth/login').send({ email: user, password: PASSWORD }).expect(200);
    const cookie = setCookie(res.headers, COOKIE)!;
    expect(cookie.attributes).toMatchObject({ path: '/', secure: true, httponly: true, samesite: 'Lax' });
    expect(cookie.attributes.domain).toBeUndefined();
    await http().get('/me').set('Cookie', `${COOKIE}=${cookie.value}`).expect(200);
    await http().get('/me').set('Cookie', `${COOKIE}=${'A'.repeat(43)}; ${COOKIE}=${cookie.value}`).expect(401);
    await http().get('/me').set('Cookie', `${COOKIE}=${cookie.value}; ${COOKIE}=${cookie.value}`).expect(401);
  });

  it('refuses a trusted origin that is not an origin at start, naming SESSION_TRUSTED_ORIGINS', async () => {
    const { session } = readDemoConfig({ SESSION_TRUSTED_ORIGINS: 'https://admin.example.test/path' });
    const bad = createDemoApp({ databaseUrl: db.url, session: { ...session, cleanup: false } }, adapter);
    await expect(bad).rejects.toMatchObject({ option: 'csrf.trustedOrigins' });
    expect(SESSION_OPTION_VARIABLES['csrf.trustedOrigins']).toBe('SESSION_TRUSTED_ORIGINS');
  });
});
