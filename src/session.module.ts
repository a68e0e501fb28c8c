import { type DynamicModule, Module } from '@nestjs/common';
import type { SessionUser } from './core/session-types.js';
import type { SessionModuleOptions } from './options/session-module.options.js';
import { SessionCookies } from './http/session-transport.js';
import { ConfigurableModuleClass, OPTIONS_TYPE, SESSION_MODULE_OPTIONS } from './session.module-definition.js';
import { SESSION_OPTIONS } from './session.constants.js';
import { resolveSessionOptions } from './options/resolve-options.js';
import { storageProviders } from './stores/storage.providers.js';
import { invalidationProviders } from './invalidation/invalidation.providers.js';
import { SessionGuard } from './http/session.guard.js';
import { SessionService } from './core/session.service.js';
import { SessionTelemetry } from './telemetry/session.telemetry.js';
import { SessionCleanupTask } from './cleanup/session-cleanup.task.js';
import { SessionStore } from './stores/session-store.interface.js';
import { DeviceBoundEndpoints } from './device-bound/device-bound.endpoints.js';

/**
 * Server-side sessions. `SessionModule.forRoot({ resolveUser })` or `forRootAsync({ inject,
 * useFactory })`. With PostgreSQL storage (the default) the app brings `TypeOrmModule.forRoot`
 * with the `SessionEntity` (or `autoLoadEntities`) and runs the sessions migration; with Redis
 * or a store of its own it needs no TypeORM. The providers that depend on the DataSource's name
 * are added when the module is defined (session.module-definition.ts).
 */
@Module({
  providers: [
    // Validation of the options happens here, once, at startup, before anything uses them.
    { provide: SESSION_OPTIONS, useFactory: resolveSessionOptions, inject: [SESSION_MODULE_OPTIONS] },
    ...storageProviders,
    ...invalidationProviders,
    SessionTelemetry,
    SessionService,
    SessionCookies,
    SessionGuard,
    SessionCleanupTask,
    DeviceBoundEndpoints,
  ],
  exports: [SessionService, SessionStore, SessionCookies, SessionGuard],
})
export class SessionModule extends ConfigurableModuleClass {
  /**
   * `TUser` (by default the user registered in `SessionTypes`) types the resolvers' user:
   * `SessionModule.forRoot<User>({ resolveUser, resolvePermissions: (user) => user.roles })`.
   */
  static override forRoot<TUser = SessionUser>(options: SessionModuleOptions<TUser> & Omit<typeof OPTIONS_TYPE, keyof SessionModuleOptions>): DynamicModule {
    // The resolvers' parameters are bivariant (method syntax), so any TUser fits the builder's type.
    return super.forRoot(options as typeof OPTIONS_TYPE);
  }
}
