import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { SessionCookies } from './session.cookies.js';
import { SessionEntity } from './session.entity.js';
import { ConfigurableModuleClass } from './session.module-definition.js';
import { sessionProviders } from './session.providers.js';
import { SessionGuard } from './session.guard.js';
import { SessionService } from './session.service.js';
import { SessionTelemetry } from './session.telemetry.js';
import { SessionCleanupTask } from './session-cleanup.task.js';
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
