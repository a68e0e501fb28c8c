import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { SessionModule } from '../../src/index.js';
import { createSessionTestApp, type SessionTestAppBase, type TestUser } from '../support/app.js';
import { createTestDatabase } from '../support/database.js';
import { createStandaloneSessionTestApp, MemoryUsers } from '../support/standalone-app.js';
import {
  closeClients,
  connect,
  ENDED_BY_SERVER,
  median,
  REDIS_URL,
  redisPrefix,
  redisSessions,
  refusal,
  REFUSED,
  type SocketApp,
  type SocketTransport,
  startSocketApp,
  type TestClient,
  within,
} from './socket-apps.js';

// Two instances of one app sharing one store: A revokes (it holds no sockets), B holds the
// sockets. Only the invalidation bus tells B; B then checks the store and closes the socket.

/** How soon a revocation on A must have closed the socket on B. */
const CLOSE_BOUND_MS = 1_000;
const ROUNDS = 10;
const SOCKETS = 100;
const SESSIONS = 10;

interface Cluster {
  a: SessionTestAppBase;
  /** The same store with broadcast off: a revocation no other instance hears of. */
  silent: SessionTestAppBase;
  b: SocketApp;
  /** Whether B keeps a cache (and so starts its bus at startup). */
  cachedOnB: boolean;
  /** LISTEN connections on the database (PostgreSQL only). */
  busConnections(): Promise<number>;
  close(): Promise<void>;
}

async function redisCluster(transport: SocketTransport): Promise<Cluster> {
  const users = new MemoryUsers();
  const keyPrefix = redisPrefix('revocation');
  const storage = { type: 'redis' as const, url: REDIS_URL, keyPrefix };
  const a = await createStandaloneSessionTestApp({ cleanup: false, storage }, users);
  const silent = await createStandaloneSessionTestApp({ cleanup: false, storage, broadcast: false }, users);
  const b = await startSocketApp({ adapter: transport, imports: [redisSessions(users, keyPrefix)] });
  return {
    a,
    silent,
    b,
    cachedOnB: true,
    busConnections: () => Promise.reject(new Error('not counted on Redis')),
    close: async () => {
      await b.app.close();
      await Promise.all([a.close(), silent.close()]);
    },
  };
}

