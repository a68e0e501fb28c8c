import { Test } from '@nestjs/testing';
import { getDataSourceToken, TypeOrmModule } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { CreateSessionDetails1765000000000, SessionModule, type SessionModuleOptions, SessionService, SessionStore } from '../../src/index.js';
import { countCalls, CreateSessionsTable1763856000000, CreateTestUsers1700000000000, type SessionTestApp, type TestUser } from './app.js';
import { QueryRecorder } from './query-recorder.js';

let userSeq = 0;

/**
 * `createSessionTestApp` with the details migration too (the library's exported class, after
 * the sessions one), or without it (`withDetailsTable: false`) to see what an app that forgot
 * it meets. With `userEntity` (an entity of the `users` table) the module reads users by it,
 * so a lookup is one statement; else by `resolveUser`. No schedule or event modules: nothing
 * here needs them.
 */
export async function createDetailsTestApp(
  url: string,
  options: Omit<SessionModuleOptions, 'resolveUser' | 'userEntity'>,
  { withDetailsTable = true, userEntity }: { withDetailsTable?: boolean; userEntity?: new () => unknown } = {},
): Promise<SessionTestApp> {
  const recorder = new QueryRecorder();
  let dataSource!: DataSource;
  const moduleRef = await Test.createTestingModule({
    imports: [
      TypeOrmModule.forRoot({
        type: 'postgres',
        url,
        autoLoadEntities: true,
        entities: userEntity ? [userEntity] : [],
        migrations: [CreateTestUsers1700000000000, CreateSessionsTable1763856000000, ...(withDetailsTable ? [CreateSessionDetails1765000000000] : [])],
        migrationsRun: true,
        logger: recorder,
      }),
      SessionModule.forRoot<TestUser>({
        cleanup: false,
        broadcast: false,
        ...options,
        ...(userEntity
          ? { userEntity }
          : {
              resolveUser: async (id: string) => {
                const [user]: (TestUser | undefined)[] = await dataSource.query('SELECT id, email FROM users WHERE id = $1 AND NOT disabled', [id]);
                return user ?? null;
              },
            }),
      }),
    ],
  }).compile();
  // A refused startup (ready() throwing) must not leave the DataSource's pool open.
  const app = await moduleRef.init().catch(async (error: unknown) => {
    await moduleRef.close().catch(() => undefined);
    throw error;
  });
  dataSource = app.get<DataSource>(getDataSourceToken());
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
    createUser: async (email = `details${++userSeq}-${Date.now()}@example.test`) => {
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
