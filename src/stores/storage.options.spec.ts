import { refusal as fails } from '../../test/support/options.js';
import { resolveSessionOptions } from '../options/resolve-options.js';
import type { SessionStore } from './session-store.interface.js';
import { DEFAULT_KEY_PREFIX, isRedisKeyPrefix } from './store-defaults.js';

const resolveUser = async (id: string) => ({ id });
const SECRET = 'a-memcached-secret-of-more-than-32-bytes-0123';
const unused = async (): Promise<never> => {
  throw new Error('not called by the options');
};

// deleteExpired sits on the prototype, as class methods do, so the check must look there too;
// the other methods are own properties, so a spread copy of an instance lacks deleteExpired alone.
class OwnStore implements SessionStore {
  create = unused;
  findByTokenHash = unused;
  extendExpiry = unused;
  replaceTokenHash = unused;
  deleteByTokenHash = unused;
  deleteById = unused;
  deleteByUser = unused;
  listByUser = unused;
  async deleteExpired(): Promise<number> {
    return 0;
  }
}

describe('the storage slice', () => {
  it('defaults to the database, the default DataSource, and replication as TypeORM has it', () => {
    expect(resolveSessionOptions({ resolveUser })).toMatchObject({ storage: { type: 'database' }, dataSource: undefined, replication: undefined });
  });

  it('takes a SessionStore instance, resolved as a custom store used as it is', () => {
    const store = new OwnStore();
    const { storage } = resolveSessionOptions({ resolveUser, storage: store });
    expect(storage).toEqual({ type: 'custom', store });
    expect(storage.type === 'custom' && storage.store).toBe(store);
  });

  it('refuses a store missing a method the interface requires, naming it', () => {
    const error = fails({ resolveUser, storage: { ...new OwnStore() } });
    expect(error.option).toBe('storage');
    expect(error.message).toMatch(/got a SessionStore without deleteExpired\(\); expected every method the interface requires: create, findByTokenHash, /);
  });

  it('refuses a store whose optional method is not a function', () => {
    const error = fails({ resolveUser, storage: Object.assign(new OwnStore(), { ping: 'yes' }) });
    expect(error.option).toBe('storage');
    expect(error.message).toMatch(/whose ping is "yes"; expected a function, or leave it out/);
  });

  it('reads an object without create and findByTokenHash as a { type } form', () => {
    expect(fails({ resolveUser, storage: { findByTokenHash: unused } }).option).toBe('storage.type');
    expect(fails({ resolveUser, storage: { type: 'custom' } }).message).toMatch(/expected 'database', 'redis' or 'memcached', or a SessionStore instance/);
  });

  it('names the DataSource by the name TypeOrmModule.forRoot was given', () => {
    expect(resolveSessionOptions({ resolveUser, dataSource: 'sessions' }).dataSource).toBe('sessions');
  });

  it.each([[''], [42], [null]])('refuses dataSource %p', (dataSource) => {
    const error = fails({ resolveUser, dataSource });
    expect(error.option).toBe('dataSource');
    expect(error.message).toMatch(/expected the name given to TypeOrmModule.forRoot\(\{ name \}\)/);
  });

  it('fills in the Redis and Memcached key prefix and the shared cache ttl', () => {
    expect(resolveSessionOptions({ resolveUser, storage: { type: 'redis', url: 'redis://127.0.0.1:6379' } }).storage).toMatchObject({ keyPrefix: DEFAULT_KEY_PREFIX });
    expect(resolveSessionOptions({ resolveUser, storage: { type: 'memcached', servers: '127.0.0.1:11211', secret: SECRET } }).storage).toEqual({
      type: 'memcached',
      servers: '127.0.0.1:11211',
      keyPrefix: DEFAULT_KEY_PREFIX,
      ttl: 3_600_000,
      secrets: [Buffer.from(SECRET)],
    });
  });

  it('takes the Memcached secret as one or a list newest first, and SASL credentials as a pair', () => {
    const older = 'an-older-memcached-secret-of-32-bytes-or-more';
    const storage = { type: 'memcached' as const, servers: 'h:1', secret: [SECRET, older], username: 'app', password: 'pw' };
    expect(resolveSessionOptions({ resolveUser, storage }).storage).toMatchObject({ secrets: [Buffer.from(SECRET), Buffer.from(older)], username: 'app', password: 'pw' });
  });

  it.each([
    [{ type: 'memcached', servers: 'h:1' }, 'storage.secret', /missing; Memcached entries are signed with a server secret/],
    [{ type: 'memcached', servers: 'h:1', secret: 'short' }, 'storage.secret', /got a 5-byte secret; expected at least 32 bytes/],
    [{ type: 'memcached', servers: 'h:1', secret: [] }, 'storage.secret', /got an empty list/],
    [{ type: 'memcached', servers: 'h:1', secret: [SECRET, 42] }, 'storage.secret[1]', /got a number/],
    [{ type: 'memcached', servers: 'h:1', secret: SECRET, username: 'app' }, 'storage.password', /got nothing; expected the SASL password/],
    [{ type: 'memcached', servers: 'h:1', secret: SECRET, password: 'pw' }, 'storage.username', /got nothing; expected the SASL user name/],
  ])('refuses the Memcached credentials %p, naming %s, never showing a secret', (storage, option, message) => {
    const error = fails({ resolveUser, storage });
    expect(error.option).toBe(option);
    expect(error.message).toMatch(message);
    expect(error.message).not.toMatch(/short|pw|0123/);
  });

  it('holds a Redis key prefix to the rule RedisSessionStore holds it to', () => {
    for (const prefix of ['sess:{all}:', 'has space', 'x'.repeat(65), 'é']) {
      expect(isRedisKeyPrefix(prefix)).toBe(false);
      expect(fails({ resolveUser, storage: { type: 'redis', url: 'redis://127.0.0.1:6379', keyPrefix: prefix } }).option).toBe('storage.keyPrefix');
    }
    expect(isRedisKeyPrefix('app-1:sess:')).toBe(true);
  });

  it.each([
    [{ type: 'redis' }, 'storage.url', /exactly one of url/],
    [{ type: 'redis', url: 'http://localhost' }, 'storage.url', /expected a Redis URL/],
    [{ type: 'redis', url: 'redis://h:1', db: 1 }, 'storage.db', /unknown option; the known ones are type, url, nodes, client, keyPrefix/],
    [{ type: 'memcached', servers: 'localhost' }, 'storage.servers', /'host:port'/],
    [{ type: 'memcached', servers: 'h:1', keyPrefix: 'a b' }, 'storage.keyPrefix', /without spaces/],
    [{ type: 'memcached', servers: 'h:1', secret: SECRET, ttl: '1h', db: 1 }, 'storage.db', /known ones are type, servers, secret, username, password, keyPrefix, ttl/],
    [{ type: 'database', url: 'x' }, 'storage.url', /unknown option; the known ones are type/],
  ])('refuses storage %p, naming %s', (storage, option, message) => {
    const error = fails({ resolveUser, storage });
    expect(error.option).toBe(option);
    expect(error.message).toMatch(message);
  });

  it('refuses a replication that is not a boolean', () => {
    expect(fails({ resolveUser, replication: 'yes' }).option).toBe('replication');
  });
});
