import { formatDuration, parseDuration } from './duration.js';
import { SessionOptionsError } from './session.exceptions.js';
import type { SessionModuleOptions } from './session.interfaces.js';
import { COOKIE_NAME, type ResolvedCookieOptions } from './session-cookie.js';

/** Options after defaults and validation; durations in milliseconds. */
export interface ResolvedSessionOptions {
  resolveUser: SessionModuleOptions['resolveUser'];
  maxAge: number;
  updateAge: number;
  absoluteMaxAge: number | null;
  cookie: ResolvedCookieOptions | null;
  bearer: boolean;
  storeTimeout: number;
  purgeBatchSize: number;
  clock: () => number;
}

export const DEFAULT_MAX_AGE = '30d';
const DEFAULT_UPDATE_AGE_MS = 86_400_000;
export const DEFAULT_PURGE_BATCH_SIZE = 5_000;

// A century: past it a Date overflows PostgreSQL's timestamptz arithmetic long before anyone cares.
const MAX_DURATION_MS = 100 * 365 * 86_400_000;

const KNOWN_OPTIONS = new Set([
  'resolveUser',
  'maxAge',
  'updateAge',
  'absoluteMaxAge',
  'cookie',
  'bearer',
  'storeTimeout',
  'purgeBatchSize',
  'clock',
  // ConfigurableModuleBuilder's extra; harmless if it reaches us.
  'isGlobal',
]);

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function duration(option: string, value: unknown): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0 || ms > MAX_DURATION_MS) {
    throw new SessionOptionsError(
      option,
      `got ${show(value)}; expected a positive duration up to 100 years, as milliseconds (86400000) or a string ('15m', '12h', '30d').`,
    );
  }
  return ms;
}

/**
 * Merges defaults into the options and validates them, once, at startup.
 * `forRoot` and `forRootAsync` both end here, so they behave the same.
 */
export function resolveSessionOptions(raw: SessionModuleOptions | undefined | null): ResolvedSessionOptions {
  if (raw === null || typeof raw !== 'object') {
    throw new SessionOptionsError('(options)', `got ${show(raw)}; expected an object such as { resolveUser: (id) => users.findOneBy({ id }) }.`);
  }
  for (const key of Object.keys(raw)) {
    if (!KNOWN_OPTIONS.has(key)) {
      throw new SessionOptionsError(key, `unknown option; the known ones are ${[...KNOWN_OPTIONS].filter((k) => k !== 'isGlobal').join(', ')}.`);
    }
  }

  if (typeof raw.resolveUser !== 'function') {
    throw new SessionOptionsError(
      'resolveUser',
      `got ${show(raw.resolveUser)}; expected a function from a user id to the user (or null), e.g. (id) => users.findOneBy({ id }).`,
    );
  }

  const maxAge = duration('maxAge', raw.maxAge ?? DEFAULT_MAX_AGE);
  // The default step shrinks with a short maxAge, so setting maxAge alone never trips the check below.
  const updateAge = duration('updateAge', raw.updateAge ?? Math.min(DEFAULT_UPDATE_AGE_MS, Math.floor(maxAge / 2)));
  if (updateAge >= maxAge) {
    throw new SessionOptionsError(
      'updateAge',
      `got ${show(raw.updateAge)} (${formatDuration(updateAge)}); expected a duration below maxAge (${formatDuration(maxAge)}), or a session could expire between two writes of its expiry.`,
    );
  }

  let absoluteMaxAge: number | null = null;
  if (raw.absoluteMaxAge !== undefined && raw.absoluteMaxAge !== false) {
    absoluteMaxAge = duration('absoluteMaxAge', raw.absoluteMaxAge);
    if (absoluteMaxAge < maxAge) {
      throw new SessionOptionsError(
        'absoluteMaxAge',
        `got ${show(raw.absoluteMaxAge)} (${formatDuration(absoluteMaxAge)}); expected false or a duration not below maxAge (${formatDuration(maxAge)}). Lower maxAge too if sessions should be this short.`,
      );
    }
  }

  const purgeBatchSize = raw.purgeBatchSize ?? DEFAULT_PURGE_BATCH_SIZE;
  if (!Number.isInteger(purgeBatchSize) || purgeBatchSize < 1 || purgeBatchSize > 100_000) {
    throw new SessionOptionsError('purgeBatchSize', `got ${show(raw.purgeBatchSize)}; expected a whole number from 1 to 100000.`);
  }

  if (raw.bearer !== undefined && typeof raw.bearer !== 'boolean') {
    throw new SessionOptionsError('bearer', `got ${show(raw.bearer)}; expected true or false.`);
  }
  const cookie = raw.cookie === false ? null : resolveCookie(raw.cookie ?? {});
  if (cookie === null && raw.bearer === false) {
    throw new SessionOptionsError('bearer', 'got false with cookie: false; expected at least one way for a token to arrive.');
  }
  const storeTimeout = duration('storeTimeout', raw.storeTimeout ?? '5s');

  if (raw.clock !== undefined && typeof raw.clock !== 'function') {
    throw new SessionOptionsError('clock', `got ${show(raw.clock)}; expected a function returning epoch milliseconds, like Date.now.`);
  }

  return {
    resolveUser: raw.resolveUser,
    maxAge,
    updateAge,
    absoluteMaxAge,
    cookie,
    bearer: raw.bearer ?? true,
    storeTimeout,
    purgeBatchSize,
    clock: raw.clock ?? Date.now,
  };
}

