import { type DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { PassportModule } from '@nestjs/passport';
import { ScheduleModule } from '@nestjs/schedule';
import { TypeOrmModule } from '@nestjs/typeorm';
import { SessionGuard, SessionModule, type SessionModuleOptions } from 'nestjs-sessions';
import { accountContextOf, permissionsOf, sessionLimitOf } from './account-context.js';
import { AccountController, AdminController, AuthController, RefreshController } from './auth.controller.js';
import { AuditListener } from './audit.listener.js';
import { HealthController } from './health.controller.js';
import { LocalStrategy } from './local.strategy.js';
import { MetricsController } from './metrics.controller.js';
import { demoMigrations } from './migrations.js';
import { PagesController } from './pages.controller.js';
import { User } from './user.entity.js';
import { type AccountUser, UsersService } from './users.service.js';

@Module({
  imports: [TypeOrmModule.forFeature([User])],
  providers: [UsersService],
  exports: [UsersService],
})
export class UsersModule {}

export interface DemoAppOptions {
  databaseUrl: string;
  /** Connections in TypeORM's pool. */
  poolSize?: number;
  session?: Omit<SessionModuleOptions, 'resolveUser' | 'userEntity'>;
}

/**
 * The demo: SessionGuard app-wide (APP_GUARD) with @Public() on the open routes, login
 * through passport-local, and the sessions table migrated at start. Permissions (`admin` for
 * the first user) and the account context come from `resolvePermissions` and `resolveContext`;
 * `POST /auth/refresh` exists only with refresh tokens on.
 */
@Module({})
export class AppModule {
  static forRoot(options: DemoAppOptions): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ScheduleModule.forRoot(),
        EventEmitterModule.forRoot({ wildcard: true }),
        TypeOrmModule.forRoot({
          type: 'postgres',
          url: options.databaseUrl,
          autoLoadEntities: true,
          migrations: demoMigrations,
          migrationsRun: true,
          // A connection attempt to an unreachable database gives up instead of waiting forever.
          extra: { max: options.poolSize ?? 10, connectionTimeoutMillis: 2_000 },
          retryAttempts: 3,
        }),
        UsersModule,
        PassportModule,
        SessionModule.forRootAsync({
          imports: [UsersModule],
          inject: [UsersService],
          useFactory: (users: UsersService): SessionModuleOptions<AccountUser> => {
            const maxSessions = sessionLimitOf(options.session?.maxSessionsPerUser);
            return {
              resolvePermissions: (user) => permissionsOf(users, user),
              resolveContext: (user) => accountContextOf(users, user, maxSessions),
              ...options.session,
              resolveUser: (id: string) => users.findById(id),
            };
          },
        }),
      ],
      controllers: [
        AuthController,
        ...(options.session?.refreshToken ? [RefreshController] : []),
        AccountController,
        AdminController,
        HealthController,
        MetricsController,
        PagesController,
      ],
      providers: [LocalStrategy, AuditListener, { provide: APP_GUARD, useClass: SessionGuard }],
    };
  }
}
