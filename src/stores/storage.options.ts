import { SessionOptionsError } from '../core/session.exceptions.js';
import type { Duration } from '../options/duration.js';
import { checkKeys, checkMethods, duration, GENERATE_SECRET, type MethodRecord, MIN_SECRET_BYTES, optionalBoolean, optionKeys, secretBytes, show } from '../options/option-checks.js';
import type { SessionStore } from './session-store.interface.js';
import type { MemcachedSecret } from './tiered/memcached-cache.options.js';
import {
  DEFAULT_KEY_PREFIX,
  DEFAULT_SHARED_CACHE_TTL_MS,
  isMemcachedKeyPrefix,
  isRedisKeyPrefix,
  MEMCACHED_KEY_PREFIX_RULE,
  REDIS_KEY_PREFIX_RULE,
} from './store-defaults.js';

/** Where sessions are stored: `storage.type`, or a store of your own. */
export type SessionStorageOptions =
  /** PostgreSQL through the app's TypeORM DataSource (the default). */
  | { type: 'database' }
  /**
   * Redis as the store of record. Give exactly one of `url` (standalone, `redis://…`), `nodes`
   * (Redis Cluster, `['host:port', …]`) or `client` (an ioredis `Redis` or `Cluster` you own).
   * Needs the `ioredis` package.
   */
  | { type: 'redis'; url?: string; nodes?: string[]; client?: object; keyPrefix?: string }
  /**
   * PostgreSQL as the store of record, with Memcached as a cache shared by all instances in
   * front of it. `servers`: `'host:port[,host:port]'`. `secret` (required: at least 32 bytes, or
   * a list newest first to rotate it) signs every entry, so whoever else can write to Memcached
   * cannot create or change a session; give every instance the same. `username` and `password`:
   * SASL credentials, for a server that requires them. Needs the `memjs` package.
   */
  | { type: 'memcached'; servers: string; secret: MemcachedSecret | MemcachedSecret[]; username?: string; password?: string; keyPrefix?: string; ttl?: Duration }
  /**
   * A `SessionStore` of your own (every method the interface requires), used as it is.
   * `type?: never` keeps `storage.type` readable on the union, and tells a store from the forms above.
   */
  | (SessionStore & { type?: never });

export type ResolvedStorageOptions =
  | { type: 'database' }
  | { type: 'redis'; url?: string; nodes?: string[]; client?: object; keyPrefix: string }
  | { type: 'memcached'; servers: string; keyPrefix: string; ttl: number; secrets: Uint8Array[]; username?: string; password?: string }
  | { type: 'custom'; store: SessionStore };

/** Where sessions live, and the database the PostgreSQL stores use. */
export interface StorageOptions {
  /**
   * Where sessions live: one of the `{ type }` forms, or a `SessionStore` instance.
   * Default `{ type: 'database' }`.
   */
  storage?: SessionStorageOptions;
  /**
   * Validate on TypeORM's read replicas (`replication` in the DataSource options), retrying a
   * miss on the primary. Default: on when the DataSource has replicas.
   */
  replication?: boolean;
  /**
   * The name of the @nestjs/typeorm DataSource the PostgreSQL stores and `userEntity` use, as
   * `TypeOrmModule.forRoot({ name })` named it. Default: the default DataSource.
   */
  dataSource?: string;
}

export interface ResolvedStorageSliceOptions {
  storage: ResolvedStorageOptions;
  replication: boolean | undefined;
  /** Undefined for the default DataSource. */
  dataSource: string | undefined;
}

export const STORAGE_OPTION_KEYS = optionKeys<StorageOptions>({ storage: true, replication: true, dataSource: true });

export const DEFAULT_STORAGE_TYPE = 'database';

type StorageConfig = Exclude<SessionStorageOptions, SessionStore>;
type StorageOf<T extends StorageConfig['type']> = Extract<StorageConfig, { type: T }>;

