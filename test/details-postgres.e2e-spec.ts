import { DataSource } from 'typeorm';
import {
  EntityUsers,
  hashToken,
  SESSION_DETAILS_TABLE,
  SessionDataTooLargeException,
  SessionOptionsError,
  TypeOrmSessionStore,
} from '../src/index.js';
import type { SessionTestApp } from './support/app.js';
import { TestClock } from './support/clock.js';
import { createDetailsTestApp } from './support/details-app.js';
import { at, CHROME_MAC, details, detailsContract, HOUR, login, newTokenHash, NOW } from './support/details-contract.js';
import { touchRace } from './support/details-race.js';
import { InMemorySessionStore } from './support/in-memory-session.store.js';
import { detailsDataSource, freshDatabases, MIGRATIONS, UserRow } from './support/details-postgres-fixture.js';
import { QueryRecorder } from './support/query-recorder.js';

const freshDb = freshDatabases();

describe('TypeOrmSessionStore with details, driven directly', () => {
  const recorder = new QueryRecorder();
  let ds: DataSource;
  let store: TypeOrmSessionStore;
  let plain: TypeOrmSessionStore;
  let newUser: () => Promise<string>;
  let detailRows: (ids: string[]) => Promise<number>;

  beforeAll(async () => {
    ({ ds, newUser, detailRows } = await detailsDataSource(await freshDb('nss_details_store'), recorder));
    store = new TypeOrmSessionStore(ds, { details: true });
    plain = new TypeOrmSessionStore(ds);
  });
  afterAll(() => ds?.destroy());
  beforeEach(() => recorder.clear());

  describe('the contract', () => detailsContract(() => ({ store, newUser, sessionWithoutDetails: (userId) => login(plain, userId, details()) })));

  it('sessions keeps its five columns; session_details has the designed ones, tied to sessions by a cascading key', async () => {
    const columns = (table: string) =>
      ds.query(`SELECT column_name AS name, data_type AS type, character_maximum_length AS len, is_nullable AS nullable, column_default AS def
        FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position`, [table]);
    expect((await columns('sessions')).map((c: { name: string }) => c.name)).toEqual(['id', 'user_id', 'token', 'expires_at', 'created_at']);
    expect(await columns(SESSION_DETAILS_TABLE)).toEqual([
      { name: 'session_id', type: 'bigint', len: null, nullable: 'NO', def: null },
      { name: 'user_agent', type: 'character varying', len: 512, nullable: 'YES', def: null },
      { name: 'device', type: 'character varying', len: 100, nullable: 'YES', def: null },
      { name: 'ip', type: 'character varying', len: 45, nullable: 'YES', def: null },
      { name: 'last_seen_at', type: 'timestamp with time zone', len: null, nullable: 'YES', def: null },
      { name: 'reauthenticated_at', type: 'timestamp with time zone', len: null, nullable: 'YES', def: null },
      { name: 'data', type: 'jsonb', len: null, nullable: 'NO', def: "'{}'::jsonb" },
      { name: 'device_key', type: 'text', len: null, nullable: 'YES', def: null },
      { name: 'device_proof_at', type: 'timestamp with time zone', len: null, nullable: 'YES', def: null },
    ]);
    const constraints = await ds.query(`SELECT contype, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = 'session_details'::regclass ORDER BY contype`);
    expect(constraints).toEqual([
      { contype: 'c', def: "CHECK ((jsonb_typeof(data) = 'object'::text))" },
      { contype: 'f', def: 'FOREIGN KEY (session_id) REFERENCES sessions(id) ON DELETE CASCADE' },
      { contype: 'p', def: 'PRIMARY KEY (session_id)' },
    ]);
  });

  it('a login is one statement with its details; every field comes back from each read, joined in that one statement', async () => {
    const userId = await newUser();
    const full = details({ userAgent: 'A'.repeat(600), ip: '2001:db8:85a3::8a2e:370:7334', lastSeenAt: at(-5_000), reauthenticatedAt: at(-60_000), data: { theme: 'dark', cart: { items: [1, 2] }, ratio: 1.5, ok: true, name: 'Zoë' } });
    recorder.clear();
    const created = await login(store, userId, full);
    expect(recorder.queries.map((q) => q.sql)).toEqual([expect.stringContaining('INSERT INTO "session_details"')]);
    expect(created.details).toEqual({ ...full, userAgent: 'A'.repeat(512) });

    const withUser = new TypeOrmSessionStore(ds, { details: true, users: new EntityUsers(ds, UserRow) });
    recorder.clear();
    expect(await store.findByTokenHash(created.tokenHash)).toEqual(created);
    expect(await withUser.findByTokenHashWithUser!(created.tokenHash)).toEqual({ session: created, user: expect.objectContaining({ id: userId }) });
    expect(await store.listByUser(userId, NOW)).toEqual([created]);
    expect(recorder.queries.map((q) => q.sql)).toEqual(Array(3).fill(expect.stringContaining('LEFT JOIN "session_details" d ON d.session_id = s.id')));
  });

  it('a session from before the option reads without details, and the plain store never touches the table', async () => {
    const userId = await newUser();
    recorder.clear();
    // Given details and a last-seen time, the plain store still sends today's statements.
    const old = await login(plain, userId, details());
    await plain.findByTokenHash(old.tokenHash);
    await plain.extendExpiry(old, at(2 * HOUR), at(2 * HOUR), NOW, NOW);
    const moved = (await plain.replaceTokenHash(old.tokenHash, newTokenHash(), NOW))!;
    await plain.listByUser(userId, NOW);
    expect(recorder.queries.map((q) => q.sql)).toEqual([
      'WITH expired AS (DELETE FROM "sessions" WHERE user_id = $1 AND expires_at <= $4)\n       INSERT INTO "sessions" (user_id, token, expires_at, created_at) VALUES ($1, $2, $3, $4) RETURNING id, user_id, token, expires_at, created_at',
      'SELECT id, user_id, token, expires_at, created_at FROM "sessions" WHERE token = $1',
      'UPDATE "sessions" SET expires_at = $2 WHERE id = $1 AND expires_at < $3 AND expires_at > $4 RETURNING id',
      'UPDATE "sessions" SET token = $2 WHERE token = $1 AND expires_at > $3 RETURNING id, user_id, token, expires_at, created_at',
      'SELECT id, user_id, token, expires_at, created_at FROM "sessions" WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at DESC, id DESC',
    ]);
    expect(old).not.toHaveProperty('details');
    expect(await detailRows([old.id])).toBe(0);
    expect(await store.findByTokenHash(moved.tokenHash)).toEqual(moved);
    expect(await store.listByUser(userId, NOW)).toEqual([moved]);
  });

  it('extendExpiry with seenAt and mergeData are one statement each; a refused merge alone costs a second read', async () => {
    const userId = await newUser();
    const session = await login(store, userId, details(), at(HOUR / 2));
    recorder.clear();
    expect(await store.extendExpiry(session, at(HOUR), at(HOUR), NOW, NOW)).toBe(true);
    expect(await store.mergeData(session.tokenHash, { a: 1 }, 4096, NOW)).toEqual({ data: { a: 1 } });
    expect(recorder.count()).toBe(2);
    expect(await store.mergeData(session.tokenHash, { b: 'x'.repeat(100) }, 64, NOW)).toEqual({ tooLarge: true });
    expect(recorder.count()).toBe(4);
  });

  it('the bound is on PostgreSQL\'s text of the result: at it a merge lands, a byte under it nothing is written', async () => {
    const userId = await newUser();
    const session = await login(store, userId, details({ data: { a: 'x' } }));
    const [{ bytes }] = await ds.query(`SELECT octet_length(('{"a": "x", "b": [1, 2]}'::jsonb)::text) AS bytes`);
    const xmin = async () => (await ds.query('SELECT xmin::text AS x FROM session_details WHERE session_id = $1', [session.id]))[0].x as string;
    const before = await xmin();
    expect(await store.mergeData(session.tokenHash, { b: [1, 2] }, bytes - 1, NOW)).toEqual({ tooLarge: true });
    // The refusal wrote no new row version: the data and its xmin are those of the login.
    expect(await xmin()).toBe(before);
    expect((await store.findByTokenHash(session.tokenHash))!.details!.data).toEqual({ a: 'x' });
    expect(await store.mergeData(session.tokenHash, { b: [1, 2] }, bytes, NOW)).toEqual({ data: { a: 'x', b: [1, 2] } });
  });

  it.each([
    ['with a details row', true],
    ['without one (the first write inserts it)', false],
  ])('touch: 300 concurrent calls through 20 connections, %s, modify the row exactly once', async (_label, withRow) => {
    const race = await touchRace(withRow);
    console.log(`touch race ${withRow ? 'on a details row' : 'without a row'}: ${JSON.stringify(race)}`);
    expect(race.connections).toBeGreaterThanOrEqual(10);
    expect([race.returned, race.logged]).toEqual([1, 1]);
    // Where the row exists, no insert is ever attempted, so the statistics count the one update.
    if (withRow) expect(race.statWrites).toBe(1);
  }, 60_000);

  it('a detail write racing a logout answers as if the session were gone, never with an error', async () => {
    const userId = await newUser();
    const sessions = await Promise.all(Array.from({ length: 60 }, () => login(plain, userId)));
    const outcomes = await Promise.all(
      sessions.flatMap((x) => [
        store.deleteByTokenHash(x.tokenHash),
        store.touch(x, NOW, at(1 - 60_000)),
        store.mergeData(x.tokenHash, { a: 1 }, 4096, NOW),
        store.markReauthenticated(x.tokenHash, NOW),
      ]),
    );
    expect(outcomes.filter((_, i) => i % 4 === 2).every((r) => r === null || JSON.stringify(r) === '{"data":{"a":1}}')).toBe(true);
    expect(await detailRows(sessions.map((x) => x.id))).toBe(0);
  });

  it('every delete and the purge take the details along, by the cascade', async () => {
    const userId = await newUser();
    const [a, b, c, d, kept] = await Promise.all([1, 2, 3, 4, 5].map(() => login(store, userId, details())));
    const expired = await login(store, await newUser(), details(), at(1_000));
    expect(await detailRows([a, b, c, d, kept, expired].map((x) => x.id))).toBe(6);
    await store.deleteByTokenHash(a.tokenHash);
    await store.deleteById(userId, b.id);
    expect(await detailRows([a.id, b.id])).toBe(0);
    await store.deleteExpired(at(2_000), 1000);
    expect(await detailRows([expired.id])).toBe(0);
    expect((await store.deleteByUser(userId, kept.id)).map((x) => x.id).sort()).toEqual([c.id, d.id].sort());
    expect(await detailRows([c.id, d.id, kept.id])).toBe(1);
  });

  it('ready() checks the table only with details on, and names the options and the command that creates it', async () => {
    await expect(store.ready()).resolves.toBeUndefined();
    const bare = await new DataSource({ type: 'postgres', url: (await freshDb('nss_details_bare')).url, migrations: MIGRATIONS.slice(0, 2) }).initialize();
    try {
      await bare.runMigrations();
      await expect(new TypeOrmSessionStore(bare).ready()).resolves.toBeUndefined();
      const all = new TypeOrmSessionStore(bare, { details: true }).ready();
      await expect(all).rejects.toThrow(SessionOptionsError);
      await expect(all).rejects.toMatchObject({ option: 'metadata, reauthentication, data', message: expect.stringContaining('npx nestjs-sessions migration:create --details') });
      await expect(new TypeOrmSessionStore(bare, { details: true, detailsOptions: ['data'] }).ready()).rejects.toMatchObject({ option: 'data' });
    } finally {
      await bare.destroy();
    }
  });
});