async function postgresCluster(transport: SocketTransport): Promise<Cluster> {
  const db = await createTestDatabase('nss_sockrev');
  // No cache on A either: nothing but B's sockets can start a bus listening on this database.
  const a = await createSessionTestApp(db.url, { cleanup: false, cache: false });
  const silent = await createSessionTestApp(db.url, { cleanup: false, cache: false, broadcast: false });
  const b = await startSocketApp({
    adapter: transport,
    imports: [
      TypeOrmModule.forRoot({ type: 'postgres', url: db.url, autoLoadEntities: true }),
      SessionModule.forRootAsync({
        inject: [DataSource],
        useFactory: (dataSource: DataSource) => ({
          cleanup: false,
          cache: false,
          resolveUser: async (id: string) => ((await dataSource.query('SELECT id, email FROM users WHERE id = $1', [id])) as TestUser[])[0] ?? null,
        }),
      }),
    ],
  });
  const bus = b.app.get(DataSource);
  return {
    a,
    silent,
    b,
    cachedOnB: false,
    busConnections: async () =>
      ((await bus.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'nestjs-sessions-invalidation'`)) as { n: number }[])[0]!.n,
    close: async () => {
      await b.app.close();
      await Promise.all([a.close(), silent.close()]);
      await db.drop();
    },
  };
}

const figures = (xs: number[]) => `min ${Math.min(...xs).toFixed(1)} ms, median ${median(xs).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms`;

describe.each([
  ['Redis pub/sub', 'io', redisCluster, false],
  ['Redis pub/sub', 'ws', redisCluster, false],
  ['PostgreSQL LISTEN/NOTIFY', 'io', postgresCluster, true],
  ['PostgreSQL LISTEN/NOTIFY', 'ws', postgresCluster, true],
] as const)('revocation on one instance over %s closes %s sockets on another', (bus, transport: SocketTransport, start, lazyBus) => {
  let cluster: Cluster;
  const name = `${transport === 'io' ? 'socket.io' : 'ws'} over ${bus}`;

  beforeAll(async () => {
    cluster = await start(transport);
  });
  afterEach(closeClients);
  afterAll(() => cluster?.close());

  async function newUser(): Promise<TestUser> {
    const email = `user-${randomUUID()}@example.test`;
    return { id: await cluster.a.createUser(email), email };
  }
  async function login(user: TestUser) {
    const { token, session } = await cluster.a.sessions.createSession({ userId: user.id });
    return { token, sessionId: session.id };
  }
  const socketOnB = (token: string) => connect(transport, cluster.b.url, { bearer: token });

  // First in this block on purpose: it needs B never to have had a socket. Only B can start a
  // bus there (A has no cache), and B without a cache starts it for its first socket.
  if (lazyBus) {
    it("starts B's bus with its first socket, not at startup, since B has no cache", async () => {
      const before = await cluster.busConnections();
      const user = await newUser();
      const client = await socketOnB((await login(user)).token);
      expect(await client.call('whoami')).toEqual({ reply: user });
      expect({ before, after: await cluster.busConnections() }).toEqual({ before: 0, after: 1 });
    });
  }

  it(`closes B's socket within ${CLOSE_BOUND_MS} ms of a logout on A, round after round`, async () => {
    const user = await newUser();
    const times: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const { token } = await login(user);
      const client = await socketOnB(token);
      const started = performance.now();
      const revoked = cluster.a.sessions.revokeSession(token);
      const { how, at } = await within(client.ended, 5 * CLOSE_BOUND_MS, `round ${round}: the socket on B`);
      expect(await revoked).toBe(true);
      expect(how).toBe(ENDED_BY_SERVER[transport]);
      times.push(at - started);
    }
    console.log(`${name}: logout on A -> socket on B disconnected, ${ROUNDS} rounds: ${figures(times)}`);
    expect(Math.max(...times)).toBeLessThan(CLOSE_BOUND_MS);
  });

  it(`closes all ${SOCKETS} sockets of a user on B within ${CLOSE_BOUND_MS} ms of a logout-all on A; another user's stays`, async () => {
    const user = await newUser();
    const other = await newUser();
    const tokens = await Promise.all(Array.from({ length: SESSIONS }, async () => (await login(user)).token));
    const sockets = await Promise.all(Array.from({ length: SOCKETS }, (_, i) => socketOnB(tokens[i % SESSIONS]!)));
    const bystander = await socketOnB((await login(other)).token);

    const started = performance.now();
    expect(await cluster.a.sessions.revokeAllUserSessions(user.id)).toBe(SESSIONS);
    const ended = await within(Promise.all(sockets.map((s) => s.ended)), 5 * CLOSE_BOUND_MS, `the ${SOCKETS} sockets on B`);
    const last = Math.max(...ended.map((e) => e.at)) - started;
    console.log(`${name}: logout-all on A -> ${SOCKETS} sockets over ${SESSIONS} sessions on B all disconnected in ${last.toFixed(1)} ms`);
    expect(new Set(ended.map((e) => e.how))).toEqual(new Set([ENDED_BY_SERVER[transport]]));
    expect(last).toBeLessThan(CLOSE_BOUND_MS);
    expect(bystander.open).toBe(true);
    expect(await bystander.call('whoami')).toEqual({ reply: other });
  });

  it("closes only the revoked session's socket on a revoke by id on A, and another user cannot revoke it", async () => {
    const user = await newUser();
    const stranger = await newUser();
    const [first, second] = [await login(user), await login(user)];
    const doomed = await socketOnB(first.token);
    const kept: TestClient = await socketOnB(second.token);

    expect(await cluster.a.sessions.revokeUserSession(stranger.id, second.sessionId)).toBe(false);
    expect(await cluster.a.sessions.revokeUserSession(user.id, first.sessionId)).toBe(true);
    expect((await within(doomed.ended, 5 * CLOSE_BOUND_MS, 'the revoked socket on B')).how).toBe(ENDED_BY_SERVER[transport]);
    expect(kept.open).toBe(true);
    expect(await kept.call('me')).toEqual({ reply: { user, sessionId: second.sessionId } });
  });

  it('refuses, at once, a token revoked on A just before it connects to B, after B had validated it', async () => {
    const user = await newUser();
    const { token } = await login(user);
    expect((await cluster.b.sessions.authenticate(token))?.user).toEqual(user);
    const seen = cluster.b.gateway.connections.length;
    expect(await cluster.a.sessions.revokeSession(token)).toBe(true);
    expect(await refusal(transport, cluster.b.url, { bearer: token })).toEqual(REFUSED[transport][401]);
    expect(cluster.b.gateway.connections.length).toBe(seen);
  });

  it("refuses a revoked token at B's handshake even while B's cache still serves it", async () => {
    const user = await newUser();
    const { token } = await login(user);
    expect((await cluster.b.sessions.authenticate(token))?.user).toEqual(user);
    // Revoked where no broadcast goes: B's cache (when it has one) is stale until its ttl.
    expect(await cluster.silent.sessions.revokeSession(token)).toBe(true);
    expect(await cluster.b.sessions.validateSession(token)).toEqual(cluster.cachedOnB ? user : null);
    expect(await refusal(transport, cluster.b.url, { cookie: token })).toEqual(REFUSED[transport][401]);
  });
});
