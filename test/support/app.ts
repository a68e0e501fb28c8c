import type { INestApplicationContext } from '@nestjs/common';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { ScheduleModule } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import { getDataSourceToken, TypeOrmModule } from '@nestjs/typeorm';
import type { DataSource, MigrationInterface } from 'typeorm';
import { createSessionsMigration, SessionModule, type SessionModuleOptions, SessionService, SessionStore } from '../../src/index.js';
import { QueryRecorder } from './query-recorder.js';

export interface TestUser {
  id: string;
  email: string;
}

/** Users with a uuid key, so the sessions migration takes the foreign-key path. */
export class CreateTestUsers1700000000000 implements MigrationInterface {
  async up(q: import('typeorm').QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE users (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), email text NOT NULL UNIQUE, disabled boolean NOT NULL DEFAULT false)`);
  }
  async down(q: import('typeorm').QueryRunner): Promise<void> {
    await q.query('DROP TABLE users');
  }
}

export class CreateSessionsTable1763856000000 extends createSessionsMigration({ usersTable: 'users' }) {}

/** What every test app offers, with or without TypeORM (see standalone-app.ts for the one without). */
export interface SessionTestAppBase {
  app: INestApplicationContext;
  sessions: SessionService<TestUser>;
  /** The statements sent through TypeORM; none at all in an app without it. */
  recorder: QueryRecorder;
  /** The module's real store, instrumented: `storeCalls[method]` counts the calls made through it. */
  store: SessionStore;
  storeCalls: Record<string, number>;
  /** A new user; returns its id. */
  createUser(email?: string): Promise<string>;
  /** From now on the user resolves to null. */
  disableUser(id: string): Promise<void>;
  /** The user is gone (in PostgreSQL its sessions go with it, by the foreign key). */
  deleteUser(id: string): Promise<void>;
  close(): Promise<void>;
}

export interface SessionTestApp extends SessionTestAppBase {
  dataSource: DataSource;
}

let userSeq = 0;

/**
 * A Nest application context with TypeORM on `url` (migrations run at start) and SessionModule.
 * `resolveUser` reads the real users table; a disabled user resolves to null.
 */
export async function createSessionTestApp(
  url: string,
  options: Omit<SessionModuleOptions, 'resolveUser' | 'userEntity'> = {},
  orm: { replicaUrls?: string[] } = {},
): Promise<SessionTestApp> {
  const recorder = new QueryRecorder();
  let dataSource!: DataSource;
  const moduleRef = await Test.createTestingModule({
    imports: [
      ScheduleModule.forRoot(),
      EventEmitterModule.forRoot({ wildcard: true }),
      TypeOrmModule.forRoot({
        type: 'postgres',
        ...(orm.replicaUrls ? { replication: { master: { url }, slaves: orm.replicaUrls.map((replica) => ({ url: replica })) } } : { url }),
        autoLoadEntities: true,
        migrations: [CreateTestUsers1700000000000, CreateSessionsTable1763856000000],
        migrationsRun: true,
        logger: recorder,
      }),
      SessionModule.forRoot<TestUser>({
        ...options,
        resolveUser: async (id) => {
          const [user]: (TestUser | undefined)[] = await dataSource.query('SELECT id, email FROM users WHERE id = $1 AND NOT disabled', [id]);
          return user ?? null;
        },
      }),
    ],
  }).compile();
  const app = await moduleRef.init();
  // resolveUser above reads through it.
  dataSource = app.get<DataSource>(getDataSourceToken());
  return testAppOf(app, recorder);
}

/** What the tests use of an app with TypeORM and SessionModule: its service, store (counted), DataSource and users. */
export function testAppOf(app: INestApplicationContext, recorder: QueryRecorder): SessionTestApp {
  const dataSource = app.get<DataSource>(getDataSourceToken());
  const store = app.get<SessionStore>(SessionStore);
  const storeCalls = countCalls(store);
  recorder.clear();
  return {
    app,
    sessions: app.get<SessionService<TestUser>>(SessionService),
    dataSource,
    recorder,
    store,
    storeCalls,
    createUser: async (email = `user${++userSeq}-${Date.now()}@example.test`) => {
      const [row] = await dataSource.query('INSERT INTO users (email) VALUES ($1) RETURNING id', [email]);
      return row.id as string;
    },
    disableUser: async (id) => {
      await dataSource.query('UPDATE users SET disabled = true WHERE id = $1', [id]);
    },
    deleteUser: async (id) => {
      await dataSource.query('DELETE FROM users WHERE id = $1', [id]);
    },
    close: () => app.close(),
  };
}

/** Counts calls to each method of `target` (the real object keeps doing the work). */
export function countCalls(target: object): Record<string, number> {
  const calls: Record<string, number> = {};
  let proto = Object.getPrototypeOf(target);
  const names = new Set<string>();
  while (proto && proto !== Object.prototype) {
    for (const name of Object.getOwnPropertyNames(proto)) if (name !== 'constructor') names.add(name);
    proto = Object.getPrototypeOf(proto);
  }
  for (const name of names) {
    const original = (target as Record<string, unknown>)[name];
    if (typeof original !== 'function') continue;
    calls[name] = 0;
    (target as Record<string, unknown>)[name] = function (this: unknown, ...args: unknown[]) {
      calls[name] += 1;
      return (original as (...a: unknown[]) => unknown).apply(target, args);
    };
  }
  return calls;
}

/** Sets every count back to 0. */
export function resetCalls(calls: Record<string, number>): void {
  for (const name of Object.keys(calls)) calls[name] = 0;
}

/** Total calls. */
export function totalCalls(calls: Record<string, number>): number {
  return Object.values(calls).reduce((a, b) => a + b, 0);
}
