/** nestjs-sessions: the public API. Anything not exported here is internal. */
export { SessionModule } from './session.module.js';
export { SESSION_MODULE_OPTIONS } from './session.module-definition.js';
export { SessionService, type CreateSessionInput } from './session.service.js';
export { SessionGuard } from './session.guard.js';
export { CurrentSession, CurrentUser, IS_PUBLIC_KEY, Public, RequireSession, SESSION_REQUIREMENTS_KEY } from './session.decorators.js';
export { SessionCookies, type HttpRequestLike, type HttpResponseLike, type PresentedToken } from './session.cookies.js';
export { getRequestSession } from './session.request.js';
export type { SessionCookieOptions } from './session-cookie.js';
export type {
  IssuedSession,
  Session,
  SessionCacheOptions,
  SessionClientInfo,
  SessionModuleOptions,
  SessionRequirements,
  SessionStorageOptions,
  SessionValidation,
  UserId,
  ValidatedSession,
} from './session.interfaces.js';
export type { SessionJwtKey, SessionJwtOptions } from './session-jwt.js';
export { SessionLimitExceededException, SessionOptionsError, SessionStoreUnavailableException } from './session.exceptions.js';
export {
  SessionEvents,
  type SessionCreatedEvent,
  type SessionDestroyedEvent,
  type SessionRefreshedEvent,
  type SessionRefreshReusedEvent,
  type SessionRotatedEvent,
  type SessionsPurgedEvent,
  type SessionsRevokedEvent,
} from './session.events.js';
export { SESSION_CLEANUP_JOB, SessionCleanupTask } from './session-cleanup.task.js';
export { DEFAULT_CLEANUP_SCHEDULE, parseCleanupSchedule } from './session-schedule.js';
export { SessionEntity, SESSIONS_TABLE } from './session.entity.js';
export {
  CreateSessionsTable1763856000000,
  createSessionsMigration,
  SESSIONS_MIGRATION_TIMESTAMP,
  type SessionsMigrationOptions,
} from './session.migration.js';
export { SessionStore, type NewStoredSession, type StoredSession } from './stores/session-store.interface.js';
export { TypeOrmSessionStore, type TypeOrmSessionStoreOptions } from './stores/typeorm-session.store.js';
export { EntityUsers } from './stores/entity-users.js';
export { type InvalidationListener, SessionInvalidationBus } from './invalidation/session-invalidation.interface.js';
export type { SharedSessionCache } from './cache/shared-session-cache.interface.js';
export { type Duration, parseDuration } from './duration.js';
export { generateToken, hashToken, isWellFormedToken, TOKEN_LENGTH } from './session-token.js';
