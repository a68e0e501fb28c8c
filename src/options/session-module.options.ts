import type { SessionUser } from '../core/session-types.js';
import { CACHE_OPTION_KEYS, type CacheOptions } from '../cache/cache.options.js';
import { CLEANUP_OPTION_KEYS, type CleanupOptions } from '../cleanup/cleanup.options.js';
import { CORE_OPTION_KEYS, type CoreOptions, USER_SOURCE_OPTION_KEYS, type UserSourceOptions } from '../core/core.options.js';
import { LIFETIME_OPTION_KEYS, type LifetimeOptions } from '../core/lifetime.options.js';
import { HTTP_OPTION_KEYS, type HttpOptions } from '../http/http.options.js';
import { INVALIDATION_OPTION_KEYS, type InvalidationOptions } from '../invalidation/invalidation.options.js';
import { STORAGE_OPTION_KEYS, type StorageOptions } from '../stores/storage.options.js';
import { TOKEN_OPTION_KEYS, type TokenOptions } from '../tokens/tokens.options.js';
import { DETAILS_OPTION_KEYS, type DetailsOptions } from '../details/details.options.js';
import { DEVICE_BOUND_OPTION_KEYS, type DeviceBoundSliceOptions } from '../device-bound/device-bound.options.js';

/** Options of `SessionModule.forRoot()` / `forRootAsync()`: each feature's slice, documented there. */
export interface SessionModuleOptions<TUser = SessionUser>
  extends UserSourceOptions<TUser>,
    LifetimeOptions,
    HttpOptions,
    CacheOptions,
    StorageOptions,
    InvalidationOptions,
    CleanupOptions,
    CoreOptions<TUser>,
    TokenOptions,
    DetailsOptions,
    DeviceBoundSliceOptions {}

/**
 * Every option, in the order the unknown-option error lists them: the user source first (the
 * one option every app gives), then by feature as the README's table goes.
 */
export const SESSION_OPTION_KEYS = [
  ...USER_SOURCE_OPTION_KEYS,
  ...LIFETIME_OPTION_KEYS,
  ...HTTP_OPTION_KEYS,
  ...CACHE_OPTION_KEYS,
  ...STORAGE_OPTION_KEYS,
  ...INVALIDATION_OPTION_KEYS,
  ...CLEANUP_OPTION_KEYS,
  ...CORE_OPTION_KEYS,
  ...TOKEN_OPTION_KEYS,
  ...DETAILS_OPTION_KEYS,
  ...DEVICE_BOUND_OPTION_KEYS,
];

// A slice added to SessionModuleOptions without its keys above fails to compile here.
type UnlistedOption = Exclude<keyof SessionModuleOptions, (typeof SESSION_OPTION_KEYS)[number]>;
const everyOptionListed: [UnlistedOption] extends [never] ? true : UnlistedOption = true;
void everyOptionListed;

/** ConfigurableModuleBuilder's extras (`isGlobal`): not ours to resolve, harmless if they reach us. */
export const MODULE_BUILDER_EXTRAS: readonly string[] = ['isGlobal'];
