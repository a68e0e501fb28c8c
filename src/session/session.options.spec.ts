import { SessionOptionsError } from './session.exceptions.js';
import { resolveSessionOptions } from './session.options.js';
import type { SessionModuleOptions } from './session.interfaces.js';

const resolveUser = async (id: string) => ({ id });

function fails(options: unknown): SessionOptionsError {
  try {
    resolveSessionOptions(options as SessionModuleOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(SessionOptionsError);
    return error as SessionOptionsError;
  }
  throw new Error('expected the options to be refused');
}

describe('resolveSessionOptions', () => {
  it('fills in the defaults: 30 days sliding by 1 day, no absolute cap', () => {
    const resolved = resolveSessionOptions({ resolveUser });
    expect(resolved).toMatchObject({ maxAge: 2_592_000_000, updateAge: 86_400_000, absoluteMaxAge: null, purgeBatchSize: 5_000, clock: Date.now });
  });

  it('reads durations as strings or milliseconds', () => {
    expect(resolveSessionOptions({ resolveUser, maxAge: '2h', updateAge: 60_000, absoluteMaxAge: '1d' })).toMatchObject({
      maxAge: 7_200_000,
      updateAge: 60_000,
      absoluteMaxAge: 86_400_000,
    });
  });

  it('shrinks the default updateAge to half a short maxAge instead of failing', () => {
    expect(resolveSessionOptions({ resolveUser, maxAge: '15m' }).updateAge).toBe(450_000);
  });

  it.each([
    [{ resolveUser, maxAge: '30 days please' }, 'maxAge', /got "30 days please"; expected a positive duration/],
    [{ resolveUser, maxAge: 0 }, 'maxAge', /got 0; expected a positive duration/],
    [{ resolveUser, maxAge: '200000d' }, 'maxAge', /up to 100 years/],
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
    [{ resolveUser, maxage: '1d' }, 'maxage', /unknown option; the known ones are resolveUser, maxAge/],
    [null, '(options)', /expected an object/],
  ])('refuses %p, naming %s', (options, option, message) => {
    const error = fails(options);
    expect(error.option).toBe(option);
    expect(error.message).toContain(`SessionModule option "${option}"`);
    expect(error.message).toMatch(message);
  });
});
