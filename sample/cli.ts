// The demo's operator command: `npm run sessions -- purge | stats | revoke-user <id>`. The work is
// the library's (`nestjs-sessions/cli`, the code of the `nestjs-sessions` command); this file only
// hands it the demo's database (DATABASE_URL) and storage (SESSION_STORAGE, REDIS_URL, MEMCACHED_URL).
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { runSessionsCli, SessionsCliError } from 'nestjs-sessions/cli';
import { DemoConfigError, readDemoConfig } from './config.js';

process.exitCode = await runSessionsCli(process.argv.slice(2), {
  program: 'npm run sessions --',
  environment: 'environment: DATABASE_URL (required), SESSION_STORAGE, REDIS_URL, MEMCACHED_URL',
  connect: () => {
    let config;
    try {
      config = readDemoConfig();
    } catch (error) {
      throw error instanceof DemoConfigError ? new SessionsCliError(error.message) : error;
    }
    if (!config.databaseUrl) {
      // The embedded database belongs to the running demo; a second process on its files would corrupt them.
      throw new SessionsCliError('DATABASE_URL is not set: point it at the sessions database, e.g. DATABASE_URL=postgres://user@host:5432/app npm run sessions -- stats');
    }
    // The operator commands count and delete sessions, which take their details along (ON DELETE
    // CASCADE, or with the Redis key); without the details options they also run on a database
    // migrated before the session_details table.
    const { metadata, reauthentication, data, ...session } = config.session;
    return { dataSource: new DataSource({ type: 'postgres', url: config.databaseUrl }), session };
  },
});
