import { readFileSync } from 'node:fs';
import type { DataSource } from 'typeorm';
import { SessionOptionsError } from '../core/session.exceptions.js';
import type { SessionModuleOptions } from '../options/session-module.options.js';
import { errorText, SessionsCliError } from './errors.js';
import { HELP_FLAGS, MIGRATION_FLAGS, migrationOptions, OPERATOR_FLAGS, parseFlags, storageFrom } from './flags.js';
import { mainHelp, migrationHelp, OPERATOR_COMMANDS, operatorHelp } from './help.js';
import { createMigrationFile } from './migration-create.js';
import { loadDataSourceFile } from './data-source-file.js';
import { OPERATOR_COMMAND_NAMES, type OperatorCommand, type OperatorConnection, runOperatorCommand } from './operator.js';

/** What a script of your own hands the operator commands instead of flags. */
export interface SessionsCliConnection {
  /** Your DataSource, for storage 'database' and 'memcached'; initialized if it is not, destroyed after. */
  dataSource?: DataSource;
  /** Your SessionModule options that matter here: `storage` (with its keyPrefix) above all. */
  session?: Omit<SessionModuleOptions, 'resolveUser'>;
}

export interface SessionsCliSetup {
  /** The command as its usage lines name it. Default `'nestjs-sessions'`. */
  program?: string;
  /**
   * Gives the operator commands their DataSource and options, called once the arguments are
   * checked. With it, the commands take no flags and `migration:create` is not offered; throw a
   * `SessionsCliError` to stop with its message.
   */
  connect?: () => SessionsCliConnection | Promise<SessionsCliConnection>;
  /** A paragraph ending the usage when `connect` is given (the environment it reads, say). */
  environment?: string;
  /** Default `process.cwd()`, `process.env`, and the process's stdout and stderr. */
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/**
 * Runs the `nestjs-sessions` command on `argv` (without node and the script) and returns its
 * exit code: 0 done, 2 called wrongly, 1 the work failed. Never throws, never exits.
 */
export async function runSessionsCli(argv: string[], setup: SessionsCliSetup = {}): Promise<number> {
  const program = setup.program ?? 'nestjs-sessions';
  const cwd = setup.cwd ?? process.cwd();
  const env = setup.env ?? process.env;
  const stdout = setup.stdout ?? ((text: string) => void process.stdout.write(text));
  const stderr = setup.stderr ?? ((text: string) => void process.stderr.write(text));
  const wrapped = setup.connect !== undefined;
  const usage = wrapped ? `usage: ${program} <command>\n\n${OPERATOR_COMMANDS}${setup.environment ? `\n\n${setup.environment}` : ''}` : mainHelp(program);

  try {
    const [command, ...rest] = argv;
    if (command === undefined) throw new SessionsCliError(usage);
    if (['--help', '-h', 'help'].includes(command)) {
      stdout(`${usage}\n`);
      return 0;
    }
    if (command === '--version' && !wrapped) {
      stdout(`${version()}\n`);
      return 0;
    }

    if (command === 'migration:create' && !wrapped) {
      const seeHelp = `See ${program} migration:create --help.`;
      const { values, positionals } = parseFlags(rest, MIGRATION_FLAGS, command, seeHelp);
      if (values.help) {
        stdout(`${migrationHelp(program)}\n`);
        return 0;
      }
      const created = await createMigrationFile(migrationOptions(values, positionals, seeHelp), cwd);
      stdout(`created ${created.path} (class ${created.className}${created.format === 'typescript' ? '' : `, ${created.format}`})\n`);
      return 0;
    }

    if (!OPERATOR_COMMAND_NAMES.includes(command)) throw new SessionsCliError(`unknown command "${command}"\n\n${usage}`);
    const seeHelp = wrapped ? usage : `See ${program} ${command} --help.`;
    const { values, positionals } = parseFlags(rest, wrapped ? HELP_FLAGS : OPERATOR_FLAGS, command, seeHelp);
    if (values.help) {
      stdout(`${wrapped ? usage : operatorHelp(program)}\n`);
      return 0;
    }
    let operation: OperatorCommand;
    if (command === 'revoke-user') {
      if (positionals.length !== 1) throw new SessionsCliError(`revoke-user takes one user id\n\n${seeHelp}`);
      operation = { name: command, userId: positionals[0] };
    } else {
      if (positionals.length !== 0) throw new SessionsCliError(`${command} takes no arguments\n\n${seeHelp}`);
      operation = { name: command as 'stats' | 'purge' };
    }

    stdout(await runOperatorCommand(operation, wrapped ? await setup.connect!() : await connectFromFlags(operation, values, cwd, env)));
    return 0;
  } catch (error) {
    if (error instanceof SessionsCliError) {
      stderr(`${error.message}\n`);
      return error.exitCode;
    }
    if (error instanceof SessionOptionsError) {
      stderr(`${error.message}\n`);
      return 2;
    }
    stderr(`nestjs-sessions: ${errorText(error)}\n`);
    return 1;
  }
}

async function connectFromFlags(
  operation: OperatorCommand,
  values: Record<string, string | boolean | undefined>,
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<OperatorConnection> {
  const storage = storageFrom(values, env);
  if (storage.type === 'redis') {
    if (operation.name !== 'revoke-user') {
      throw new SessionsCliError(`${operation.name}: with storage redis there is nothing to ${operation.name === 'stats' ? 'count without a scan of every key' : 'purge'}: Redis expires sessions itself. revoke-user works.`);
    }
    return { session: { storage } };
  }
  const file = values['data-source'];
  if (typeof file !== 'string' || file === '') {
    throw new SessionsCliError(
      `--data-source is missing: storage ${storage.type} keeps sessions in PostgreSQL, reached through your DataSource. Give the module your TypeORM CLI takes with -d, e.g. --data-source dist/data-source.js; or, with Redis as the store, --storage redis.`,
    );
  }
  return { dataSource: await loadDataSourceFile(file, cwd), dataSourceLabel: `the DataSource of ${file}`, session: { storage } };
}
