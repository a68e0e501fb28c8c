import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ScheduleModule } from '@nestjs/schedule';
import { getRepositoryToken, TypeOrmModule } from '@nestjs/typeorm';
import { SessionGuard, SessionModule } from 'nestjs-sessions';
import type { Repository } from 'typeorm';
import { AuthController } from './auth.controller';
import { CreateSessionsTable1763856000000, CreateUsers1763855000000 } from './migrations';
import { User } from './user.entity';

const Users = TypeOrmModule.forFeature([User]);

@Module({
  imports: [
    // Runs the hourly purge of expired sessions (the `cleanup` option).
    ScheduleModule.forRoot(),
    TypeOrmModule.forRoot({
      type: 'postgres',
      url: process.env.DATABASE_URL,
      autoLoadEntities: true, // User (forFeature) and the library's SessionEntity
      // The schema comes from migrations, run at start; never `synchronize` the sessions table.
      migrations: [CreateUsers1763855000000, CreateSessionsTable1763856000000],
      migrationsRun: true,
    }),
    Users,
    // resolveUser: the user comes from your own code (a repository, a service, another API);
    // the result is cached with the session, so it runs on a cache miss only.
    SessionModule.forRootAsync({
      imports: [Users],
      inject: [getRepositoryToken(User)],
      useFactory: (users: Repository<User>) => ({
        maxAge: '30d',
        updateAge: '1d',
        resolveUser: (id: string) => users.findOneBy({ id }),
      }),
    }),
  ],
  controllers: [AuthController],
  // Every route needs a session, except those marked @Public().
  providers: [{ provide: APP_GUARD, useClass: SessionGuard }],
})
export class AppModule {}
