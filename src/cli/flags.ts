import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { SessionStorageOptions } from '../stores/storage.options.js';
import type { MigrationFileOptions } from './migration-create.js';
import { SessionsCliError } from './errors.js';

type Values = Record<string, string | boolean | undefined>;

const HELP = { help: { type: 'boolean', short: 'h' } } as const;

export const MIGRATION_FLAGS = {
  ...HELP,
  'users-table': { type: 'string' },
  'users-column': { type: 'string' },
  'user-id-type': { type: 'string' },
  'if-users-table-missing': { type: 'string' },
  details: { type: 'boolean' },
  'device-bound': { type: 'boolean' },
  dir: { type: 'string' },
  name: { type: 'string' },
  ts: { type: 'boolean' },
  js: { type: 'boolean' },
} as const;

export const OPERATOR_FLAGS = {
  ...HELP,
  'data-source': { type: 'string', short: 'd' },
  storage: { type: 'string' },
  'redis-url': { type: 'string' },
  'memcached-servers': { type: 'string' },
  'key-prefix': { type: 'string' },
} as const;

export { HELP as HELP_FLAGS };

/** node:util's parseArgs, its errors rewritten to name the command and where to look. */
export function parseFlags(
  argv: string[],
  options: NonNullable<ParseArgsConfig['options']>,
  command: string,
  seeHelp: string,
): { values: Values; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: values as Values, positionals };
  } catch (error) {
    const { code, message } = error as { code?: string; message: string };
    const name = /'([^' ]+)/.exec(message)?.[1];
    const why = code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? `unknown option ${name}` : message.replace(/^Option '([^']+)'/, 'option $1');
    throw new SessionsCliError(`${command}: ${why}\n\n${seeHelp}`);
  }
}

function text(values: Values, key: string): string | undefined {
  const value = values[key];
  return typeof value === 'string' ? value : undefined;
}

export function migrationOptions(values: Values, positionals: string[], seeHelp: string): MigrationFileOptions {
  if (positionals.length) throw new SessionsCliError(`migration:create takes no arguments (got ${JSON.stringify(positionals[0])}); everything is an option.\n\n${seeHelp}`);
  if (values.ts && values.js) throw new SessionsCliError(`migration:create: give --ts or --js, not both.`);
  const usersTable = text(values, 'users-table');
  const missing = text(values, 'if-users-table-missing');
  const details = values.details === true;
  const deviceBound = values['device-bound'] === true;
  if (details && deviceBound) throw new SessionsCliError('migration:create: give --details or --device-bound, not both: a new session_details table has the device columns already.');
  const other = details ? '--details' : deviceBound ? '--device-bound' : undefined;
  for (const key of ['users-table', 'users-column', 'user-id-type', 'if-users-table-missing']) {
    // The details table refers to sessions(id), never to the users table: those flags shape only the sessions migration.
    if (other && values[key] !== undefined) {
      throw new SessionsCliError(`migration:create: --${key} applies to the sessions migration; ${other} writes the session_details one, which takes none of its options (run migration:create without ${other} for that).`);
    }
  }
  for (const key of ['users-column', 'if-users-table-missing']) {
    if (values[key] !== undefined && usersTable === undefined) {
      throw new SessionsCliError(`migration:create: --${key} applies to the users table; give --users-table too (e.g. --users-table users).`);
    }
  }
  for (const key of ['users-table', 'users-column', 'user-id-type', 'dir', 'name']) {
    if (values[key] === '') throw new SessionsCliError(`migration:create: --${key} is empty; leave it out for its default.`);
  }
  return {
    table: details ? 'details' : deviceBound ? 'deviceBound' : 'sessions',
    migration: {
      usersTable,
      usersColumn: text(values, 'users-column'),
      userIdType: text(values, 'user-id-type'),
      ifUsersTableMissing: missing as MigrationFileOptions['migration']['ifUsersTableMissing'],
    },
    dir: text(values, 'dir') ?? 'src/migrations',
    name: text(values, 'name') ?? (details ? 'CreateSessionDetails' : deviceBound ? 'AddSessionDeviceBinding' : 'CreateSessionsTable'),
    language: values.js ? 'js' : 'ts',
  };
}

/** `storage` of SessionModule from --storage and its flags, else SESSION_STORAGE and its variables. */
export function storageFrom(values: Values, env: NodeJS.ProcessEnv): Exclude<SessionStorageOptions, { type?: never }> {
  const type = text(values, 'storage') ?? (env.SESSION_STORAGE || 'database');
  const flagPrefix = text(values, 'key-prefix');
  const keyPrefix = flagPrefix ?? (env.SESSION_KEY_PREFIX || undefined);
  const prefix = keyPrefix === undefined ? {} : { keyPrefix };
  switch (type) {
    case 'database':
      if (flagPrefix !== undefined) throw new SessionsCliError('--key-prefix is for --storage redis or memcached; PostgreSQL has a table, not keys.');
      return { type };
    case 'redis':
      return { type, url: text(values, 'redis-url') ?? (env.REDIS_URL || 'redis://127.0.0.1:6379'), ...prefix };
    case 'memcached': {
      // From the environment only: a flag would leave the secret in the shell history and ps.
      const secret = env.SESSION_CACHE_SECRET;
      if (!secret) throw new SessionsCliError('--storage memcached: set SESSION_CACHE_SECRET to your storage.secret (the newest one), as your app signs Memcached entries with it.');
      return { type, servers: text(values, 'memcached-servers') ?? (env.MEMCACHED_URL || '127.0.0.1:11211'), secret, ...prefix };
    }
    default:
      throw new SessionsCliError(
        `--storage: got ${JSON.stringify(type)}${text(values, 'storage') === undefined ? ' from SESSION_STORAGE' : ''}; expected database, redis or memcached, as your SessionModule's storage.type.`,
      );
  }
}
