/** nestjs-sessions: the public API. Anything not exported here is internal. */
export { SessionModule } from './session.module.js';
export { SESSION_MODULE_OPTIONS } from './session.module-definition.js';
export { SessionService, type CreateSessionInput } from './core/session.service.js';
export type { SessionContext, SessionTypes, SessionUser } from './core/session-types.js';
export { SessionGuard } from './http/session.guard.js';
export { CurrentSession, CurrentUser, IS_PUBLIC_KEY, Public, RequireSession, SESSION_REQUIREMENTS_KEY } from './http/session.decorators.js';
export { SessionCookies, SessionTransport, type HttpRequestLike, type HttpResponseLike, type PresentedToken } from './http/session-transport.js';
export { getRequestSession } from './http/session.request.js';
export type { IssuedSession, Session, SessionClientInfo, SessionRequirements, SessionValidation, UserId, ValidatedSession } from './core/session.interfaces.js';
export type { SessionModuleOptions } from './options/session-module.options.js';
export type { SessionCookieOptions } from './http/http.options.js';
export type { SessionCacheOptions } from './cache/cache.options.js';
export type { SessionStorageOptions } from './stores/storage.options.js';
export type { SessionCleanupOptions } from './cleanup/cleanup.options.js';
export type { SessionLimitOptions, SessionRotationPolicy } from './core/core.options.js';
export type { SessionRefreshTokenOptions } from './tokens/tokens.options.js';
export type { SessionJwtKey, SessionJwtOptions } from './tokens/jwt.options.js';
export { SessionLimitExceededException, SessionOptionsError, SessionStoreUnavailableException } from './core/session.exceptions.js';
export {
  SessionEvents,
  type SessionCreatedEvent,
  type SessionDestroyedEvent,
  type SessionRevokedEvent,
  type SessionRefreshedEvent,
  type SessionRefreshReusedEvent,
  type SessionRotatedEvent,
  type SessionsPurgedEvent,
  type SessionsRevokedEvent,
} from './telemetry/session.events.js';
export { SESSION_CLEANUP_JOB, SessionCleanupTask } from './cleanup/session-cleanup.task.js';
export { DEFAULT_CLEANUP_SCHEDULE, parseCleanupSchedule } from './cleanup/cleanup-schedule.js';
export { SessionEntity, SESSIONS_TABLE } from './stores/typeorm/session.entity.js';
export {
  CreateSessionsTable1763856000000,
  createSessionsMigration,
  SESSIONS_MIGRATION_TIMESTAMP,
  type SessionsMigrationOptions,
} from './stores/typeorm/session.migration.js';
export { SessionStore, type NewStoredSession, type StoredSession } from './stores/session-store.interface.js';
export { TypeOrmSessionStore, type TypeOrmSessionStoreOptions } from './stores/typeorm/typeorm-session.store.js';
export { EntityUsers } from './stores/typeorm/entity-users.js';
/** The Redis store of `storage: { type: 'redis' }`; also a worked example of a `SessionStore` (needs ioredis, loaded by your client). */
export { RedisSessionStore, type RedisSessionStoreOptions } from './stores/redis/redis-session.store.js';
/** A `SessionStore` that reads through a `SharedSessionCache` in front of another store (the store of `storage.type: 'memcached'`). */
export { TieredSessionStore, type TieredSessionStoreOptions } from './stores/tiered/tiered-session.store.js';
/** The `SharedSessionCache` on Memcached (memjs, required on first use, not by this import). */
export { MemcachedSessionCache, type MemcachedSessionCacheOptions } from './stores/tiered/memcached-session.cache.js';
export { type InvalidationListener, SessionInvalidationBus } from './invalidation/session-invalidation.interface.js';
/** Revocations over PostgreSQL LISTEN/NOTIFY (the default bus; pg is imported when it starts). */
export { PostgresInvalidationBus, type PostgresInvalidationBusOptions } from './invalidation/postgres-invalidation.bus.js';
/** Revocations over Redis pub/sub, on a connection duplicated from your ioredis client; a bus for `broadcast`. */
export { RedisInvalidationBus, type RedisInvalidationBusOptions } from './invalidation/redis-invalidation.bus.js';
/** The bus of `broadcast: false`: tells nobody (one instance, or no cache to keep right). */
export { NoopInvalidationBus } from './invalidation/noop-invalidation.bus.js';
/** How the Postgres and Redis buses reconnect after losing their subscription. */
export type { InvalidationReconnectOptions } from './invalidation/invalidation-bus.base.js';
export type { SharedSessionCache } from './stores/tiered/shared-session-cache.interface.js';
export { type Duration, parseDuration } from './options/duration.js';
export { generateToken, hashToken, isWellFormedToken, TOKEN_LENGTH } from './tokens/opaque-token.js';
