import { formatDuration, parseDuration } from './duration.js';
import { SessionOptionsError } from './session.exceptions.js';
import type { SessionModuleOptions } from './session.interfaces.js';

/** Options after defaults and validation; durations in milliseconds. */
export interface ResolvedSessionOptions {
  resolveUser: SessionModuleOptions['resolveUser'];
  maxAge: number;
  updateAge: number;
  absoluteMaxAge: number | null;
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

  if (raw.clock !== undefined && typeof raw.clock !== 'function') {
    throw new SessionOptionsError('clock', `got ${show(raw.clock)}; expected a function returning epoch milliseconds, like Date.now.`);
  }

  return {
    resolveUser: raw.resolveUser,
    maxAge,
    updateAge,
    absoluteMaxAge,
    purgeBatchSize,
    clock: raw.clock ?? Date.now,
  };
}
