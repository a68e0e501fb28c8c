import type { EntityTarget } from 'typeorm';
import { SessionOptionsError } from './session.exceptions.js';
import type { Session } from './session.interfaces.js';
import type { Duration } from '../options/duration.js';
import { checkKeys, duration, optionalBoolean, optionKeys, show } from '../options/option-checks.js';

/** Where the user of a session comes from: one of the two is required. */
export interface UserSourceOptions<TUser = unknown> {
  /**
   * Loads the user a session belongs to; a session whose user is gone (null) is refused.
   * Give this or `userEntity`.
   */
  resolveUser?: (userId: string) => TUser | null | undefined | Promise<TUser | null | undefined>;
  /**
   * The app's TypeORM user entity, instead of `resolveUser`: the user is then read in the same
   * statement as the session (one round trip on a cache miss instead of two), with the columns
   * `findOneBy` would load; relations are not loaded and `@AfterLoad` does not run (use
   * `resolveUser` for those). With Redis or Memcached storage it is read by primary key.
   */
  userEntity?: EntityTarget<TUser>;
}

export interface ResolvedUserSourceOptions {
  /** Null when `userEntity` is given instead. */
  resolveUser: UserSourceOptions['resolveUser'] | null;
  userEntity: EntityTarget<unknown> | null;
}

/** The `rotationPolicy` option. */
export interface SessionRotationPolicy {
  interval?: Duration | false;
  onPrivilegeChange?: boolean;
}

/** The `maxSessionsPerUser` option in its object form. */
export interface SessionLimitOptions {
  max: number;
  policy?: 'evict-oldest' | 'refuse';
}

/** What the service does with a session: time, store calls, the user's rights, limits. */
export interface CoreOptions<TUser = unknown> {
  /**
   * How long a store call may take before the request gets a 503 instead of hanging.
   * Default `'5s'`.
   */
  storeTimeout?: Duration;
  /** The time source, in epoch milliseconds. For tests; default `Date.now`. */
  clock?: () => number;
  /**
   * When a session token is replaced while its session goes on. `interval`: a cookie session's
   * token older than this is rotated on its next request (the new cookie rides on the response;
   * the old token keeps working on that instance for a few seconds, for requests already in
   * flight). `onPrivilegeChange`: `privilegesChanged(userId, token)` rotates the current token
   * too. Default `{ interval: false, onPrivilegeChange: true }`.
   */
  rotationPolicy?: SessionRotationPolicy;
  // Method syntax: the resolvers' parameters stay bivariant, so `SessionModuleOptions<User>` (a typed
  // factory's result) still fits where forRoot takes `SessionModuleOptions`.
  /**
   * The user's permissions, checked by `@RequireSession({ permissions })` (403 when one is
   * missing). Called on a cache miss and cached with the session; call `privilegesChanged()`
   * after changing them. Default: none.
   */
  resolvePermissions?(user: TUser, session: Session): readonly string[] | Promise<readonly string[]>;
  /**
   * Anything the app wants at hand with the session (account details, quotas, settings), read
   * with `@CurrentSession()` as `session.context`. Called and cached like `resolvePermissions`.
   */
  resolveContext?(user: TUser, session: Session): unknown;
  /**
   * Live sessions per user at most. A number evicts the oldest session at a login over the
   * limit; `{ max, policy: 'refuse' }` refuses that login instead (a 409). Default: no limit.
   */
  maxSessionsPerUser?: number | SessionLimitOptions;
  /**
   * Refuse a session presented by another user agent than the one it was created for (version
   * numbers aside, so a browser update does not log anyone out). Stops a copied cookie from
   * working in another browser, not a thief who copies the User-Agent too. Default `false`.
   */
  bindToUserAgent?: boolean;
}

export interface ResolvedCoreOptions {
  storeTimeout: number;
  clock: () => number;
  rotationPolicy: { interval: number | null; onPrivilegeChange: boolean };
  resolvePermissions: CoreOptions['resolvePermissions'] | null;
  resolveContext: CoreOptions['resolveContext'] | null;
  maxSessionsPerUser: Required<SessionLimitOptions> | null;
  bindToUserAgent: boolean;
}

export const USER_SOURCE_OPTION_KEYS = optionKeys<UserSourceOptions>({ resolveUser: true, userEntity: true });
export const CORE_OPTION_KEYS = optionKeys<CoreOptions>({
  storeTimeout: true,
  clock: true,
  rotationPolicy: true,
  resolvePermissions: true,
  resolveContext: true,
  maxSessionsPerUser: true,
  bindToUserAgent: true,
});

export const DEFAULT_STORE_TIMEOUT = '5s';
export const DEFAULT_CLOCK: () => number = Date.now;
export const DEFAULT_ON_PRIVILEGE_CHANGE = true;
export const DEFAULT_SESSION_LIMIT_POLICY = 'evict-oldest';
export const DEFAULT_BIND_TO_USER_AGENT = false;
const MAX_SESSION_LIMIT = 10_000;
const ROTATION_POLICY_KEYS = optionKeys<SessionRotationPolicy>({ interval: true, onPrivilegeChange: true });
const SESSION_LIMIT_KEYS = optionKeys<SessionLimitOptions>({ max: true, policy: true });

