import { hkdfSync } from 'node:crypto';
import { SessionOptionsError } from '../core/session.exceptions.js';
import type { ResolvedCookieOptions } from '../http/http.options.js';
import type { Duration } from '../options/duration.js';
import { checkKeys, duration, optionKeys, secretBytes, show } from '../options/option-checks.js';

/** The `deviceBound` option in its object form: Device Bound Session Credentials (DBSC). */
export interface DeviceBoundOptions {
  /**
   * At least 32 bytes, or a list newest first (the first signs, all verify): the key of the
   * bound cookie and of the challenges, so every instance with it can check them. Required.
   */
  secret: string | Uint8Array | (string | Uint8Array)[];
  /**
   * Lifetime of the short bound cookie: how long a copied cookie can work away from the device,
   * and how often the browser proves it holds the key. Default `'10m'`.
   */
  cookieTtl?: Duration;
  /** How long a challenge can be answered. Default `'5m'` (a TPM can take its time). */
  challengeTtl?: Duration;
  /** Path of the registration endpoint the module serves. Default `'/auth/device-bound/register'`. */
  registrationPath?: string;
  /** Path of the refresh endpoint the module serves. Default `'/auth/device-bound/refresh'`. */
  refreshPath?: string;
  /** Name of the bound cookie. Default the session cookie's name with `-bound` after it. */
  cookieName?: string;
}

export interface DeviceBoundSliceOptions {
  /**
   * Device Bound Session Credentials: a browser that supports DBSC binds its session to a key
   * it keeps in the device's TPM, and the session then also needs a short-lived bound cookie the
   * browser renews only by signing a fresh challenge. A session cookie copied off the device
   * stops working within `cookieTtl`. Sessions of other browsers work as before. Needs the
   * session cookie, a store that keeps details, and the `jose` package. Default off.
   */
  deviceBound?: DeviceBoundOptions | false;
}

export interface ResolvedDeviceBoundOptions {
  cookieTtl: number;
  challengeTtl: number;
  registrationPath: string;
  refreshPath: string;
  cookieName: string;
  /** MAC keys derived from the secrets, newest first. */
  keys: Buffer[];
}

export const DEVICE_BOUND_OPTION_KEYS = optionKeys<DeviceBoundSliceOptions>({ deviceBound: true });
const KEYS = optionKeys<DeviceBoundOptions>({ secret: true, cookieTtl: true, challengeTtl: true, registrationPath: true, refreshPath: true, cookieName: true });

const PATH = /^\/[A-Za-z0-9._~\-/]*$/;
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function path(option: string, value: unknown, fallback: string): string {
  const resolved = value ?? fallback;
  if (typeof resolved !== 'string' || !PATH.test(resolved)) throw new SessionOptionsError(option, `got ${show(value)}; expected a path such as '${fallback}'.`);
  return resolved;
}

/** The `deviceBound` option checked against the cookie it binds; null when off. */
export function resolveDeviceBoundOptions(raw: unknown, cookie: ResolvedCookieOptions | null): ResolvedDeviceBoundOptions | null {
  if (raw === undefined || raw === false) return null;
  if (raw === null || typeof raw !== 'object') {
    throw new SessionOptionsError('deviceBound', `got ${show(raw)}; expected false or an object such as { secret: process.env.DEVICE_BOUND_SECRET }.`);
  }
  checkKeys('deviceBound', raw, KEYS);
  const options = raw as Record<string, unknown>;
  if (cookie === null) throw new SessionOptionsError('deviceBound', 'got it with cookie: false; DBSC binds the session cookie of a browser, so it needs the cookie.');
  if (options.secret === undefined) throw new SessionOptionsError('deviceBound.secret', 'missing; the bound cookie and the challenges are signed with it (at least 32 bytes).');
  const secrets = Array.isArray(options.secret) ? options.secret : [options.secret];
  if (secrets.length === 0) throw new SessionOptionsError('deviceBound.secret', 'got an empty list; expected a secret, or a list of them newest first.');
  const keys = secrets.map((secret, i) => {
    const bytes = secretBytes(Array.isArray(options.secret) ? `deviceBound.secret[${i}]` : 'deviceBound.secret', secret);
    return Buffer.from(hkdfSync('sha256', bytes, 'nestjs-sessions', 'nestjs-sessions device-bound', 32));
  });
  const registrationPath = path('deviceBound.registrationPath', options.registrationPath, '/auth/device-bound/register');
  const refreshPath = path('deviceBound.refreshPath', options.refreshPath, '/auth/device-bound/refresh');
  if (registrationPath === refreshPath) throw new SessionOptionsError('deviceBound.refreshPath', `got ${show(refreshPath)}, the same as registrationPath; expected two paths.`);
  const cookieName = options.cookieName ?? `${cookie.name}-bound`;
  if (typeof cookieName !== 'string' || !COOKIE_NAME.test(cookieName) || cookieName === cookie.name) {
    throw new SessionOptionsError('deviceBound.cookieName', `got ${show(options.cookieName)}; expected a cookie name other than the session cookie's, such as '${cookie.name}-bound'.`);
  }
  return {
    cookieTtl: duration('deviceBound.cookieTtl', options.cookieTtl ?? '10m'),
    challengeTtl: duration('deviceBound.challengeTtl', options.challengeTtl ?? '5m'),
    registrationPath,
    refreshPath,
    cookieName,
    keys,
  };
}