const STORAGE_TYPES: readonly string[] = ['database', 'redis', 'memcached'] satisfies StorageConfig['type'][];
const DATABASE_KEYS = optionKeys<StorageOf<'database'>>({ type: true });
const REDIS_KEYS = optionKeys<StorageOf<'redis'>>({ type: true, url: true, nodes: true, client: true, keyPrefix: true });
const MEMCACHED_KEYS = optionKeys<StorageOf<'memcached'>>({ type: true, servers: true, secret: true, username: true, password: true, keyPrefix: true, ttl: true });
const HOST_PORT = /^[A-Za-z0-9.\-]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/;
const STORE_METHODS: MethodRecord<SessionStore> = {
  create: 'required',
  findByTokenHash: 'required',
  findByTokenHashWithUser: 'optional',
  touch: 'optional',
  markReauthenticated: 'optional',
  mergeData: 'optional',
  bindDeviceKey: 'optional',
  acceptDeviceProof: 'optional',
  ready: 'optional',
  extendExpiry: 'required',
  replaceTokenHash: 'required',
  deleteByTokenHash: 'required',
  deleteById: 'required',
  deleteByUser: 'required',
  listByUser: 'required',
  deleteExpired: 'required',
  withPurgeLock: 'optional',
  countSessions: 'optional',
  ping: 'optional',
  close: 'optional',
};

export function resolveStorageOptions(raw: StorageOptions): ResolvedStorageSliceOptions {
  if (raw.dataSource !== undefined && (typeof raw.dataSource !== 'string' || raw.dataSource === '')) {
    throw new SessionOptionsError('dataSource', `got ${show(raw.dataSource)}; expected the name given to TypeOrmModule.forRoot({ name }), or leave it out for the default DataSource.`);
  }
  return {
    storage: resolveStorage(raw.storage),
    replication: optionalBoolean('replication', raw.replication),
    dataSource: raw.dataSource,
  };
}

// A store is told apart from the `{ type }` forms by the two methods no store can do without.
function isStoreInstance(raw: object): boolean {
  const { type, create, findByTokenHash } = raw as Record<string, unknown>;
  return !STORAGE_TYPES.includes(type as string) && typeof create === 'function' && typeof findByTokenHash === 'function';
}

