import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import memjs from 'memjs';
import { register } from 'prom-client';
import { SessionOptionsError } from '../src/core/session.exceptions.js';
import { encodeSession } from '../src/stores/tiered/memcached-entry.js';
import { MemcachedSessionCache } from '../src/stores/tiered/memcached-session.cache.js';
import { memcachedEntryKey, signEntry } from '../src/stores/tiered/memcached-signature.js';
import type { StoredSession } from '../src/stores/session-store.interface.js';
import { generateToken, hashToken } from '../src/tokens/opaque-token.js';
import { createSessionTestApp, type SessionTestApp } from './support/app.js';
import { TestClock } from './support/clock.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

// Whoever can write to Memcached (no authentication by default) used to be able to log in as
// anyone: store an entry naming a user under the key of a token of their choosing, then present
// the token. Entries are now signed with storage.secret; these tests write to Memcached with a
// plain client, as such an attacker would.

const MEMCACHED = process.env.TEST_MEMCACHED ?? '127.0.0.1:11211';
const SECRET = 'the-memcached-secret-of-this-test-app-0123456789';
const OTHER_SECRET = 'another-memcached-secret-of-32-bytes-or-more-9876';
const MINUTE = 60_000;

let db: TestDatabase;
let t: SessionTestApp;
let probe: memjs.Client;
const prefix = `nss-forge-${randomBytes(4).toString('hex')}:`;
const clock = new TestClock(Date.now());

const keyOf = (tokenHash: Buffer, keyPrefix = prefix) => keyPrefix + tokenHash.toString('base64url');
const raw = async (key: string) => (await probe.get(key)).value;
const storage = (keyPrefix: string, more: object = {}) => ({ type: 'memcached' as const, servers: MEMCACHED, keyPrefix, secret: SECRET, ...more });

async function refusedCount(reason: string): Promise<number> {
  const metric = register.getSingleMetric('sessions_shared_cache_refused_total');
  const { values } = await metric!.get();
  return values.filter((v) => v.labels.reason === reason).reduce((sum, v) => sum + v.value, 0);
}

/** The session a forger would write for `userId` under the hash of a token they made up. */
function forgedSession(userId: string, tokenHash: Buffer): StoredSession {
  const now = clock.now();
  return { id: '1', userId, tokenHash, expiresAt: new Date(now + 60 * MINUTE), createdAt: new Date(now) };
}

beforeAll(async () => {
  probe = memjs.Client.create(MEMCACHED, { retries: 1, logger: { log: () => undefined } });
  db = await createTestDatabase('nss_forge');
  // No local cache: every validation reads the tier, so what Memcached holds decides.
  t = await createSessionTestApp(db.url, { storage: storage(prefix), cache: false, cleanup: false, clock: clock.now });
});

afterAll(async () => {
  await t?.close();
  probe?.close();
  await db?.drop();
});

