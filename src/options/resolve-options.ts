import { SessionOptionsError } from '../core/session.exceptions.js';
import { type ResolvedCacheOptions, resolveCacheOptions } from '../cache/cache.options.js';
import { type ResolvedCleanupOptions, resolveCleanupOptions } from '../cleanup/cleanup.options.js';
import { type ResolvedDetailsOptions, resolveDetailsOptions } from '../details/details.options.js';
import { type ResolvedDeviceBoundOptions, resolveDeviceBoundOptions } from '../device-bound/device-bound.options.js';
import { type ResolvedCoreOptions, type ResolvedUserSourceOptions, resolveCoreOptions, resolveUserSourceOptions } from '../core/core.options.js';
import { type ResolvedLifetimeOptions, resolveLifetimeOptions } from '../core/lifetime.options.js';
import { type ResolvedHttpOptions, resolveHttpOptions } from '../http/http.options.js';
import { type ResolvedInvalidationOptions, resolveInvalidationOptions } from '../invalidation/invalidation.options.js';
import { type ResolvedStorageSliceOptions, resolveStorageOptions } from '../stores/storage.options.js';
import { type ResolvedTokenOptions, resolveTokenOptions } from '../tokens/tokens.options.js';
import { show } from './option-checks.js';
import { MODULE_BUILDER_EXTRAS, SESSION_OPTION_KEYS, type SessionModuleOptions } from './session-module.options.js';

export type { ResolvedStorageOptions } from '../stores/storage.options.js';

/** Options after defaults and validation, every slice's fields side by side; durations in milliseconds. */
export interface ResolvedSessionOptions
  extends ResolvedUserSourceOptions,
    ResolvedLifetimeOptions,
    ResolvedHttpOptions,
    ResolvedCacheOptions,
    ResolvedStorageSliceOptions,
    ResolvedInvalidationOptions,
    ResolvedCleanupOptions,
    ResolvedCoreOptions,
    ResolvedTokenOptions,
    ResolvedDetailsOptions {
  /** Null when off. */
  deviceBound: ResolvedDeviceBoundOptions | null;
}

const ACCEPTED = new Set<string>([...SESSION_OPTION_KEYS, ...MODULE_BUILDER_EXTRAS]);

/**
 * Merges defaults into the options and validates them, once, at startup.
 * `forRoot` and `forRootAsync` both end here, so they behave the same.
 */
export function resolveSessionOptions(raw: SessionModuleOptions<unknown> | undefined | null): ResolvedSessionOptions {
  if (raw === null || typeof raw !== 'object') {
    throw new SessionOptionsError('(options)', `got ${show(raw)}; expected an object such as { resolveUser: (id) => users.findOneBy({ id }) }.`);
  }
  for (const key of Object.keys(raw)) {
    if (!ACCEPTED.has(key)) throw new SessionOptionsError(key, `unknown option; the known ones are ${SESSION_OPTION_KEYS.join(', ')}.`);
  }

  const users = resolveUserSourceOptions(raw);
  const tokens = resolveTokenOptions(raw);
  // maxAge means the life of one session token once refresh tokens are on, so its default follows.
  const lifetime = resolveLifetimeOptions(raw, tokens.refreshToken !== null);
  const http = resolveHttpOptions(raw);
  const core = resolveCoreOptions(raw);
  checkRotationInterval(core, tokens, http);
  const details = resolveDetailsOptions(raw);
  const deviceBound = resolveDeviceBoundOptions(raw.deviceBound, http.cookie);

  return {
    ...users,
    ...lifetime,
    ...http,
    ...resolveCacheOptions(raw),
    ...resolveStorageOptions(raw),
    ...resolveInvalidationOptions(raw),
    ...resolveCleanupOptions(raw),
    ...core,
    ...tokens,
    ...details,
    // The browser's key is kept with the session's other details.
    details: details.details || deviceBound !== null,
    deviceBound,
  };
}

// Rules across slices: a timed rotation needs a way to hand out the new token, and refresh
// tokens already rotate on every refresh.
function checkRotationInterval(core: ResolvedCoreOptions, tokens: ResolvedTokenOptions, http: ResolvedHttpOptions): void {
  if (core.rotationPolicy.interval === null) return;
  if (tokens.refreshToken !== null) {
    throw new SessionOptionsError('rotationPolicy.interval', 'got an interval with refresh tokens on; every refresh already rotates the session token, so leave interval out (a shorter maxAge rotates more often).');
  }
  if (http.cookie === null) {
    throw new SessionOptionsError('rotationPolicy.interval', 'got an interval with cookie: false; a rotated token reaches the client only through the cookie, so use refreshToken for bearer clients.');
  }
}
