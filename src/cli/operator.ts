import { Global, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { SessionService } from '../core/session.service.js';
import type { SessionModuleOptions } from '../options/session-module.options.js';
import { SessionModule } from '../session.module.js';
import { errorText, SessionsCliError } from './errors.js';

export type OperatorCommand = { name: 'stats' } | { name: 'purge' } | { name: 'revoke-user'; userId: string };

export const OPERATOR_COMMAND_NAMES = ['stats', 'purge', 'revoke-user'];

/** Where a command finds the sessions: the app's DataSource (for PostgreSQL) and its session options. */
export interface OperatorConnection {
  /** Initialized here if it is not yet (with synchronize, migrationsRun and logging off), destroyed at the end. */
  dataSource?: DataSource;
  /** Where the file came from, for messages. */
  dataSourceLabel?: string;
  session?: Omit<SessionModuleOptions, 'resolveUser'>;
}

async function initialize(dataSource: DataSource, label: string): Promise<void> {
  if (dataSource.options.type !== 'postgres') {
    throw new SessionsCliError(`${label} is a ${JSON.stringify(dataSource.options.type)} DataSource; nestjs-sessions keeps sessions in PostgreSQL (type 'postgres').`);
  }
  if (dataSource.isInitialized) return;
  // As the TypeORM CLI does: a job run by hand must not change the schema, nor print queries on stdout.
  dataSource.setOptions({ synchronize: false, migrationsRun: false, dropSchema: false, logging: false });
  try {
    await dataSource.initialize();
  } catch (error) {
    throw new SessionsCliError(`could not connect with ${label}: ${errorText(error)}. Check the database address it uses (and the environment it reads it from).`, 1);
  }
}

/**
 * Runs one operator command in a Nest application context with SessionModule on the app's
 * storage (cache and cleanup off, broadcast on), and returns what to print.
 */
export async function runOperatorCommand(command: OperatorCommand, connection: OperatorConnection): Promise<string> {
  const { dataSource, session = {} } = connection;
  if (dataSource) await initialize(dataSource, connection.dataSourceLabel ?? 'the DataSource');

  const token = getDataSourceToken();
  @Global()
  @Module({ providers: dataSource ? [{ provide: token, useValue: dataSource }] : [], exports: dataSource ? [token] : [] })
  class OperatorDataSourceModule {}

  @Module({
    imports: [OperatorDataSourceModule, SessionModule.forRoot({ ...session, cache: false, cleanup: false, resolveUser: (id) => ({ id }) })],
  })
  class OperatorModule {}

  try {
    const app = await NestFactory.createApplicationContext(OperatorModule, { logger: ['error', 'warn'], abortOnError: false });
    try {
      const sessions = app.get(SessionService);
      switch (command.name) {
        case 'purge': {
          const started = performance.now();
          const count = await sessions.purgeExpiredSessions();
          return `purged ${count} expired session(s) in ${Math.round(performance.now() - started)} ms\n`;
        }
        case 'stats': {
          const { live, expired } = await sessions.countSessions();
          return `live: ${live}\nexpired: ${expired}\n`;
        }
        case 'revoke-user': {
          const count = await sessions.revokeAllUserSessions(command.userId);
          return `revoked ${count} session(s) of user ${command.userId}\n`;
        }
        default:
          throw new TypeError(`unknown operator command ${JSON.stringify(command satisfies never)}`);
      }
    } finally {
      await app.close();
    }
  } finally {
    if (dataSource?.isInitialized) await dataSource.destroy();
  }
}
