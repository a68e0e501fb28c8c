import { DataSource, type MigrationInterface, type QueryRunner } from 'typeorm';
import { EntityUsers, SessionOptionsError, TypeOrmSessionStore } from '../src/index.js';
import { createSessionDeviceBoundMigration } from '../src/stores/typeorm/session-details.migration.js';
import { at, details, DEVICE_KEY, deviceBoundContract, HOUR, login, newTokenHash, NOW } from './support/details-contract.js';
import { InMemorySessionStore } from './support/in-memory-session.store.js';
import { detailsDataSource, freshDatabases, MIGRATIONS, UserRow } from './support/details-postgres-fixture.js';
import { QueryRecorder } from './support/query-recorder.js';

// The store side of deviceBound on PostgreSQL (and the in-memory test store): the shared
// contract, the statements, and the migration that adds the device columns to an older table.

const freshDb = freshDatabases();

describe('TypeOrmSessionStore with deviceBound, driven directly', () => {
  const recorder = new QueryRecorder();
  let ds: DataSource;
  let store: TypeOrmSessionStore;
  let plain: TypeOrmSessionStore;
  let bound: TypeOrmSessionStore;
  let newUser: () => Promise<string>;
  let detailRows: (ids: string[]) => Promise<number>;

  beforeAll(async () => {
    ({ ds, newUser, detailRows } = await detailsDataSource(await freshDb('nss_device_store'), recorder));
    store = new TypeOrmSessionStore(ds, { details: true });
    plain = new TypeOrmSessionStore(ds);
    bound = new TypeOrmSessionStore(ds, { details: true, detailsOptions: ['metadata', 'deviceBound'] });
  });
  afterAll(() => ds?.destroy());
  beforeEach(() => recorder.clear());

  describe('the deviceBound contract', () => deviceBoundContract(() => ({ store: bound, newUser, withoutDetails: plain })));

  it('without deviceBound no statement names the device columns', async () => {
    const userId = await newUser();
    const session = await login(store, userId, details());
    await store.findByTokenHash(session.tokenHash);
    await store.listByUser(userId, NOW);
    await store.markReauthenticated(session.tokenHash, NOW);
    await store.replaceTokenHash(session.tokenHash, newTokenHash(), NOW);
    expect(recorder.queries.filter((q) => q.sql.includes('device_'))).toEqual([]);
  });

  it('with deviceBound, each read of details brings the device columns in its one statement, findByTokenHashWithUser too', async () => {
    const withUser = new TypeOrmSessionStore(ds, { details: true, detailsOptions: ['deviceBound'], users: new EntityUsers(ds, UserRow) });
    const userId = await newUser();
    const session = await login(plain, userId);
    const keyed = (await bound.bindDeviceKey(session.tokenHash, DEVICE_KEY, NOW, NOW))!;
    expect(keyed.details).toMatchObject({ deviceKey: DEVICE_KEY, deviceProofAt: NOW });
    recorder.clear();
    expect(await withUser.findByTokenHashWithUser!(session.tokenHash)).toEqual({ session: keyed, user: expect.objectContaining({ id: userId }) });
    expect(await bound.listByUser(userId, NOW)).toEqual([keyed]);
    expect(recorder.queries.map((q) => q.sql)).toEqual(Array(2).fill(expect.stringContaining('d.device_key, d.device_proof_at')));
  });

  it('a bind or a proof racing a logout answers null, never with an error', async () => {
    const userId = await newUser();
    const sessions = await Promise.all(Array.from({ length: 60 }, (_, i) => login(i % 2 ? plain : store, userId, details())));
    const outcomes = await Promise.all(
      sessions.flatMap((x) => [bound.deleteByTokenHash(x.tokenHash), bound.bindDeviceKey(x.tokenHash, DEVICE_KEY, NOW, NOW), bound.acceptDeviceProof(x.tokenHash, at(1), NOW)]),
    );
    expect(outcomes.filter((_, i) => i % 3 !== 0).every((r) => r === null || r.details?.deviceKey === DEVICE_KEY)).toBe(true);
    expect(await detailRows(sessions.map((x) => x.id))).toBe(0);
  });
});

describe('InMemorySessionStore (the test store) keeps device keys by the same contract', () => {
  let seq = 0;
  const store = new InMemorySessionStore();
  deviceBoundContract(() => ({ store, newUser: async () => `mem-${++seq}`, withoutDetails: store }));
});

