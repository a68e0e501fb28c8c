// The demo app: `npm start`. Uses DATABASE_URL when set, else an embedded PostgreSQL (PGlite)
// keeping its files in PGLITE_DIR.
import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { createDemoApp } from './app.js';
import { DemoConfigError, readDemoConfig, SESSION_OPTION_VARIABLES } from './config.js';
import { type EmbeddedDatabase, startEmbeddedDatabase } from './embedded-database.js';
import { SessionOptionsError } from 'nestjs-sessions';

const logger = new Logger('Demo');

// PGlite runs one query at a time, so a bigger pool would only queue in another place.
const EMBEDDED_POOL_SIZE = 4;

async function main(): Promise<void> {
  const config = readDemoConfig();
  let embedded: EmbeddedDatabase | undefined;
  let databaseUrl = config.databaseUrl;
  if (!databaseUrl) {
    embedded = await startEmbeddedDatabase({ dir: config.pgliteDir });
    databaseUrl = embedded.url;
  }

  let app;
  try {
    // PGlite is one backend: NOTIFY does not reach another connection, and one instance needs no broadcast.
    const broadcast = !(embedded && config.session.storage?.type !== 'redis');
    app = await createDemoApp({
      databaseUrl,
      poolSize: embedded ? EMBEDDED_POOL_SIZE : 10,
      freshAge: config.freshAge,
      loginThrottle: config.loginThrottle,
      metricsToken: config.metricsToken,
      session: { ...config.session, broadcast },
    });
  } catch (error) {
    // Leave the embedded database's files closed cleanly even when the app cannot start.
    await embedded?.close();
    throw error;
  }
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.log(`${signal}: shutting down`);
    await app.close();
    await embedded?.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));

  await app.listen(config.port);
  const url = (await app.getUrl()).replace('[::1]', 'localhost').replace('127.0.0.1', 'localhost');
  logger.log(`Listening on ${url} (${embedded ? `embedded database in ${config.pgliteDir}` : 'DATABASE_URL'}); open ${url}/login`);
}

main().catch((error: unknown) => {
  if (error instanceof DemoConfigError) {
    logger.error(error.message);
  } else if (error instanceof SessionOptionsError) {
    const variable = SESSION_OPTION_VARIABLES[error.option];
    logger.error(variable ? `${variable}: ${error.message}` : error.message);
  } else {
    logger.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  }
  process.exit(1);
});
