import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import memjs from 'memjs';
import { DataSource } from 'typeorm';
import { decodeSession, encodeSession, MAX_RELATIVE_TTL_SECONDS, memcachedTtlSeconds } from '../src/stores/tiered/memcached-entry.js';
import { MemcachedSessionCache } from '../src/stores/tiered/memcached-session.cache.js';
import { memcachedEntryKey, openEntry, signEntry } from '../src/stores/tiered/memcached-signature.js';
import type { SharedSessionCache } from '../src/stores/tiered/shared-session-cache.interface.js';
import {
  CreateSessionsTable1763856000000,
  hashToken,
  SessionEntity,
  type StoredSession,
  TypeOrmSessionStore,
} from '../src/index.js';
import { TieredSessionStore } from '../src/stores/tiered/tiered-session.store.js';
import { generateToken } from '../src/tokens/opaque-token.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { QueryRecorder } from './support/query-recorder.js';

const MEMCACHED = process.env.TEST_MEMCACHED ?? '127.0.0.1:11211';
const [MC_HOST, MC_PORT] = MEMCACHED.split(':');
const PREFIX = `nss-test-${randomBytes(4).toString('hex')}:`;
const SECRET = 'the-memcached-secret-of-the-tier-tests-0123456789';
const SIGNING_KEY = memcachedEntryKey(SECRET);
const SECOND = 1_000;
const DAY = 86_400_000;

const METHODS = ['create', 'findByTokenHash', 'extendExpiry', 'replaceTokenHash', 'deleteByTokenHash', 'deleteById', 'deleteByUser', 'listByUser', 'deleteExpired'] as const;
type Method = (typeof METHODS)[number];

let db: TestDatabase;
let dataSource: DataSource;
const recorder = new QueryRecorder();
let inner: TypeOrmSessionStore;
const calls = new Map<Method, number>();
// Awaited by the wrapped findByTokenHash after the real query answered (to hold a lookup there).
let afterFind: (() => Promise<void>) | null = null;
let cache: MemcachedSessionCache;
let tiered: TieredSessionStore;
let probe: memjs.Client;
let closedPort: number;
const closers: (() => Promise<unknown>)[] = [];

const called = (method: Method): number => calls.get(method) ?? 0;

function resetCounts(): void {
  calls.clear();
  recorder.clear();
}

/** The real TypeORM store, its methods wrapped to count calls. */
function countCalls(store: TypeOrmSessionStore): void {
  for (const method of METHODS) {
    const original = (store[method] as (...args: unknown[]) => Promise<unknown>).bind(store);
    (store as unknown as Record<Method, (...args: unknown[]) => Promise<unknown>>)[method] = async (...args: unknown[]) => {
      calls.set(method, called(method) + 1);
      const result = await original(...args);
      if (method === 'findByTokenHash' && afterFind) await afterFind();
      return result;
    };
  }
}

function user(): string {
  return `user-${randomBytes(6).toString('hex')}`;
}

function newSession(userId: string, expiresInMs = 2 * 3_600_000): Promise<StoredSession> {
  const now = Date.now();
  return inner.create({ userId, tokenHash: hashToken(generateToken()), expiresAt: new Date(now + expiresInMs), createdAt: new Date(now) });
}

function keyOf(tokenHash: Buffer): string {
  return PREFIX + tokenHash.toString('base64url');
}

/** What memcached itself holds under a key, through a client of its own. */
async function raw(key: string): Promise<Buffer | null> {
  return (await probe.get(key)).value;
}

/** The entry inside a signed value (what encodeSession wrote), once its MAC checked out. */
function entryOf(key: string, value: Buffer): Buffer {
  const opened = openEntry([SIGNING_KEY], key, value);
  if ('refused' in opened) throw new Error(`the value under ${key} is ${opened.refused}`);
  return opened.entry;
}