describe('a details table from before deviceBound', () => {
  // session_details as the details migration created it before the device columns.
  class CreateOldSessionDetails1765000000000 implements MigrationInterface {
    async up(runner: QueryRunner): Promise<void> {
      await runner.query(`CREATE TABLE "session_details" ("session_id" bigint NOT NULL, "user_agent" varchar(512) NULL, "device" varchar(100) NULL, "ip" varchar(45) NULL,
        "last_seen_at" timestamptz NULL, "reauthenticated_at" timestamptz NULL, "data" jsonb NOT NULL DEFAULT '{}', CONSTRAINT "PK_session_details" PRIMARY KEY ("session_id"),
        CONSTRAINT "FK_session_details_session_id" FOREIGN KEY ("session_id") REFERENCES "sessions" ("id") ON DELETE CASCADE)`);
    }
    async down(runner: QueryRunner): Promise<void> {
      await runner.query('DROP TABLE "session_details"');
    }
  }
  class AddSessionDeviceBinding1767225600000 extends createSessionDeviceBoundMigration() {}
  const deviceColumns = async (source: DataSource) =>
    (await source.query(`SELECT column_name AS name FROM information_schema.columns WHERE table_name = 'session_details' AND column_name LIKE 'device_%' ORDER BY 1`)).map((c: { name: string }) => c.name);

  it('serves a store without deviceBound; ready() with it refuses, naming deviceBound; the migration adds the columns, its down() drops them', async () => {
    const url = (await freshDb('nss_device_upgrade')).url;
    const old = await new DataSource({ type: 'postgres', url, migrations: [...MIGRATIONS.slice(0, 2), CreateOldSessionDetails1765000000000] }).initialize();
    let upgraded: DataSource | undefined;
    try {
      await old.runMigrations();
      const [{ id: userId }] = await old.query(`INSERT INTO users (email) VALUES ('old@example.test') RETURNING id`);
      const detailsOnly = new TypeOrmSessionStore(old, { details: true });
      const deviceBound = new TypeOrmSessionStore(old, { details: true, detailsOptions: ['metadata', 'deviceBound'] });
      const t0 = Date.now();
      const session = await detailsOnly.create({ userId, tokenHash: newTokenHash(), expiresAt: new Date(t0 + HOUR), createdAt: new Date(t0), details: details() });
      expect(await detailsOnly.findByTokenHash(session.tokenHash)).toEqual(session);
      await expect(detailsOnly.ready()).resolves.toBeUndefined();
      const refused = deviceBound.ready();
      await expect(refused).rejects.toThrow(SessionOptionsError);
      await expect(refused).rejects.toMatchObject({ option: 'deviceBound', message: expect.stringContaining('npx nestjs-sessions migration:create --device-bound') });
      await expect(refused).rejects.toMatchObject({ message: expect.stringContaining('device_key and device_proof_at') });

      upgraded = await new DataSource({ type: 'postgres', url, migrations: [...MIGRATIONS.slice(0, 2), CreateOldSessionDetails1765000000000, AddSessionDeviceBinding1767225600000] }).initialize();
      expect((await upgraded.runMigrations()).map((m) => m.name)).toEqual(['AddSessionDeviceBinding1767225600000']);
      expect(await deviceColumns(upgraded)).toEqual(['device_key', 'device_proof_at']);
      await expect(deviceBound.ready()).resolves.toBeUndefined();
      // The row made before keeps its details, and takes a key.
      const now = new Date();
      expect(await deviceBound.bindDeviceKey(session.tokenHash, DEVICE_KEY, now, now)).toEqual({ ...session, details: { ...session.details!, deviceKey: DEVICE_KEY, deviceProofAt: now } });

      await upgraded.undoLastMigration();
      expect(await deviceColumns(upgraded)).toEqual([]);
      await expect(deviceBound.ready()).rejects.toMatchObject({ option: 'deviceBound' });
      expect(await detailsOnly.findByTokenHash(session.tokenHash)).toEqual(session);
    } finally {
      await upgraded?.destroy();
      await old.destroy();
    }
  });

  it('the migration leaves a table made with the columns as it is, and refuses to run before the details table exists', async () => {
    const url = (await freshDb('nss_device_new')).url;
    const fresh = await new DataSource({ type: 'postgres', url, migrations: [...MIGRATIONS, AddSessionDeviceBinding1767225600000] }).initialize();
    const early = await new DataSource({ type: 'postgres', url: (await freshDb('nss_device_early')).url, migrations: [...MIGRATIONS.slice(0, 2), AddSessionDeviceBinding1767225600000] }).initialize();
    try {
      await fresh.runMigrations();
      expect(await deviceColumns(fresh)).toEqual(['device_key', 'device_proof_at']);
      await expect(new TypeOrmSessionStore(fresh, { details: true, detailsOptions: ['deviceBound'] }).ready()).resolves.toBeUndefined();
      await expect(early.runMigrations()).rejects.toThrow(/table "session_details" does not exist.*migration:create --device-bound/);
    } finally {
      await fresh.destroy();
      await early.destroy();
    }
  });
});