describe('a Memcached entry written by someone without storage.secret', () => {
  it('is refused for a token of their choosing: no session, counted, logged without the entry, deleted', async () => {
    const victim = await t.createUser();
    const token = generateToken();
    const key = keyOf(hashToken(token));
    const before = await refusedCount('unsigned');
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      // The entry format as this library wrote it before entries were signed.
      await probe.set(key, encodeSession(forgedSession(victim, hashToken(token)))!, { expires: 600 });
      await expect(t.sessions.authenticate(token)).resolves.toBeNull();
      expect(await refusedCount('unsigned')).toBe(before + 1);
      const logged = warn.mock.calls.map(([text]) => String(text)).filter((text) => text.includes('refused an entry'));
      expect(logged).toHaveLength(1);
      expect(logged[0]).toMatch(/is not signed.*deleted, and the session is read from the database/);
      expect(logged[0]).not.toContain(victim);
      expect(logged[0]).not.toContain(hashToken(token).toString('base64url'));
    } finally {
      warn.mockRestore();
    }
    expect(await raw(key)).toBeNull();
  });

  it('is refused when it imitates the signed format with a key of its own', async () => {
    const victim = await t.createUser();
    const token = generateToken();
    const key = keyOf(hashToken(token));
    const before = await refusedCount('forged');
    const guessedKey = memcachedEntryKey(randomBytes(32));
    const forged = signEntry(guessedKey, key, encodeSession(forgedSession(victim, hashToken(token)))!, clock.now() + 60 * MINUTE);
    await probe.set(key, forged, { expires: 600 });

    await expect(t.sessions.authenticate(token)).resolves.toBeNull();
    expect(await refusedCount('forged')).toBe(before + 1);
    expect(await raw(key)).toBeNull();
  });

  it('a tampered byte in a real entry: read from PostgreSQL instead, still the right user, and cached again', async () => {
    const owner = await t.createUser();
    const other = await t.createUser();
    const issued = await t.sessions.createSession({ userId: owner });
    const key = keyOf(hashToken(issued.token));
    const real = (await raw(key))!;
    expect(real).not.toBeNull();
    // The user id is the entry's last bytes, before the 32-byte MAC: make it name another user.
    const tampered = Buffer.from(real);
    const at = tampered.length - 32 - owner.length;
    expect(tampered.toString('utf8', at, at + owner.length)).toBe(owner);
    tampered.write(other, at, 'utf8');
    const before = await refusedCount('forged');
    await probe.set(key, tampered, { expires: 600 });
    t.recorder.clear();

    await expect(t.sessions.validateSession(issued.token)).resolves.toMatchObject({ id: owner });
    expect(t.recorder.count('SELECT')).toBeGreaterThan(0);
    expect(await refusedCount('forged')).toBe(before + 1);
    // The fill from the database put a good entry back: the next validation needs no query.
    expect((await raw(key))!.equals(tampered)).toBe(false);
    t.recorder.clear();
    await expect(t.sessions.validateSession(issued.token)).resolves.toMatchObject({ id: owner });
    expect(t.recorder.count('SELECT')).toBe(1);
  });

  it('an entry copied to another token’s key is refused there', async () => {
    const alice = await t.createUser();
    const bob = await t.createUser();
    const aliceIssued = await t.sessions.createSession({ userId: alice });
    const bobIssued = await t.sessions.createSession({ userId: bob });
    const aliceEntry = (await raw(keyOf(hashToken(aliceIssued.token))))!;
    const before = await refusedCount('forged');

    // Onto the key of a token the copier made up: no session.
    const madeUp = generateToken();
    await probe.set(keyOf(hashToken(madeUp)), aliceEntry, { expires: 600 });
    await expect(t.sessions.authenticate(madeUp)).resolves.toBeNull();
    // Onto Bob's key: Bob is still Bob, read from PostgreSQL.
    await probe.set(keyOf(hashToken(bobIssued.token)), aliceEntry, { expires: 600 });
    await expect(t.sessions.validateSession(bobIssued.token)).resolves.toMatchObject({ id: bob });
    expect(await refusedCount('forged')).toBe(before + 2);
    // Alice's own entry still serves her.
    await expect(t.sessions.validateSession(aliceIssued.token)).resolves.toMatchObject({ id: alice });
  });

  it('a copy of a real entry replayed after its logout serves for storage.ttl at most, never until the session’s expiry', async () => {
    const replayPrefix = `nss-replay-${randomBytes(4).toString('hex')}:`;
    const short = await createSessionTestApp(db.url, { storage: storage(replayPrefix, { ttl: '1m' }), cache: false, cleanup: false, clock: clock.now });
    try {
      const userId = await short.createUser();
      const issued = await short.sessions.createSession({ userId });
      const key = keyOf(hashToken(issued.token), replayPrefix);
      const copy = (await raw(key))!;
      await short.sessions.revokeSession(issued.token);
      // The writer removes the revocation marker too; PostgreSQL no longer has the session.
      await probe.delete(`${key}.revoked`);
      clock.advance(MINUTE + 1);
      await probe.set(key, copy, { expires: 600 });
      await expect(short.sessions.authenticate(issued.token)).resolves.toBeNull();
    } finally {
      await short.close();
    }
  });
});

