import { randomBytes } from 'node:crypto';
import memjs from 'memjs';
import { DataSource } from 'typeorm';
import { CreateSessionDetails1765000000000, CreateSessionsTable1763856000000, hashToken, SessionEntity, type StoredSession, TypeOrmSessionStore } from '../src/index.js';
import { decodeSession, encodeSession } from '../src/stores/tiered/memcached-entry.js';
import { MemcachedSessionCache } from '../src/stores/tiered/memcached-session.cache.js';
import { TieredSessionStore } from '../src/stores/tiered/tiered-session.store.js';
import { generateToken } from '../src/tokens/opaque-token.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { DEVICE_KEY, deviceBoundContract } from './support/details-contract.js';
import { AWKWARD_DATA, fullDetails, HOUR } from './support/details-fixtures.js';

// The store side of deviceBound behind the Memcached tier: the entry format that carries the
// key, and the tier over PostgreSQL by the shared contract.
const MEMCACHED = process.env.TEST_MEMCACHED ?? '127.0.0.1:11211';
const PREFIX = `nss-device-${randomBytes(4).toString('hex')}:`;
const SECRET = 'the-memcached-secret-of-the-device-bound-tests-0123';

let db: TestDatabase;
let dataSource: DataSource;
let cache: MemcachedSessionCache;
let probe: memjs.Client;

const raw = async (tokenHash: Buffer): Promise<Buffer | null> => (await probe.get(PREFIX + tokenHash.toString('base64url'))).value;

function session(details = fullDetails(Date.now(), AWKWARD_DATA)): StoredSession {
  const now = Date.now();
  return { id: '9007199254740993', userId: 'usér-ü', tokenHash: hashToken(generateToken()), expiresAt: new Date(now + HOUR), createdAt: new Date(now - 1_000), details };
}

beforeAll(async () => {
  probe = memjs.Client.create(MEMCACHED, { retries: 1, logger: { log: () => undefined } });
  db = await createTestDatabase('nss_device_mcd');
  dataSource = new DataSource({ type: 'postgres', url: db.url, entities: [SessionEntity], migrations: [CreateSessionsTable1763856000000, CreateSessionDetails1765000000000] });
  await dataSource.initialize();
  await dataSource.runMigrations();
  cache = new MemcachedSessionCache({ servers: MEMCACHED, keyPrefix: PREFIX, secret: SECRET });
  await cache.ping();
});

afterAll(async () => {
  await cache?.close();
  probe?.close();
  await dataSource?.destroy();
  await db?.drop();
});

describe('the Memcached entry with a device key', () => {
  const keyed = (deviceProofAt: Date | null = new Date(Date.now() - 5_000)) => session({ ...fullDetails(Date.now(), AWKWARD_DATA), deviceKey: DEVICE_KEY, deviceProofAt });

  it('is format 4, version 2 with dk and dp in its JSON; a session without a key stays version 2', () => {
    const original = keyed();
    const encoded = encodeSession(original)!;
    expect(encoded[0]).toBe(4);
    const jsonAt = 15 + 32 + Buffer.byteLength(original.id) + 2 + Buffer.byteLength(original.userId) + 4;
    expect(JSON.parse(encoded.toString('utf8', jsonAt))).toMatchObject({ dk: DEVICE_KEY, dp: original.details!.deviceProofAt!.getTime() });
    expect(decodeSession(encoded)).toStrictEqual(original);
    const unproved = keyed(null);
    expect(decodeSession(encodeSession(unproved)!)).toStrictEqual(unproved);
    expect(encodeSession(session())![0]).toBe(2);
  });

  it('refuses a version-4 entry without a valid dk or dp', () => {
    const encoded = encodeSession(keyed())!;
    const jsonAt = 15 + 32 + 16 + 2 + Buffer.byteLength('usér-ü') + 4;
    const withJson = (json: Record<string, unknown>) => {
      const text = Buffer.from(JSON.stringify({ ua: null, dv: null, ip: null, ls: null, ra: null, d: {}, ...json }));
      const length = Buffer.alloc(4);
      length.writeUInt32BE(text.length);
      return Buffer.concat([encoded.subarray(0, jsonAt - 4), length, text]);
    };
    expect(decodeSession(withJson({ dk: DEVICE_KEY, dp: 5 }))?.details).toMatchObject({ deviceKey: DEVICE_KEY, deviceProofAt: new Date(5) });
    expect(decodeSession(withJson({ dp: 5 }))).toBeNull();
    expect(decodeSession(withJson({ dk: 7, dp: 5 }))).toBeNull();
    expect(decodeSession(withJson({ dk: DEVICE_KEY }))).toBeNull();
    expect(decodeSession(withJson({ dk: DEVICE_KEY, dp: 'now' }))).toBeNull();
  });

  it('survives the trip through memcached, signed', async () => {
    const original = keyed();
    await cache.set(original, 60_000);
    expect((await raw(original.tokenHash))?.[0]).toBe(3);
    expect((await raw(original.tokenHash))?.[7]).toBe(4);
    expect(await cache.get(original.tokenHash)).toStrictEqual(original);
  });
});

