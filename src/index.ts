/** nestjs-sessions: the public API. Anything not exported here is internal. */
import { EntityUsers as InternalEntityUsers } from './stores/typeorm/entity-users.js';
import { generateToken as internalGenerateToken } from './tokens/opaque-token.js';

// ---- The module, the service, the guard -------------------------------------------------------
/** `SessionModule.forRoot(options)` / `forRootAsync({ useFactory })`: server-side sessions for the app. */
export { SessionModule } from './session.module.js';
/** Injection token of the options exactly as given to forRoot / forRootAsync (before defaults). */
export { SESSION_MODULE_OPTIONS } from './session.module-definition.js';
/** Creates, validates, rotates, refreshes and revokes sessions; `CreateSessionInput` is what `createSession` takes. */
export { SessionService, type CreateSessionInput } from './core/session.service.js';
/** Register the app's user and context types once (module augmentation of `SessionTypes`); `SessionUser` and `SessionContext` read them. */
export type { SessionContext, SessionData, SessionTypes, SessionUser } from './core/session-types.js';
/** Lets a request through only with a live session; per controller or as an `APP_GUARD`. */
export { SessionGuard } from './http/session.guard.js';
/** `@CurrentUser()`, `@CurrentSession()`, `@CurrentExchange()`, `@Public()`, `@RequireSession()` and their metadata keys. */
export { CurrentExchange, CurrentSession, CurrentUser, IS_PUBLIC_KEY, Public, RequireSession, SESSION_REQUIREMENTS_KEY } from './http/session.decorators.js';
/** Refuses unsafe requests from another origin on routes without a session (login CSRF): `@UseGuards(SameOriginGuard)`. */
export { SameOriginGuard } from './http/same-origin.guard.js';
/** Reads the token of a request (bearer, then cookie) and writes or clears the session cookie; `SessionCookies` is its deprecated name. */
export { SessionCookies, SessionTransport, type HttpRequestLike, type HttpResponseLike, type PresentedToken } from './http/session-transport.js';
/** The session the guard validated for a request or socket (what `@CurrentSession()` returns). */
export { getRequestSession } from './http/session.request.js';
/** Where a call's token is read and its session attached, per transport (`SessionGuard.getRequestResponse`). */
export { type SessionContextType, type SessionExchange, UnsupportedContextError } from './transports/session-exchange.js';
/** The guard's refusals on GraphQL (`extensions.code`) and the error that carries them. */
export { GRAPHQL_ERROR_CODES, REAUTHENTICATION_REQUIRED_CODE, SessionGraphQLError } from './transports/transport-errors.js';
/** A long-lived connection watched by `SessionService.openConnection`; `nestjs-sessions/socket.io` and `/ws` use it for gateways. */
export type { ConnectionHandlers, SessionConnection } from './core/session-connections.js';
/** The close code of a `ws` socket whose session ended. */
export { SESSION_ENDED_CLOSE_CODE } from './transports/socket-sessions.js';

// ---- Types of the API and of the options -------------------------------------------------------
/** Sessions as the API returns them, what a login hands out, and what a validation gives. */
export type { IssuedSession, Session, SessionClientInfo, SessionMetadata, SessionRequirements, SessionValidation, UserId, ValidatedSession } from './core/session.interfaces.js';
/** Every option of `forRoot`, composed of the slices below. */
export type { SessionModuleOptions } from './options/session-module.options.js';
/** `cookie`, and `csrf` (`{ trustedOrigins }` or `false`). */
export type { SessionCookieOptions, SessionCsrfOptions } from './http/http.options.js';
/** `cache`. */
export type { SessionCacheOptions } from './cache/cache.options.js';
/** The `metadata` option: which client details a session records. */
export type { SessionMetadataOptions } from './details/details.options.js';
/** `storage`. */
export type { SessionStorageOptions } from './stores/storage.options.js';
/** `cleanup`. */
export type { SessionCleanupOptions } from './cleanup/cleanup.options.js';
/** `maxSessionsPerUser`, `rotationPolicy` and `bindToUserAgent`. */
export type { SessionAgentBindingOptions, SessionLimitOptions, SessionRotationPolicy } from './core/core.options.js';
/** `refreshToken`. */
export type { SessionRefreshTokenOptions } from './tokens/tokens.options.js';
/** `jwt`, with `tokenType: 'jwt'`. */
export type { SessionJwtKey, SessionJwtOptions } from './tokens/jwt.options.js';
/** `deviceBound`: Device Bound Session Credentials (DBSC). */
export type { DeviceBoundOptions } from './device-bound/device-bound.options.js';
/** The DBSC side of `SessionService` (`sessions.devices`, null unless `deviceBound` is on), and what its steps come to. */
export type { DeviceStep, SessionDevices } from './device-bound/session-devices.js';
/** A duration as the options take it (`'15m'`, or milliseconds), and its parser. */
export { type Duration, parseDuration } from './options/duration.js';

// ---- Errors and events ------------------------------------------------------------------------
/** 409 at a login over the limit, the startup error naming a bad option, 503 when the store fails, a session for a user the database lacks, 403 for a stale session on a `freshWithin` route, 413 for session data over its bound. */
export {
  ReauthenticationRequiredException,
  SessionDataTooLargeException,
  SessionLimitExceededException,
  SessionOptionsError,
  SessionStoreUnavailableException,
  UnknownSessionUserError,
} from './core/session.exceptions.js';
/** Event names and payloads, emitted through @nestjs/event-emitter when the app has it. */
export {
  SessionEvents,
  type DeviceProofFailure,
  type SessionAgentMismatchEvent,
  type SessionCreatedEvent,
  type SessionDeviceProofFailedEvent,
  type SessionDestroyedEvent,
  type SessionRevokedEvent,
  type SessionRefreshedEvent,
  type SessionRefreshReusedEvent,
  type SessionRotatedEvent,
  type SessionsPurgedEvent,
  type SessionsRevokedEvent,
} from './telemetry/session.events.js';

