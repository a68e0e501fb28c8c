import { refusal as fails } from '../../test/support/options.js';
import { resolveSessionOptions } from './resolve-options.js';
import type { SessionModuleOptions } from './session-module.options.js';

const resolveUser = async (id: string) => ({ id });
const SECRET = 'a-test-secret-of-more-than-32-bytes-0123456789';

describe('resolveSessionOptions', () => {
  it('fills in the defaults: 30 days sliding by 1 day, no absolute cap', () => {
    const resolved = resolveSessionOptions({ resolveUser });
    expect(resolved).toMatchObject({ maxAge: 2_592_000_000, updateAge: 86_400_000, absoluteMaxAge: null, purgeBatchSize: 5_000, clock: Date.now });
  });

  it('defaults the cookie to a Secure, HttpOnly, SameSite=Lax "session" cookie on Path=/', () => {
    expect(resolveSessionOptions({ resolveUser })).toMatchObject({
      cookie: { name: 'session', secure: true, sameSite: 'lax', path: '/', domain: undefined },
      bearer: true,
      storeTimeout: 5_000,
    });
    expect(resolveSessionOptions({ resolveUser, cookie: false }).cookie).toBeNull();
    expect(resolveSessionOptions({ resolveUser, cookie: { name: '__Host-session' } }).cookie).toMatchObject({ name: '__Host-session' });
  });

  it('reads durations as strings or milliseconds', () => {
    expect(resolveSessionOptions({ resolveUser, maxAge: '2h', updateAge: 60_000, absoluteMaxAge: '1d' })).toMatchObject({
      maxAge: 7_200_000,
      updateAge: 60_000,
      absoluteMaxAge: 86_400_000,
    });
  });

  it('takes userEntity instead of resolveUser', () => {
    class User {}
    expect(resolveSessionOptions({ userEntity: User })).toMatchObject({ userEntity: User, resolveUser: null });
    expect(resolveSessionOptions({ resolveUser })).toMatchObject({ userEntity: null, resolveUser });
  });

  it('shrinks the default updateAge to half a short maxAge instead of failing', () => {
    expect(resolveSessionOptions({ resolveUser, maxAge: '15m' }).updateAge).toBe(450_000);
  });

  it('leaves the issue-9 features off by default', () => {
    expect(resolveSessionOptions({ resolveUser })).toMatchObject({
      tokenType: 'opaque',
      jwt: null,
      encryption: false,
      refreshToken: null,
      rotationPolicy: { interval: null, onPrivilegeChange: true },
      resolvePermissions: null,
      resolveContext: null,
      maxSessionsPerUser: null,
      bindToUserAgent: false,
    });
  });

  it('with refresh tokens, makes maxAge the short life of one session token', () => {
    const resolved = resolveSessionOptions({ resolveUser, refreshToken: { secret: SECRET } });
    expect(resolved.maxAge).toBe(900_000);
    expect(resolved.refreshToken).toMatchObject({ maxAge: 2_592_000_000, keys: [expect.any(Buffer)] });
    // The JWT keys' secrets serve when no secret of its own is given.
    const jwt = resolveSessionOptions({ resolveUser, tokenType: 'jwt', jwt: { keys: [{ kid: 'a', secret: SECRET }] }, refreshToken: true });
    expect(jwt.refreshToken?.keys).toHaveLength(1);
  });

  it('reads maxSessionsPerUser as a number or { max, policy }', () => {
    expect(resolveSessionOptions({ resolveUser, maxSessionsPerUser: 3 }).maxSessionsPerUser).toEqual({ max: 3, policy: 'evict-oldest' });
    expect(resolveSessionOptions({ resolveUser, maxSessionsPerUser: { max: 1, policy: 'refuse' } }).maxSessionsPerUser).toEqual({ max: 1, policy: 'refuse' });
  });

  it('knows every option of SessionModuleOptions, and lists them all when refusing another', () => {
    // The compiler holds this record to every key of the interface, so it cannot fall behind.
    const every: { [K in keyof Required<SessionModuleOptions>]: true } = {
      resolveUser: true,
      userEntity: true,
      maxAge: true,
      updateAge: true,
      absoluteMaxAge: true,
      cookie: true,
      bearer: true,
      csrf: true,
      cache: true,
      storage: true,
      replication: true,
      dataSource: true,
      broadcast: true,
      cleanup: true,
      purgeBatchSize: true,
      storeTimeout: true,
      clock: true,
      rotationPolicy: true,
      resolvePermissions: true,
      resolveContext: true,
      maxSessionsPerUser: true,
      bindToUserAgent: true,
      tokenType: true,
      jwt: true,
      encryption: true,
      refreshToken: true,
      metadata: true,
      reauthentication: true,
      data: true,
      deviceBound: true,
    };
    const listed = /the known ones are (.*)\.$/.exec(fails({ resolveUser, colour: 'blue' }).message)?.[1].split(', ');
    expect(listed?.sort()).toEqual(Object.keys(every).sort());
    // The module builder's extra is accepted without being one of ours.
    expect(() => resolveSessionOptions({ resolveUser, isGlobal: true } as SessionModuleOptions)).not.toThrow();
  });

  it('never puts a secret in an error message', () => {
    const short = 'short-secret-value';
    const error = fails({ resolveUser, refreshToken: { secret: short } });
    expect(error.option).toBe('refreshToken.secret');
    expect(error.message).toMatch(/got a 18-byte secret; expected at least 32 bytes/);
    expect(error.message).not.toContain(short);
  });

  it.each([
    [{ resolveUser, tokenType: 'paseto' }, 'tokenType', /expected 'opaque' \(the default\) or 'jwt'/],
    [{ resolveUser, encryption: true }, 'encryption', /needs tokenType: 'jwt'/],
    [{ resolveUser, encryption: 'yes', tokenType: 'jwt' }, 'encryption', /expected true or false/],
    [{ resolveUser, jwt: { keys: [] } }, 'jwt', /set tokenType: 'jwt'/],
    [{ resolveUser, tokenType: 'jwt' }, 'jwt', /./],
    [{ resolveUser, refreshToken: true }, 'refreshToken.secret', /missing; refresh tokens are signed with a server secret/],
    [{ resolveUser, refreshToken: 'on' }, 'refreshToken', /expected true, false, or an object/],
    [{ resolveUser, refreshToken: { secret: SECRET, ttl: '1d' } }, 'refreshToken.ttl', /unknown option; the known ones are maxAge, secret/],
    [{ resolveUser, refreshToken: { secret: [] } }, 'refreshToken.secret', /got an empty list/],
    [{ resolveUser, refreshToken: { secret: [SECRET, 'short'] } }, 'refreshToken.secret[1]', /got a 5-byte secret/],
    [{ resolveUser, refreshToken: { secret: SECRET, maxAge: 'long' } }, 'refreshToken.maxAge', /got "long"/],
    [{ resolveUser, rotationPolicy: 'hourly' }, 'rotationPolicy', /expected an object/],
    [{ resolveUser, rotationPolicy: { every: '1h' } }, 'rotationPolicy.every', /known ones are interval, onPrivilegeChange/],
    [{ resolveUser, rotationPolicy: { onPrivilegeChange: 'yes' } }, 'rotationPolicy.onPrivilegeChange', /expected true or false/],
    [{ resolveUser, rotationPolicy: { interval: '1h' }, refreshToken: { secret: SECRET } }, 'rotationPolicy.interval', /every refresh already rotates/],
    [{ resolveUser, rotationPolicy: { interval: '1h' }, cookie: false }, 'rotationPolicy.interval', /only through the cookie/],
    [{ resolveUser, rotationPolicy: { interval: 'soon' } }, 'rotationPolicy.interval', /got "soon"/],
    [{ resolveUser, resolvePermissions: ['admin'] }, 'resolvePermissions', /expected a function of the user/],
    [{ resolveUser, resolveContext: {} }, 'resolveContext', /expected a function of the user/],
    [{ resolveUser, maxSessionsPerUser: 0 }, 'maxSessionsPerUser', /whole number from 1 to 10000/],
    [{ resolveUser, maxSessionsPerUser: { max: 2.5 } }, 'maxSessionsPerUser.max', /got 2.5/],
    [{ resolveUser, maxSessionsPerUser: { max: 2, policy: 'drop' } }, 'maxSessionsPerUser.policy', /'evict-oldest' \(the default/],
    [{ resolveUser, maxSessionsPerUser: { max: 2, when: 'always' } }, 'maxSessionsPerUser.when', /unknown option/],
    [{ resolveUser, bindToUserAgent: 'yes' }, 'bindToUserAgent', /expected true or false/],
  ])('refuses the security options %p, naming %s', (options, option, message) => {
    const error = fails(options);
    expect(error.option).toBe(option);
    expect(error.message).toMatch(message);
  });

  it('takes a duration under a second when its string says so, and a second as a bare number', () => {
    expect(resolveSessionOptions({ resolveUser, storeTimeout: '500ms' }).storeTimeout).toBe(500);
    expect(resolveSessionOptions({ resolveUser, storeTimeout: 1_000 }).storeTimeout).toBe(1_000);
  });

  it.each([
    [{ resolveUser, maxAge: '30 days please' }, 'maxAge', /got "30 days please"; expected a positive duration/],
    [{ resolveUser, maxAge: 0 }, 'maxAge', /got 0; expected a positive duration/],
    [{ resolveUser, maxAge: '200000d' }, 'maxAge', /up to 100 years/],
    [{ resolveUser, maxAge: 30 }, 'maxAge', /got 30: a number is milliseconds, so that is 30 ms\. Write '30s' for 30 seconds/],
    [{ resolveUser, storeTimeout: 5 }, 'storeTimeout', /got 5: a number is milliseconds/],
    [{ resolveUser, maxAge: '30' }, 'maxAge', /got 30: a number is milliseconds/],
    [{ resolveUser, cache: { ttl: 300 } }, 'cache.ttl', /Write '300s' for 300 seconds, or '300ms' if you mean milliseconds/],
    [{ resolveUser, maxAge: '1ms' }, 'maxAge', /expected at least 2 ms, so that the expiry can slide/],
    [{ resolveUser, updateAge: -5 }, 'updateAge', /got -5/],
    [{ resolveUser, maxAge: '1d', updateAge: '1d' }, 'updateAge', /got "1d" \(1d\); expected a duration below maxAge \(1d\)/],
    [{ resolveUser, maxAge: '1h', updateAge: '2h' }, 'updateAge', /below maxAge \(1h\)/],
    [{ resolveUser, maxAge: '30d', absoluteMaxAge: '7d' }, 'absoluteMaxAge', /got "7d" \(7d\); expected false or a duration not below maxAge \(30d\)/],
    [{ resolveUser, absoluteMaxAge: 'forever' }, 'absoluteMaxAge', /got "forever"/],
    [{ resolveUser, purgeBatchSize: 0 }, 'purgeBatchSize', /whole number from 1 to 100000/],
    [{ resolveUser, purgeBatchSize: 2.5 }, 'purgeBatchSize', /got 2.5/],
    [{ resolveUser, clock: 5 }, 'clock', /expected a function/],
    [{}, 'resolveUser', /got undefined; expected a function from a user id/],
    [{ resolveUser: 'users' }, 'resolveUser', /got "users"/],
    [{ resolveUser, maxage: '1d' }, 'maxage', /unknown option; the known ones are resolveUser, userEntity, maxAge/],
    [{ resolveUser, userEntity: class User {} }, 'resolveUser', /got both resolveUser and userEntity; give one/],
    [{ userEntity: 42 }, 'userEntity', /got 42; expected your TypeORM user entity class/],
    [null, '(options)', /expected an object/],
    [{ resolveUser, storeTimeout: 'soon' }, 'storeTimeout', /got "soon"/],
    [{ resolveUser, bearer: 'yes' }, 'bearer', /expected true or false/],
    [{ resolveUser, bearer: false, cookie: false }, 'bearer', /at least one way for a token to arrive/],
    [{ resolveUser, cookie: 'session' }, 'cookie', /expected false or an object/],
    [{ resolveUser, cookie: { nme: 'x' } }, 'cookie.nme', /unknown option; the known ones are name, secure/],
    [{ resolveUser, cookie: { name: 'my session' } }, 'cookie.name', /got "my session"; expected a cookie name/],
    [{ resolveUser, cookie: { sameSite: 'Lax' } }, 'cookie.sameSite', /expected 'lax', 'strict' or 'none'/],
    [{ resolveUser, cookie: { sameSite: 'none', secure: false } }, 'cookie.sameSite', /browsers drop SameSite=None cookies that are not Secure/],
    [{ resolveUser, cookie: { path: 'app' } }, 'cookie.path', /starting with '\/'/],
    [{ resolveUser, cookie: { path: '/a;b' } }, 'cookie.path', /no ';'/],
    [{ resolveUser, cookie: { domain: 'evil.com; Secure' } }, 'cookie.domain', /expected a host name/],
    [{ resolveUser, cookie: { name: '__Host-sid', domain: 'example.com' } }, 'cookie.name', /a __Host- cookie needs secure: true, path '\/' and no domain/],
    [{ resolveUser, cookie: { name: '__Host-sid', path: '/app' } }, 'cookie.name', /__Host- cookie/],
    [{ resolveUser, cookie: { name: '__Secure-sid', secure: false } }, 'cookie.name', /a __Secure- cookie needs secure: true/],
  ])('refuses %p, naming %s', (options, option, message) => {
    const error = fails(options);
    expect(error.option).toBe(option);
    expect(error.message).toContain(`SessionModule option "${option}"`);
    expect(error.message).toMatch(message);
  });
});
