import { SessionOptionsError } from './session.exceptions.js';
import { type Duration, formatDuration } from '../options/duration.js';
import { duration, optionKeys, show } from '../options/option-checks.js';

/** How long a session lives, and how often its sliding expiry is written. */
export interface LifetimeOptions {
  /** Inactivity window: a session unused for this long expires. Default `'30d'`. */
  maxAge?: Duration;
  /**
   * How often, at most, a used session's expiry is written back (the sliding step).
   * Must be below `maxAge`. Default `'1d'`, or half of `maxAge` when that is shorter.
   */
  updateAge?: Duration;
  /** Hard cap on a session's life from its creation, used or not. Default: none (`false`). */
  absoluteMaxAge?: Duration | false;
}

/** Durations in milliseconds. */
export interface ResolvedLifetimeOptions {
  maxAge: number;
  updateAge: number;
  absoluteMaxAge: number | null;
}

export const LIFETIME_OPTION_KEYS = optionKeys<LifetimeOptions>({ maxAge: true, updateAge: true, absoluteMaxAge: true });

export const DEFAULT_MAX_AGE = '30d';
// With refresh tokens, maxAge is the life of one session token: short, since a refresh renews it.
export const DEFAULT_REFRESH_MAX_AGE = '15m';
export const DEFAULT_UPDATE_AGE_MS = 86_400_000;

// A day, or half of a shorter maxAge; a maxAge too short to halve cannot slide at all.
function defaultUpdateAge(maxAge: number): number {
  const half = Math.min(DEFAULT_UPDATE_AGE_MS, Math.floor(maxAge / 2));
  if (half < 1) throw new SessionOptionsError('maxAge', `got ${formatDuration(maxAge)}; expected at least 2 ms, so that the expiry can slide (or give updateAge).`);
  return half;
}

/** `refreshTokens`: whether refresh tokens are on, which changes what `maxAge` means and its default. */
export function resolveLifetimeOptions(raw: LifetimeOptions, refreshTokens: boolean): ResolvedLifetimeOptions {
  const maxAge = duration('maxAge', raw.maxAge ?? (refreshTokens ? DEFAULT_REFRESH_MAX_AGE : DEFAULT_MAX_AGE));
  // The default step shrinks with a short maxAge, so setting maxAge alone never trips the check below.
  const updateAge = raw.updateAge === undefined ? defaultUpdateAge(maxAge) : duration('updateAge', raw.updateAge);
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
  return { maxAge, updateAge, absoluteMaxAge };
}
