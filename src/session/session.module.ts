import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { SESSION_OPTIONS } from './session.constants.js';
import { SessionCookies } from './session.cookies.js';
import { SessionEntity } from './session.entity.js';
import { ConfigurableModuleClass, SESSION_MODULE_OPTIONS } from './session.module-definition.js';
import { resolveSessionOptions } from './session.options.js';
import { SessionGuard } from './session.guard.js';
import { SessionService } from './session.service.js';
import { SessionStore } from './stores/session-store.interface.js';
import { TypeOrmSessionStore } from './stores/typeorm-session.store.js';

/**
 * Server-side sessions. `SessionModule.forRoot({ resolveUser })` or `forRootAsync({ inject,
 * useFactory })`; the app brings `TypeOrmModule.forRoot` with the `SessionEntity` (or
 * `autoLoadEntities`) and runs the sessions migration.
 */
@Module({
  imports: [TypeOrmModule.forFeature([SessionEntity])],
  providers: [
    // Validation happens here, while the app starts, for forRoot and forRootAsync alike.
    { provide: SESSION_OPTIONS, useFactory: resolveSessionOptions, inject: [SESSION_MODULE_OPTIONS] },
    { provide: SessionStore, useClass: TypeOrmSessionStore },
    SessionService,
    SessionCookies,
    SessionGuard,
  ],
  exports: [SessionService, SessionStore, SessionCookies, SessionGuard],
})
export class SessionModule extends ConfigurableModuleClass {}
