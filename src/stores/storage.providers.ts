import { Inject, Injectable, Logger, type OnApplicationShutdown, type Provider } from '@nestjs/common';
import type { Cluster, Redis } from 'ioredis';
import { SESSION_OPTIONS, SESSION_USERS } from '../session.constants.js';
import { SessionOptionsError } from '../core/session.exceptions.js';
import type { ResolvedSessionOptions } from '../options/resolve-options.js';
import { type SharedCacheRefusal, SessionTelemetry } from '../telemetry/session.telemetry.js';
import { SessionStore } from './session-store.interface.js';
import { EntityUsers } from './typeorm/entity-users.js';
import { SESSION_DATA_SOURCE, type SessionDataSource } from './typeorm/session-data-source.js';
import { TypeOrmSessionStore } from './typeorm/typeorm-session.store.js';
import { errorMessage, withTimeout } from '../core/utils.js';

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

/** Imports an optional peer, or says which option needs it and how to install it. */
export async function optionalImport<T>(name: string, option: string, purpose: string): Promise<T> {
  try {
    return (await import(name)) as T;
  } catch {
    throw new SessionOptionsError(option, `${purpose} needs the "${name}" package; install it (npm install ${name}) or choose another storage.type.`);
  }
}

/**
 * What the module opened itself (a Redis client, a Memcached client, the stores over them),
 * closed at shutdown, newest first. What the app handed in (`storage.client`, a store of its
 * own) stays open: the app opened it and may still be using it.
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

function typeOrmStore(options: ResolvedSessionOptions, data: SessionDataSource, users: EntityUsers | null, type: 'database' | 'memcached'): TypeOrmSessionStore {
  const dataSource = data.forStorage(type);
  const readFromReplicas = options.replication ?? ('replication' in dataSource.options && Boolean(dataSource.options.replication));
  const detailsOptions = (['metadata', 'reauthentication', 'data', 'deviceBound'] as const).filter((name) => (name === 'data' ? options.dataMaxBytes !== null : Boolean(options[name])));
  return new TypeOrmSessionStore(dataSource, { readFromReplicas, users: users ?? undefined, details: options.details, detailsOptions });
}

async function createStore(options: ResolvedSessionOptions, data: SessionDataSource, resources: SessionResources, users: EntityUsers | null, telemetry: SessionTelemetry): Promise<SessionStore> {
  const storage = options.storage;
  switch (storage.type) {
    case 'database':
      return typeOrmStore(options, data, users, 'database');
    case 'custom':
      // The app's store, used as given; the app opened it, so the app closes it.
      return storage.store;
    case 'redis': {
      const { RedisSessionStore } = await import('./redis/redis-session.store.js');
      return new RedisSessionStore(await resources.redisClient(), { keyPrefix: storage.keyPrefix });
    }
    case 'memcached': {
      const database = typeOrmStore(options, data, users, 'memcached');
      await optionalImport('memjs', 'storage.type', "storage.type 'memcached'");
      const { MemcachedSessionCache } = await import('./tiered/memcached-session.cache.js');
      const { TieredSessionStore } = await import('./tiered/tiered-session.store.js');
      const { servers, keyPrefix, secrets, username, password } = storage;
      const onRefused = (reason: SharedCacheRefusal) => telemetry.sharedCacheRefused(reason);
      const cache = new MemcachedSessionCache({ servers, keyPrefix, secret: secrets, username, password, clock: options.clock, onRefused });
      try {
        await cache.ping();
      } catch (error) {
        await cache.close();
        if (username !== undefined && /authentication failed/i.test(errorMessage(error))) {
          throw new SessionOptionsError('storage.username', `Memcached at ${servers} refused the SASL credentials (storage.username and storage.password): ${errorMessage(error)}`);
        }
        throw new SessionOptionsError('storage.servers', `could not reach Memcached at ${servers}: ${errorMessage(error)}. Check the address and that memcached is running.`);
      }
      const store = new TieredSessionStore(database, cache, { ttlMs: storage.ttl, clock: options.clock });
      resources.own(() => store.close());
      return store;
    }
  }
}

/** The store and what it is made of; validation of the options happened before, in SESSION_OPTIONS. */
export const storageProviders: Provider[] = [
  SessionResources,
  {
    provide: SESSION_USERS,
    useFactory: (options: ResolvedSessionOptions, data: SessionDataSource) =>
      options.userEntity ? new EntityUsers(data.require('userEntity', 'userEntity reads your users through TypeORM (or give resolveUser instead)'), options.userEntity) : null,
    inject: [SESSION_OPTIONS, SESSION_DATA_SOURCE],
  },
  { provide: SessionStore, useFactory: createStore, inject: [SESSION_OPTIONS, SESSION_DATA_SOURCE, SessionResources, SESSION_USERS, SessionTelemetry] },
];