describe('storage.secret', () => {
  it('is required with storage.type memcached, and long enough', async () => {
    await expect(createSessionTestApp(db.url, { storage: { type: 'memcached', servers: MEMCACHED } as never, cleanup: false })).rejects.toMatchObject({
      option: 'storage.secret',
      message: expect.stringMatching(/missing; Memcached entries are signed with a server secret/),
    });
    await expect(createSessionTestApp(db.url, { storage: storage(prefix, { secret: 'too-short' }), cleanup: false })).rejects.toBeInstanceOf(SessionOptionsError);
  });

  it('rotates: a list newest first reads entries signed with an older secret; dropping it refuses them', async () => {
    const rotationPrefix = `nss-rotate-${randomBytes(4).toString('hex')}:`;
    const caches = [OTHER_SECRET, [SECRET, OTHER_SECRET], SECRET].map((secret) => new MemcachedSessionCache({ servers: MEMCACHED, keyPrefix: rotationPrefix, secret }));
    const [before, during, after] = caches;
    try {
      const now = Date.now();
      const session: StoredSession = { id: '42', userId: 'u-42', tokenHash: hashToken(generateToken()), expiresAt: new Date(now + 10 * MINUTE), createdAt: new Date(now) };
      await before.set(session, MINUTE);
      await expect(during.get(session.tokenHash)).resolves.toEqual(session);
      await expect(after.get(session.tokenHash)).resolves.toBeNull();
      // The one that refused it also deleted it.
      expect(await raw(rotationPrefix + session.tokenHash.toString('base64url'))).toBeNull();
      // What the rotated instance writes, the fully rotated one reads.
      await during.set(session, MINUTE);
      await expect(after.get(session.tokenHash)).resolves.toEqual(session);
    } finally {
      for (const cache of caches) await cache.close();
    }
  });
});

// memcached here runs without SASL, so the credentials are checked against a stand-in that
// speaks the binary protocol's SASL exchange (PLAIN), as a SASL-enabled memcached does.
describe('SASL credentials (storage.username, storage.password)', () => {
  let server: net.Server;
  let port: number;
  const auths: string[] = [];

  beforeAll(async () => {
    server = net.createServer((socket) => {
      let pending = Buffer.alloc(0);
      let authenticated = false;
      socket.on('data', (chunk) => {
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= 24 && pending.length >= 24 + pending.readUInt32BE(8)) {
          const opcode = pending[1];
          const opaque = pending.readUInt32BE(12);
          const keyLength = pending.readUInt16BE(2);
          const extras = pending[4];
          const body = pending.subarray(24, 24 + pending.readUInt32BE(8));
          pending = pending.subarray(24 + body.length);
          const value = body.subarray(extras + keyLength);
          const reply = (status: number, key = '', val = '') => {
            const head = Buffer.alloc(24);
            head.writeUInt8(0x81, 0);
            head.writeUInt8(opcode, 1);
            head.writeUInt16BE(Buffer.byteLength(key), 2);
            head.writeUInt16BE(status, 6);
            head.writeUInt32BE(Buffer.byteLength(key) + Buffer.byteLength(val), 8);
            head.writeUInt32BE(opaque, 12);
            socket.write(Buffer.concat([head, Buffer.from(key), Buffer.from(val)]));
          };
          if (opcode === 0x20) reply(0, '', 'PLAIN');
          else if (opcode === 0x21) {
            auths.push(value.toString());
            authenticated = value.toString() === '\0app\0s3cret';
            reply(authenticated ? 0 : 0x20);
          } else if (!authenticated) reply(0x20);
          else if (opcode === 0x10) {
            reply(0, 'version', '1.6.0-sasl');
            reply(0);
          } else reply(0x01);
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  beforeEach(() => {
    auths.length = 0;
  });

  it('are sent by the client memjs is built with, and a server that requires them answers only with the right ones', async () => {
    const good = await MemcachedSessionCache.connect({ servers: `127.0.0.1:${port}`, secret: SECRET, username: 'app', password: 's3cret' });
    await good.close();
    expect(auths).toEqual(['\0app\0s3cret']);

    await expect(MemcachedSessionCache.connect({ servers: `127.0.0.1:${port}`, secret: SECRET, username: 'app', password: 'wrong' })).rejects.toThrow(/authentication failed/);
    await expect(MemcachedSessionCache.connect({ servers: `127.0.0.1:${port}`, secret: SECRET })).rejects.toThrow(/authentication failed/);
  });

  it('reach memjs from the module options; wrong ones stop the app at startup, naming storage.username', async () => {
    const options = { type: 'memcached' as const, servers: `127.0.0.1:${port}`, secret: SECRET, username: 'app' };
    const app = await createSessionTestApp(db.url, { storage: { ...options, password: 's3cret' }, cleanup: false });
    await app.close();
    expect(auths).toContain('\0app\0s3cret');

    const refused = createSessionTestApp(db.url, { storage: { ...options, password: 'wrong' }, cleanup: false });
    await expect(refused).rejects.toMatchObject({ option: 'storage.username' });
    await expect(refused).rejects.toThrow(/refused the SASL credentials/);
    await expect(refused).rejects.not.toThrow(/wrong/);
  });
});
