import { randomBytes } from 'node:crypto';
import { encodeSession } from './memcached-entry.js';
import { memcachedEntryKey, openEntry, SIGNED_FORMAT, signEntry } from './memcached-signature.js';

const key = memcachedEntryKey(randomBytes(32));
const cacheKey = 'sess:' + randomBytes(32).toString('base64url');
const until = Date.UTC(2026, 11, 1, 13);
const entry = encodeSession({ id: '12', userId: 'user-1', tokenHash: randomBytes(32), expiresAt: new Date(until + 60_000), createdAt: new Date(until - 60_000) })!;

describe('signed Memcached entries', () => {
  it('open with the key they were signed with, giving back the entry and its deadline', () => {
    const signed = signEntry(key, cacheKey, entry, until);
    expect(signed[0]).toBe(SIGNED_FORMAT);
    expect(signed).toHaveLength(7 + entry.length + 32);
    expect(openEntry([key], cacheKey, signed)).toEqual({ entry, servableUntil: until });
  });

  it('open with any key of a rotation', () => {
    const older = memcachedEntryKey(randomBytes(32));
    expect(openEntry([key, older], cacheKey, signEntry(older, cacheKey, entry, until))).toMatchObject({ entry });
  });

  it('refuse every changed byte, another cache key, another key, and anything unsigned', () => {
    const signed = signEntry(key, cacheKey, entry, until);
    for (let i = 1; i < signed.length; i++) {
      const tampered = Buffer.from(signed);
      tampered[i] ^= 0x01;
      expect(openEntry([key], cacheKey, tampered)).toEqual({ refused: 'forged' });
    }
    expect(openEntry([key], cacheKey + 'x', signed)).toEqual({ refused: 'forged' });
    expect(openEntry([memcachedEntryKey(randomBytes(32))], cacheKey, signed)).toEqual({ refused: 'forged' });
    expect(openEntry([key], cacheKey, entry)).toEqual({ refused: 'unsigned' });
    expect(openEntry([key], cacheKey, signed.subarray(0, 40))).toEqual({ refused: 'unsigned' });
    expect(openEntry([key], cacheKey, Buffer.concat([Buffer.from([1]), signed.subarray(1)]))).toEqual({ refused: 'unsigned' });
  });

  it('derive their key with a label of its own', () => {
    const secret = randomBytes(32);
    expect(memcachedEntryKey(secret).equals(memcachedEntryKey(Buffer.from(secret)))).toBe(true);
    expect(memcachedEntryKey(secret).equals(secret)).toBe(false);
  });
});
