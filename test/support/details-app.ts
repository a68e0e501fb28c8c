import { Test } from '@nestjs/testing';
import { getDataSourceToken, TypeOrmModule } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { CreateSessionDetails1765000000000, SessionModule, type SessionModuleOptions } from '../../src/index.js';
import { CreateSessionsTable1763856000000, CreateTestUsers1700000000000, type SessionTestApp, testAppOf, type TestUser } from './app.js';
import { QueryRecorder } from './query-recorder.js';


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
  return testAppOf(app, recorder);
}
