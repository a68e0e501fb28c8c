import { type DynamicModule, Inject, type MiddlewareConsumer, Module, type NestModule, type Type } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { PassportModule } from '@nestjs/passport';
import { ScheduleModule } from '@nestjs/schedule';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { GraphQLModule } from '@nestjs/graphql';
import { MercuriusDriver, type MercuriusDriverConfig } from '@nestjs/mercurius';
import { type Duration, SessionGuard, SessionModule, type SessionModuleOptions } from 'nestjs-sessions';
import { accountContextOf, permissionsOf, sessionLimitOf } from './account-context.js';
import { AccountController, AdminController, AuthController, RefreshController } from './auth.controller.js';
import { AuditListener } from './audit.listener.js';
import { ReauthenticationController, securityController, SessionDataController } from './details.controller.js';
import { HealthController } from './health.controller.js';
import { LocalAuthGuard, LocalStrategy } from './local.strategy.js';
import { type LoginAttemptsStorage, MemoryLoginAttempts, RedisLoginAttempts } from './login-attempts.storage.js';
import { LoginThrottleGuard, type LoginThrottleOptions, loginThrottleImports } from './login-throttle.js';
import { metricsController } from './metrics.controller.js';
import { demoMigrations } from './migrations.js';
import { pageHeaders } from './page-headers.js';
import { PagesController } from './pages.controller.js';
import { SessionGateway } from './session.gateway.js';
import { SessionResolver } from './session.resolver.js';
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
  /** The HTTP adapter: GraphQL is Apollo on Express, Mercurius on Fastify. */
  http?: 'express' | 'fastify';
  /** How recently the user must have proved who they are for `GET /me/security` (SESSION_FRESH_AGE). Default 10m. */
  freshAge?: Duration;
  /** Controllers of the app's own beside the demo's (the demo benchmark adds an open route). */
  controllers?: Type[];
  /** The login throttling's limits; the defaults (10 failures per email, 100 attempts per address, in 15 minutes) when left out. */
  loginThrottle?: LoginThrottleOptions;
  /** The bearer token `GET /metrics` asks for (METRICS_TOKEN); without one there is no `/metrics`. */
  metricsToken?: string;
}

/**
 * Where the login throttling counts: in Redis when the sessions are there, so every instance
 * on it shares the counts, under the store's key prefix (`sess:` by default) beside its keys;
 * else in this process, on the session clock. (With SESSION_STORAGE=memcached or the database
 * each instance counts for itself: a limit per instance, which the README says.)
 */
function loginAttemptsOf(session: DemoAppOptions['session']): () => LoginAttemptsStorage {
  const storage = session?.storage;
  if (storage && 'type' in storage && storage.type === 'redis' && storage.url) {
    const { url, keyPrefix = 'sess:' } = storage;
    return () => new RedisLoginAttempts(url, `${keyPrefix}login:`);
  }
  return () => new MemoryLoginAttempts(session?.clock);
}

const PAGE_HEADERS = Symbol('PAGE_HEADERS');

/**
 * The demo: SessionGuard app-wide (APP_GUARD) with @Public() on the open routes, login
 * through passport-local behind the login throttling (login-throttle.ts), and the sessions table
 * migrated at start; helmet's headers on the HTML pages; `/metrics` only with a token. Permissions (`admin` for
 * the first user) and the account context come from `resolvePermissions` and `resolveContext`;
 * `POST /auth/refresh` exists only with refresh tokens on, `POST /auth/reauthenticate` only with
 * `reauthentication`, `/session/data` only with `data`. `POST /graphql` and a socket.io gateway go
 * through the same guard.
 */
@Module({})
export class AppModule implements NestModule {
  constructor(@Inject(PAGE_HEADERS) private readonly headers: ReturnType<typeof pageHeaders>) {}

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(this.headers).forRoutes(PagesController);
  }

  static forRoot(options: DemoAppOptions): DynamicModule {
    const cookie = options.session?.cookie;
    // The library's cookie is Secure unless told otherwise.
    const secure = cookie !== false && (cookie?.secure ?? true);
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
        ...loginThrottleImports(options.loginThrottle ?? {}, loginAttemptsOf(options.session)),
        options.http === 'fastify'
          ? GraphQLModule.forRoot<MercuriusDriverConfig>({ driver: MercuriusDriver, autoSchemaFile: true, path: '/graphql' })
          : // No stack traces in error responses: Apollo sends them unless NODE_ENV is production.
            GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, autoSchemaFile: true, path: '/graphql', includeStacktraceInErrorResponses: false }),
        SessionModule.forRootAsync({
          imports: [UsersModule],
          inject: [UsersService],
          useFactory: (users: UsersService): SessionModuleOptions<AccountUser> => {
            const maxSessions = sessionLimitOf(options.session?.maxSessionsPerUser);
            return {
              resolvePermissions: (user) => permissionsOf(users, user),
              resolveContext: (user) => accountContextOf(users, user, maxSessions),
              ...options.session,
              // The user joined to the session: a cache miss is one statement, not two.
              userEntity: User,
            };
          },
        }),
      ],
      controllers: [
        AuthController,
        ...(options.session?.refreshToken ? [RefreshController] : []),
        ...(options.session?.reauthentication ? [ReauthenticationController] : []),
        ...(options.session?.data ? [SessionDataController] : []),
        securityController(options.freshAge ?? '10m'),
        AccountController,
        AdminController,
        HealthController,
        ...(options.metricsToken ? [metricsController(options.metricsToken)] : []),
        PagesController,
        ...(options.controllers ?? []),
      ],
      providers: [
        LocalStrategy,
        LoginThrottleGuard,
        LocalAuthGuard,
        AuditListener,
        SessionResolver,
        SessionGateway,
        { provide: APP_GUARD, useClass: SessionGuard },
        { provide: PAGE_HEADERS, useValue: pageHeaders(secure) },
      ],
    };
  }
}
