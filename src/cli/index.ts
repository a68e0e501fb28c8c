/**
 * nestjs-sessions/cli: the `nestjs-sessions` command as a function, for a script of your own
 * that builds its DataSource and session options in code instead of taking flags.
 *
 * @example
 * // scripts/sessions.ts: `node dist/scripts/sessions.js revoke-user 42`
 * process.exitCode = await runSessionsCli(process.argv.slice(2), {
 *   program: 'node dist/scripts/sessions.js',
 *   connect: () => ({ dataSource: AppDataSource, session: { storage: { type: 'redis', url: process.env.REDIS_URL } } }),
 * });
 */
export { runSessionsCli, type SessionsCliConnection, type SessionsCliSetup } from './cli.js';
/** What `connect` throws to stop with a message and exit code 2 (or 1), without a stack. */
export { SessionsCliError } from './errors.js';
