import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { SessionCookies } from './http/session-transport.js';
import { SessionEntity } from './stores/typeorm/session.entity.js';
import { ConfigurableModuleClass } from './session.module-definition.js';
import { sessionProviders } from './session.providers.js';
import { SessionGuard } from './http/session.guard.js';
import { SessionService } from './core/session.service.js';
import { SessionTelemetry } from './telemetry/session.telemetry.js';
import { SessionCleanupTask } from './cleanup/session-cleanup.task.js';
import { SessionStore } from './stores/session-store.interface.js';

/**
 * Server-side sessions. `SessionModule.forRoot({ resolveUser })` or `forRootAsync({ inject,
 * useFactory })`; the app brings `TypeOrmModule.forRoot` with the `SessionEntity` (or
 * `autoLoadEntities`) and runs the sessions migration.
 */
@Module({
  imports: [TypeOrmModule.forFeature([SessionEntity])],
  providers: [
    ...sessionProviders,
    SessionTelemetry,
    SessionService,
    SessionCookies,
    SessionGuard,
    SessionCleanupTask,
  ],
  exports: [SessionService, SessionStore, SessionCookies, SessionGuard],
})
export class SessionModule extends ConfigurableModuleClass {}
