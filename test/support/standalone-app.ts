import { randomUUID } from 'node:crypto';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { ScheduleModule } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import { SessionModule, type SessionModuleOptions, SessionService, SessionStore } from '../../src/index.js';
import { countCalls, type SessionTestAppBase, type TestUser } from './app.js';
import { QueryRecorder } from './query-recorder.js';

/** Users kept in memory; give two apps the same one and they share their users, as over a database. */
export class MemoryUsers {
  private readonly users = new Map<string, TestUser & { disabled: boolean }>();
  private seq = 0;

  create(email = `user${++this.seq}-${Date.now()}@example.test`): string {
    const id = randomUUID();
    this.users.set(id, { id, email, disabled: false });
    return id;
  }

  /** The user with its `disabled` flag, or null when there is none. */
  find(id: string): (TestUser & { disabled: boolean }) | null {
    const user = this.users.get(id);
    return user ? { ...user } : null;
  }

  /** What resolveUser gives: the user, or null when it is gone or disabled. */
  resolve(id: string): TestUser | null {
    const user = this.users.get(id);
    return user && !user.disabled ? { id: user.id, email: user.email } : null;
  }

  disable(id: string): void {
    const user = this.users.get(id);
    if (user) user.disabled = true;
  }

  delete(id: string): void {
    this.users.delete(id);
  }
}

/**
 * A Nest application context with SessionModule and no TypeORM at all: what a Redis-only app,
 * or one with a store of its own, looks like. `resolveUser` reads `users`.
 */
export async function createStandaloneSessionTestApp(
  options: Omit<SessionModuleOptions, 'resolveUser'> = {},
  users = new MemoryUsers(),
): Promise<SessionTestAppBase & { users: MemoryUsers }> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      ScheduleModule.forRoot(),
      EventEmitterModule.forRoot({ wildcard: true }),
      SessionModule.forRoot({ ...options, resolveUser: async (id) => users.resolve(id) }),
    ],
  }).compile();
  const app = await moduleRef.init();
  const store = app.get<SessionStore>(SessionStore);
  return {
    app,
    sessions: app.get<SessionService<TestUser>>(SessionService),
    // Nothing feeds it: there is no DataSource to send a statement through.
    recorder: new QueryRecorder(),
    store,
    storeCalls: countCalls(store),
    users,
    createUser: async (email) => users.create(email),
    disableUser: async (id) => users.disable(id),
    deleteUser: async (id) => users.delete(id),
    close: () => app.close(),
  };
}
