import { readCookies, serializeCookie } from './cookie.js';
import type { ResolvedCookieOptions } from './http.options.js';

const options: ResolvedCookieOptions = { name: 'session', secure: true, sameSite: 'lax', path: '/', domain: undefined };
const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);

describe('readCookies', () => {
  it.each([
    [undefined, []],
    ['', []],
    ['session=abc', ['abc']],
    ['a=1; session=abc; b=2', ['abc']],
    ['a=1;session=abc', ['abc']],
    ['session="abc"', ['abc']],
    ['session=', ['']],
    ['xsession=abc; sessionx=def', []],
    ['session=one; session=two', ['one', 'two']],
    [['a=1', 'session=abc'], ['abc']],
    ['garbage;;; =; session', []],
  ])('reads %p as %p', (header, values) => {
    expect(readCookies(header as string | string[] | undefined, 'session')).toEqual(values);
  });
});

describe('serializeCookie', () => {
  it('writes HttpOnly, Secure, SameSite, Path and a Max-Age matching Expires', () => {
    expect(serializeCookie(options, 'tok', 3_600_000, NOW)).toBe(
      'session=tok; Path=/; Max-Age=3600; Expires=Mon, 23 Nov 2026 13:00:00 GMT; HttpOnly; Secure; SameSite=Lax',
    );
  });

  it('deletes with Max-Age=0 and an Expires in the past', () => {
    expect(serializeCookie(options, '', 0, NOW)).toBe('session=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax');
  });

  it('adds a Domain only when configured, and leaves Secure out only when told', () => {
    const cookie = serializeCookie({ ...options, secure: false, sameSite: 'strict', domain: 'example.com', path: '/app' }, 'tok', 1_000, NOW);
    expect(cookie).toBe('session=tok; Path=/app; Max-Age=1; Expires=Mon, 23 Nov 2026 12:00:01 GMT; HttpOnly; Domain=example.com; SameSite=Strict');
  });
});
