import type { INestApplication } from '@nestjs/common';
import fc from 'fast-check';
import request from 'supertest';
import { createDemoApp, type HttpAdapterName } from '../sample/app.js';
import { isWellFormedToken, SessionStore } from '../src/index.js';
import { countCalls, resetCalls, totalCalls } from './support/app.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { listen } from './support/http.js';

// Everything a client controls, thrown at the demo: the answer is a 4xx with a plain body, never
// a 5xx or a stack trace, and a malformed token never reaches the store.
const RUNS = Number(process.env.FUZZ_RUNS ?? 150);
const LEAK = /\bat [\w.<>]+ \(|\w+Error\b|QueryFailed|typeorm|node_modules|SessionService|SessionStore|\.ts:\d+|SELECT |postgres/i;

// Header values Node's HTTP client will send: visible ASCII, spaces and tabs, and Latin-1 bytes.
const headerChar = fc.oneof(
  fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  fc.constantFrom('\t', 'é', 'ÿ', '=', ';', ',', '"', '%', '\\\\'),
);
const headerText = (maxLength: number) => fc.string({ unit: headerChar, maxLength });
const tokenLike = fc.oneof(
  headerText(80),
  fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/='.split('')), minLength: 40, maxLength: 46 }),
  fc.constant('A'.repeat(42) + 'B'),
);

describe.each<HttpAdapterName>(['express', 'fastify'])('fuzzing the demo on %s', (adapter) => {
  let db: TestDatabase;
  let app: INestApplication;
  let base: string;
  let calls: Record<string, number>;
  let valid: string;

  beforeAll(async () => {
    db = await createTestDatabase(`nss_fuzz_${adapter}`);
    app = await createDemoApp({ databaseUrl: db.url, session: { cleanup: false } }, adapter);
    base = await listen(app);
    calls = countCalls(app.get(SessionStore));
    await request(base).post('/auth/register').send({ email: 'fuzz@example.test', password: 'correct horse battery' }).expect(201);
    valid = (await request(base).post('/auth/login').send({ email: 'fuzz@example.test', password: 'correct horse battery' }).expect(200)).body.token;
  }, 60_000);
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  function plain(res: request.Response): void {
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.text).not.toMatch(LEAK);
  }

  it(`bearer tokens (${RUNS} runs): 401, and no store call for a malformed one`, async () => {
    await fc.assert(
      fc.asyncProperty(tokenLike, fc.constantFrom('Bearer ', 'bearer ', 'Bearer  ', 'Basic ', 'Token ', ''), async (token, scheme) => {
        resetCalls(calls);
        const res = await request(base).get('/me').set('Authorization', scheme + token);
        plain(res);
        expect(res.status).toBe(401);
        expect(res.body).toEqual({ statusCode: 401, message: 'Unauthorized' });
        if (!isWellFormedToken(token.trim())) expect(totalCalls(calls)).toBe(0);
      }),
      { numRuns: RUNS },
    );
  });

  it(`cookie headers (${RUNS} runs): duplicates, odd encodings and values up to 8 KB get a 401`, async () => {
    const pair = fc.tuple(fc.constantFrom('session', 'Session', 'session ', 'sess', '', 'x'), tokenLike).map(([k, v]) => `${k}=${v}`);
    const header = fc.oneof(
      fc.array(pair, { maxLength: 6 }).map((pairs) => pairs.join('; ')),
      headerText(200),
      fc.integer({ min: 1_000, max: 8_000 }).map((n) => `session=${'a'.repeat(n)}`),
      tokenLike.map((t) => `session=${encodeURIComponent(t)}; session=${t}`),
    );
    await fc.assert(
      fc.asyncProperty(header, async (cookie) => {
        resetCalls(calls);
        const res = await request(base).get('/me').set('Cookie', cookie);
        plain(res);
        expect(res.status).toBe(401);
        // As RFC 6265 reads a Cookie header: names and values trimmed, one pair of quotes dropped.
        const values = cookie
          .split(';')
          .filter((p) => p.includes('=') && p.slice(0, p.indexOf('=')).trim() === 'session')
          .map((p) => p.slice(p.indexOf('=') + 1).trim().replace(/^"(.*)"$/, '$1'));
        if (!values.some(isWellFormedToken)) expect(totalCalls(calls)).toBe(0);
      }),
      { numRuns: RUNS },
    );
  });

  it(`session ids in DELETE /sessions/:id (${RUNS} runs): 404 for anything not the caller's`, async () => {
    // The caller's own session (id 1 in this fresh database, a value the generators below do
    // produce) would rightly be revoked: it is the one id left out.
    const [own] = (await request(base).get('/sessions').set('Authorization', `Bearer ${valid}`).expect(200)).body as { id: string }[];
    const id = fc
      .oneof(
        fc.string({ maxLength: 30 }),
        fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
        fc.constantFrom('0', '-1', '1e3', '0x10', '9223372036854775808', '1.0', ' 1', "1' OR '1'='1", '../me'),
      )
      .filter((raw) => raw !== own.id);
    await fc.assert(
      fc.asyncProperty(id, async (raw) => {
        const res = await request(base).delete(`/sessions/${encodeURIComponent(raw)}`).set('Authorization', `Bearer ${valid}`);
        plain(res);
        expect(res.status).toBe(404);
      }),
      { numRuns: RUNS },
    );
    await request(base).get('/me').set('Authorization', `Bearer ${valid}`).expect(200);
  });

  it(`login bodies (${RUNS} runs): 400 or 401, never a 5xx`, async () => {
    const value = fc.oneof(fc.string({ maxLength: 300 }), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 3 }), fc.object({ maxDepth: 1 }));
    await fc.assert(
      fc.asyncProperty(fc.record({ email: value, password: value }, { requiredKeys: [] }), async (body) => {
        const res = await request(base).post('/auth/login').send(body);
        plain(res);
        expect([400, 401]).toContain(res.status);
      }),
      { numRuns: RUNS },
    );
  });
});
