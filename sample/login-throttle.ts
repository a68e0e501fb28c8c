import { createHash } from 'node:crypto';
import { type DynamicModule, type ExecutionContext, Injectable, Logger, Module, ServiceUnavailableException, UnauthorizedException } from '@nestjs/common';
import '@nestjs/core';
import type { ThrottlerRequest } from '@nestjs/throttler';
import { type Duration, parseDuration } from 'nestjs-sessions';
import { LoginAttemptsStorage } from './login-attempts.storage.js';

// @nestjs/throttler is CommonJS and require()s @nestjs/common and @nestjs/core, which Nest 12
// ships as ES modules only. Node allows that once those have run, not while they are still
// being evaluated in the same import graph (Jest refuses it: "Cannot require() ES Module … in a
// cycle"), so it is loaded after them: both are imported above, and run before this line.
const { ThrottlerException, ThrottlerGuard, ThrottlerModule } = await import('@nestjs/throttler');

/**
 * The login throttling, with `@nestjs/throttler`: two counters per attempt at a password
 * (`POST /auth/login`, the `/login` form, `POST /auth/reauthenticate`), both taken before the
 * password is checked.
 * - `email`: attempts at one email, of which only the failed ones stay counted (a login that
 *   succeeds takes its own back, see `forgive`). Past `emailLimit` in a window, every attempt at
 *   that email answers 429 with Retry-After until the window ends, the right password too: the
 *   guesses stop however many addresses they come from. An unknown email counts the same as a
 *   known one, so a 429 tells nothing of who has an account.
 * - `ip`: every attempt from one client address (an IPv6 address by its /64, what one host is
 *   given), failed or not. It stops one client trying a few passwords on many emails, and
 *   bounds the scrypt work it can cause.
 */
export interface LoginThrottleOptions {
  /** Failed attempts at one email in a window before it answers 429. Default 10. */
  emailLimit?: number;
  /** Attempts from one address in a window, failed or not; `false` for no such limit. Default 100. */
  ipLimit?: number | false;
  /** The window of both counters, from the first attempt it counts. Default `'15m'`. */
  window?: Duration;
}

/**
 * 10 failures per email in 15 minutes: at most 960 guesses a day at one account, and a user who
 * mistypes a few times is never stopped. 100 attempts per address in 15 minutes: ten accounts'
 * worth of the per-email allowance, room for a household or an office behind one NAT, and at
 * most 100 scrypt checks (a few hundred milliseconds of one core each) per address per window.
 * Behind a proxy, set Express's `trust proxy` (Fastify's `trustProxy`) so the address is the
 * client's and not the proxy's; a proxy the app cannot trust calls for LOGIN_IP_LIMIT=off.
 */
export const LOGIN_THROTTLE_DEFAULTS = { emailLimit: 10, ipLimit: 100, window: '15m' } as const;

/** The body of every 429, whichever counter refused: which one tells an attacker nothing useful. */
const TOO_MANY = 'Too many login attempts; try again later.';

type TrackedRequest = { body?: { email?: unknown }; user?: { email?: unknown } };

/** The email an attempt is at: the logged-in user's when re-authenticating, else the body's. */
function emailOf(request: TrackedRequest): string {
  const email = typeof request.user?.email === 'string' ? request.user.email : request.body?.email;
  // Lower-cased as the users table keeps it, so Ada@… and ada@… share one count.
  return typeof email === 'string' ? email.toLowerCase() : '';
}

// The email key of each request that counted one, so a success can take it back.
const counted = new WeakMap<object, string>();

@Injectable()
export class LoginThrottleGuard extends ThrottlerGuard {
  private readonly log = new Logger('LoginThrottle');

