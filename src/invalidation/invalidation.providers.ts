import { Logger, type Provider } from '@nestjs/common';
import { SESSION_OPTIONS } from '../session.constants.js';
import type { ResolvedSessionOptions } from '../options/resolve-options.js';
import { SessionStore } from '../stores/session-store.interface.js';
import { SessionResources } from '../stores/storage.providers.js';
import { SESSION_DATA_SOURCE, type SessionDataSource } from '../stores/typeorm/session-data-source.js';
import { NoopInvalidationBus } from './noop-invalidation.bus.js';
import { SessionInvalidationBus } from './session-invalidation.interface.js';

async function createBus(options: ResolvedSessionOptions, data: SessionDataSource, resources: SessionResources): Promise<SessionInvalidationBus> {
  const broadcast = options.broadcast;
  // The app's bus, used as given. The service starts it and closes it at shutdown, which
  // releases what the bus opened (a subscriber), never a client the app handed the bus.
  if (typeof broadcast === 'object') return broadcast;
  if (!broadcast) return new NoopInvalidationBus();
  const storage = options.storage;
  if (storage.type === 'redis') {
    const { RedisInvalidationBus } = await import('./redis-invalidation.bus.js');
    return new RedisInvalidationBus({ client: await resources.redisClient() });
  }
  if (storage.type === 'custom' && !data.dataSource) {
    // Failing here would make every app with its own store import TypeORM for a default it
    // may not need (one instance); staying silent would hide stale caches on many instances.
    new Logger('SessionModule').warn(
      'broadcast: true with a store of your own and no TypeORM DataSource: revocations are not broadcast, so another instance may serve a revoked session from its cache until cache.ttl. ' +
        'With several instances give broadcast a bus (new RedisInvalidationBus({ client }), or your own SessionInvalidationBus); with one, set broadcast: false.',
    );
    return new NoopInvalidationBus();
  }
  // Over the DataSource of the store (or, with a store of the app's, the one the app has).
  const dataSource = storage.type === 'custom' ? data.dataSource! : data.forStorage(storage.type);
  const { PostgresInvalidationBus } = await import('./postgres-invalidation.bus.js');
  // The listener gets a connection of its own, made like the pool's (TypeORM's pool options).
  const pool = (dataSource.driver as unknown as { master: { options: Record<string, unknown> } }).master;
  return new PostgresInvalidationBus({
    connection: { ...pool.options },
    query: (sql, params) => dataSource.query(sql, params),
  });
}

/**
 * The bus that carries revocations to the other instances' caches. It waits for the store (which
 * it does not use) so that an option the store or `userEntity` refuses stops the startup before
 * the bus opens a connection: a module that fails to start never shuts down, so nothing would close it.
 */
export const invalidationProviders: Provider[] = [
  { provide: SessionInvalidationBus, useFactory: createBus, inject: [SESSION_OPTIONS, SESSION_DATA_SOURCE, SessionResources, SessionStore] },
];
