import type { EntityTarget } from 'typeorm';
import { SessionOptionsError } from './session.exceptions.js';
import type { Session } from './session.interfaces.js';
import type { Duration } from '../options/duration.js';
import { checkKeys, duration, GENERATE_SECRET, MIN_SECRET_BYTES, optionalBoolean, optionKeys, secretBytes, show } from '../options/option-checks.js';
import { agentTagKey } from '../tokens/opaque-token.js';
import type { TokenOptions } from '../tokens/tokens.options.js';

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

/** The `bindToUserAgent` option in its object form. */
export interface SessionAgentBindingOptions {
  /**
   * Keys the agent tag in each token (HMAC-SHA256), so a stolen token cannot be matched to its
   * agent offline. At least 32 bytes, or a list newest first (the first tags new tokens, all
   * verify; drop an old one only when the sessions tagged with it are over). Default: the
   * `refreshToken.secret`, else the JWT keys' secrets (each through its own derivation).
   */
  secret?: string | Uint8Array | (string | Uint8Array)[];
  /** Revoke the session when its token comes from another agent, rather than only refuse that request. Default `false`. */
  revoke?: boolean;
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
   * working in another browser, not a thief who copies the User-Agent too. Each refusal is
   * logged at warn and emitted as `session.agent-mismatch`; `{ revoke: true }` also ends the
   * session. The tag is keyed with a secret (`secret`, else the refresh-token or JWT secrets;
   * one of them is required). Default `false`.
   */
  bindToUserAgent?: boolean | SessionAgentBindingOptions;
}

/** `bindToUserAgent` resolved: the tag keys (newest first) and whether a mismatch revokes. */
export interface ResolvedAgentBinding {
  keys: Buffer[];
  revoke: boolean;
}

export interface ResolvedCoreOptions {
  storeTimeout: number;
  clock: () => number;
  rotationPolicy: { interval: number | null; onPrivilegeChange: boolean };
  resolvePermissions: CoreOptions['resolvePermissions'] | null;
  resolveContext: CoreOptions['resolveContext'] | null;
  maxSessionsPerUser: Required<SessionLimitOptions> | null;
  /** False when sessions are not bound. */
  bindToUserAgent: false | ResolvedAgentBinding;
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
const AGENT_BINDING_KEYS = optionKeys<SessionAgentBindingOptions>({ secret: true, revoke: true });
export const DEFAULT_AGENT_MISMATCH_REVOKES = false;

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

// The token slice's secrets, read raw: the agent tag may be keyed from them (resolved after theirs, so already checked).
export function resolveCoreOptions(raw: CoreOptions & Pick<TokenOptions, 'jwt' | 'refreshToken'>): ResolvedCoreOptions {
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
    bindToUserAgent: resolveAgentBinding(raw),
  };
}

function resolveAgentBinding(raw: CoreOptions & Pick<TokenOptions, 'jwt' | 'refreshToken'>): ResolvedCoreOptions['bindToUserAgent'] {
  const option = raw.bindToUserAgent ?? DEFAULT_BIND_TO_USER_AGENT;
  if (option === false) return false;
  if (option !== true && (option === null || typeof option !== 'object' || Array.isArray(option))) {
    throw new SessionOptionsError('bindToUserAgent', `got ${show(option)}; expected true or false, or { secret, revoke }.`);
  }
  const binding: SessionAgentBindingOptions = option === true ? {} : option;
  checkKeys('bindToUserAgent', binding, AGENT_BINDING_KEYS);
  const revoke = optionalBoolean('bindToUserAgent.revoke', binding.revoke) ?? DEFAULT_AGENT_MISMATCH_REVOKES;
  return { keys: agentSecrets(binding.secret, raw).map((secret) => agentTagKey(secret)), revoke };
}

// Its own secret, else the refresh-token secret, else the JWT keys' secrets: each gets its own
// HKDF label, so one secret can serve all without any two keys being the same.
function agentSecrets(secret: SessionAgentBindingOptions['secret'], raw: Pick<TokenOptions, 'jwt' | 'refreshToken'>): Uint8Array[] {
  if (secret !== undefined) {
    if (!Array.isArray(secret)) return [secretBytes('bindToUserAgent.secret', secret)];
    if (secret.length === 0) throw new SessionOptionsError('bindToUserAgent.secret', 'got an empty list; expected a secret, or a list of them newest first (the first tags, all verify).');
    return secret.map((s, i) => secretBytes(`bindToUserAgent.secret[${i}]`, s));
  }
  const refresh = raw.refreshToken !== null && typeof raw.refreshToken === 'object' ? raw.refreshToken.secret : undefined;
  const jwtKeys: unknown = raw.jwt?.keys;
  const jwtSecrets = Array.isArray(jwtKeys) ? jwtKeys.map((key: { secret?: unknown } | null) => key?.secret).filter((s) => s !== undefined) : [];
  const inherited = refresh !== undefined ? (Array.isArray(refresh) ? refresh : [refresh]) : jwtSecrets;
  if (inherited.length === 0) {
    throw new SessionOptionsError(
      'bindToUserAgent.secret',
      `missing; the user-agent tag in each token is keyed with a server secret so it cannot be matched offline from a stolen token. Give bindToUserAgent: { secret } (at least ${MIN_SECRET_BYTES} bytes, ${GENERATE_SECRET}), or a refreshToken.secret or HS256 jwt keys, whose secrets then serve.`,
    );
  }
  return inherited.map((s) => secretBytes('bindToUserAgent.secret', s));
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