/** The remaining TTL memcached reports for a key (meta get), or null when it has no such key. */
function ttlOf(key: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(MC_PORT), MC_HOST);
    let data = '';
    socket.setTimeout(2_000, () => socket.destroy(new Error('mg: no answer')));
    socket.on('connect', () => socket.write(`mg ${key} t\r\n`));
    socket.on('error', reject);
    socket.on('data', (chunk) => {
      data += chunk.toString();
      if (!data.includes('\r\n')) return;
      socket.destroy();
      const hit = /^HD t(-?\d+)\r\n/.exec(data);
      if (hit) resolve(Number(hit[1]));
      else if (data.startsWith('EN\r\n')) resolve(null);
      else reject(new Error(`mg: ${data}`));
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function timed<T>(work: Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const result = await work;
  return [result, performance.now() - start];
}

async function until(condition: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function memcachedCache(options: Partial<ConstructorParameters<typeof MemcachedSessionCache>[0]> = {}): MemcachedSessionCache {
  const created = new MemcachedSessionCache({ servers: MEMCACHED, keyPrefix: PREFIX, secret: SECRET, ...options });
  closers.push(() => created.close());
  return created;
}

beforeAll(async () => {
  probe = memjs.Client.create(MEMCACHED, { retries: 1, logger: { log: () => undefined } });
  // Fail with a clear message rather than 30 timeouts when memcached is not running.
  const check = new MemcachedSessionCache({ servers: MEMCACHED, secret: SECRET });
  try {
    await check.ping();
  } catch (error) {
    throw new Error(`these tests need memcached at ${MEMCACHED} (memcached -d -u nobody -l 127.0.0.1 -p 11211): ${(error as Error).message}`);
  } finally {
    await check.close();
  }
  closedPort = await freePort();

  db = await createTestDatabase('nss_mc');
  dataSource = new DataSource({ type: 'postgres', url: db.url, entities: [SessionEntity], migrations: [CreateSessionsTable1763856000000], logger: recorder });
  await dataSource.initialize();
  await dataSource.runMigrations();
  inner = new TypeOrmSessionStore(dataSource);
  countCalls(inner);

  cache = new MemcachedSessionCache({ servers: MEMCACHED, keyPrefix: PREFIX, secret: SECRET });
  tiered = new TieredSessionStore(inner, cache, { ttlMs: 60_000 });
});

afterAll(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await tiered?.close();
  probe?.close();
  await dataSource?.destroy();
  await db?.drop();
});

beforeEach(() => {
  afterFind = null;
  resetCounts();
});

describe('MemcachedSessionCache', () => {
  it('ping answers with each server and its version; an unreachable server fails fast, named', async () => {
    await expect(cache.ping()).resolves.toEqual([{ server: MEMCACHED, version: expect.stringMatching(/^\d+\.\d+/) }]);

    const down = memcachedCache({ servers: `127.0.0.1:${closedPort}`, timeoutMs: 300 });
    const [error, elapsed] = await timed(down.ping().then(() => null, (e: Error) => e));
    expect(error?.message).toMatch(new RegExp(`^Memcached server 127\\.0\\.0\\.1:${closedPort} did not answer: .*ECONNREFUSED`));
    expect(elapsed).toBeLessThan(1_000);
    await expect(MemcachedSessionCache.connect({ servers: `127.0.0.1:${closedPort}`, secret: SECRET })).rejects.toThrow(/did not answer/);
    await expect(MemcachedSessionCache.connect({ servers: MEMCACHED, keyPrefix: PREFIX, secret: SECRET }).then((c) => c.close())).resolves.toBeUndefined();
  });

  it('refuses bad options with a message that says what is expected', () => {
    expect(() => new MemcachedSessionCache({ servers: '', secret: SECRET })).toThrow(/servers must be 'host:port'/);
    expect(() => new MemcachedSessionCache({ servers: MEMCACHED, keyPrefix: 'has space', secret: SECRET })).toThrow(/keyPrefix must be/);
    expect(() => new MemcachedSessionCache({ servers: MEMCACHED, timeoutMs: 0, secret: SECRET })).toThrow(/timeoutMs must be/);
    expect(() => new MemcachedSessionCache({ servers: MEMCACHED } as never)).toThrow(/secret must be a string or Uint8Array of at least 32 bytes.*got nothing/);
    expect(() => new MemcachedSessionCache({ servers: MEMCACHED, secret: 'short' })).toThrow(/got a 5-byte secret/);
    expect(() => new MemcachedSessionCache({ servers: MEMCACHED, secret: SECRET, username: 'app' })).toThrow(/password must be/);
  });

  it('stores a session under prefix + base64url(hash), in 15 bytes plus hash, id and user id, signed (7 bytes before, 32 after)', async () => {
    const now = Date.now();
    const session: StoredSession = { id: '9007199254740993', userId: 'usér-ü@example.test', tokenHash: hashToken(generateToken()), expiresAt: new Date(now + 600_000), createdAt: new Date(now - 1_234) };
    await cache.set(session, 60_000);

    const key = keyOf(session.tokenHash);
    expect(cache.key(session.tokenHash)).toBe(key);
    const value = await raw(key);
    expect(value).not.toBeNull();
    expect(value!.length).toBe(7 + 15 + 32 + Buffer.byteLength(session.id) + Buffer.byteLength(session.userId) + 32);
    expect(value![0]).toBe(3);
    expect(entryOf(key, value!).equals(encodeSession(session)!)).toBe(true);
    expect(decodeSession(entryOf(key, value!))).toEqual(session);
    await expect(cache.get(session.tokenHash)).resolves.toEqual(session);
  });

  it('treats a value it did not write as a miss', async () => {
    const tokenHash = hashToken(generateToken());
    await probe.set(keyOf(tokenHash), Buffer.from('{"id":"1"}'), { expires: 60 });
    await expect(cache.get(tokenHash)).resolves.toBeNull();
    expect(decodeSession(Buffer.from([1, 2, 3]))).toBeNull();
  });

  it('gives entries a TTL rounded up to whole seconds, never past the session, and at most 30 days', async () => {
    const now = Date.now();
    const at = (ms: number): StoredSession => ({ id: '1', userId: 'u', tokenHash: hashToken(generateToken()), expiresAt: new Date(now + ms), createdAt: new Date(now) });
    expect(memcachedTtlSeconds(at(90_400), 3_600_000, now)).toBe(91);
    expect(memcachedTtlSeconds(at(3_600_000), 1_500, now)).toBe(2);
    expect(memcachedTtlSeconds(at(1), 3_600_000, now)).toBe(1);
    expect(memcachedTtlSeconds(at(0), 3_600_000, now)).toBeNull();
    expect(memcachedTtlSeconds(at(-5), 3_600_000, now)).toBeNull();
    expect(memcachedTtlSeconds(at(40 * DAY), 60 * DAY, now)).toBe(MAX_RELATIVE_TTL_SECONDS);
    expect(MAX_RELATIVE_TTL_SECONDS).toBe(2_592_000);

    // As memcached reports them (it may have ticked a second since).
    const soon = at(90_400);
    await cache.set(soon, 3_600_000);
    const soonTtl = await ttlOf(keyOf(soon.tokenHash));
    expect(soonTtl).toBeGreaterThanOrEqual(89);
    expect(soonTtl! * SECOND - (soon.expiresAt.getTime() - Date.now())).toBeLessThan(SECOND);

    const short = at(3_600_000);
    await cache.set(short, 1_500);
    expect([1, 2]).toContain(await ttlOf(keyOf(short.tokenHash)));

    // 40 days as a TTL would be read as a unix time in 1970: gone at once. Clamped, it stays.
    const long = at(40 * DAY);
    await cache.set(long, 60 * DAY);
    expect(await ttlOf(keyOf(long.tokenHash))).toBeGreaterThan(MAX_RELATIVE_TTL_SECONDS - 5);
    expect(await ttlOf(keyOf(long.tokenHash))).toBeLessThanOrEqual(MAX_RELATIVE_TTL_SECONDS);
    await expect(cache.get(long.tokenHash)).resolves.toEqual(long);
    await probe.delete(keyOf(long.tokenHash));

    // Nothing is written for a session already over.
    const over = at(-1);
    await cache.set(over, 60_000);
    expect(await raw(keyOf(over.tokenHash))).toBeNull();
  });

  it('never serves an expired entry, even while memcached still holds it', async () => {
    const ahead = memcachedCache({ clock: () => Date.now() + 120_000 });
    const now = Date.now();
    const session: StoredSession = { id: '7', userId: 'u', tokenHash: hashToken(generateToken()), expiresAt: new Date(now + 60_000), createdAt: new Date(now) };
    await cache.set(session, 60_000);

    expect(await raw(keyOf(session.tokenHash))).not.toBeNull();
    await expect(ahead.get(session.tokenHash)).resolves.toBeNull();
    await expect(cache.get(session.tokenHash)).resolves.toEqual(session);
  });

  it('delete removes the entry and marks the hash revoked, so a late fill cannot bring it back', async () => {
    const now = Date.now();
    const session: StoredSession = { id: '8', userId: 'u', tokenHash: hashToken(generateToken()), expiresAt: new Date(now + 600_000), createdAt: new Date(now) };
    await cache.set(session, 60_000);
    expect(await raw(keyOf(session.tokenHash))).not.toBeNull();

    await cache.delete([session.tokenHash]);
    expect(await raw(keyOf(session.tokenHash))).toBeNull();
    expect(await raw(cache.revokedKey(session.tokenHash))).not.toBeNull();
    expect(await ttlOf(cache.revokedKey(session.tokenHash))).toBeLessThanOrEqual(60);

    // A fill that read the session before the delete and writes after it.
    await cache.set(session, 60_000);
    expect(await raw(keyOf(session.tokenHash))).toBeNull();
    await expect(cache.get(session.tokenHash)).resolves.toBeNull();

    // Such a fill between its write and its check: the entry is there, and still not served.
    const signed = signEntry(SIGNING_KEY, keyOf(session.tokenHash), encodeSession(session)!, now + 60_000);
    await probe.set(keyOf(session.tokenHash), signed, { expires: 60 });
    await expect(cache.get(session.tokenHash)).resolves.toBeNull();
  });

  it('when memcached is unreachable: get is a quick miss (one warning), set does nothing, delete rejects', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const down = memcachedCache({ servers: `127.0.0.1:${closedPort}`, timeoutMs: 300, retryAfterMs: 0 });
      const tokenHash = hashToken(generateToken());
      for (let i = 0; i < 5; i++) {
        const [value, elapsed] = await timed(down.get(tokenHash));
        expect(value).toBeNull();
        expect(elapsed).toBeLessThan(400);
      }
      const downWarnings = warn.mock.calls.filter(([text]) => String(text).includes(`127.0.0.1:${closedPort}`));
      expect(downWarnings).toHaveLength(1);
      expect(String(downWarnings[0][0])).toMatch(/get failed .*ECONNREFUSED.*read from the database/);

      const now = Date.now();
      await expect(down.set({ id: '1', userId: 'u', tokenHash, expiresAt: new Date(now + 60_000), createdAt: new Date(now) }, 60_000)).resolves.toBeUndefined();
      await expect(down.delete([tokenHash])).rejects.toThrow(new RegExp(`could not delete 1 session\\(s\\) from Memcached at 127\\.0\\.0\\.1:${closedPort}: .*ECONNREFUSED`));
    } finally {
      warn.mockRestore();
    }
  });

  it('when memcached accepts but never answers: get misses after timeoutMs, delete rejects', async () => {
    const held = new Set<net.Socket>();
    const silent = net.createServer((socket) => {
      held.add(socket);
      socket.on('close', () => held.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    closers.push(async () => {
      for (const socket of held) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    });
    const port = (silent.address() as net.AddressInfo).port;
    const hung = memcachedCache({ servers: `127.0.0.1:${port}`, timeoutMs: 200 });
    const tokenHash = hashToken(generateToken());

    const [value, elapsed] = await timed(hung.get(tokenHash));
    expect(value).toBeNull();
    expect(elapsed).toBeGreaterThanOrEqual(150);
    expect(elapsed).toBeLessThan(700);
    await expect(hung.delete([tokenHash])).rejects.toThrow(/could not delete 1 session\(s\).*no answer within 200 ms|timed out/);
    await expect(hung.ping()).rejects.toThrow(/did not answer/);
  });

  it('close is idempotent; afterwards get misses and delete rejects', async () => {
    const closing = memcachedCache();
    await closing.ping();
    await closing.close();
    await closing.close();
    await expect(closing.get(hashToken(generateToken()))).resolves.toBeNull();
    await expect(closing.delete([hashToken(generateToken())])).rejects.toThrow(/closed/);
  });
});

describe('TieredSessionStore over the TypeORM store and memcached', () => {
  it('answers the second lookup of a session from memcached, with no database query', async () => {
    const session = await newSession(user());
    resetCounts();

    await expect(tiered.findByTokenHash(session.tokenHash)).resolves.toEqual(session);
    expect(called('findByTokenHash')).toBe(1);
    expect(recorder.count('SELECT')).toBe(1);
    expect(decodeSession(entryOf(keyOf(session.tokenHash), (await raw(keyOf(session.tokenHash)))!))).toEqual(session);

    await expect(tiered.findByTokenHash(session.tokenHash)).resolves.toEqual(session);
    expect(called('findByTokenHash')).toBe(1);
    expect(recorder.count()).toBe(1);
  });

  it('primes the cache on create, and answers an unknown token from the database', async () => {
    const now = Date.now();
    const created = await tiered.create({ userId: user(), tokenHash: hashToken(generateToken()), expiresAt: new Date(now + 3_600_000), createdAt: new Date(now) });
    resetCounts();
    await expect(tiered.findByTokenHash(created.tokenHash)).resolves.toEqual(created);
    expect(called('findByTokenHash')).toBe(0);

    await expect(tiered.findByTokenHash(hashToken(generateToken()))).resolves.toBeNull();
    expect(called('findByTokenHash')).toBe(1);
  });

  it('caches for min(ttlMs, time to expiry), rounded up to the second', async () => {
    const soon = await newSession(user(), 30_200);
    await tiered.findByTokenHash(soon.tokenHash);
    const soonTtl = await ttlOf(keyOf(soon.tokenHash));
    expect(soonTtl).toBeGreaterThanOrEqual(29);
    expect(soonTtl! * SECOND - (soon.expiresAt.getTime() - Date.now())).toBeLessThan(SECOND);

    const later = await newSession(user(), 2 * 3_600_000);
    await tiered.findByTokenHash(later.tokenHash);
    const laterTtl = await ttlOf(keyOf(later.tokenHash));
    expect(laterTtl).toBeGreaterThanOrEqual(59);
    expect(laterTtl).toBeLessThanOrEqual(60);
  });

  it('after deleteByTokenHash the token is not found, and memcached no longer has it', async () => {
    const session = await newSession(user());
    await tiered.findByTokenHash(session.tokenHash);
    expect(await raw(keyOf(session.tokenHash))).not.toBeNull();

    await expect(tiered.deleteByTokenHash(session.tokenHash)).resolves.toEqual(session);
    expect(await raw(keyOf(session.tokenHash))).toBeNull();
    resetCounts();
    await expect(tiered.findByTokenHash(session.tokenHash)).resolves.toBeNull();
    expect(called('findByTokenHash')).toBe(1);
  });

  it('after deleteByUser the removed tokens are gone from memcached; the kept one is still served from it', async () => {
    const userId = user();
    const [kept, a, b] = [await newSession(userId), await newSession(userId), await newSession(userId)];
    for (const s of [kept, a, b]) await tiered.findByTokenHash(s.tokenHash);

    const removed = await tiered.deleteByUser(userId, kept.id);
    expect(removed.map((s) => s.id).sort()).toEqual([a.id, b.id].sort());
    for (const s of [a, b]) expect(await raw(keyOf(s.tokenHash))).toBeNull();
    resetCounts();
    for (const s of [a, b]) await expect(tiered.findByTokenHash(s.tokenHash)).resolves.toBeNull();
    await expect(tiered.findByTokenHash(kept.tokenHash)).resolves.toEqual(kept);
    expect(called('findByTokenHash')).toBe(2);

    await expect(tiered.deleteByUser(userId)).resolves.toEqual([kept]);
    expect(await raw(keyOf(kept.tokenHash))).toBeNull();
    await expect(tiered.findByTokenHash(kept.tokenHash)).resolves.toBeNull();
  });

  it('after deleteById by its owner the token is gone from memcached; another user cannot remove it', async () => {
    const owner = user();
    const session = await newSession(owner);
    await tiered.findByTokenHash(session.tokenHash);

    await expect(tiered.deleteById(user(), session.id)).resolves.toBeNull();
    expect(await raw(keyOf(session.tokenHash))).not.toBeNull();

    await expect(tiered.deleteById(owner, session.id)).resolves.toEqual(session);
    expect(await raw(keyOf(session.tokenHash))).toBeNull();
    await expect(tiered.findByTokenHash(session.tokenHash)).resolves.toBeNull();
  });

  it('after replaceTokenHash the old token is gone from memcached and the new one is found', async () => {
    const session = await newSession(user());
    await tiered.findByTokenHash(session.tokenHash);
    const newHash = hashToken(generateToken());

    const replaced = await tiered.replaceTokenHash(session.tokenHash, newHash, new Date());
    expect(replaced).toEqual({ ...session, tokenHash: newHash });
    expect(await raw(keyOf(session.tokenHash))).toBeNull();
    await expect(tiered.findByTokenHash(session.tokenHash)).resolves.toBeNull();
    await expect(tiered.findByTokenHash(newHash)).resolves.toEqual(replaced);
    resetCounts();
    await expect(tiered.findByTokenHash(newHash)).resolves.toEqual(replaced);
    expect(called('findByTokenHash')).toBe(0);
  });

  it('extendExpiry rewrites the cached entry when it slides, and drops it when it does not', async () => {
    const session = await newSession(user(), 10 * 60_000);
    await tiered.findByTokenHash(session.tokenHash);
    const now = new Date();
    const next = new Date(now.getTime() + 30 * 60_000);

    await expect(tiered.extendExpiry(session, next, next, now)).resolves.toBe(true);
    resetCounts();
    await expect(tiered.findByTokenHash(session.tokenHash)).resolves.toEqual({ ...session, expiresAt: next });
    expect(called('findByTokenHash')).toBe(0);

    // Already at `next`, so nothing below `ifBefore`: nothing written, the entry is dropped.
    await expect(tiered.extendExpiry(session, next, next, now)).resolves.toBe(false);
    expect(await raw(keyOf(session.tokenHash))).toBeNull();
    await expect(tiered.findByTokenHash(session.tokenHash)).resolves.toEqual({ ...session, expiresAt: next });
    expect(called('findByTokenHash')).toBe(1);
  });

  it('does not serve an expired session from memcached, and memcached drops it within a second of its rounding', async () => {
    const session = await newSession(user(), 1_200);
    await tiered.findByTokenHash(session.tokenHash);
    expect(await ttlOf(keyOf(session.tokenHash))).toBeLessThanOrEqual(2);

    await sleep(session.expiresAt.getTime() - Date.now() + 20);
    resetCounts();
    const found = await tiered.findByTokenHash(session.tokenHash);
    // The store of record still has the row (the service refuses it); the cache did not answer.
    expect(called('findByTokenHash')).toBe(1);
    expect(found!.expiresAt.getTime()).toBeLessThanOrEqual(Date.now());
    // memcached counts whole seconds on a clock that ticks once a second: TTL 2 s + one tick.
    expect(await until(async () => (await raw(keyOf(session.tokenHash))) === null, 3_000)).toBe(true);
  });

  it('does not serve a cached session past its expiry on its own clock either', async () => {
    const ahead = new TieredSessionStore(inner, memcachedCache(), { clock: () => Date.now() + 3 * 3_600_000 });
    const session = await newSession(user(), 3_600_000);
    await tiered.findByTokenHash(session.tokenHash);
    expect(await raw(keyOf(session.tokenHash))).not.toBeNull();
    resetCounts();

    await expect(ahead.findByTokenHash(session.tokenHash)).resolves.toEqual(session);
    expect(called('findByTokenHash')).toBe(1);
  });

  it('a lookup that read the database before a revocation does not put the session back in memcached after it', async () => {
    const session = await newSession(user());
    let reached!: () => void;
    const atGate = new Promise<void>((resolve) => (reached = resolve));
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    afterFind = () => {
      afterFind = null;
      reached();
      return gate;
    };

    // Misses memcached, reads the live row, and is held before it fills the cache.
    const lookup = tiered.findByTokenHash(session.tokenHash);
    await atGate;
    await expect(tiered.deleteByTokenHash(session.tokenHash)).resolves.toEqual(session);
    open();
    await expect(lookup).resolves.toEqual(session);

    expect(await raw(keyOf(session.tokenHash))).toBeNull();
    resetCounts();
    await expect(tiered.findByTokenHash(session.tokenHash)).resolves.toBeNull();
    expect(called('findByTokenHash')).toBe(1);
  });

  it('does not cache a database answer slower than fillWindowMs', async () => {
    const slow = new TieredSessionStore(inner, memcachedCache(), { fillWindowMs: 50 });
    const session = await newSession(user());
    afterFind = () => sleep(120);
    await expect(slow.findByTokenHash(session.tokenHash)).resolves.toEqual(session);
    expect(await raw(keyOf(session.tokenHash))).toBeNull();

    afterFind = null;
    await expect(slow.findByTokenHash(session.tokenHash)).resolves.toEqual(session);
    expect(await raw(keyOf(session.tokenHash))).not.toBeNull();
  });

  it('with memcached unreachable, lookups fall back to the database quickly, and revocations reject', async () => {
    const down = new TieredSessionStore(inner, memcachedCache({ servers: `127.0.0.1:${closedPort}`, timeoutMs: 300 }), { evictionRetryMs: 60_000 });
    closers.push(() => down.close());
    const session = await newSession(user());
    resetCounts();

    const [found, elapsed] = await timed(down.findByTokenHash(session.tokenHash));
    expect(found).toEqual(session);
    expect(elapsed).toBeLessThan(1_000);
    await expect(down.findByTokenHash(session.tokenHash)).resolves.toEqual(session);
    expect(called('findByTokenHash')).toBe(2);

    await expect(down.deleteByTokenHash(session.tokenHash)).rejects.toThrow(/deleted from the store but could not be evicted from the cache .*ECONNREFUSED/);
    expect(down.pendingEvictions).toBe(1);
    // The store of record did delete it.
    await expect(inner.findByTokenHash(session.tokenHash)).resolves.toBeNull();
  });

  it('an eviction that failed is retried, and meanwhile the session is not read from memcached', async () => {
    const real = memcachedCache();
    let failures = 1;
    const flaky: SharedSessionCache = {
      get: (hash) => real.get(hash),
      set: (s, ttl) => real.set(s, ttl),
      delete: async (hashes) => {
        if (failures-- > 0) throw new Error('injected delete failure');
        await real.delete(hashes);
      },
      close: () => real.close(),
    };
    const store = new TieredSessionStore(inner, flaky, { evictionRetryMs: 400 });
    closers.push(() => store.close());
    const session = await newSession(user());
    await store.findByTokenHash(session.tokenHash);

    await expect(store.deleteByTokenHash(session.tokenHash)).rejects.toThrow(/could not be evicted .*injected delete failure/);
    // Still in memcached, but this instance no longer reads it from there.
    expect(await raw(keyOf(session.tokenHash))).not.toBeNull();
    resetCounts();
    await expect(store.findByTokenHash(session.tokenHash)).resolves.toBeNull();
    expect(called('findByTokenHash')).toBe(1);

    expect(await until(async () => store.pendingEvictions === 0, 3_000)).toBe(true);
    expect(await raw(keyOf(session.tokenHash))).toBeNull();
  });
});
