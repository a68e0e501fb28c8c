import { refusal } from '../../test/support/options.js';
import { resolveSessionOptions } from '../options/resolve-options.js';
import { crossOriginRefusal, type OriginRequestLike, parseOrigin, requestOrigin } from './csrf.js';

const resolveUser = async (id: string) => ({ id });
const TRUSTED = new Set(['https://admin.example.test']);

function post(headers: Record<string, string>, extra: Partial<OriginRequestLike> = {}): OriginRequestLike {
  return { method: 'POST', headers: { host: 'app.example.test', ...headers }, ...extra };
}

describe('the origin rule', () => {
  it('reads an origin as browsers serialize it, and nothing else', () => {
    expect(parseOrigin('https://App.Example.test:443')).toBe('https://app.example.test');
    expect(parseOrigin('http://127.0.0.1:3000')).toBe('http://127.0.0.1:3000');
    expect(parseOrigin('http://[::1]:8080')).toBe('http://[::1]:8080');
    for (const bad of ['null', '', 'app.example.test', 'https://a.example/', 'https://a.example/x', 'https://u@a.example', 'https://a.example@evil.example', 'https://a.example?x', 'ftp://a.example', 'https://a.example:99999', 'https://a.example, https://b.example', '*']) {
      expect({ bad, parsed: parseOrigin(bad) }).toEqual({ bad, parsed: null });
    }
  });

  it("takes the request's origin from the adapter's protocol and host, else the Host header and the socket", () => {
    expect(requestOrigin({ headers: { host: 'raw.example' }, protocol: 'https', host: 'forwarded.example:8443' })).toBe('https://forwarded.example:8443');
    expect(requestOrigin({ headers: { host: 'raw.example:80' } })).toBe('http://raw.example');
    expect(requestOrigin({ headers: { host: 'raw.example' }, socket: { encrypted: true } })).toBe('https://raw.example');
    expect(requestOrigin({ headers: {} })).toBeNull();
    expect(requestOrigin({ headers: { host: 'evil.example/path' } })).toBeNull();
  });

  it('refuses writes whose Origin is foreign, or with no Origin a cross-site or same-site Sec-Fetch-Site', () => {
    const refused: Record<string, string>[] = [{ origin: 'https://evil.example' }, { origin: 'null' }, { origin: 'http://app.example.test' }, { 'sec-fetch-site': 'same-site' }, { 'sec-fetch-site': 'Cross-Site' }];
    for (const headers of refused) {
      for (const method of ['POST', 'put', 'PATCH', 'DELETE', 'PROPFIND']) {
        expect({ headers, method, refused: crossOriginRefusal(post(headers, { method, protocol: 'https' }), TRUSTED) !== undefined }).toEqual({ headers, method, refused: true });
      }
    }
  });

  it('lets through safe methods, our own or a trusted origin, Fetch Metadata of our origin or a user, and neither header', () => {
    const passing = [
      post({ origin: 'https://app.example.test' }, { protocol: 'https' }),
      post({ origin: 'https://admin.example.test', 'sec-fetch-site': 'cross-site' }),
      post({ 'sec-fetch-site': 'same-origin' }),
      post({ 'sec-fetch-site': 'none' }),
      post({}),
      post({ origin: 'https://evil.example' }, { method: 'GET' }),
      post({ origin: 'https://evil.example' }, { method: 'HEAD' }),
      post({ origin: 'https://evil.example' }, { method: 'OPTIONS' }),
    ];
    for (const request of passing) expect(crossOriginRefusal(request, TRUSTED)).toBeUndefined();
  });

  it('says why, and hints at the proxy when the scheme or forwarded headers suggest one', () => {
    expect(crossOriginRefusal(post({ origin: 'https://evil.example' }), TRUSTED)).toBe(
      'POST with Origin "https://evil.example", which is neither this request\'s origin (http://app.example.test) nor in csrf.trustedOrigins',
    );
    expect(crossOriginRefusal(post({ origin: 'https://app.example.test' }), TRUSTED)).toMatch(/behind a proxy: trust it/);
    expect(crossOriginRefusal(post({ 'sec-fetch-site': 'same-site' }), TRUSTED)).toBe('POST with no Origin and Sec-Fetch-Site: same-site');
  });
});

describe('the csrf option', () => {
  it('is on by default with no trusted origins, normalizes the listed ones, and is off with false', () => {
    expect(resolveSessionOptions({ resolveUser }).csrf).toEqual({ trustedOrigins: new Set() });
    expect(resolveSessionOptions({ resolveUser, csrf: { trustedOrigins: ['https://Admin.Example.test:443', 'http://localhost:5173'] } }).csrf).toEqual({
      trustedOrigins: new Set(['https://admin.example.test', 'http://localhost:5173']),
    });
    expect(resolveSessionOptions({ resolveUser, csrf: false }).csrf).toBeNull();
  });

  it('refuses what is not an origin, naming the option', () => {
    for (const bad of ['https://admin.example.test/', 'https://admin.example.test/app', 'admin.example.test', '*', 'ftp://admin.example.test', 'https://u:p@admin.example.test', 'null', 42]) {
      const error = refusal({ resolveUser, csrf: { trustedOrigins: ['https://ok.example.test', bad] } });
      expect({ bad, option: error.option, message: error.message }).toEqual({ bad, option: 'csrf.trustedOrigins', message: expect.stringContaining(JSON.stringify(bad)) });
    }
    expect(refusal({ resolveUser, csrf: { trustedOrigins: 'https://admin.example.test' } }).option).toBe('csrf.trustedOrigins');
    expect(refusal({ resolveUser, csrf: true }).option).toBe('csrf');
    expect(refusal({ resolveUser, csrf: ['https://admin.example.test'] }).option).toBe('csrf');
    expect(refusal({ resolveUser, csrf: { origins: [] } }).option).toBe('csrf.origins');
  });
});