describe('InMemorySessionStore (the test store) keeps details by the same contract', () => {
  let seq = 0;
  const store = new InMemorySessionStore();
  detailsContract(() => ({ store, newUser: async () => `mem-${++seq}`, sessionWithoutDetails: (userId) => login(store, userId) }));
});

describe('SessionService with details on PostgreSQL', () => {
  const clock = new TestClock(NOW.getTime());
  const client = { userAgent: CHROME_MAC, ip: '203.0.113.7' };
  let t: SessionTestApp;
  const row = async (id: string) => ((await t.dataSource.query('SELECT * FROM session_details WHERE session_id = $1', [id])) as Record<string, unknown>[])[0];

  beforeAll(async () => {
    const options = { maxAge: '1h', updateAge: '10m', clock: clock.now, metadata: { userAgent: true, device: true, ip: 'truncated' as const, lastSeen: '1m' }, reauthentication: true, data: { maxBytes: 200 } };
    t = await createDetailsTestApp((await freshDb('nss_details_svc')).url, options, { userEntity: UserRow });
  });
  afterAll(() => t?.close());
  beforeEach(() => t.recorder.clear());

  it('a login records the client; a cache miss is one statement that brings the details and the user; a hit none', async () => {
    const issued = await t.sessions.createSession({ userId: await t.createUser(), ...client });
    expect(await row(issued.session.id)).toMatchObject({ user_agent: CHROME_MAC, device: 'Chrome on macOS', ip: '203.0.113.0', last_seen_at: NOW, reauthenticated_at: NOW, data: {} });
    t.recorder.clear();
    const validation = await t.sessions.authenticate(issued.token, client);
    expect(t.recorder.queries.map((q) => q.sql)).toEqual([expect.stringMatching(/LEFT JOIN "session_details" d ON d.session_id = s.id LEFT JOIN "users" u/)]);
    expect(validation!.session).toMatchObject({ metadata: { userAgent: CHROME_MAC, device: 'Chrome on macOS', ip: '203.0.113.0', lastSeenAt: NOW }, reauthenticatedAt: NOW, data: {} });
    await t.sessions.authenticate(issued.token, client);
    expect(t.recorder.count()).toBe(1);
    expect((await t.sessions.listUserSessions(issued.session.userId))[0].metadata).toEqual({ userAgent: CHROME_MAC, device: 'Chrome on macOS', ip: '203.0.113.0', lastSeenAt: NOW });
  });

  it('a due last-seen step writes once, from a cache hit', async () => {
    const issued = await t.sessions.createSession({ userId: await t.createUser(), ...client });
    await t.sessions.authenticate(issued.token, client);
    clock.advance(61_000);
    t.storeCalls.touch = 0;
    const [first, second] = [await t.sessions.authenticate(issued.token, client), await t.sessions.authenticate(issued.token, client)];
    expect([first!.session.metadata!.lastSeenAt, second!.session.metadata!.lastSeenAt]).toEqual([new Date(clock.now()), new Date(clock.now())]);
    expect(t.storeCalls.touch).toBe(1);
    for (const deadline = Date.now() + 2_000; ((await row(issued.session.id)).last_seen_at as Date).getTime() !== clock.now(); ) {
      if (Date.now() > deadline) throw new Error('last_seen_at not written');
      await new Promise((r) => setTimeout(r, 20));
    }
  });

  it('markReauthenticated and updateSessionData change the store and what the next request sees', async () => {
    const userId = await t.createUser();
    const [one, two] = [await t.sessions.createSession({ userId, ...client }), await t.sessions.createSession({ userId, ...client })];
    await t.sessions.authenticate(one.token, client);
    clock.advance(5 * 60_000);
    expect(await t.sessions.markReauthenticated(one.token, client)).toBe(true);
    expect((await t.sessions.authenticate(one.token, client))!.session.reauthenticatedAt).toEqual(new Date(clock.now()));
    expect(await t.sessions.updateSessionData(one.token, { org: 'acme', step: 1 }, client)).toEqual({ org: 'acme', step: 1 });
    expect(await t.sessions.updateSessionData(one.token, { step: null }, client)).toEqual({ org: 'acme' });
    expect(await t.sessions.updateSessionData(two.token, { org: 'globex' }, client)).toEqual({ org: 'globex' });
    expect((await t.sessions.authenticate(one.token, client))!.session.data).toEqual({ org: 'acme' });
    // Fits alone, not with what the session holds: the store refuses, and nothing is written.
    await expect(t.sessions.updateSessionData(one.token, { note: 'n'.repeat(185) }, client)).rejects.toThrow(SessionDataTooLargeException);
    expect((await row(one.session.id)).data).toEqual({ org: 'acme' });
    expect((await row(two.session.id)).data).toEqual({ org: 'globex' });
  });

  it('logout, revoking a session by id and the purge leave no details behind', async () => {
    const userId = await t.createUser();
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => t.sessions.createSession({ userId, ...client })));
    expect(await t.sessions.revokeSession(a.token, client)).toBe(true);
    expect(await t.sessions.revokeUserSession(userId, b.session.id)).toBe(true);
    expect([await row(a.session.id), await row(b.session.id), await row(c.session.id)].map(Boolean)).toEqual([false, false, true]);
    clock.advance(2 * HOUR);
    expect(await t.sessions.purgeExpiredSessions()).toBeGreaterThanOrEqual(1);
    expect(await row(c.session.id)).toBeUndefined();
    expect(await t.sessions.updateSessionData(c.token, { a: 1 }, client)).toBeNull();
  });
});

