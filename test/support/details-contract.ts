import { expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { hashToken, type SessionStore, type StoredSession, type StoredSessionDetails } from '../../src/index.js';

// What every store that keeps details must do (SessionStore's comments), as one suite: the
// PostgreSQL store and the in-memory test store both run it.

export const NOW = new Date(Date.UTC(2026, 0, 1, 12));
export const HOUR = 3_600_000;
export const at = (ms: number) => new Date(NOW.getTime() + ms);
export const CHROME_MAC = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

export const newTokenHash = () => hashToken(randomBytes(32).toString('base64url'));

export function details(overrides: Partial<StoredSessionDetails> = {}): StoredSessionDetails {
  return { userAgent: CHROME_MAC, device: 'Chrome on macOS', ip: '203.0.113.7', lastSeenAt: NOW, reauthenticatedAt: NOW, data: {}, ...overrides };
}

/** A session made at NOW, live for an hour unless told; without `withDetails`, as one from before the options. */
export function login(store: SessionStore, userId: string, withDetails?: StoredSessionDetails, expiresAt = at(HOUR)): Promise<StoredSession> {
  return store.create({ userId, tokenHash: newTokenHash(), expiresAt, createdAt: NOW, ...(withDetails && { details: withDetails }) });
}

export interface ContractSubject {
  store: SessionStore;
  /** A user the store accepts. */
  newUser(): Promise<string>;
  /** A session the store holds without details (made before the options were on). */
  sessionWithoutDetails(userId: string): Promise<StoredSession>;
}

export function detailsContract(subject: () => ContractSubject): void {
  const s = () => subject().store;

  it('touch: of 300 concurrent calls one writes; a recent, expired or unknown session is left alone', async () => {
    const userId = await subject().newUser();
    const session = await login(s(), userId, details({ lastSeenAt: at(-2 * 60_000) }));
    const results = await Promise.all(Array.from({ length: 300 }, () => s().touch!(session, NOW, at(-60_000 + 1))));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect((await s().findByTokenHash(session.tokenHash))!.details!.lastSeenAt).toEqual(NOW);
    // Seen at NOW: not due again until a minute has passed.
    expect(await s().touch!(session, at(30_000), at(30_000 - 60_000 + 1))).toBe(false);
    expect(await s().touch!(session, at(60_000), at(1))).toBe(true);
    const expired = await login(s(), userId, details({ lastSeenAt: null }), at(1_000));
    expect(await s().touch!(expired, at(2_000), at(2_000))).toBe(false);
    expect((await s().findByTokenHash(expired.tokenHash))!.details!.lastSeenAt).toBeNull();
    expect(await s().touch!({ ...session, id: '999999999' }, NOW, at(1))).toBe(false);
  });

  it('touch and the other detail writes give a session from before the options its details', async () => {
    const userId = await subject().newUser();
    const old = await subject().sessionWithoutDetails(userId);
    expect((await s().findByTokenHash(old.tokenHash))!.details).toBeUndefined();
    const results = await Promise.all(Array.from({ length: 300 }, () => s().touch!(old, NOW, at(-60_000 + 1))));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect((await s().findByTokenHash(old.tokenHash))!.details).toEqual({ userAgent: null, device: null, ip: null, lastSeenAt: NOW, reauthenticatedAt: null, data: {} });
    const other = await subject().sessionWithoutDetails(userId);
    expect(await s().mergeData!(other.tokenHash, { plan: 'pro' }, 4096, NOW)).toEqual({ data: { plan: 'pro' } });
    const third = await subject().sessionWithoutDetails(userId);
    expect((await s().markReauthenticated!(third.tokenHash, at(5)))!.details).toEqual({ userAgent: null, device: null, ip: null, lastSeenAt: null, reauthenticatedAt: at(5), data: {} });
  });

  it('markReauthenticated sets the time of a live session, keeps the rest, and refuses others', async () => {
    const userId = await subject().newUser();
    const session = await login(s(), userId, details({ data: { a: 1 } }));
    const marked = await s().markReauthenticated!(session.tokenHash, at(5 * 60_000));
    expect(marked).toEqual({ ...session, details: { ...session.details!, reauthenticatedAt: at(5 * 60_000) } });
    expect(await s().findByTokenHash(session.tokenHash)).toEqual(marked);
    expect(await s().markReauthenticated!(newTokenHash(), NOW)).toBeNull();
    expect(await s().markReauthenticated!(session.tokenHash, at(HOUR))).toBeNull();
  });

  it('mergeData replaces top-level keys, removes those given null, and answers null without a live session', async () => {
    const userId = await subject().newUser();
    const session = await login(s(), userId, details({ data: { a: 1, b: { c: 2 }, keep: true } }));
    expect(await s().mergeData!(session.tokenHash, { b: { d: 3 }, e: 'x', a: null, absent: null }, 4096, NOW)).toEqual({ data: { b: { d: 3 }, e: 'x', keep: true } });
    expect((await s().findByTokenHash(session.tokenHash))!.details!.data).toEqual({ b: { d: 3 }, e: 'x', keep: true });
    expect(await s().mergeData!(newTokenHash(), { a: 1 }, 4096, NOW)).toBeNull();
    expect(await s().mergeData!(session.tokenHash, { a: 1 }, 4096, at(HOUR))).toBeNull();
    await s().deleteByTokenHash(session.tokenHash);
    expect(await s().mergeData!(session.tokenHash, { a: 1 }, 4096, NOW)).toBeNull();
  });

  it('mergeData writes nothing over the bound and says so', async () => {
    const userId = await subject().newUser();
    const session = await login(s(), userId, details({ data: { name: 'x'.repeat(40) } }));
    expect(await s().mergeData!(session.tokenHash, { more: 'y'.repeat(40) }, 64, NOW)).toEqual({ tooLarge: true });
    expect((await s().findByTokenHash(session.tokenHash))!.details!.data).toEqual({ name: 'x'.repeat(40) });
    // Removing a key makes room: the bound is on the result, not on the patch.
    expect(await s().mergeData!(session.tokenHash, { name: null, more: 'y'.repeat(40) }, 64, NOW)).toEqual({ data: { more: 'y'.repeat(40) } });
  });

  it('mergeData: 50 concurrent merges of different keys all land, on a session with details and on one without', async () => {
    const userId = await subject().newUser();
    for (const session of [await login(s(), userId, details()), await subject().sessionWithoutDetails(userId)]) {
      const keys = Array.from({ length: 50 }, (_, i) => `k${i}`);
      const results = await Promise.all(keys.map((key, i) => s().mergeData!(session.tokenHash, { [key]: i }, 4096, NOW)));
      results.forEach((result, i) => expect(result).toMatchObject({ data: { [`k${i}`]: i } }));
      expect((await s().findByTokenHash(session.tokenHash))!.details!.data).toEqual(Object.fromEntries(keys.map((key, i) => [key, i])));
    }
  });

  it('two sessions of one user keep their own data; listByUser returns each with its details', async () => {
    const userId = await subject().newUser();
    const [a, b] = [await login(s(), userId, details({ device: 'A' })), await login(s(), userId, details({ device: 'B' }))];
    await s().mergeData!(a.tokenHash, { org: 'acme' }, 4096, NOW);
    await s().mergeData!(b.tokenHash, { org: 'globex', extra: 1 }, 4096, NOW);
    const listed = await s().listByUser(userId, NOW);
    expect(listed.map((x) => [x.id, x.details!.device, x.details!.data])).toEqual([
      [b.id, 'B', { org: 'globex', extra: 1 }],
      [a.id, 'A', { org: 'acme' }],
    ]);
  });

  it('extendExpiry with seenAt sets the last-seen time only when the expiry moves', async () => {
    const userId = await subject().newUser();
    const session = await login(s(), userId, details({ lastSeenAt: at(-HOUR) }), at(HOUR / 2));
    expect(await s().extendExpiry(session, at(HOUR), at(HOUR), NOW, NOW)).toBe(true);
    expect(await s().findByTokenHash(session.tokenHash)).toMatchObject({ expiresAt: at(HOUR), details: { lastSeenAt: NOW } });
    // Already moved: neither the expiry nor the last-seen time is written.
    expect(await s().extendExpiry(session, at(2 * HOUR), at(HOUR), NOW, at(1_000))).toBe(false);
    expect(await s().extendExpiry(session, at(2 * HOUR), at(2 * HOUR), NOW)).toBe(true);
    expect(await s().findByTokenHash(session.tokenHash)).toMatchObject({ expiresAt: at(2 * HOUR), details: { lastSeenAt: NOW } });
  });

  it('replaceTokenHash keeps the details with the new token', async () => {
    const userId = await subject().newUser();
    const session = await login(s(), userId, details({ data: { cart: [1, 2] } }));
    const next = newTokenHash();
    expect(await s().replaceTokenHash(session.tokenHash, next, NOW)).toEqual({ ...session, tokenHash: next });
    expect(await s().findByTokenHash(next)).toEqual({ ...session, tokenHash: next });
  });
}

/** Public keys as DBSC registers them: a JWK's JSON text. */
export const DEVICE_KEY = JSON.stringify({ kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' });
export const OTHER_DEVICE_KEY = JSON.stringify({ kty: 'EC', crv: 'P-256', x: 'gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0', y: 'SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps' });

export interface DeviceContractSubject {
  store: SessionStore;
  newUser(): Promise<string>;
  /** Where sessions are made without details (as before the options): the same store, or its plain twin. */
  withoutDetails: SessionStore;
}

/**
 * The store side of `deviceBound` (SessionStore.bindDeviceKey, acceptDeviceProof). Its times
 * are the wall clock's, not NOW: Redis expires keys by its own clock.
 */
export function deviceBoundContract(subject: () => DeviceContractSubject): void {
  const s = () => subject().store;
  const clock = () => {
    const t0 = Date.now();
    return (ms: number) => new Date(t0 + ms);
  };
  const make = (store: SessionStore, userId: string, t: (ms: number) => Date, withDetails?: StoredSessionDetails, expiresIn = HOUR) =>
    store.create({ userId, tokenHash: newTokenHash(), expiresAt: t(expiresIn), createdAt: t(0), ...(withDetails && { details: withDetails }) });
  const boundSession = async (t: (ms: number) => Date) => {
    const session = await make(s(), await subject().newUser(), t, details({ lastSeenAt: t(0), reauthenticatedAt: t(0) }));
    return { session, bound: (await s().bindDeviceKey!(session.tokenHash, DEVICE_KEY, t(0), t(0)))! };
  };

  it('bindDeviceKey sets the key once: a second bind, with another key, is refused and the key stays', async () => {
    const t = clock();
    const userId = await subject().newUser();
    const session = await make(s(), userId, t, details({ lastSeenAt: t(0), reauthenticatedAt: t(0), data: { a: 1 } }));
    expect(session.details).not.toHaveProperty('deviceKey');
    const bound = await s().bindDeviceKey!(session.tokenHash, DEVICE_KEY, t(1), t(1));
    expect(bound).toEqual({ ...session, details: { ...session.details!, deviceKey: DEVICE_KEY, deviceProofAt: t(1) } });
    expect(await s().bindDeviceKey!(session.tokenHash, OTHER_DEVICE_KEY, t(2), t(2))).toBeNull();
    expect(await s().bindDeviceKey!(session.tokenHash, DEVICE_KEY, t(3), t(3))).toBeNull();
    expect(await s().findByTokenHash(session.tokenHash)).toEqual(bound);
    expect(await s().listByUser(userId, t(4))).toEqual([bound]);
  });

  it('bindDeviceKey is null for an expired or unknown session, and gives one from before the options its details', async () => {
    const t = clock();
    const userId = await subject().newUser();
    const expiring = await make(s(), userId, t, details(), 1_000);
    expect(await s().bindDeviceKey!(expiring.tokenHash, DEVICE_KEY, t(1_000), t(1_000))).toBeNull();
    expect(await s().bindDeviceKey!(newTokenHash(), DEVICE_KEY, t(0), t(0))).toBeNull();
    const old = await make(subject().withoutDetails, userId, t);
    const oldBound = await s().bindDeviceKey!(old.tokenHash, DEVICE_KEY, t(5), t(5));
    const fresh = { userAgent: null, device: null, ip: null, lastSeenAt: null, reauthenticatedAt: null, data: {} };
    expect(oldBound).toEqual({ ...old, details: { ...fresh, deviceKey: DEVICE_KEY, deviceProofAt: t(5) } });
    expect((await s().findByTokenHash(old.tokenHash))!.details).toEqual(oldBound!.details);
  });

  it('of 20 concurrent binds with different keys one lands, on a session with details and on one without', async () => {
    const t = clock();
    const userId = await subject().newUser();
    for (const session of [await make(s(), userId, t, details()), await make(subject().withoutDetails, userId, t)]) {
      const keys = Array.from({ length: 20 }, (_, i) => JSON.stringify({ kty: 'EC', n: i }));
      const results = await Promise.all(keys.map((key) => s().bindDeviceKey!(session.tokenHash, key, t(1), t(1))));
      const winners = results.filter((r) => r !== null);
      expect(winners).toHaveLength(1);
      expect((await s().findByTokenHash(session.tokenHash))!.details!.deviceKey).toBe(winners[0]!.details!.deviceKey);
    }
  });

  it('acceptDeviceProof takes only a proof later than the last, and only for a live session with a key', async () => {
    const t = clock();
    const { session, bound } = await boundSession(t);
    expect(await s().acceptDeviceProof!(session.tokenHash, t(0), t(10))).toBeNull();
    expect(await s().acceptDeviceProof!(session.tokenHash, t(-1_000), t(10))).toBeNull();
    const accepted = await s().acceptDeviceProof!(session.tokenHash, t(5_000), t(5_000));
    expect(accepted).toEqual({ ...bound, details: { ...bound.details!, deviceProofAt: t(5_000) } });
    expect(await s().findByTokenHash(session.tokenHash)).toEqual(accepted);
    expect(await s().acceptDeviceProof!(session.tokenHash, t(5_000), t(5_001))).toBeNull();
    expect(await s().acceptDeviceProof!(session.tokenHash, t(4_000), t(5_001))).toBeNull();
    expect(await s().acceptDeviceProof!(session.tokenHash, t(6_000), t(HOUR))).toBeNull();
    expect((await s().findByTokenHash(session.tokenHash))!.details!.deviceProofAt).toEqual(t(5_000));

    const unbound = await make(s(), await subject().newUser(), t, details());
    expect(await s().acceptDeviceProof!(unbound.tokenHash, t(1), t(1))).toBeNull();
    expect(await s().findByTokenHash(unbound.tokenHash)).toEqual(unbound);
    expect(await s().acceptDeviceProof!((await make(subject().withoutDetails, unbound.userId, t)).tokenHash, t(1), t(1))).toBeNull();
    expect(await s().acceptDeviceProof!(newTokenHash(), t(1), t(1))).toBeNull();
  });

  it('of 50 concurrent proofs over one challenge exactly one is accepted', async () => {
    const t = clock();
    const { session } = await boundSession(t);
    const results = await Promise.all(Array.from({ length: 50 }, () => s().acceptDeviceProof!(session.tokenHash, t(60_000), t(60_000))));
    expect(results.filter((r) => r !== null)).toHaveLength(1);
    // Proofs over challenges of different times: the latest wins, whatever the order they land in.
    const later = await Promise.all(Array.from({ length: 50 }, (_, i) => s().acceptDeviceProof!(session.tokenHash, t(120_000 + i), t(120_000))));
    expect(later.filter((r) => r !== null).length).toBeGreaterThanOrEqual(1);
    expect((await s().findByTokenHash(session.tokenHash))!.details!.deviceProofAt).toEqual(t(120_049));
  });

  it('replaceTokenHash keeps the key and the last proof with the new token', async () => {
    const t = clock();
    const { session } = await boundSession(t);
    const accepted = (await s().acceptDeviceProof!(session.tokenHash, t(1_000), t(1_000)))!;
    const next = newTokenHash();
    expect(await s().replaceTokenHash(session.tokenHash, next, t(2_000))).toEqual({ ...accepted, tokenHash: next });
    expect(await s().findByTokenHash(next)).toEqual({ ...accepted, tokenHash: next });
    expect(await s().acceptDeviceProof!(session.tokenHash, t(3_000), t(3_000))).toBeNull();
    expect(await s().bindDeviceKey!(next, OTHER_DEVICE_KEY, t(3_000), t(3_000))).toBeNull();
    expect((await s().acceptDeviceProof!(next, t(3_000), t(3_000)))!.details).toEqual({ ...accepted.details!, deviceProofAt: t(3_000) });
  });
}