describe('TieredSessionStore with deviceBound, over PostgreSQL', () => {
  let bound: TieredSessionStore;
  let boundInner: TypeOrmSessionStore;
  let boundFinds = 0;
  const newUser = async () => `user-${randomBytes(6).toString('hex')}`;

  beforeAll(() => {
    boundInner = new TypeOrmSessionStore(dataSource, { details: true, detailsOptions: ['metadata', 'deviceBound'] });
    const find = boundInner.findByTokenHash.bind(boundInner);
    boundInner.findByTokenHash = (tokenHash) => {
      boundFinds += 1;
      return find(tokenHash);
    };
    bound = new TieredSessionStore(boundInner, cache, { ttlMs: 60_000 });
  });
  afterAll(() => bound?.close());

  describe('the deviceBound contract', () => deviceBoundContract(() => ({ store: bound, newUser, withoutDetails: new TypeOrmSessionStore(dataSource) })));

  it('a cache hit brings the key and the last proof', async () => {
    const now = Date.now();
    const created = await boundInner.create({ userId: await newUser(), tokenHash: hashToken(generateToken()), expiresAt: new Date(now + HOUR), createdAt: new Date(now), details: fullDetails(now) });
    const keyed = await boundInner.bindDeviceKey(created.tokenHash, DEVICE_KEY, new Date(now), new Date(now));
    expect(await bound.findByTokenHash(created.tokenHash)).toStrictEqual(keyed);
    const finds = boundFinds;
    const hit = await bound.findByTokenHash(created.tokenHash);
    expect(boundFinds).toBe(finds);
    expect(hit).toStrictEqual(keyed);
    expect(hit!.details).toMatchObject({ deviceKey: DEVICE_KEY, deviceProofAt: new Date(now) });
  });

  it('a bind or a proof evicts the entry, and a slow fill cannot bring the old one back', async () => {
    const now = Date.now();
    const created = await bound.create({ userId: await newUser(), tokenHash: hashToken(generateToken()), expiresAt: new Date(now + HOUR), createdAt: new Date(now), details: fullDetails(now) });
    expect(await raw(created.tokenHash)).not.toBeNull();
    const keyed = await bound.bindDeviceKey!(created.tokenHash, DEVICE_KEY, new Date(now), new Date(now));
    expect(await raw(created.tokenHash)).toBeNull();
    await cache.set(created, 60_000);
    expect(await bound.findByTokenHash(created.tokenHash)).toStrictEqual(keyed);

    const proved = await bound.acceptDeviceProof!(created.tokenHash, new Date(now + 1_000), new Date(now + 1_000));
    expect(await raw(created.tokenHash)).toBeNull();
    // A fill that read the row before the proof, landing after it.
    await cache.set(keyed!, 60_000);
    expect(await bound.findByTokenHash(created.tokenHash)).toStrictEqual(proved);
    expect(proved!.details!.deviceProofAt).toEqual(new Date(now + 1_000));
  });

  it('leaves the cached entry alone when nothing was written', async () => {
    const now = Date.now();
    const created = await bound.create({ userId: await newUser(), tokenHash: hashToken(generateToken()), expiresAt: new Date(now + HOUR), createdAt: new Date(now), details: fullDetails(now) });
    expect(await bound.acceptDeviceProof!(created.tokenHash, new Date(now), new Date(now))).toBeNull();
    expect(await raw(created.tokenHash)).not.toBeNull();
  });
});
