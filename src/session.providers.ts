import { Inject, Injectable, Logger, type OnApplicationShutdown, type Provider } from '@nestjs/common';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { Cluster, Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import { SESSION_OPTIONS, SESSION_USERS } from './session.constants.js';
import { SessionOptionsError } from './core/session.exceptions.js';
import { SESSION_MODULE_OPTIONS } from './session.module-definition.js';
import { type ResolvedSessionOptions, resolveSessionOptions } from './options/resolve-options.js';
import { NoopInvalidationBus } from './invalidation/noop-invalidation.bus.js';
import { SessionInvalidationBus } from './invalidation/session-invalidation.interface.js';
import { SessionStore } from './stores/session-store.interface.js';
import { EntityUsers } from './stores/typeorm/entity-users.js';
import { TypeOrmSessionStore } from './stores/typeorm/typeorm-session.store.js';
import { errorMessage, withTimeout } from './core/utils.js';

const STARTUP_TIMEOUT_MS = 5_000;

// The URL without its password, for messages and logs.
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}

async function optionalImport<T>(name: string, option: string, purpose: string): Promise<T> {
  try {
    return (await import(name)) as T;
  } catch {
    throw new SessionOptionsError(option, `${purpose} needs the "${name}" package; install it (npm install ${name}) or choose another storage.type.`);
  }
}

/**
 * What the module opened itself (a Redis client, a Memcached client, the stores over them),
 * closed at shutdown, newest first. What the app handed in (`storage.client`) stays open.
 */
@Injectable()
export class SessionResources implements OnApplicationShutdown {
  private readonly logger = new Logger('SessionModule');
  private readonly closers: (() => Promise<unknown>)[] = [];
  private redis?: Promise<Redis | Cluster>;

  constructor(@Inject(SESSION_OPTIONS) private readonly options: ResolvedSessionOptions) {}

  own(close: () => Promise<unknown>): void {
    this.closers.push(close);
  }

  /** The Redis client of `storage`, connected; one per module. */
  redisClient(): Promise<Redis | Cluster> {
    this.redis ??= this.connectRedis();
    return this.redis;
  }

  private async connectRedis(): Promise<Redis | Cluster> {
    const storage = this.options.storage;
    if (storage.type !== 'redis') throw new Error('redisClient() without storage.type redis');
    if (storage.client) return storage.client as Redis | Cluster;

    const ioredis = await optionalImport<typeof import('ioredis')>('ioredis', 'storage.type', "storage.type 'redis'");
    const option = storage.url ? 'storage.url' : 'storage.nodes';
    const where = storage.url ? redact(storage.url) : storage.nodes!.join(', ');
    const client: Redis | Cluster = storage.url
      ? new ioredis.Redis(storage.url, { lazyConnect: true, connectTimeout: STARTUP_TIMEOUT_MS, connectionName: 'nestjs-sessions' })
      : new ioredis.Cluster(
          storage.nodes!.map((node) => {
            const at = node.lastIndexOf(':');
            return { host: node.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(node.slice(at + 1)) };
          }),
          { lazyConnect: true, redisOptions: { connectTimeout: STARTUP_TIMEOUT_MS, connectionName: 'nestjs-sessions' } },
        );
    // Errors surface through the commands (and become 503s); unhandled they would crash the process.
    let lastError = '';
    client.on('error', (error: Error) => {
      if (error.message !== lastError) this.logger.warn(`Redis: ${error.message}`);
      lastError = error.message;
    });
    try {
      await withTimeout(client.connect(), STARTUP_TIMEOUT_MS, `Redis at ${where}`);
      await withTimeout(client.ping(), STARTUP_TIMEOUT_MS, `Redis at ${where}`);
    } catch (error) {
      client.disconnect();
      throw new SessionOptionsError(option, `could not reach Redis at ${where}: ${errorMessage(error)}. Check the address and that Redis is running.`);
    }
    this.own(() => client.quit().catch(() => client.disconnect()));
    return client;
  }

  async onApplicationShutdown(): Promise<void> {
    for (const close of this.closers.splice(0).reverse()) {
      try {
        await close();
      } catch (error) {
        this.logger.warn(`closing a session resource failed: ${errorMessage(error)}`);
      }
    }
  }
}

async function createStore(options: ResolvedSessionOptions, dataSource: DataSource, resources: SessionResources, users: EntityUsers | null): Promise<SessionStore> {
  const readFromReplicas = options.replication ?? ('replication' in dataSource.options && Boolean(dataSource.options.replication));
  const database = () => new TypeOrmSessionStore(dataSource, { readFromReplicas, users: users ?? undefined });
  const storage = options.storage;
  switch (storage.type) {
    case 'database':
      return database();
    case 'redis': {
      const { RedisSessionStore } = await import('./stores/redis/redis-session.store.js');
      return new RedisSessionStore(await resources.redisClient(), { keyPrefix: storage.keyPrefix });
    }
    case 'memcached': {
      const { MemcachedSessionCache } = await optionalImport<typeof import('./stores/tiered/memcached-session.cache.js')>(
        './stores/tiered/memcached-session.cache.js',
        'storage.type',
        "storage.type 'memcached' (the memjs package)",
      );
      const { TieredSessionStore } = await import('./stores/tiered/tiered-session.store.js');
      const cache = new MemcachedSessionCache({ servers: storage.servers, keyPrefix: storage.keyPrefix, clock: options.clock });
      try {
        await cache.ping();
      } catch (error) {
        await cache.close();
        throw new SessionOptionsError('storage.servers', `could not reach Memcached at ${storage.servers}: ${errorMessage(error)}. Check the address and that memcached is running.`);
      }
      const store = new TieredSessionStore(database(), cache, { ttlMs: storage.ttl, clock: options.clock });
      resources.own(() => store.close());
      return store;
    }
  }
}

async function createBus(options: ResolvedSessionOptions, dataSource: DataSource, resources: SessionResources): Promise<SessionInvalidationBus> {
  if (!options.broadcast) return new NoopInvalidationBus();
  if (options.storage.type === 'redis') {
    const { RedisInvalidationBus } = await import('./invalidation/redis-invalidation.bus.js');
    return new RedisInvalidationBus({ client: await resources.redisClient() });
  }
  const { PostgresInvalidationBus } = await import('./invalidation/postgres-invalidation.bus.js');
  // The listener gets a connection of its own, made like the pool's (TypeORM's pool options).
  const pool = (dataSource.driver as unknown as { master: { options: Record<string, unknown> } }).master;
  return new PostgresInvalidationBus({
    connection: { ...pool.options },
    query: (sql, params) => dataSource.query(sql, params),
  });
}

/** The module's providers; validation of the options happens in the first, once, at startup. */
export const sessionProviders: Provider[] = [
  { provide: SESSION_OPTIONS, useFactory: resolveSessionOptions, inject: [SESSION_MODULE_OPTIONS] },
  SessionResources,
  {
    provide: SESSION_USERS,
    useFactory: (options: ResolvedSessionOptions, dataSource: DataSource) => (options.userEntity ? new EntityUsers(dataSource, options.userEntity) : null),
    inject: [SESSION_OPTIONS, getDataSourceToken()],
  },
  { provide: SessionStore, useFactory: createStore, inject: [SESSION_OPTIONS, getDataSourceToken(), SessionResources, SESSION_USERS] },
  { provide: SessionInvalidationBus, useFactory: createBus, inject: [SESSION_OPTIONS, getDataSourceToken(), SessionResources] },
];
