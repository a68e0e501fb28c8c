import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ScheduleModule } from '@nestjs/schedule';
import { TypeOrmModule } from '@nestjs/typeorm';
import { SessionGuard, SessionModule } from 'nestjs-sessions';
import { AuthController } from './auth.controller.js';
import { CreateSessionsTable1763856000000, CreateUsers1763855000000 } from './migrations.js';
import { User } from './user.entity.js';

@Module({
  imports: [
    // Runs the hourly purge of expired sessions (the `cleanup` option).
    ScheduleModule.forRoot(),
    TypeOrmModule.forRoot({
      type: 'postgres',
      url: process.env.DATABASE_URL,
      autoLoadEntities: true, // User (forFeature below) and the library's SessionEntity
      // The schema comes from migrations, run at start; never `synchronize` the sessions table.
      migrations: [CreateUsers1763855000000, CreateSessionsTable1763856000000],
      migrationsRun: true,
    }),
    TypeOrmModule.forFeature([User]),
    // userEntity: a cache miss reads the session and its user in one statement (a JOIN).
    SessionModule.forRoot({ userEntity: User, maxAge: '30d', updateAge: '1d' }),
  ],
  controllers: [AuthController],
  // Every route needs a session, except those marked @Public().
  providers: [{ provide: APP_GUARD, useClass: SessionGuard }],
})
export class AppModule {}
