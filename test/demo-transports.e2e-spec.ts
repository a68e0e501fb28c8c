import type { INestApplication } from '@nestjs/common';
import { io, type Socket } from 'socket.io-client';
import request from 'supertest';
import { createDemoApp, type HttpAdapterName } from '../sample/app.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { listen, setCookie } from './support/http.js';

// The demo's GraphQL endpoint (Apollo on Express, Mercurius on Fastify) and its socket.io
// gateway, over the network, as the README shows them.
describe.each<HttpAdapterName>(['express', 'fastify'])('demo transports on %s', (adapter) => {
  let db: TestDatabase;
  let app: INestApplication;
  let base: string;
  const sockets: Socket[] = [];
  let seq = 0;

  beforeAll(async () => {
    db = await createTestDatabase(`nss_demo_transports_${adapter}`);
    app = await createDemoApp({ databaseUrl: db.url, session: { storeTimeout: '2s' } }, adapter);
    base = await listen(app);
  });
  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.close();
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  async function login(): Promise<{ id: string; email: string; token: string }> {
    const email = `transports${++seq}@example.test`;
    const password = 'correct horse battery';
    await request(base).post('/auth/register').send({ email, password }).expect(201);
    const res = await request(base).post('/auth/login').send({ email, password }).expect(200);
    // Registering does not say whether it made an account: the id is what /me answers.
    const me = await request(base).get('/me').set('Authorization', `Bearer ${res.body.token}`).expect(200);
    return { id: me.body.id, email, token: res.body.token };
  }

  const graphql = (query: string, cookie?: string) => {
    const req = request(base).post('/graphql').send({ query });
    return cookie ? req.set('Cookie', cookie) : req;
  };

  function connect(headers: Record<string, string> = {}): Promise<{ socket: Socket; error?: Error }> {
    const socket = io(base, { transports: ['websocket'], reconnection: false, extraHeaders: headers });
    sockets.push(socket);
    return new Promise((resolve) => {
      socket.once('connect', () => resolve({ socket }));
      socket.once('connect_error', (error) => resolve({ socket, error }));
    });
  }

  it('answers `me { id email }` for the session cookie, and UNAUTHENTICATED without one', async () => {
    const user = await login();
    const res = await graphql('{ me { id email } }', `session=${user.token}`).expect(200);
    expect(res.body).toEqual({ data: { me: { id: user.id, email: user.email } } });

    const refused = await graphql('{ me { id email } }').expect(200);
    expect(refused.body.data).toBeNull();
    expect(refused.body.errors).toEqual([expect.objectContaining({ message: 'Unauthorized', extensions: { code: 'UNAUTHENTICATED' } })]);
  });

  it('logs out with `mutation { logout }`: the cookie is cleared and the token is dead', async () => {
    const user = await login();
    const res = await graphql('mutation { logout }', `session=${user.token}`).expect(200);
    expect(res.body).toEqual({ data: { logout: true } });
    expect(setCookie(res.headers)).toMatchObject({ value: '', attributes: { 'max-age': '0' } });
    const after = await graphql('{ me { id } }', `session=${user.token}`);
    expect(after.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    await request(base).get('/me').set('Cookie', `session=${user.token}`).expect(401);
  });

  it('acknowledges `whoami` with { id, email } on a socket opened with the session cookie', async () => {
    const user = await login();
    const { socket, error } = await connect({ cookie: `session=${user.token}` });
    expect(error).toBeUndefined();
    await expect(socket.timeout(2_000).emitWithAck('whoami')).resolves.toEqual({ id: user.id, email: user.email });
  });

  it('refuses a socket without a session with the message Unauthorized', async () => {
    const { socket, error } = await connect();
    expect(error?.message).toBe('Unauthorized');
    expect(socket.connected).toBe(false);
  });

  it('disconnects the socket within a second of a logout over HTTP', async () => {
    const user = await login();
    const { socket } = await connect({ cookie: `session=${user.token}` });
    expect(socket.connected).toBe(true);
    const disconnected = new Promise<{ reason: string; at: number }>((resolve) => socket.once('disconnect', (reason) => resolve({ reason, at: Date.now() })));
    const start = Date.now();
    await request(base).post('/auth/logout').set('Cookie', `session=${user.token}`).expect(204);
    const { reason, at } = await disconnected;
    expect(reason).toBe('io server disconnect');
    expect(at - start).toBeLessThan(1_000);
  });
});
