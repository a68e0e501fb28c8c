import { randomBytes, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { TestUser } from '../support/app.js';
import { MemoryUsers } from '../support/standalone-app.js';
import { startProxy, type TcpProxy } from '../support/tcp-proxy.js';
import {
  closeClients,
  connect,
  type Credentials,
  ENDED_BY_SERVER,
  OpenGateway,
  RoomGateway,
  REDIS_URL,
  redisPrefix,
  redisSessions,
  refusal,
  REFUSED,
  SessionGateway,
  type SocketApp,
  sleep,
  type SocketTransport,
  startSocketApp,
  within,
} from './socket-apps.js';

// Real apps on loopback ports, real socket.io and ws clients, sessions in a real Redis.

const STORE_TIMEOUT_MS = 1_000;
const users = new MemoryUsers();

/** A user (an admin when asked) and a fresh session of theirs on `on`. */
async function login(on: SocketApp, admin = false) {
  const user = users.resolve(users.create(`${admin ? 'admin' : 'user'}-${randomUUID()}@example.test`)) as TestUser;
  const { token, session } = await on.sessions.createSession({ userId: user.id });
  return { user, token, sessionId: session.id, expires: session.expires.getTime() };
}

const unknownToken = () => randomBytes(32).toString('base64url');
const exception = (message: string) => ({ exception: expect.objectContaining({ status: 'error', message }) });

afterEach(closeClients);

describe.each([
  ['socket.io', 'express', 'io'],
  ['socket.io', 'fastify', 'io'],
  ['ws', 'express', 'ws'],
] as const)('%s gateways with the session adapter on %s', (_name, platform, transport: SocketTransport) => {
  let app: SocketApp;
  const ways: (keyof Credentials)[] = transport === 'io' ? ['cookie', 'bearer', 'auth'] : ['cookie', 'bearer'];

  beforeAll(async () => {
    app = await startSocketApp({ adapter: transport, platform, imports: [redisSessions(users, redisPrefix('sockets'))] });
  });
  afterAll(() => app?.app.close());

  it.each(ways)('authenticates the handshake by %s: handleConnection and @CurrentUser() see the user', async (way) => {
    const { user, token, sessionId } = await login(app);
    const seen = app.gateway.connections.length;
    const client = await connect(transport, app.url, { [way]: token });
    expect(await client.call('whoami')).toEqual({ reply: user });
    expect(await client.call('me')).toEqual({ reply: { user, sessionId } });
    expect(app.gateway.connections.slice(seen)).toEqual([user]);
  });

  it('refuses a handshake with no token, an unknown, a malformed or a revoked one, before handleConnection', async () => {
    const { token } = await login(app);
    expect(await app.sessions.revokeSession(token)).toBe(true);
    const seen = app.gateway.connections.length;
    const attempts: Credentials[] = [{}, { bearer: unknownToken() }, { cookie: unknownToken() }, { cookie: 'junk' }, ...ways.map((way) => ({ [way]: token }))];
    for (const cred of attempts) expect(await refusal(transport, app.url, cred)).toEqual(REFUSED[transport][401]);
    expect(app.gateway.connections.length).toBe(seen);
  });

  it("answers a message whose @RequireSession permission the session lacks with a Forbidden exception, and keeps the socket", async () => {
    const plain = await login(app);
    const admin = await login(app, true);
    const denied = await connect(transport, app.url, { bearer: plain.token });
    const allowed = await connect(transport, app.url, { bearer: admin.token });
    expect(await denied.call('admin')).toEqual(exception('Forbidden'));
    expect(await allowed.call('admin')).toEqual({ reply: { admin: admin.user.id } });
    expect(await denied.call('whoami')).toEqual({ reply: plain.user });
  });

  it('ends a socket when its session is revoked, leaving another session of the same user open', async () => {
    const first = await login(app);
    const second = await app.sessions.createSession({ userId: first.user.id });
    const doomed = await connect(transport, app.url, { bearer: first.token });
    const kept = await connect(transport, app.url, { cookie: second.token });
    await app.sessions.revokeSession(first.token);
    expect((await within(doomed.ended, 5_000, 'the revoked socket')).how).toBe(ENDED_BY_SERVER[transport]);
    expect(await kept.call('whoami')).toEqual({ reply: first.user });
  });

  describe('when the session expires', () => {
    let short: SocketApp;
    beforeAll(async () => {
      // updateAge just under maxAge: the handshake, milliseconds after the login, cannot slide
      // the expiry, so the socket must close at the expiry the login wrote.
      short = await startSocketApp({ adapter: transport, platform, imports: [redisSessions(users, redisPrefix('expiry'), { maxAge: '2s', updateAge: '1900ms' })] });
    });
    afterAll(() => short?.app.close());

    it('closes the socket within a second after the expiry, not before', async () => {
      const { user, token, expires } = await login(short);
      const client = await connect(transport, short.url, { bearer: token });
      expect(await client.call('whoami')).toEqual({ reply: user });
      const { how, wall } = await within(client.ended, 5_000, 'the expired socket');
      expect(how).toBe(ENDED_BY_SERVER[transport]);
      expect(wall).toBeGreaterThanOrEqual(expires);
      expect(wall - expires).toBeLessThan(1_000);
    });
  });

  describe('when the store is down', () => {
    let proxy: TcpProxy;
    let down: SocketApp;
    beforeAll(async () => {
      const redis = new URL(REDIS_URL);
      proxy = await startProxy(redis.hostname, Number(redis.port || 6379));
      const keyPrefix = redisPrefix('outage');
      down = await startSocketApp({
        adapter: transport,
        platform,
        imports: [redisSessions(users, keyPrefix, { storage: { type: 'redis', url: proxy.url(REDIS_URL), keyPrefix }, storeTimeout: '1s' })],
      });
    });
    afterAll(async () => {
      proxy?.restore();
      await down?.app.close();
      await proxy?.close();
    });

    it('refuses the handshake with Service Unavailable, not Unauthorized, within the store timeout; accepts it once the store is back', async () => {
      const { user, token } = await login(down);
      const seen = down.gateway.connections.length;
      await proxy.cut();
      const started = performance.now();
      expect(await refusal(transport, down.url, { bearer: token })).toEqual(REFUSED[transport][503]);
      // One store read stands between the handshake and its answer; as much again for a busy machine.
      expect(performance.now() - started).toBeLessThan(2 * STORE_TIMEOUT_MS);
      expect(down.gateway.connections.length).toBe(seen);

      proxy.restore();
      const deadline = performance.now() + 10_000;
      for (;;) {
        const client = await connect(transport, down.url, { bearer: token }).catch((error: Error) => error);
        if (!(client instanceof Error)) {
          expect(await client.call('whoami')).toEqual({ reply: user });
          break;
        }
        if (performance.now() > deadline) throw new Error(`still refused 10 s after the store came back: ${client.message}`);
        await sleep(100);
      }
    });
  });
});

describe('socket.io publicNamespaces', () => {
  let app: SocketApp;
  beforeAll(async () => {
    app = await startSocketApp({ adapter: 'io', imports: [redisSessions(users, redisPrefix('public'))], gateways: [SessionGateway, OpenGateway], publicNamespaces: ['/open'] });
  });
  afterAll(() => app?.app.close());

  it("lets an anonymous socket into '/open', where guarded messages still need a session, while '/' refuses it", async () => {
    const anonymous = await connect('io', app.url, { namespace: '/open' });
    expect(await anonymous.call('whoami')).toEqual({ reply: { anonymous: true } });
    expect(await anonymous.call('me')).toEqual(exception('Unauthorized'));
    expect(await refusal('io', app.url)).toEqual(REFUSED.io[401]);
  });

  it("lets a socket with a session in '/open' through a guarded message", async () => {
    const { user, token, sessionId } = await login(app);
    const client = await connect('io', app.url, { namespace: '/open', auth: token });
    expect(await client.call('me')).toEqual({ reply: { user, sessionId } });
  });
});

describe('socket.io namespaces matched by a RegExp', () => {
  let app: SocketApp;
  beforeAll(async () => {
    app = await startSocketApp({ adapter: 'io', imports: [redisSessions(users, redisPrefix('room'))], gateways: [SessionGateway, RoomGateway] });
  });
  afterAll(() => app?.app.close());

  it('are authenticated like any other: refused without a session, served with one', async () => {
    expect(await refusal('io', app.url, { namespace: '/room-7' })).toEqual(REFUSED.io[401]);
    const { user, token } = await login(app);
    const client = await connect('io', app.url, { namespace: '/room-7', auth: token });
    expect(await client.call('whoami')).toEqual({ reply: user });
  });
});

describe("SessionGuard on socket.io's plain IoAdapter (no SessionIoAdapter)", () => {
  let app: SocketApp;
  beforeAll(async () => {
    app = await startSocketApp({ adapter: 'plain-io', imports: [redisSessions(users, redisPrefix('plain'))] });
  });
  afterAll(() => app?.app.close());

  it('answers a guarded message without a valid session with an Unauthorized exception, never an internal error', async () => {
    for (const cred of [{}, { auth: unknownToken() }, { bearer: 'junk' }]) {
      const client = await connect('io', app.url, cred);
      expect(await client.call('me')).toEqual(exception('Unauthorized'));
      expect(await client.call('admin')).toEqual(exception('Unauthorized'));
    }
  });

  it.each(['cookie', 'bearer', 'auth'] as const)(
    'authenticates from the %s of the handshake at the first guarded message, then closes the socket when the session is revoked',
    async (way) => {
      const { user, token, sessionId } = await login(app);
      const client = await connect('io', app.url, { [way]: token });
      // Nothing attached the session at the handshake: the adapter is what does that.
      expect(await client.call('whoami')).toEqual({ reply: { anonymous: true } });
      expect(await client.call('me')).toEqual({ reply: { user, sessionId } });
      expect(await client.call('whoami')).toEqual({ reply: user });
      expect(await client.call('admin')).toEqual(exception('Forbidden'));
      await app.sessions.revokeSession(token);
      expect((await within(client.ended, 5_000, 'the revoked socket')).how).toBe(ENDED_BY_SERVER.io);
    },
  );
});
