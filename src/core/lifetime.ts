// The lifetime rules of a session and its token, as pure functions of the options and the times
// involved (epoch milliseconds), so each rule can be tested without a store.

/** The lifetime options, in milliseconds. */
export interface LifetimeRules {
  /** The idle window; with refresh tokens, the life of one session token. */
  maxAge: number;
  /** The sliding step: an expiry is written at most once per this. */
  updateAge: number;
  /** The cap from creation, used or not; null for none. */
  absoluteMaxAge: number | null;
  /** With refresh tokens, the refresh window (a login's life unless refreshed); null without. */
  refreshWindow: number | null;
}

/** A session's own times, as the store keeps them. */
export interface SessionTimes {
  expiresAt: number;
  createdAt: number;
}

/** What sliding a used session's expiry would do now. */
export interface Slide {
  /** Whether the expiry should be written now. */
  due: boolean;
  /** The expiry to write. */
  next: number;
  /**
   * Write only while the stored expiry is still below this: of concurrent slides on several
   * instances, the first wins and the others match nothing.
   */
  staleBelow: number;
}

/** When a session created at `createdAt` ends however much it is used (Infinity without a cap). */
export function absoluteEnd(rules: LifetimeRules, createdAt: number): number {
  return rules.absoluteMaxAge === null ? Infinity : createdAt + rules.absoluteMaxAge;
}

/** When a session ends: at its expiry or its absolute cap, whichever comes first. */
export function sessionEnd(rules: LifetimeRules, session: SessionTimes): number {
  return Math.min(session.expiresAt, absoluteEnd(rules, session.createdAt));
}

/**
 * When one session token ends. With refresh tokens a token lives `maxAge` from its issue time
 * (written inside it), so checking it writes nothing; it never outlives its session, when that
 * is known. Without refresh tokens, or for a token that carries no issue time, the session's end.
 */
export function tokenEnd(rules: LifetimeRules, token: { issuedAt: number | null; session?: SessionTimes }): number {
  const end = token.session ? sessionEnd(rules, token.session) : Infinity;
  if (rules.refreshWindow === null || token.issuedAt === null) return end;
  return Math.min(end, token.issuedAt + rules.maxAge);
}

/**
 * The first expiry of a session created `now`: `requested` when given, else one idle window
 * (with refresh tokens: one refresh window) ahead; capped by the absolute cap either way.
 */
export function firstExpiry(rules: LifetimeRules, created: { now: number; requested?: number }): number {
  const expires = created.requested ?? created.now + (rules.refreshWindow ?? rules.maxAge);
  return Math.min(expires, absoluteEnd(rules, created.now));
}

/**
 * Sliding on use. The expiry moves once it would move by at least `updateAge` (its last write is
 * that old), and once more to land exactly on the absolute cap, so an active session lives to
 * the cap. With refresh tokens a login's window moves on refresh, never on use.
 */
export function slide(rules: LifetimeRules, session: SessionTimes, now: number): Slide {
  if (rules.refreshWindow !== null) return { due: false, next: session.expiresAt, staleBelow: session.expiresAt };
  const cap = absoluteEnd(rules, session.createdAt);
  const next = Math.min(now + rules.maxAge, cap);
  const atCap = next === cap;
  return {
    due: next - session.expiresAt >= rules.updateAge || (atCap && next > session.expiresAt),
    next,
    staleBelow: atCap ? next : next - rules.updateAge + 1,
  };
}

/**
 * The refresh window after a refresh at `now`: one window ahead, capped; null when that does not
 * move it forward (or refresh tokens are off).
 */
export function refreshedExpiry(rules: LifetimeRules, session: SessionTimes, now: number): number | null {
  if (rules.refreshWindow === null) return null;
  const window = Math.min(now + rules.refreshWindow, absoluteEnd(rules, session.createdAt));
  return window > session.expiresAt ? window : null;
}
