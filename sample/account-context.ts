import type { SessionModuleOptions } from 'nestjs-sessions';
import type { AccountUser, UsersService } from './users.service.js';

/**
 * What the demo keeps with each session (`resolveContext`), in the spirit of a JMAP session
 * object: the facts about the account a client needs at hand on every request (its rights, its
 * limits, its details), computed once per session and cached with it rather than queried per
 * request. `GET /me` shows it.
 */
export interface AccountContext {
  /** The first user to register administers the demo. */
  admin: boolean;
  /** The same list `resolvePermissions` gives the guard (`@RequireSession({ permissions })`). */
  permissions: string[];
  /** The account's quota of sessions: `max` live at once (SESSION_MAX_PER_USER), null for no limit. */
  sessions: { max: number | null };
  /** When the account was registered (ISO 8601). */
  memberSince: string;
}

/** The permissions of the demo: `admin` for its first user, none for anyone else. */
export async function permissionsOf(users: UsersService, user: AccountUser): Promise<string[]> {
  return (await users.isAdmin(user.id)) ? ['admin'] : [];
}

/** The session limit in force, whichever form the option took. */
export function sessionLimitOf(option: SessionModuleOptions['maxSessionsPerUser']): number | null {
  if (option === undefined) return null;
  return typeof option === 'number' ? option : option.max;
}

export async function accountContextOf(users: UsersService, user: AccountUser, maxSessions: number | null): Promise<AccountContext> {
  const permissions = await permissionsOf(users, user);
  return {
    admin: permissions.includes('admin'),
    permissions,
    sessions: { max: maxSessions },
    memberSince: new Date(user.createdAt).toISOString(),
  };
}
