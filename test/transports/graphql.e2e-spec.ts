import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { setCookie } from '../support/http.js';
import { type Driver, type GraphqlApp, MAX_AGE_MS, type SchemaStyle, startGraphqlApp, STORE_TIMEOUT_MS, UPDATE_AGE_MS, USERS } from './graphql-apps.js';

// SessionGuard in GraphQL resolvers, over real HTTP: Apollo on Express and Mercurius on
// Fastify, each with a code-first schema (SessionGuard as APP_GUARD) and a schema-first one
// (@UseGuards on the resolvers). The store is Redis behind a proxy the outage test cuts.

// One store call may take storeTimeout before the 503; as much again for a busy machine.
const OUTAGE_BOUND_MS = 2 * STORE_TIMEOUT_MS;
// ioredis reconnects with a backoff; past this the service did not come back by itself.
const RECOVERY_BOUND_MS = 5_000;
// Past this the client gives up: a hang, not an answer.
const HANG_MS = 4_000;

const ME = '{ me { id email } }';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface GraphqlBody {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

const COMBINATIONS: [Driver, SchemaStyle][] = [
  ['apollo', 'code-first'],
  ['apollo', 'schema-first'],
  ['mercurius', 'code-first'],
  ['mercurius', 'schema-first'],
];

describe.each(COMBINATIONS)('SessionGuard on GraphQL: %s, %s', (driver, style) => {
  let gql: GraphqlApp;

  beforeAll(async () => {
    gql = await startGraphqlApp(driver, style);
  });
  afterAll(async () => {
    await gql?.close();
  });

  function post(query: string, headers: Record<string, string> = {}) {
    return request(gql.base).post('/graphql').set(headers).send({ query }).timeout(HANG_MS);
  }
  const cookie = (token: string) => ({ Cookie: `session=${token}` });
  const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
  const login = (userId: string) => gql.sessions.createSession({ userId });
  /** The refusal as a client sees it: the data, and each error's code and message. */
  function refusal(body: GraphqlBody) {
    return { data: body.data, codes: body.errors?.map((e) => e.extensions?.code), messages: body.errors?.map((e) => e.message) };
  }

  it('answers me by cookie and by bearer, with the session the token belongs to', async () => {
    const { token, session } = await login('alice');
    const { id, email } = USERS.get('alice')!;
    for (const headers of [cookie(token), bearer(token)]) {
      const res = await post('{ me { id email } sessionId }', headers).expect(200);
      expect(res.body).toEqual({ data: { me: { id, email }, sessionId: session.id } });
    }
  });

  it('refuses no session, an unknown token and a revoked one with UNAUTHENTICATED and no data', async () => {
    const { token } = await login('alice');
    await post(ME, bearer(token)).expect(200);
    await gql.sessions.revokeSession(token);
    const cases = {
      none: {},
      'unknown token': bearer(randomBytes(32).toString('base64url')),
      'revoked bearer': bearer(token),
      'revoked cookie': cookie(token),
      'malformed bearer': bearer('not-a-token'),
    };
    for (const [name, headers] of Object.entries(cases)) {
      const res = await post(ME, headers);
      expect({ name, ...refusal(res.body) }).toEqual({ name, data: null, codes: ['UNAUTHENTICATED'], messages: ['Unauthorized'] });
    }
  });

  it('lets a @Public() query through without a session and refuses an undecorated one', async () => {
    const open = await post('{ hello }').expect(200);
    expect(open.body).toEqual({ data: { hello: 'hello, anyone' } });
    const closed = await post('{ sessionId }');
    expect(refusal(closed.body)).toMatchObject({ data: null, codes: ['UNAUTHENTICATED'] });
  });

  it("answers FORBIDDEN to a session without @RequireSession()'s permission, data to one with it", async () => {
    const alice = await login('alice');
    const denied = await post('{ adminReport }', bearer(alice.token));
    expect(refusal(denied.body)).toEqual({ data: null, codes: ['FORBIDDEN'], messages: ['Forbidden'] });
    const root = await login('root');
    const granted = await post('{ adminReport }', cookie(root.token)).expect(200);
    expect(granted.body).toEqual({ data: { adminReport: 'report for root' } });
  });

  it('answers REAUTHENTICATION_REQUIRED to a freshWithin query once the login is older', async () => {
    const { token } = await login('alice');
    expect((await post('{ freshReport }', bearer(token)).expect(200)).body).toEqual({ data: { freshReport: 'fresh for alice' } });
    gql.clock.advance(5 * 60_000 + 1);
    const stale = await post('{ freshReport }', bearer(token));
    expect(refusal(stale.body)).toEqual({ data: null, codes: ['REAUTHENTICATION_REQUIRED'], messages: ['Reauthentication required'] });
  });

  it('re-sends the cookie with the new Max-Age when the expiry slid, and only then', async () => {
    const { token } = await login('alice');
    const fresh = await post(ME, cookie(token)).expect(200);
    expect(fresh.body.data.me.id).toBe('alice');
    expect(setCookie(fresh.headers)).toBeUndefined();

    gql.clock.advance(UPDATE_AGE_MS + 60_000);
    const slid = await post(ME, cookie(token)).expect(200);
    expect(slid.body.data.me.id).toBe('alice');
    expect(setCookie(slid.headers)).toMatchObject({ value: token, attributes: { 'max-age': String(MAX_AGE_MS / 1000), httponly: true } });

    // Just written: the next slide is updateAge away.
    const again = await post(ME, cookie(token)).expect(200);
    expect(setCookie(again.headers)).toBeUndefined();

    // A bearer client keeps its own token: its slide sends no cookie.
    gql.clock.advance(UPDATE_AGE_MS + 60_000);
    const byBearer = await post(ME, bearer(token)).expect(200);
    expect(byBearer.body.data.me.id).toBe('alice');
    expect(setCookie(byBearer.headers)).toBeUndefined();
  });

  it('logs out through a mutation: the cookie is cleared and the token no longer works', async () => {
    const { token } = await login('alice');
    await post(ME, cookie(token)).expect(200);
    const res = await post('mutation { logout }', cookie(token)).expect(200);
    expect(res.body).toEqual({ data: { logout: true } });
    expect(setCookie(res.headers)).toMatchObject({ value: '', attributes: { 'max-age': '0' } });
    for (const headers of [cookie(token), bearer(token)]) {
      expect(refusal((await post(ME, headers)).body).codes).toEqual(['UNAUTHENTICATED']);
    }
  });

  it('logs a refusal as no error: the 401 is not an internal failure', async () => {
    gql.logger.lines.length = 0;
    const res = await post(ME);
    expect(refusal(res.body).codes).toEqual(['UNAUTHENTICATED']);
    // The capture is wired: the guard's own debug line reached it.
    expect(gql.logger.at('debug').map((l) => `${l.context}: ${l.message}`)).toContain('SessionGuard: refused: no session token');
    expect(gql.logger.at('error', 'fatal')).toEqual([]);
  });

  it('answers SERVICE_UNAVAILABLE within the bound while Redis is cut, and recovers after restore', async () => {
    const { token } = await login('alice');
    let outage: { ms: number; body: GraphqlBody };
    try {
      await gql.proxy.cut();
      const started = performance.now();
      const res = await post(ME, bearer(token));
      outage = { ms: performance.now() - started, body: res.body };
    } finally {
      gql.proxy.restore();
    }
    expect(refusal(outage.body)).toEqual({ data: null, codes: ['SERVICE_UNAVAILABLE'], messages: ['Service Unavailable'] });
    expect(outage.ms).toBeLessThan(OUTAGE_BOUND_MS);

    const restored = performance.now();
    let body: GraphqlBody | undefined;
    while (performance.now() - restored < RECOVERY_BOUND_MS) {
      const answer: GraphqlBody = (await post(ME, bearer(token))).body;
      body = answer;
      if (answer.data) break;
      await sleep(50);
    }
    process.stdout.write(`graphql ${driver} ${style}: 503 in ${outage.ms.toFixed(0)} ms, back ${(performance.now() - restored).toFixed(0)} ms after restore\n`);
    // The same session as before the outage: nobody was logged out by it.
    expect(body).toEqual({ data: { me: { id: 'alice', email: USERS.get('alice')!.email } } });
  });
});
