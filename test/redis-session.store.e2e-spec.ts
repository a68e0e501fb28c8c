import { randomBytes } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { RedisSessionStore } from '../src/stores/redis/redis-session.store.js';
import type { NewStoredSession, StoredSession } from '../src/stores/session-store.interface.js';
import { startRedisCluster, type TestRedisCluster } from './support/redis-cluster.js';

// The standalone Redis the tests expect on loopback; the Cluster is started by this file.
const STANDALONE = { host: '127.0.0.1', port: 6379 };
const SESSION_ID = /^[1-9]\d{0,18}$/;
const HOUR = 3_600_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each([{ topology: 'standalone' }, { topology: 'cluster' }])('RedisSessionStore on Redis $topology', ({ topology }) => {
  // Random per run: nothing here collides with another run or another test file on the same Redis.
  const prefix = `nss-test:${randomBytes(6).toString('hex')}:`;
  const clients: (Redis | Cluster)[] = [];
  let cluster: TestRedisCluster | undefined;
  let client: Redis | Cluster;
  let store: RedisSessionStore;
  // A second store on a connection of its own, as another app instance would have.
  let otherStore: RedisSessionStore;
  let users = 0;

  const nodes = () => (cluster ? cluster.nodes : [STANDALONE]);

  async function connect(): Promise<Redis | Cluster> {
    const connection = cluster ? new Cluster(cluster.nodes, { lazyConnect: true }) : new Redis({ ...STANDALONE, lazyConnect: true });
    clients.push(connection);
    await connection.connect();
    return connection;
  }

  const newUser = () => `user-${++users}-${randomBytes(3).toString('hex')}`;
  const tokenKey = (hash: Buffer) => `${prefix}t:${hash.toString('base64url')}`;
  const indexKey = (userId: string) => `${prefix}{u:${userId}}:index`;

  function draft(userId: string, overrides: Partial<NewStoredSession> = {}): NewStoredSession {
    const now = Date.now();
    return { userId, tokenHash: randomBytes(32), expiresAt: new Date(now + HOUR), createdAt: new Date(now), ...overrides };
  }

  function expectSame(actual: StoredSession | null, expected: StoredSession): void {
    expect(actual).not.toBeNull();
    expect(actual!.id).toBe(expected.id);
    expect(actual!.userId).toBe(expected.userId);
    expect(Buffer.isBuffer(actual!.tokenHash)).toBe(true);
    expect(actual!.tokenHash.equals(expected.tokenHash)).toBe(true);
    expect(actual!.expiresAt).toBeInstanceOf(Date);
    expect(actual!.expiresAt.getTime()).toBe(expected.expiresAt.getTime());
    expect(actual!.createdAt).toBeInstanceOf(Date);
    expect(actual!.createdAt.getTime()).toBe(expected.createdAt.getTime());
  }

  /**
   * The commands that touched this run's keys while `work` ran, as clients sent them (commands
   * a Lua script ran are left out), read from MONITOR on every node.
   */
  async function recordCommands(work: () => Promise<unknown>): Promise<string[][]> {
    const seen: string[][] = [];
    const marker = `${prefix}marker:${randomBytes(4).toString('hex')}`;
    const flushed: Promise<void>[] = [];
    const watchers: Redis[] = [];
    const pokers: Redis[] = [];
    try {
      for (const node of nodes()) {
        const poker = new Redis({ ...node, lazyConnect: true });
        pokers.push(poker);
        const monitor = await poker.monitor();
        watchers.push(monitor);
        flushed.push(
          new Promise((resolve) => {
            monitor.on('monitor', (_time: string, args: string[], source: string) => {
              if (args.includes(marker)) resolve();
              else if (source !== 'lua' && args.some((arg) => arg.startsWith(prefix))) seen.push(args);
            });
          }),
        );
      }
      await work();
      // Each node runs commands in order: once it echoes the marker, it has shown all of `work`.
      await Promise.all(pokers.map((poker) => poker.echo(marker)));
      await Promise.all(flushed);
      return seen;
    } finally {
      for (const connection of [...watchers, ...pokers]) connection.disconnect();
    }
  }

  beforeAll(async () => {
    if (topology === 'cluster') cluster = await startRedisCluster(3);
    client = await connect();
    store = new RedisSessionStore(client, { keyPrefix: prefix });
    otherStore = new RedisSessionStore(await connect(), { keyPrefix: prefix });
  }, 60_000);

  afterAll(async () => {
    try {
      if (!cluster && client) {
        const keys = await (client as Redis).keys(`${prefix}*`);
        if (keys.length > 0) await client.del(...keys);
      }
    } finally {
      await Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())));
      await cluster?.stop();
    }
  }, 30_000);

  describe('construction', () => {
    it('refuses a key prefix with braces, which would hash every key to one Cluster slot', () => {
      expect(() => new RedisSessionStore(client, { keyPrefix: 'sess:{all}:' })).toThrow(/keyPrefix/);
      expect(() => new RedisSessionStore({} as Redis)).toThrow(/ioredis/);
    });

    it('close() leaves the caller\'s client open', async () => {
      const own = new RedisSessionStore(client, { keyPrefix: prefix });
      await own.close();
      expect(await client.ping()).toBe('PONG');
      const userId = newUser();
      const created = await own.create(draft(userId));
      expectSame(await own.findByTokenHash(created.tokenHash), created);
    });
  });

  describe('create and findByTokenHash', () => {
    it('stores a session under its token hash and gives it a decimal id', async () => {
      const userId = newUser();
      const input = draft(userId);
      const created = await store.create(input);
      expect(created.id).toMatch(SESSION_ID);
      expect(created.userId).toBe(userId);
      expect(created.tokenHash.equals(input.tokenHash)).toBe(true);
      expect(created.expiresAt.getTime()).toBe(input.expiresAt.getTime());
      expect(created.createdAt.getTime()).toBe(input.createdAt.getTime());

      expectSame(await store.findByTokenHash(input.tokenHash), created);
      // Another connection (another instance) sees it at once.
      expectSame(await otherStore.findByTokenHash(input.tokenHash), created);
      expect(await store.findByTokenHash(randomBytes(32))).toBeNull();
    });

    it('hands out distinct, increasing numeric ids, and returns userId and id as strings', async () => {
      const userId = newUser();
      const created = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? store : otherStore).create(draft(userId))));
      const ids = created.map((s) => s.id);
      for (const id of ids) {
        expect(typeof id).toBe('string');
        expect(id).toMatch(SESSION_ID);
      }
      expect(new Set(ids).size).toBe(10);
      const next = await store.create(draft(userId));
      expect(BigInt(next.id)).toBeGreaterThan(ids.map(BigInt).reduce((a, b) => (a > b ? a : b)));
      const found = await store.findByTokenHash(next.tokenHash);
      expect(typeof found!.userId).toBe('string');
      expect(typeof found!.id).toBe('string');
    });

    it('validates with one command on one key: a single HGETALL of the token key', async () => {
      const created = await store.create(draft(newUser()));
      let found: StoredSession | null = null;
      const commands = await recordCommands(async () => {
        found = await store.findByTokenHash(created.tokenHash);
      });
      expectSame(found, created);
      expect(commands).toEqual([['hgetall', tokenKey(created.tokenHash)]]);
    });

    it('keeps user ids with braces and percent signs apart from look-alikes', async () => {
      const odd = 'a}{%7D:b';
      const plain = 'a';
      const oddSession = await store.create(draft(odd));
      const plainSession = await store.create(draft(plain + randomBytes(2).toString('hex')));
      expectSame(await store.findByTokenHash(oddSession.tokenHash), oddSession);
      expect((await store.listByUser(odd, new Date())).map((s) => s.id)).toEqual([oddSession.id]);
      expect(await store.listByUser('a}{}:b', new Date())).toEqual([]);
      expect((await store.deleteByUser(odd)).map((s) => s.id)).toEqual([oddSession.id]);
      expectSame(await store.findByTokenHash(plainSession.tokenHash), plainSession);
    });
  });

  describe('expiry', () => {
    it('gives the token key an expiry at expiresAt, and the index key one no earlier than the user\'s last session', async () => {
      const userId = newUser();
      const now = Date.now();
      const later = await store.create(draft(userId, { expiresAt: new Date(now + 2 * HOUR) }));
      const sooner = await store.create(draft(userId, { expiresAt: new Date(now + HOUR) }));

      expect(await client.pexpiretime(tokenKey(later.tokenHash))).toBe(later.expiresAt.getTime());
      expect(await client.pexpiretime(tokenKey(sooner.tokenHash))).toBe(sooner.expiresAt.getTime());
      const pttl = await client.pttl(tokenKey(sooner.tokenHash));
      expect(pttl).toBeGreaterThan(HOUR - 5_000);
      expect(pttl).toBeLessThanOrEqual(HOUR);
      // The sooner session did not pull the index's expiry in.
      expect(await client.pexpiretime(indexKey(userId))).toBe(later.expiresAt.getTime());

      // Nor does a session created already expired, which Redis drops at once.
      const dead = await store.create(draft(userId, { expiresAt: new Date(now - 1_000), createdAt: new Date(now - HOUR) }));
      expect(await client.exists(tokenKey(dead.tokenHash))).toBe(0);
      expect(await store.findByTokenHash(dead.tokenHash)).toBeNull();
      expect(await client.pexpiretime(indexKey(userId))).toBe(later.expiresAt.getTime());
      expect((await store.listByUser(userId, new Date())).map((s) => s.id)).toEqual([sooner.id, later.id]);
    });

    it('lets Redis remove an expired session: not found, not listed, key gone', async () => {
      const userId = newUser();
      const keeper = await store.create(draft(userId));
      const brief = await store.create(draft(userId, { expiresAt: new Date(Date.now() + 300) }));
      expectSame(await store.findByTokenHash(brief.tokenHash), brief);
      await sleep(450);
      expect(await client.exists(tokenKey(brief.tokenHash))).toBe(0);
      expect(await store.findByTokenHash(brief.tokenHash)).toBeNull();
      expect((await store.listByUser(userId, new Date())).map((s) => s.id)).toEqual([keeper.id]);
    });

    it('drops a user\'s expired index entries at the next create, and the index key with the last session', async () => {
      const userId = newUser();
      const keeper = await store.create(draft(userId));
      await store.create(draft(userId, { expiresAt: new Date(Date.now() + 250) }));
      await store.create(draft(userId, { expiresAt: new Date(Date.now() + 250) }));
      expect(await client.hlen(indexKey(userId))).toBe(3);
      await sleep(350);
      const fresh = await store.create(draft(userId));
      expect((await client.hkeys(indexKey(userId))).sort()).toEqual([keeper.id, fresh.id].sort());

      const lonely = newUser();
      await store.create(draft(lonely, { expiresAt: new Date(Date.now() + 250) }));
      expect(await client.exists(indexKey(lonely))).toBe(1);
      await sleep(350);
      expect(await client.exists(indexKey(lonely))).toBe(0);
    });

    it('deleteExpired has nothing to do (Redis expires keys itself) and touches no live session', async () => {
      const live = await store.create(draft(newUser()));
      expect(await store.deleteExpired(new Date(Date.now() + 10 * HOUR), 1_000)).toBe(0);
      expectSame(await store.findByTokenHash(live.tokenHash), live);
    });
  });

  describe('extendExpiry', () => {
    it('moves the expiry only while it is below ifBefore and after now', async () => {
      const userId = newUser();
      const now = Date.now();
      const session = await store.create(draft(userId, { expiresAt: new Date(now + HOUR) }));
      const target = new Date(now + 3 * HOUR);

      // Not stale enough: its expiry is not below ifBefore.
      expect(await store.extendExpiry(session, target, new Date(now + HOUR), new Date(now))).toBe(false);
      // Already expired by the caller's clock.
      expect(await store.extendExpiry(session, target, new Date(now + 2 * HOUR), new Date(now + HOUR))).toBe(false);
      expect((await store.findByTokenHash(session.tokenHash))!.expiresAt.getTime()).toBe(session.expiresAt.getTime());
      expect(await client.pexpiretime(tokenKey(session.tokenHash))).toBe(session.expiresAt.getTime());

      expect(await store.extendExpiry(session, target, new Date(now + 2 * HOUR), new Date(now))).toBe(true);
      const found = await store.findByTokenHash(session.tokenHash);
      expect(found!.expiresAt.getTime()).toBe(target.getTime());
      expect(found!.createdAt.getTime()).toBe(session.createdAt.getTime());
      expect(await client.pexpiretime(tokenKey(session.tokenHash))).toBe(target.getTime());
      expect(await client.pexpiretime(indexKey(userId))).toBeGreaterThanOrEqual(target.getTime());
      expect((await store.listByUser(userId, new Date(now + 2 * HOUR)))[0].expiresAt.getTime()).toBe(target.getTime());
    });

    it('of 40 concurrent refreshes from two connections, exactly one writes', async () => {
      const now = Date.now();
      const session = await store.create(draft(newUser(), { expiresAt: new Date(now + HOUR) }));
      const target = new Date(now + 2 * HOUR);
      const ifBefore = new Date(now + HOUR + 1);
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => (i % 2 ? store : otherStore).extendExpiry(session, target, ifBefore, new Date(now))),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
      expect((await store.findByTokenHash(session.tokenHash))!.expiresAt.getTime()).toBe(target.getTime());
      expect(await client.pexpiretime(tokenKey(session.tokenHash))).toBe(target.getTime());
    });

    it('returns false for a deleted session, and for one whose token was rotated, and creates nothing', async () => {
      const now = Date.now();
      const args = [new Date(now + 2 * HOUR), new Date(now + 2 * HOUR), new Date(now)] as const;
      const deleted = await store.create(draft(newUser()));
      await store.deleteByTokenHash(deleted.tokenHash);
      expect(await store.extendExpiry(deleted, ...args)).toBe(false);
      expect(await client.exists(tokenKey(deleted.tokenHash))).toBe(0);

      const rotated = await store.create(draft(newUser()));
      const newHash = randomBytes(32);
      expect(await store.replaceTokenHash(rotated.tokenHash, newHash, new Date())).not.toBeNull();
      expect(await store.extendExpiry(rotated, ...args)).toBe(false);
      expect(await client.exists(tokenKey(rotated.tokenHash))).toBe(0);
      expect((await store.findByTokenHash(newHash))!.expiresAt.getTime()).toBe(rotated.expiresAt.getTime());
    });
  });

  describe('interrupted operations', () => {
    // What an operation leaves when its process dies between its steps, set up by hand.
    const entryOf = async (session: StoredSession) => (await client.hget(indexKey(session.userId), session.id))!;

    it('does not extend a session its user\'s index no longer names, so it cannot outlive the index', async () => {
      const now = Date.now();
      const session = await store.create(draft(newUser(), { expiresAt: new Date(now + HOUR) }));
      await client.hdel(indexKey(session.userId), session.id);
      expect(await store.extendExpiry(session, new Date(now + 5 * HOUR), new Date(now + 2 * HOUR), new Date(now))).toBe(false);
      expect(await client.pexpiretime(tokenKey(session.tokenHash))).toBe(session.expiresAt.getTime());
    });

    it('finishes a deletion that stopped after marking its entries: still listed, not extended or rotated, deleted by the next call', async () => {
      const now = Date.now();
      const userId = newUser();
      const session = await store.create(draft(userId, { expiresAt: new Date(now + HOUR) }));
      const other = await store.create(draft(userId, { expiresAt: new Date(now + HOUR) }));
      await client.hset(indexKey(userId), session.id, `-${await entryOf(session)}`);

      expect((await store.listByUser(userId, new Date())).map((s) => s.id)).toEqual([other.id, session.id]);
      expect(await store.extendExpiry(session, new Date(now + 5 * HOUR), new Date(now + 2 * HOUR), new Date(now))).toBe(false);
      expect(await store.findByTokenHash(session.tokenHash)).not.toBeNull();
      const removed = await store.deleteById(userId, session.id);
      expectSame(removed, session);
      expect(await store.findByTokenHash(session.tokenHash)).toBeNull();
      expect(await client.hkeys(indexKey(userId))).toEqual([other.id]);

      // A rotation that finds its entry marked ends the session instead of handing out a token.
      await client.hset(indexKey(userId), other.id, `-${await entryOf(other)}`);
      const newHash = randomBytes(32);
      expect(await store.replaceTokenHash(other.tokenHash, newHash, new Date())).toBeNull();
      expect(await store.findByTokenHash(newHash)).toBeNull();
      expect(await store.findByTokenHash(other.tokenHash)).toBeNull();
    });

    it('deletes by id only a token key that belongs to that user and id, whatever the index says', async () => {
      const owner = await store.create(draft(newUser()));
      const stranger = newUser();
      // A stranger's index naming the owner's token (it cannot happen through the store).
      await client.hset(indexKey(stranger), owner.id, await entryOf(owner));
      expect(await store.deleteById(stranger, owner.id)).toBeNull();
      expect(await store.deleteByUser(stranger)).toEqual([]);
      expectSame(await store.findByTokenHash(owner.tokenHash), owner);
    });
  });

  describe('replaceTokenHash', () => {
    it('moves a live session to the new hash, keeping id, user, creation and expiry', async () => {
      const userId = newUser();
      const session = await store.create(draft(userId));
      const newHash = randomBytes(32);
      const rotated = await store.replaceTokenHash(session.tokenHash, newHash, new Date());
      expectSame(rotated, { ...session, tokenHash: newHash });
      expect(await store.findByTokenHash(session.tokenHash)).toBeNull();
      expect(await client.exists(tokenKey(session.tokenHash))).toBe(0);
      expectSame(await store.findByTokenHash(newHash), { ...session, tokenHash: newHash });
      expect(await client.pexpiretime(tokenKey(newHash))).toBe(session.expiresAt.getTime());
      const listed = await store.listByUser(userId, new Date());
      expect(listed).toHaveLength(1);
      expectSame(listed[0], { ...session, tokenHash: newHash });
      // The index follows the token: revocation by id reaches the rotated session.
      expectSame(await store.deleteById(userId, session.id), { ...session, tokenHash: newHash });
      expect(await store.findByTokenHash(newHash)).toBeNull();
    });

    it('refuses an unknown token and a session expired by now, leaving the old token as it was', async () => {
      expect(await store.replaceTokenHash(randomBytes(32), randomBytes(32), new Date())).toBeNull();
      const now = Date.now();
      const session = await store.create(draft(newUser(), { expiresAt: new Date(now + HOUR) }));
      const newHash = randomBytes(32);
      expect(await store.replaceTokenHash(session.tokenHash, newHash, new Date(now + HOUR))).toBeNull();
      expectSame(await store.findByTokenHash(session.tokenHash), session);
      expect(await store.findByTokenHash(newHash)).toBeNull();
    });

    it('of two concurrent swaps of one token, exactly one wins', async () => {
      for (let round = 0; round < 10; round++) {
        const userId = newUser();
        const session = await store.create(draft(userId));
        const [a, b] = [randomBytes(32), randomBytes(32)];
        const results = await Promise.all([store.replaceTokenHash(session.tokenHash, a, new Date()), otherStore.replaceTokenHash(session.tokenHash, b, new Date())]);
        const winners = results.filter((r) => r !== null);
        expect(winners).toHaveLength(1);
        const [winner, loser] = results[0] ? [a, b] : [b, a];
        expectSame(await store.findByTokenHash(winner), { ...session, tokenHash: winner });
        expect(await store.findByTokenHash(loser)).toBeNull();
        expect(await store.findByTokenHash(session.tokenHash)).toBeNull();
        expect((await store.listByUser(userId, new Date())).map((s) => s.tokenHash.toString('hex'))).toEqual([winner.toString('hex')]);
      }
    });
  });

  describe('deleteByTokenHash', () => {
    it('deletes and returns the session; a second call finds nothing', async () => {
      const userId = newUser();
      const session = await store.create(draft(userId));
      const other = await store.create(draft(userId));
      expectSame(await store.deleteByTokenHash(session.tokenHash), session);
      expect(await store.findByTokenHash(session.tokenHash)).toBeNull();
      expect(await store.deleteByTokenHash(session.tokenHash)).toBeNull();
      expect(await client.hkeys(indexKey(userId))).toEqual([other.id]);
      expect((await store.listByUser(userId, new Date())).map((s) => s.id)).toEqual([other.id]);
    });

    it('of a logout racing a rotation of the same token, exactly one succeeds', async () => {
      for (let round = 0; round < 10; round++) {
        const session = await store.create(draft(newUser()));
        const newHash = randomBytes(32);
        const [deleted, rotated] = await Promise.all([
          store.deleteByTokenHash(session.tokenHash),
          otherStore.replaceTokenHash(session.tokenHash, newHash, new Date()),
        ]);
        expect([deleted, rotated].filter((r) => r !== null)).toHaveLength(1);
        expect((await store.findByTokenHash(newHash)) !== null).toBe(rotated !== null);
        expect(await store.findByTokenHash(session.tokenHash)).toBeNull();
      }
    });
  });

  describe('deleteById', () => {
    it('deletes a session only for its owner', async () => {
      const owner = newUser();
      const stranger = newUser();
      const session = await store.create(draft(owner));
      await store.create(draft(stranger));

      expect(await store.deleteById(stranger, session.id)).toBeNull();
      expect(await store.deleteById(owner, '999999999999')).toBeNull();
      expectSame(await store.findByTokenHash(session.tokenHash), session);
      expect((await store.listByUser(owner, new Date())).map((s) => s.id)).toEqual([session.id]);

      expectSame(await store.deleteById(owner, session.id), session);
      expect(await store.findByTokenHash(session.tokenHash)).toBeNull();
      expect(await store.listByUser(owner, new Date())).toEqual([]);
      expect(await store.deleteById(owner, session.id)).toBeNull();
      expect(await store.listByUser(stranger, new Date())).toHaveLength(1);
    });

    it('never leaves a session alive when it races a rotation', async () => {
      for (let round = 0; round < 15; round++) {
        const userId = newUser();
        const session = await store.create(draft(userId));
        const newHash = randomBytes(32);
        const [deleted, rotated] = await Promise.all([
          store.deleteById(userId, session.id),
          otherStore.replaceTokenHash(session.tokenHash, newHash, new Date()),
        ]);
        expect(await store.findByTokenHash(session.tokenHash)).toBeNull();
        expect(await store.findByTokenHash(newHash)).toBeNull();
        expect(await store.listByUser(userId, new Date())).toEqual([]);
        // The deletion reports the session unless it only ended it through the rotation failing.
        if (deleted) expect(deleted.id).toBe(session.id);
        if (rotated) expect(deleted).not.toBeNull();
      }
    });
  });

  describe('deleteByUser', () => {
    it('deletes all of a user\'s sessions, or all but one, and returns them with their token hashes', async () => {
      const userId = newUser();
      const bystander = newUser();
      const [a, b, c] = [await store.create(draft(userId)), await store.create(draft(userId)), await store.create(draft(userId))];
      const theirs = await store.create(draft(bystander));

      const removed = await store.deleteByUser(userId, b.id);
      expect(removed.map((s) => s.id).sort()).toEqual([a.id, c.id].sort());
      for (const expected of [a, c]) expectSame(removed.find((s) => s.id === expected.id)!, expected);
      expect(await store.findByTokenHash(a.tokenHash)).toBeNull();
      expect(await store.findByTokenHash(c.tokenHash)).toBeNull();
      expectSame(await store.findByTokenHash(b.tokenHash), b);
      expect((await store.listByUser(userId, new Date())).map((s) => s.id)).toEqual([b.id]);

      const rest = await store.deleteByUser(userId);
      expect(rest).toHaveLength(1);
      expectSame(rest[0], b);
      expect(await store.findByTokenHash(b.tokenHash)).toBeNull();
      expect(await store.deleteByUser(userId)).toEqual([]);
      expect(await client.exists(indexKey(userId))).toBe(0);

      expectSame(await store.findByTokenHash(theirs.tokenHash), theirs);
      expect((await store.listByUser(bystander, new Date())).map((s) => s.id)).toEqual([theirs.id]);
    });

    it('ignores and drops index entries whose token key is gone', async () => {
      const userId = newUser();
      const kept = await store.create(draft(userId));
      const vanished = await store.create(draft(userId));
      await client.del(tokenKey(vanished.tokenHash));
      expect((await store.listByUser(userId, new Date())).map((s) => s.id)).toEqual([kept.id]);
      const removed = await store.deleteByUser(userId);
      expect(removed.map((s) => s.id)).toEqual([kept.id]);
      expect(await client.exists(indexKey(userId))).toBe(0);
    });

    it('never leaves a session alive and unlisted when it races a rotation', async () => {
      for (let round = 0; round < 15; round++) {
        const userId = newUser();
        const session = await store.create(draft(userId));
        const newHash = randomBytes(32);
        const [removed, rotated] = await Promise.all([
          otherStore.deleteByUser(userId),
          store.replaceTokenHash(session.tokenHash, newHash, new Date()),
        ]);
        expect(await store.findByTokenHash(session.tokenHash)).toBeNull();
        expect(await store.findByTokenHash(newHash)).toBeNull();
        expect(await store.listByUser(userId, new Date())).toEqual([]);
        if (rotated) expect(removed.map((s) => s.tokenHash.toString('hex'))).toEqual([newHash.toString('hex')]);
      }
    });

    it('leaves no session that survives it outside the index when it races creates', async () => {
      for (let round = 0; round < 10; round++) {
        const userId = newUser();
        await store.create(draft(userId));
        const [created, removed] = await Promise.all([
          Promise.all([store.create(draft(userId)), store.create(draft(userId)), store.create(draft(userId))]),
          otherStore.deleteByUser(userId),
        ]);
        const listed = new Set((await store.listByUser(userId, new Date())).map((s) => s.id));
        for (const session of created) {
          const alive = (await store.findByTokenHash(session.tokenHash)) !== null;
          expect(alive).toBe(listed.has(session.id));
          expect(alive || removed.some((s) => s.id === session.id)).toBe(true);
        }
        // What survived is reachable: the next revocation takes all of it.
        await store.deleteByUser(userId);
        for (const session of created) expect(await store.findByTokenHash(session.tokenHash)).toBeNull();
      }
    });
  });

  describe('listByUser', () => {
    it('lists a user\'s sessions not expired by now, newest first by creation then by numeric id', async () => {
      // A store of its own, its counter set so ids cross from one digit to two.
      const ordered = new RedisSessionStore(client, { keyPrefix: `${prefix}order:` });
      await client.set(`${prefix}order:seq`, '8');
      const userId = newUser();
      const t = Date.now();
      const a = await ordered.create(draft(userId, { createdAt: new Date(t - 1_000) }));
      const b = await ordered.create(draft(userId, { createdAt: new Date(t - 1_000) }));
      const c = await ordered.create(draft(userId, { createdAt: new Date(t) }));
      const d = await ordered.create(draft(userId, { createdAt: new Date(t - 5_000) }));
      const soon = await ordered.create(draft(userId, { createdAt: new Date(t + 1_000), expiresAt: new Date(t + 60_000) }));
      expect([a.id, b.id, c.id, d.id, soon.id]).toEqual(['9', '10', '11', '12', '13']);

      const listed = await ordered.listByUser(userId, new Date(t));
      expect(listed.map((s) => s.id)).toEqual([soon.id, c.id, b.id, a.id, d.id]);
      expectSame(listed[1], c);
      // `now` decides, even while Redis still holds the key.
      expect((await ordered.listByUser(userId, new Date(t + 60_000))).map((s) => s.id)).toEqual([c.id, b.id, a.id, d.id]);
      expect(await ordered.listByUser(newUser(), new Date(t))).toEqual([]);
    });
  });
});