// ---- Cleanup ------------------------------------------------------------------------------------
/** The scheduled purge and its name in SchedulerRegistry. */
export { SESSION_CLEANUP_JOB, SessionCleanupTask } from './cleanup/session-cleanup.task.js';
/** The default `cleanup.schedule` and the parser of its short form (to a cron string). */
export { DEFAULT_CLEANUP_SCHEDULE, parseCleanupSchedule } from './cleanup/cleanup-schedule.js';

// ---- The table ----------------------------------------------------------------------------------
/** The TypeORM entity of the `sessions` table, and the table's name. */
export { SessionEntity, SESSIONS_TABLE } from './stores/typeorm/session.entity.js';
/** The migration that creates the table, and a factory for one tied to your users table. */
export {
  CreateSessionsTable1763856000000,
  createSessionsMigration,
  SESSIONS_MIGRATION_TIMESTAMP,
  type SessionsMigrationOptions,
} from './stores/typeorm/session.migration.js';
/** The TypeORM entity of the `session_details` table (the options metadata, reauthentication, data), and the table's name. */
export { SessionDetailsEntity, SESSION_DETAILS_TABLE } from './stores/typeorm/session-details.entity.js';
/** The migration that creates `session_details` (after the sessions migration), and the factory `migration:create --details` extends. */
export { CreateSessionDetails1765000000000, createSessionDetailsMigration, SESSION_DETAILS_MIGRATION_TIMESTAMP } from './stores/typeorm/session-details.migration.js';
/** The migration that adds the `deviceBound` columns to a `session_details` made before them, and the factory `migration:create --device-bound` extends. */
export { AddSessionDeviceBinding1766000000000, createSessionDeviceBoundMigration, SESSION_DEVICE_BOUND_MIGRATION_TIMESTAMP } from './stores/typeorm/session-details.migration.js';

// ---- Extension points: stores, shared caches, buses -------------------------------------------
/** The interface a store implements (`storage: myStore`), its injection token, and its rows. */
export { SessionStore, type MergeDataResult, type NewStoredSession, type StoredSession, type StoredSessionDetails } from './stores/session-store.interface.js';
/** The PostgreSQL store (the default), on a TypeORM DataSource. */
export { TypeOrmSessionStore, type TypeOrmSessionStoreOptions } from './stores/typeorm/typeorm-session.store.js';
/** The Redis store of `storage: { type: 'redis' }`; also a worked example of a `SessionStore` (needs ioredis, loaded by your client). */
export { RedisSessionStore, type RedisSessionStoreOptions } from './stores/redis/redis-session.store.js';
/** A `SessionStore` that reads through a `SharedSessionCache` in front of another store (the store of `storage.type: 'memcached'`). */
export { TieredSessionStore, type TieredSessionStoreOptions } from './stores/tiered/tiered-session.store.js';
/** The `SharedSessionCache` on Memcached (memjs, required on first use, not by this import), its entries signed with `secret`. */
export { MemcachedSessionCache, type MemcachedSecret, type MemcachedSessionCacheOptions } from './stores/tiered/memcached-session.cache.js';
/** Why a shared-cache entry was refused (`sessions_shared_cache_refused_total{reason}`). */
export type { SharedCacheRefusal } from './telemetry/session.telemetry.js';
/** What a cache shared by every instance offers a `TieredSessionStore`. */
export type { SharedSessionCache } from './stores/tiered/shared-session-cache.interface.js';
/** The interface a bus implements (`broadcast: myBus`), its injection token, and what it tells a listener. */
export { type InvalidationListener, SessionInvalidationBus } from './invalidation/session-invalidation.interface.js';
/** Revocations over PostgreSQL LISTEN/NOTIFY (the default bus; pg is imported when it starts). */
export { PostgresInvalidationBus, type PostgresInvalidationBusOptions } from './invalidation/postgres-invalidation.bus.js';
/** Revocations over Redis pub/sub, on a connection duplicated from your ioredis client; a bus for `broadcast`. */
export { RedisInvalidationBus, type RedisInvalidationBusOptions } from './invalidation/redis-invalidation.bus.js';
/** The bus of `broadcast: false`: tells nobody (one instance, or no cache to keep right). */
export { NoopInvalidationBus } from './invalidation/noop-invalidation.bus.js';
/** How the Postgres and Redis buses reconnect after losing their subscription. */
export type { InvalidationReconnectOptions } from './invalidation/invalidation-bus.base.js';

// ---- Tokens ---------------------------------------------------------------------------------------
/** A token's SHA-256 as stores keep it, the shape check done before any I/O, and a token's length. */
export { hashToken, isWellFormedToken, TOKEN_LENGTH } from './tokens/opaque-token.js';

// ---- Deprecated since 0.2, removed in 0.3 -------------------------------------------------------
/** @deprecated Since 0.2: sessions get their tokens from `createSession`; nothing else needs one. */
export const generateToken: () => string = internalGenerateToken;
/** @deprecated Since 0.2: internal (the reader behind `userEntity`); give `userEntity` instead. */
export const EntityUsers = InternalEntityUsers;
/** @deprecated Since 0.2: internal. */
export type EntityUsers<TUser = unknown> = InternalEntityUsers<TUser>;
