import { cachedSession, type CachedSessionInput } from './cached-entry.js';
import { LocalSessionCache } from './local-session.cache.js';

const T0 = Date.UTC(2026, 0, 1, 12);
const DAY = 86_400_000;
const NONE: readonly string[] = Object.freeze([]);

function input(overrides: Partial<CachedSessionInput<unknown>> = {}): CachedSessionInput<unknown> {
  return { id: '42', userId: 'u-1', expiresAt: T0 + 30 * DAY, createdAt: T0 - DAY, user: { id: 'u-1' }, permissions: NONE, context: undefined, details: undefined, ...overrides };
}

// Every value an entry was made from, as read back through the CachedSession interface.
function read(entry: ReturnType<typeof cachedSession>) {
  const { id, userId, expiresAt, createdAt, user, permissions, context, details, until } = entry;
  return { id, userId, expiresAt, createdAt, user, permissions, context, details, until };
}

describe('a cached session entry', () => {
  it('gives back every time to the millisecond, around the epoch of the packing and far from it', () => {
    const times = [T0, T0 + 1, T0 + 999, T0 + 1000, T0 - 1, Date.UTC(2020, 0, 1), Date.UTC(2020, 0, 1) - 1, Date.UTC(1990, 5, 1, 0, 0, 0, 7), Date.UTC(2050, 0, 1, 23, 59, 59, 999)];
    // Beyond the packed range, fractional ms, and 0: the plain entry, as exact.
    const unpacked = [0, -1, Date.UTC(2100, 0, 1), T0 + 0.5, 8.64e15];
    for (const t of [...times, ...unpacked]) {
      for (const [expiresAt, createdAt, until] of [
        [t, T0, T0],
        [T0, t, T0],
        [T0, T0, t],
        [t, t, t],
      ]) {
        const entry = cachedSession(input({ expiresAt, createdAt }), until);
        expect(read(entry)).toEqual({ ...input({ expiresAt, createdAt }), until });
      }
    }
  });

  it('gives back the session id as the same string, short or long', () => {
    for (const id of ['1', '42', '1073741823', '1073741824', '2147483648', '9223372036854775807', '007', '1e3', ' 5', 'abc']) {
      const got = cachedSession(input({ id }), T0).id;
      expect(typeof got).toBe('string');
      expect(got).toBe(id);
    }
  });

  it("keeps the user's own id string when it equals the session's user id, and the session's otherwise", () => {
    const userId = `u-${'x'.repeat(40)}`;
    const user = { id: Buffer.from(userId).toString('latin1'), email: 'a@example.com' };
    expect(cachedSession(input({ userId, user }), T0).userId).toBe(userId);
    for (const other of [{ id: 7 }, { id: 'someone-else' }, null, 'u-1', {}]) {
      expect(cachedSession(input({ userId: 'u-1', user: other }), T0).userId).toBe('u-1');
    }
  });

  it("runs no getter of the user's to compare ids", () => {
    let calls = 0;
    const get = () => {
      calls += 1;
      return 'u-1';
    };
    const user = Object.defineProperty({}, 'id', { get, enumerable: true });
    const entry = cachedSession(input({ user }), T0);
    expect(calls).toBe(0);
    expect(entry.userId).toBe('u-1');
    expect(entry.user).toBe(user);
  });

  it('keeps the values it was given by reference, and details writable', () => {
    const permissions = Object.freeze(['admin']);
    const context = { tenant: 't' };
    const details = { data: { a: 1 } } as never;
    const entry = cachedSession(input({ permissions, context, details }), T0);
    expect(entry.permissions).toBe(permissions);
    expect(entry.context).toBe(context);
    expect(entry.details).toBe(details);
    const next = { data: { a: 2 } } as never;
    entry.details = next;
    expect(entry.details).toBe(next);
  });
});

describe('LocalSessionCache', () => {
  it('serves an entry until the ttl or the deadline, whichever is first, to the millisecond', () => {
    const cache = new LocalSessionCache(300_000, 10);
    cache.set('a', input(), T0, T0 + DAY);
    cache.set('b', input(), T0, T0 + 1_234);
    expect(cache.get('a', T0 + 299_999)?.id).toBe('42');
    expect(cache.get('a', T0 + 300_000)).toBeUndefined();
    expect(cache.get('b', T0 + 1_233)?.until).toBe(T0 + 1_234);
    expect(cache.get('b', T0 + 1_234)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('caches nothing already past its deadline, and finds entries by user', () => {
    const cache = new LocalSessionCache(300_000, 10);
    cache.set('late', input(), T0, T0);
    expect(cache.size).toBe(0);
    cache.set('k1', input({ id: '1', userId: 'u-1' }), T0, T0 + DAY);
    cache.set('k2', input({ id: '2', userId: 'u-2', user: { id: 'u-2' } }), T0, T0 + DAY);
    expect(cache.keysWhere((e) => e.userId === 'u-1' && e.id === '1')).toEqual(['k1']);
  });
});