function resolveStorage(raw: SessionStorageOptions | undefined): ResolvedStorageOptions {
  if (raw === undefined) return { type: DEFAULT_STORAGE_TYPE };
  if (raw !== null && typeof raw === 'object' && isStoreInstance(raw)) {
    return { type: 'custom', store: checkMethods<SessionStore>('storage', raw, 'SessionStore', STORE_METHODS) };
  }
  if (raw === null || typeof raw !== 'object' || !STORAGE_TYPES.includes((raw as { type?: string }).type as string)) {
    throw new SessionOptionsError(
      'storage.type',
      `got ${show((raw as { type?: unknown } | null)?.type ?? raw)}; expected 'database', 'redis' or 'memcached', or a SessionStore instance (with create, findByTokenHash and the interface's other methods).`,
    );
  }
  const config = raw as StorageConfig;
  switch (config.type) {
    case 'database':
      checkKeys('storage', config, DATABASE_KEYS);
      return { type: 'database' };
    case 'redis': {
      checkKeys('storage', config, REDIS_KEYS);
      const given = (['url', 'nodes', 'client'] as const).filter((k) => config[k] !== undefined);
      if (given.length !== 1) {
        throw new SessionOptionsError('storage.url', `got ${given.length === 0 ? 'none' : given.join(' and ')}; expected exactly one of url ('redis://host:6379'), nodes (['host:7000', …] for a Cluster) or client (an ioredis instance).`);
      }
      if (config.url !== undefined) {
        let protocol = '';
        try {
          protocol = new URL(config.url).protocol;
        } catch {
          // reported below
        }
        if (protocol !== 'redis:' && protocol !== 'rediss:') {
          throw new SessionOptionsError('storage.url', `got ${show(config.url)}; expected a Redis URL such as redis://127.0.0.1:6379 or rediss://user:password@host:6380/0.`);
        }
      }
      if (config.nodes !== undefined && (!Array.isArray(config.nodes) || config.nodes.length === 0 || !config.nodes.every((n) => typeof n === 'string' && HOST_PORT.test(n)))) {
        throw new SessionOptionsError('storage.nodes', `got ${show(config.nodes)}; expected a non-empty list of 'host:port' of the cluster's nodes.`);
      }
      if (config.client !== undefined && (config.client === null || typeof config.client !== 'object')) {
        throw new SessionOptionsError('storage.client', `got ${show(config.client)}; expected an ioredis Redis or Cluster instance.`);
      }
      const keyPrefix = config.keyPrefix ?? DEFAULT_KEY_PREFIX;
      if (!isRedisKeyPrefix(keyPrefix)) throw new SessionOptionsError('storage.keyPrefix', `got ${show(config.keyPrefix)}; expected ${REDIS_KEY_PREFIX_RULE}.`);
      return { type: 'redis', url: config.url, nodes: config.nodes, client: config.client, keyPrefix };
    }
    case 'memcached': {
      checkKeys('storage', config, MEMCACHED_KEYS);
      if (typeof config.servers !== 'string' || !config.servers.split(',').every((s) => HOST_PORT.test(s.trim()))) {
        throw new SessionOptionsError('storage.servers', `got ${show(config.servers)}; expected 'host:port' or 'host:port,host:port', e.g. '127.0.0.1:11211'.`);
      }
      const keyPrefix = config.keyPrefix ?? DEFAULT_KEY_PREFIX;
      if (!isMemcachedKeyPrefix(keyPrefix)) throw new SessionOptionsError('storage.keyPrefix', `got ${show(config.keyPrefix)}; expected ${MEMCACHED_KEY_PREFIX_RULE}.`);
      const ttl = config.ttl === undefined ? DEFAULT_SHARED_CACHE_TTL_MS : duration('storage.ttl', config.ttl);
      return { type: 'memcached', servers: config.servers, keyPrefix, ttl, ...saslCredentials(config), secrets: memcachedSecrets(config.secret) };
    }
  }
}

// Required, not derived from the JWT or refresh-token secrets: an HS256 JWT secret may be shared
// with other services (so they can read the claims), and a key to Memcached entries is a key to
// create sessions; it belongs to this app's instances alone.
function memcachedSecrets(secret: unknown): Uint8Array[] {
  if (secret === undefined) {
    throw new SessionOptionsError(
      'storage.secret',
      `missing; Memcached entries are signed with a server secret so that whoever else can write to Memcached cannot create or change a session. Give storage: { type: 'memcached', servers, secret: process.env.SESSION_CACHE_SECRET }, at least ${MIN_SECRET_BYTES} bytes (${GENERATE_SECRET}), the same on every instance.`,
    );
  }
  if (!Array.isArray(secret)) return [secretBytes('storage.secret', secret)];
  if (secret.length === 0) throw new SessionOptionsError('storage.secret', 'got an empty list; expected a secret, or a list of them newest first (the first signs, all verify).');
  return secret.map((s, i) => secretBytes(`storage.secret[${i}]`, s));
}

// Both or neither; the password never appears in a message.
function saslCredentials(config: { username?: unknown; password?: unknown }): { username?: string; password?: string } {
  const { username, password } = config;
  if (username === undefined && password === undefined) return {};
  if (typeof username !== 'string' || username === '' || username.includes('\0')) {
    throw new SessionOptionsError('storage.username', `got ${username === undefined ? 'nothing' : show(username)}; expected the SASL user name, a non-empty string, given with storage.password.`);
  }
  if (typeof password !== 'string' || password === '' || password.includes('\0')) {
    throw new SessionOptionsError('storage.password', `got ${password === undefined ? 'nothing' : 'something else'}; expected the SASL password, a non-empty string, given with storage.username.`);
  }
  return { username, password };
}
