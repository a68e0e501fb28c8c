import type { StoredSession, StoredSessionDetails } from '../stores/session-store.interface.js';
import type { Session, SessionMetadata, ValidatedSession } from './session.interfaces.js';

// Conversions and checks of the values that cross the service's boundary.

const SESSION_ID = /^[1-9]\d{0,18}$/;
const MAX_BIGINT = 9_223_372_036_854_775_807n;

/** A session id as the table can hold it: a positive bigint. Anything else is nobody's session. */
export function isSessionId(value: unknown): value is string {
  return typeof value === 'string' && SESSION_ID.test(value) && BigInt(value) <= MAX_BIGINT;
}

/** A user id as the store keeps it: a string. A TypeError for anything that is not an id. */
export function normalizeUserId(userId: unknown): string {
  if ((typeof userId === 'string' && userId !== '') || typeof userId === 'bigint' || (typeof userId === 'number' && Number.isSafeInteger(userId))) {
    return String(userId);
  }
  throw new TypeError(`SessionService: userId must be a non-empty string or an integer, got ${typeof userId}.`);
}

/** A stored session as the API returns it (no token hash), with `expires` when it differs. */
export function toSession(stored: StoredSession, expires = stored.expiresAt): Session {
  const session: Session = { id: stored.id, userId: stored.userId, expires, createdAt: stored.createdAt };
  if (stored.details) session.metadata = metadataOf(stored.details);
  if (stored.details?.deviceKey) session.deviceBound = true;
  return session;
}

/** The metadata fields of a session's details. */
export function metadataOf(details: StoredSessionDetails): SessionMetadata {
  return { userAgent: details.userAgent, device: details.device, ip: details.ip, lastSeenAt: details.lastSeenAt };
}

/** The data of a session that has none yet; frozen, since validations share it. */
export const EMPTY_DATA: Readonly<Record<string, unknown>> = Object.freeze({});

/** Oldest first, by id: ids only grow, so every instance ranks a user's sessions alike. */
export function byId(a: StoredSession, b: StoredSession): number {
  const x = BigInt(a.id);
  const y = BigInt(b.id);
  return x < y ? -1 : x > y ? 1 : 0;
}

export const NO_PERMISSIONS: readonly string[] = Object.freeze([]);

/** What `resolvePermissions` returned, checked and frozen (it is cached and shared). */
export function checkPermissions(value: unknown): readonly string[] {
  if (!Array.isArray(value) || !value.every((p) => typeof p === 'string')) {
    throw new TypeError(`SessionModule option resolvePermissions: returned ${typeof value}; expected an array of permission names such as ['admin'].`);
  }
  return Object.freeze([...value]);
}

/**
 * A session as the guard hands it out: `base` (with its metadata), the resolvers' answers, and
 * its freshness and data from `details` (the login and `{}` when the store keeps none).
 */
export function validatedSession(
  base: Session,
  permissions: readonly string[],
  context: unknown,
  details: StoredSessionDetails | undefined,
): ValidatedSession<unknown, Record<string, unknown>> {
  const session: ValidatedSession<unknown, Record<string, unknown>> = {
    id: base.id,
    userId: base.userId,
    expires: base.expires,
    createdAt: base.createdAt,
    permissions,
    context,
    reauthenticatedAt: details?.reauthenticatedAt ?? base.createdAt,
    data: details?.data ?? EMPTY_DATA,
    deviceBound: typeof details?.deviceKey === 'string',
  };
  if (details) session.metadata = metadataOf(details);
  return session;
}