const COOKIE_KEYS = new Set(['name', 'secure', 'sameSite', 'domain', 'path']);
const SAME_SITE = ['lax', 'strict', 'none'];
// Anything that would end the attribute or the header early.
const ATTRIBUTE_VALUE = /^[\x21-\x3a\x3c-\x7e]+$/;

function resolveCookie(raw: unknown): ResolvedCookieOptions {
  if (raw === null || typeof raw !== 'object') {
    throw new SessionOptionsError('cookie', `got ${show(raw)}; expected false or an object such as { name: 'session', sameSite: 'lax' }.`);
  }
  const cookie = raw as Record<string, unknown>;
  for (const key of Object.keys(cookie)) {
    if (!COOKIE_KEYS.has(key)) throw new SessionOptionsError(`cookie.${key}`, `unknown option; the known ones are ${[...COOKIE_KEYS].join(', ')}.`);
  }
  const name = cookie.name ?? 'session';
  if (typeof name !== 'string' || !COOKIE_NAME.test(name)) {
    throw new SessionOptionsError('cookie.name', `got ${show(cookie.name)}; expected a cookie name of letters, digits and !#$%&'*+-.^_\`|~ such as 'session' or '__Host-session'.`);
  }
  const secure = cookie.secure ?? true;
  if (typeof secure !== 'boolean') throw new SessionOptionsError('cookie.secure', `got ${show(cookie.secure)}; expected true or false.`);
  const sameSite = cookie.sameSite ?? 'lax';
  if (typeof sameSite !== 'string' || !SAME_SITE.includes(sameSite)) {
    throw new SessionOptionsError('cookie.sameSite', `got ${show(cookie.sameSite)}; expected 'lax', 'strict' or 'none'.`);
  }
  const path = cookie.path ?? '/';
  if (typeof path !== 'string' || !path.startsWith('/') || !ATTRIBUTE_VALUE.test(path)) {
    throw new SessionOptionsError('cookie.path', `got ${show(cookie.path)}; expected a path starting with '/' and no ';', space or control character.`);
  }
  const domain = cookie.domain;
  if (domain !== undefined && (typeof domain !== 'string' || !/^\.?[A-Za-z0-9.-]+$/.test(domain))) {
    throw new SessionOptionsError('cookie.domain', `got ${show(domain)}; expected a host name such as 'example.com', or leave it out to keep the cookie on one host.`);
  }
  if (sameSite === 'none' && !secure) {
    throw new SessionOptionsError('cookie.sameSite', "got 'none' with secure: false; browsers drop SameSite=None cookies that are not Secure.");
  }
  if (name.startsWith('__Host-') && (!secure || path !== '/' || domain !== undefined)) {
    throw new SessionOptionsError('cookie.name', `got ${show(name)}; a __Host- cookie needs secure: true, path '/' and no domain, or browsers drop it.`);
  }
  if (name.startsWith('__Secure-') && !secure) {
    throw new SessionOptionsError('cookie.name', `got ${show(name)}; a __Secure- cookie needs secure: true, or browsers drop it.`);
  }
  return { name, secure, sameSite: sameSite as ResolvedCookieOptions['sameSite'], path, domain };
}