  /**
   * One throttler's count for this attempt (the `ip` one first: an address over its limit adds
   * nothing to the email's). The Retry-After is plain (the package would name it after the
   * throttler), and no X-RateLimit headers: how many guesses remain is no one's business.
   */
  protected override async handleRequest({ context, limit, ttl, throttler, blockDuration, getTracker, generateKey }: ThrottlerRequest): Promise<boolean> {
    const { req, res } = this.getRequestResponse(context);
    const tracker = await getTracker(req, context);
    // Nothing to count by (no email string): the body check answers 400, and no password is tried.
    if (!tracker) return true;
    const name = throttler.name ?? 'default';
    const key = generateKey(context, tracker, name);
    let record;
    try {
      record = await this.storageService.increment(key, ttl, limit, blockDuration, name);
    } catch (error) {
      this.log.warn(`could not count a login attempt: ${error instanceof Error ? error.message : String(error)}`);
      throw new ServiceUnavailableException();
    }
    if (record.isBlocked) {
      res.header('Retry-After', String(record.timeToBlockExpire));
      throw new ThrottlerException(TOO_MANY);
    }
    if (name === 'email') counted.set(req, key);
    return true;
  }

  /** One key per counter and tracker, whatever the route: the three routes share their counts. */
  protected override generateKey(_context: ExecutionContext, tracker: string, name: string): string {
    return `${name}:${createHash('sha256').update(tracker).digest('base64url')}`;
  }

  /**
   * Runs the password check of an attempt this guard counted: the attempt stays counted only when
   * the check refused the credentials (an UnauthorizedException). A login that could not check
   * them (the database away, a 503) was no guess, and must not lock its owner out once the
   * database is back.
   */
  async judged<T>(request: object, check: () => Promise<T>): Promise<T> {
    try {
      const result = await check();
      await this.forgive(request);
      return result;
    } catch (error) {
      if (!(error instanceof UnauthorizedException)) await this.forgive(request);
      throw error;
    }
  }

  /**
   * After a password proved right, or could not be checked (a 503): this attempt no longer
   * counts against its email, so a user who logs in often, or during an outage, never locks
   * themselves out. Only this attempt's, not a reset: an attacker
   * nine guesses in does not get ten more each time the owner logs in. Best effort: a failure
   * here leaves one attempt counted, which costs the user nothing.
   */
  private async forgive(request: object): Promise<void> {
    const key = counted.get(request);
    if (key === undefined) return;
    counted.delete(request);
    await (this.storageService as LoginAttemptsStorage).forgive(key).catch((error: unknown) => {
      this.log.warn(`could not take back a login attempt: ${error instanceof Error ? error.message : String(error)}`);
    });
  }
}

@Module({})
class LoginAttemptsModule {}

/**
 * The modules the throttling needs, for `imports`: the counters made by `storage` (Redis when
 * the sessions are there, so instances share them; else in memory), and `@nestjs/throttler`
 * with the two throttlers. `LoginThrottleGuard` goes in the importing module's providers.
 */
export function loginThrottleImports(options: LoginThrottleOptions, storage: () => LoginAttemptsStorage): DynamicModule[] {
  const { emailLimit, ipLimit, window } = { ...LOGIN_THROTTLE_DEFAULTS, ...options };
  const ttl = parseDuration(window);
  if (ttl === undefined || ttl <= 0) throw new TypeError(`loginThrottle.window: got ${JSON.stringify(window)}; expected a duration such as 15m.`);
  const attempts: DynamicModule = {
    module: LoginAttemptsModule,
    providers: [{ provide: LoginAttemptsStorage, useFactory: storage }],
    exports: [LoginAttemptsStorage],
  };
  // The package orders throttlers by ttl, keeping this order for equal ones: `ip` runs first.
  const throttlers = [
    // The package's own tracker: the adapter's `request.ip` (so `trust proxy` applies), an
    // IPv4-mapped address as IPv4, an IPv6 one cut to its /64 (what one host is given).
    ...(ipLimit === false ? [] : [{ name: 'ip', limit: ipLimit, ttl }]),
    { name: 'email', limit: emailLimit, ttl, getTracker: (req: Record<string, unknown>) => emailOf(req as TrackedRequest) },
  ];
  return [attempts, ThrottlerModule.forRootAsync({ imports: [attempts], inject: [LoginAttemptsStorage], useFactory: (store: LoginAttemptsStorage) => ({ throttlers, storage: store }) })];
}
