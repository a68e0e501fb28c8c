import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { createDemoApp } from '../sample/app.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { listen } from './support/http.js';

// Races over HTTP on one instance: what a revocation promises is that nothing *started* after
// it returned is accepted (what started before may still finish with the old answer).
describe('races', () => {
  let db: TestDatabase;
  let app: INestApplication;
  let base: string;
  let seq = 0;

  beforeAll(async () => {
    db = await createTestDatabase('nss_races');
    app = await createDemoApp({ databaseUrl: db.url, session: { cleanup: false } });
    base = await listen(app);
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  async function user(): Promise<{ email: string; password: string }> {
    const credentials = { email: `race${++seq}@example.test`, password: 'correct horse battery' };
    await request(base).post('/auth/register').send(credentials).expect(201);
    return credentials;
  }
  const login = async (credentials: object) => (await request(base).post('/auth/login').send(credentials).expect(200)).body.token as string;

  // Fires requests with these tokens until `stop()`; records when each started and its status.
  function traffic(tokens: string[]) {
    const results: { token: string; startedAt: number; status: number }[] = [];
    let running = true;
    const loops = tokens.flatMap((token) =>
      [0, 1].map(async () => {
        while (running) {
          const startedAt = performance.now();
          const res = await request(base).get('/me').set('Authorization', `Bearer ${token}`);
          results.push({ token, startedAt, status: res.status });
        }
      }),
    );
    return {
      results,
      stop: async () => {
        running = false;
        await Promise.all(loops);
      },
    };
  }

  it('logout against parallel requests: nothing started after it returned is accepted', async () => {
    const token = await login(await user());
    const load = traffic([token]);
    await new Promise((r) => setTimeout(r, 150));
    await request(base).post('/auth/logout').set('Authorization', `Bearer ${token}`).expect(204);
    const returnedAt = performance.now();
    await new Promise((r) => setTimeout(r, 150));
    await load.stop();

    const before = load.results.filter((r) => r.startedAt < returnedAt);
    const after = load.results.filter((r) => r.startedAt > returnedAt);
    expect(before.some((r) => r.status === 200)).toBe(true);
    expect(after.length).toBeGreaterThan(5);
    expect(after.filter((r) => r.status !== 401)).toEqual([]);
    expect(load.results.every((r) => r.status === 200 || r.status === 401)).toBe(true);
  });

  it('logout-all during traffic on several sessions: every one refused afterwards', async () => {
    const credentials = await user();
    const tokens = [await login(credentials), await login(credentials), await login(credentials)];
    const load = traffic(tokens);
    await new Promise((r) => setTimeout(r, 150));
    await request(base).post('/auth/logout-all').set('Authorization', `Bearer ${tokens[0]}`).expect(204);
    const returnedAt = performance.now();
    await new Promise((r) => setTimeout(r, 150));
    await load.stop();

    const after = load.results.filter((r) => r.startedAt > returnedAt);
    expect(new Set(after.map((r) => r.token)).size).toBe(3);
    expect(after.filter((r) => r.status !== 401)).toEqual([]);
  });

  it('login during a logout-all of the same user: the new session survives, the old ones do not', async () => {
    const credentials = await user();
    const old = await Promise.all([1, 2, 3].map(() => login(credentials)));
    const [, fresh] = await Promise.all([
      request(base).post('/auth/logout-all').set('Authorization', `Bearer ${old[0]}`).expect(204),
      // Started after the logout-all was sent: either order is allowed, but the answers must agree.
      new Promise((r) => setTimeout(r, 1)).then(() => login(credentials)),
    ]);
    for (const token of old) await request(base).get('/me').set('Authorization', `Bearer ${token}`).expect(401);
    const status = (await request(base).get('/me').set('Authorization', `Bearer ${fresh}`)).status;
    expect([200, 401]).toContain(status);
    const listed = await request(base).get('/sessions').set('Authorization', `Bearer ${fresh}`);
    // Consistent: if the fresh session works, it is the only one left; if not, it is gone too.
    if (status === 200) expect(listed.body).toHaveLength(1);
    else expect(listed.status).toBe(401);
  });
});