export function resolveUserSourceOptions(raw: UserSourceOptions): ResolvedUserSourceOptions {
  const userEntity = raw.userEntity ?? null;
  if (userEntity !== null && typeof userEntity !== 'function' && typeof userEntity !== 'string' && typeof userEntity !== 'object') {
    throw new SessionOptionsError('userEntity', `got ${show(userEntity)}; expected your TypeORM user entity class, e.g. userEntity: User.`);
  }
  if (userEntity !== null && raw.resolveUser !== undefined) {
    throw new SessionOptionsError('resolveUser', 'got both resolveUser and userEntity; give one: userEntity reads the user with the session in one query, resolveUser loads it any way you like.');
  }
  if (userEntity === null && typeof raw.resolveUser !== 'function') {
    throw new SessionOptionsError(
      'resolveUser',
      `got ${show(raw.resolveUser)}; expected a function from a user id to the user (or null), e.g. (id) => users.findOneBy({ id }), or give userEntity: User instead.`,
    );
  }
  return { resolveUser: raw.resolveUser ?? null, userEntity };
}

export function resolveCoreOptions(raw: CoreOptions): ResolvedCoreOptions {
  for (const option of ['resolvePermissions', 'resolveContext'] as const) {
    if (raw[option] !== undefined && typeof raw[option] !== 'function') {
      throw new SessionOptionsError(option, `got ${show(raw[option])}; expected a function of the user (and session), called once per session and cached with it.`);
    }
  }
  if (raw.clock !== undefined && typeof raw.clock !== 'function') {
    throw new SessionOptionsError('clock', `got ${show(raw.clock)}; expected a function returning epoch milliseconds, like Date.now.`);
  }
  return {
    storeTimeout: duration('storeTimeout', raw.storeTimeout ?? DEFAULT_STORE_TIMEOUT),
    clock: raw.clock ?? DEFAULT_CLOCK,
    rotationPolicy: resolveRotationPolicy(raw.rotationPolicy),
    resolvePermissions: raw.resolvePermissions ?? null,
    resolveContext: raw.resolveContext ?? null,
    maxSessionsPerUser: resolveSessionLimit(raw.maxSessionsPerUser),
    bindToUserAgent: optionalBoolean('bindToUserAgent', raw.bindToUserAgent) ?? DEFAULT_BIND_TO_USER_AGENT,
  };
}

function resolveRotationPolicy(raw: unknown): ResolvedCoreOptions['rotationPolicy'] {
  if (raw !== undefined && (raw === null || typeof raw !== 'object')) {
    throw new SessionOptionsError('rotationPolicy', `got ${show(raw)}; expected an object such as { interval: '1h', onPrivilegeChange: true }.`);
  }
  const policy = (raw ?? {}) as { interval?: unknown; onPrivilegeChange?: unknown };
  checkKeys('rotationPolicy', policy, ROTATION_POLICY_KEYS);
  const onPrivilegeChange = optionalBoolean('rotationPolicy.onPrivilegeChange', policy.onPrivilegeChange) ?? DEFAULT_ON_PRIVILEGE_CHANGE;
  const interval = policy.interval === undefined || policy.interval === false ? null : duration('rotationPolicy.interval', policy.interval);
  return { interval, onPrivilegeChange };
}

function resolveSessionLimit(raw: unknown): ResolvedCoreOptions['maxSessionsPerUser'] {
  if (raw === undefined || raw === false) return null;
  const limit = (typeof raw === 'number' ? { max: raw } : raw) as { max?: unknown; policy?: unknown } | null;
  if (limit === null || typeof limit !== 'object') {
    throw new SessionOptionsError('maxSessionsPerUser', `got ${show(raw)}; expected a whole number such as 5, or { max: 5, policy: 'refuse' }.`);
  }
  checkKeys('maxSessionsPerUser', limit, SESSION_LIMIT_KEYS);
  const option = typeof raw === 'number' ? 'maxSessionsPerUser' : 'maxSessionsPerUser.max';
  if (!Number.isInteger(limit.max) || (limit.max as number) < 1 || (limit.max as number) > MAX_SESSION_LIMIT) {
    throw new SessionOptionsError(option, `got ${show(limit.max)}; expected a whole number from 1 to ${MAX_SESSION_LIMIT}.`);
  }
  const policy = limit.policy ?? DEFAULT_SESSION_LIMIT_POLICY;
  if (policy !== 'evict-oldest' && policy !== 'refuse') {
    throw new SessionOptionsError('maxSessionsPerUser.policy', `got ${show(limit.policy)}; expected 'evict-oldest' (the default: a new login ends the oldest session) or 'refuse' (a login over the limit gets a 409).`);
  }
  return { max: limit.max as number, policy };
}
