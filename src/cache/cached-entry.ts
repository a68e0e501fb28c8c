import type { StoredSessionDetails } from '../stores/session-store.interface.js';

/**
 * A validated session and its user, as the local cache keeps them: plain numbers and strings,
 * no Buffer or Date objects, so an entry stays small (the key already is the token hash).
 */
export interface CachedSession<TUser = unknown> {
  readonly id: string;
  readonly userId: string;
  /** Epoch ms. */
  readonly expiresAt: number;
  /** Epoch ms. */
  readonly createdAt: number;
  readonly user: TUser;
  /** What resolvePermissions and resolveContext gave for this session. */
  readonly permissions: readonly string[];
  readonly context: unknown;
  /** What the store keeps beside the five columns (metadata, freshness, data), when it does. */
  details: StoredSessionDetails | undefined;
  /** Epoch ms (on the service's clock) after which the entry is not used: ttl or the session's end. */
  readonly until: number;
}

export type CachedSessionInput<TUser> = Omit<CachedSession<TUser>, 'until'>;

// Why the packing below (measured with bench/memory.ts, Node 24 x64, 100,000 sessions): an
// epoch-ms number does not fit a small integer (Smi, 31 bits where pointers are compressed, 32
// otherwise), so V8 boxes each in its own HeapNumber: three cost 72 bytes per entry with their
// fields. Whole seconds since 2020 do fit (1986 to 2054), and the three millisecond remainders
// fit one more Smi: four in-object fields, 32 bytes, exact to the millisecond. Times that do
// not pack (a clock off by decades, or with fractions of a millisecond) keep the plain entry.
const EPOCH = Date.UTC(2020, 0, 1);
const SMI = 2 ** 30 - 1;
// An id as a number only while it is a Smi on every build, and only when String() gives it back.
const MAX_SMALL_ID = SMI;

function packable(t: number): boolean {
  return Number.isInteger(t) && Math.abs(t - EPOCH) < SMI * 1000;
}

// `| 0` (exact: each is within 31 bits here) so optimized code stores an integer, which V8 keeps
// as a Smi; a float result of the same value would be boxed anyway.
const secondsOf = (t: number) => Math.floor((t - EPOCH) / 1000) | 0;
const msOf = (t: number) => (t - EPOCH - secondsOf(t) * 1000) | 0;

/**
 * The user id to keep: the user's own `id` string when it equals the session's (the usual case,
 * a second copy of the same uuid is 56 bytes), read as a data property so no getter runs.
 */
function sharedUserId(user: unknown, userId: string): string {
  if (typeof user !== 'object' || user === null) return userId;
  const own = Object.getOwnPropertyDescriptor(user, 'id');
  return own !== undefined && own.value === userId ? (own.value as string) : userId;
}

/** A session id kept as a Smi when it is a short decimal (a pg bigint below 2^30): its string is 24 bytes. */
function compactId(id: string): string | number {
  const n = Number(id);
  return Number.isInteger(n) && n > 0 && n <= MAX_SMALL_ID && String(n) === id ? n | 0 : id;
}

class PackedEntry<TUser> implements CachedSession<TUser> {
  readonly user: TUser;
  readonly permissions: readonly string[];
  readonly context: unknown;
  details: StoredSessionDetails | undefined;
  private readonly sid: string | number;
  private readonly expiresS: number;
  private readonly createdS: number;
  private readonly untilS: number;
  // expiresAt's ms + 1000 × createdAt's + 1,000,000 × until's: below 10^9, a Smi.
  private readonly ms: number;

  constructor(
    entry: CachedSessionInput<TUser>,
    readonly userId: string,
    until: number,
  ) {
    this.user = entry.user;
    this.permissions = entry.permissions;
    this.context = entry.context;
    this.details = entry.details;
    this.sid = compactId(entry.id);
    this.expiresS = secondsOf(entry.expiresAt);
    this.createdS = secondsOf(entry.createdAt);
    this.untilS = secondsOf(until);
    this.ms = (msOf(entry.expiresAt) + 1000 * msOf(entry.createdAt) + 1_000_000 * msOf(until)) | 0;
  }

  get id(): string {
    const id = this.sid;
    return typeof id === 'number' ? String(id) : id;
  }
  get expiresAt(): number {
    return EPOCH + this.expiresS * 1000 + (this.ms % 1000);
  }
  get createdAt(): number {
    return EPOCH + this.createdS * 1000 + (Math.floor(this.ms / 1000) % 1000);
  }
  get until(): number {
    return EPOCH + this.untilS * 1000 + Math.floor(this.ms / 1_000_000);
  }
}

// Built field by field: an object spread here came out 320 bytes larger per entry (804
// against 484 bytes per cached session, bench/memory.ts).
class PlainEntry<TUser> implements CachedSession<TUser> {
  readonly id: string;
  readonly expiresAt: number;
  readonly createdAt: number;
  readonly user: TUser;
  readonly permissions: readonly string[];
  readonly context: unknown;
  details: StoredSessionDetails | undefined;

  constructor(
    entry: CachedSessionInput<TUser>,
    readonly userId: string,
    readonly until: number,
  ) {
    this.id = entry.id;
    this.expiresAt = entry.expiresAt;
    this.createdAt = entry.createdAt;
    this.user = entry.user;
    this.permissions = entry.permissions;
    this.context = entry.context;
    this.details = entry.details;
  }
}

/** The entry to cache for `entry` until `until`: the same values, in as few bytes as they allow. */
export function cachedSession<TUser>(entry: CachedSessionInput<TUser>, until: number): CachedSession<TUser> {
  const userId = sharedUserId(entry.user, entry.userId);
  return packable(entry.expiresAt) && packable(entry.createdAt) && packable(until)
    ? new PackedEntry(entry, userId, until)
    : new PlainEntry(entry, userId, until);
}
