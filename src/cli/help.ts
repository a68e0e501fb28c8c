// The texts of `nestjs-sessions --help` and of each command's --help.

export const OPERATOR_COMMANDS = `  stats              count live and expired sessions
  purge              delete expired sessions now (in batches, under the cluster-wide purge lock)
  revoke-user <id>   end every session of user <id>, on every instance`;

export function mainHelp(program: string): string {
  return `usage: ${program} <command> [options]

  migration:create   write the migration that creates the sessions table (with --details, the
                     session_details table; with --device-bound, the columns deviceBound adds
                     to an older one), for your TypeORM CLI
${OPERATOR_COMMANDS}

${program} <command> --help says more about each.`;
}

export function migrationHelp(program: string): string {
  return `usage: ${program} migration:create [options]

Writes ONE migration, <dir>/<timestamp>-<name>.ts with class <name><timestamp> (TypeORM's
naming), whose class extends createSessionsMigration({ … }) from nestjs-sessions: the SQL stays
the library's. Its timestamp is now, so TypeORM runs it after the migrations you already have:
create the one making your users table first. It never overwrites a file, and refuses when
<dir> already holds a <name> migration. Run it with your own TypeORM CLI, e.g.
  npx tsc && npx typeorm migration:run -d dist/data-source.js

  --users-table <table>     your users table ('users', 'auth.users'): user_id takes the type of
                            its key column, with a FOREIGN KEY … ON DELETE CASCADE.
                            Without it: no foreign key, user_id --user-id-type
  --users-column <column>   the key column of --users-table (default id)
  --user-id-type <type>     user_id's SQL type when there is no users table (default varchar(255))
  --if-users-table-missing fail|create-without-foreign-key
                            when the migration finds no --users-table (default fail). Give
                            create-without-foreign-key if synchronize makes your users table:
                            TypeORM runs migrations before synchronize. The table is then made
                            without the foreign key (a warning says so, with the ALTER TABLE
                            to add it later), user_id typed from your users entity
  --details                 the migration of session_details instead, the table of the options
                            metadata, reauthentication and data (it references sessions, so
                            make it after the sessions migration); takes none of the options
                            above, and --name defaults to CreateSessionDetails
  --device-bound            the migration that adds the columns of the option deviceBound to a
                            session_details table made before them (a table made by --details
                            now has them); make it after the details migration. Takes none of
                            the options above; --name defaults to AddSessionDeviceBinding
  --dir <dir>               where to write it (default src/migrations; created if missing)
  --name <Name>             the class name before the timestamp (default CreateSessionsTable)
  --ts                      a TypeScript file (the default)
  --js                      a JavaScript file: ESM or CommonJS as the package.json nearest to
                            <dir> says ("type": "module" or not)`;
}

export function operatorHelp(program: string): string {
  return `usage: ${program} stats | purge | revoke-user <userId>  --data-source <file> [options]

${OPERATOR_COMMANDS}

A revocation is broadcast like your app's (PostgreSQL NOTIFY; Redis pub/sub with --storage
redis), so running instances drop the sessions from their caches at once. An app with
broadcast: false or a bus of its own does not hear it: there, a cached session lasts until
cache.ttl.

  -d, --data-source <file>    your DataSource module, the file your TypeORM CLI takes with -d:
                              its default export, or its only named export, is a DataSource
                              (or a promise of one). Compiled JavaScript, e.g. dist/data-source.js
                              after tsc. A .ts file works only under a loader that emits
                              decorator metadata and resolves NestJS 12's packages, such as
                              NODE_OPTIONS='--import @swc-node/register/esm-register'; not tsx
                              (esbuild emits no metadata: entities relying on it fail), nor
                              ts-node/esm (it misreads @nestjs/common's exports).
                              The command turns synchronize, migrationsRun and logging off.
                              Needed with storage database and memcached
  --storage <type>            database (default), redis or memcached: your SessionModule's
                              storage.type (with redis, revoke-user only: Redis expires
                              sessions itself and keeps no count)            [env SESSION_STORAGE]
  --redis-url <url>           with redis (default redis://127.0.0.1:6379)     [env REDIS_URL]
  --memcached-servers <list>  with memcached: host:port[,host:port] (default 127.0.0.1:11211)
                                                                             [env MEMCACHED_URL]
                              with memcached, SESSION_CACHE_SECRET (env only) is your
                              storage.secret; SASL credentials: MEMCACHE_USERNAME and
                              MEMCACHE_PASSWORD (read by memjs)
  --key-prefix <prefix>       your storage.keyPrefix, if you set one (redis, memcached)
                                                                             [env SESSION_KEY_PREFIX]
Exit code 0 when done, 2 when called wrongly, 1 when the work failed.`;
}
