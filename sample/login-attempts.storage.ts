import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';

/** What `@nestjs/throttler` asks of a storage, answered per fixed window. */
export type AttemptRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

/**
 * The counters behind the login throttling: `@nestjs/throttler`'s `ThrottlerStorage` (one more
 * attempt on `key`, atomically, with what it makes of the window), and `forgive`, which takes
 * one back: a login that succeeded does not count against its email.
 *
 * Each key has a fixed window that starts at its first attempt and lasts `ttl`; past `limit`
 * attempts in it, the key is blocked until the window ends (`timeToBlockExpire`, the
 * Retry-After). The count is taken before the password is checked, so a burst of concurrent
 * guesses cannot all pass a check made before any of them failed.
 */
export abstract class LoginAttemptsStorage implements ThrottlerStorage {
  abstract increment(key: string, ttl: number, limit: number, blockDuration: number, throttlerName: string): Promise<AttemptRecord>;
  abstract forgive(key: string): Promise<void>;
}

/** The record of `hits` attempts in a window with `leftMs` to go. */
function recordOf(hits: number, leftMs: number, limit: number): AttemptRecord {
  const seconds = Math.max(1, Math.ceil(leftMs / 1000));
  const isBlocked = hits > limit;
  return { totalHits: hits, timeToExpire: seconds, isBlocked, timeToBlockExpire: isBlocked ? seconds : 0 };
}

// Enough for every address and email active in a window of a busy demo. Past it the least
// recently tried key is dropped: an attacker would need this many fresh keys (a hundred
// thousand attempts, so many addresses under the per-IP limit) to reset one victim's count.
const MEMORY_KEYS = 100_000;

/** One process's counters, on the demo's clock (the session option `clock`), so tests can move time. */
export class MemoryLoginAttempts extends LoginAttemptsStorage {
  private readonly windows = new LRUCache<string, { hits: number; endsAt: number }>({ max: MEMORY_KEYS });

  constructor(private readonly now: () => number = Date.now) {
    super();
  }

  async increment(key: string, ttl: number, limit: number): Promise<AttemptRecord> {
    const now = this.now();
    let window = this.windows.get(key);
    if (!window || window.endsAt <= now) this.windows.set(key, (window = { hits: 0, endsAt: now + ttl }));
    window.hits += 1;
    return recordOf(window.hits, window.endsAt - now, limit);
  }

  async forgive(key: string): Promise<void> {
    const window = this.windows.get(key);
    if (window && window.endsAt > this.now() && window.hits > 0) window.hits -= 1;
  }
}

// One attempt: INCR, and the window's expiry set by the attempt that opened it. A counter found
// without an expiry (written by hand, or a PEXPIRE lost to a crash between two commands, which
// a script rules out) gets one, so no key can block forever.
const HIT = `
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
return {hits, left}`;
// One attempt taken back, only in a window still open (DECR keeps the expiry; on a key that had
// expired it would make a counter of -1 with none).
const FORGIVE = `
local hits = tonumber(redis.call('GET', KEYS[1]) or '0')
if hits > 0 then redis.call('DECR', KEYS[1]) end
return hits`;

// Attempts wait at most this long for Redis; then the login answers 503. A throttle that cannot
// count does not let attempts through uncounted.
const COMMAND_TIMEOUT_MS = 1_000;

type ScriptedRedis = Redis & {
  loginHit(key: string, ttl: number): Promise<[number, number]>;
  loginForgive(key: string): Promise<number>;
};

/**
 * The counters in Redis, shared by every instance of the demo on it (SESSION_STORAGE=redis).
 * Each step is one Lua script, so concurrent attempts on several instances count exactly.
 * Windows run on Redis's clock (PEXPIRE), not the app's.
 */
export class RedisLoginAttempts extends LoginAttemptsStorage implements OnApplicationShutdown {
  private readonly logger = new Logger('LoginThrottle');
  private readonly client: ScriptedRedis;
  private reported = false;

  constructor(
    url: string,
    private readonly keyPrefix: string,
  ) {
    super();
    this.client = new Redis(url, {
      commandTimeout: COMMAND_TIMEOUT_MS,
      connectTimeout: COMMAND_TIMEOUT_MS,
      // Back within half a second of Redis: the sessions' own client reconnects as quickly.
      retryStrategy: (times) => Math.min(times * 50, 500),
    }) as ScriptedRedis;
    this.client.defineCommand('loginHit', { numberOfKeys: 1, lua: HIT });
    this.client.defineCommand('loginForgive', { numberOfKeys: 1, lua: FORGIVE });
    // ioredis reports every failed reconnection; once per outage is enough, each attempt meanwhile answers 503.
    this.client.on('error', (error: Error) => {
      if (!this.reported) this.logger.warn(`Redis unreachable, logins answer 503 until it is back: ${error.message}`);
      this.reported = true;
    });
    this.client.on('ready', () => (this.reported = false));
  }

  async increment(key: string, ttl: number, limit: number): Promise<AttemptRecord> {
    const [hits, left] = await this.client.loginHit(this.keyPrefix + key, ttl);
    return recordOf(hits, left, limit);
  }

  async forgive(key: string): Promise<void> {
    await this.client.loginForgive(this.keyPrefix + key);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.client.quit().catch(() => this.client.disconnect());
  }
}