describe('with the details options off', () => {
  it('starts without the table, and no statement names it', async () => {
    const t = await createDetailsTestApp((await freshDb('nss_details_off')).url, { maxAge: '1h', updateAge: '1s' }, { withDetailsTable: false });
    try {
      const userId = await t.createUser();
      const issued = await t.sessions.createSession({ userId });
      await new Promise((r) => setTimeout(r, 1_100));
      expect(await t.sessions.authenticate(issued.token)).not.toBeNull();
      await t.sessions.listUserSessions(userId);
      await t.sessions.revokeSession((await t.sessions.rotateSession(issued.token))!.token);
      await t.sessions.purgeExpiredSessions();
      const sql = t.recorder.queries.map((q) => q.sql);
      expect(sql.length).toBeGreaterThanOrEqual(6);
      expect(sql.filter((q) => /session_details|JOIN/.test(q))).toEqual([]);
      expect(sql).toContain('SELECT id, user_id, token, expires_at, created_at FROM "sessions" WHERE token = $1');
      expect(sql).toContain('UPDATE "sessions" SET expires_at = $2 WHERE id = $1 AND expires_at < $3 AND expires_at > $4 RETURNING id');
      expect(await t.store.findByTokenHash(hashToken(issued.token))).toBeNull();
    } finally {
      await t.close();
    }
  });
});

describe('startup without the details table', () => {
  it.each([
    [{ metadata: { userAgent: true } }, 'metadata'],
    [{ reauthentication: true, data: true }, 'reauthentication, data'],
  ])('%j refuses to start, naming %s and migration:create --details', async (options, option) => {
    const starting = createDetailsTestApp((await freshDb('nss_details_missing')).url, options, { withDetailsTable: false });
    await expect(starting).rejects.toThrow(SessionOptionsError);
    await expect(starting).rejects.toMatchObject({ option, message: expect.stringContaining('npx nestjs-sessions migration:create --details') });
  });
});
