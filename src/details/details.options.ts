import { SessionOptionsError } from '../core/session.exceptions.js';
import type { Duration } from '../options/duration.js';
import { checkKeys, duration, optionKeys, show } from '../options/option-checks.js';
import type { SessionStore } from '../stores/session-store.interface.js';

/** What a session records of its client at login; every field is off unless turned on. */
export interface SessionMetadataOptions {
  /** The User-Agent, cut to 512 characters. Default false. */
  userAgent?: boolean;
  /** A short label parsed from the User-Agent ("Chrome on macOS"), by `bowser`. Default false. */
  device?: boolean;
  /** The client's IP: `'full'`, `'truncated'` (to its /24 or /48 network), or false. Default false. */
  ip?: 'full' | 'truncated' | false;
  /**
   * When the session was last used: `true` moves it with the sliding-expiry write (so within
   * `updateAge`, at no extra write); a duration is a finer step, at most one write per session
   * per step. Default false.
   */
  lastSeen?: boolean | Duration;
}

export interface DetailsOptions {
  /** Device metadata kept with each session, for a "your devices" page. Default none. */
  metadata?: SessionMetadataOptions | false;
  /**
   * Keep when the user last proved who they are, so `markReauthenticated(token)` can renew it
   * after a password or second-factor check. `@RequireSession({ freshWithin })` works without
   * it, counting from the login. Default false.
   */
  reauthentication?: boolean;
  /** Per-session data (`updateSessionData`, `@CurrentSession().data`): `true`, or `{ maxBytes }` (default 4096). Default false. */
  data?: boolean | { maxBytes?: number };
}

export interface ResolvedDetailsOptions {
  /** Null when no field is on. `lastSeen`: null off, 'slide' with the sliding write, else the step in ms. */
  metadata: { userAgent: boolean; device: boolean; ip: 'full' | 'truncated' | null; lastSeen: 'slide' | number | null } | null;
  reauthentication: boolean;
  /** The data bound in bytes; null when data is off. */
  dataMaxBytes: number | null;
  /** True when any of them is on: the store keeps details. */
  details: boolean;
}

export const DETAILS_OPTION_KEYS = optionKeys<DetailsOptions>({ metadata: true, reauthentication: true, data: true });

export const DEFAULT_DATA_MAX_BYTES = 4096;
const MAX_DATA_MAX_BYTES = 1024 * 1024;
const METADATA_KEYS = optionKeys<SessionMetadataOptions>({ userAgent: true, device: true, ip: true, lastSeen: true });

function flag(option: string, value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw new SessionOptionsError(option, `got ${show(value)}; expected true or false.`);
  return value;
}

function resolveMetadata(raw: unknown): ResolvedDetailsOptions['metadata'] {
  if (raw === undefined || raw === false) return null;
  if (raw === null || typeof raw !== 'object') {
    throw new SessionOptionsError('metadata', `got ${show(raw)}; expected false or an object such as { userAgent: true, device: true, ip: 'truncated', lastSeen: true }.`);
  }
  checkKeys('metadata', raw, METADATA_KEYS);
  const { userAgent, device, ip, lastSeen } = raw as Record<string, unknown>;
  if (ip !== undefined && ip !== false && ip !== 'full' && ip !== 'truncated') {
    throw new SessionOptionsError('metadata.ip', `got ${show(ip)}; expected 'full', 'truncated' (to the /24 or /48 network) or false.`);
  }
  const resolved = {
    userAgent: flag('metadata.userAgent', userAgent),
    device: flag('metadata.device', device),
    ip: ip === 'full' || ip === 'truncated' ? (ip as 'full' | 'truncated') : null,
    lastSeen: lastSeen === undefined || lastSeen === false ? null : lastSeen === true ? ('slide' as const) : duration('metadata.lastSeen', lastSeen),
  };
  return resolved.userAgent || resolved.device || resolved.ip || resolved.lastSeen !== null ? resolved : null;
}

function resolveDataBound(raw: unknown): number | null {
  if (raw === undefined || raw === false) return null;
  if (raw === true) return DEFAULT_DATA_MAX_BYTES;
  if (raw === null || typeof raw !== 'object') throw new SessionOptionsError('data', `got ${show(raw)}; expected true, false or { maxBytes }.`);
  checkKeys('data', raw, ['maxBytes']);
  const maxBytes = (raw as { maxBytes?: unknown }).maxBytes ?? DEFAULT_DATA_MAX_BYTES;
  if (!Number.isInteger(maxBytes) || (maxBytes as number) < 2 || (maxBytes as number) > MAX_DATA_MAX_BYTES) {
    throw new SessionOptionsError('data.maxBytes', `got ${show(maxBytes)}; expected a whole number of bytes from 2 to ${MAX_DATA_MAX_BYTES}.`);
  }
  return maxBytes as number;
}

export function resolveDetailsOptions(raw: DetailsOptions): ResolvedDetailsOptions {
  const metadata = resolveMetadata(raw.metadata);
  const reauthentication = flag('reauthentication', raw.reauthentication);
  const dataMaxBytes = resolveDataBound(raw.data);
  return { metadata, reauthentication, dataMaxBytes, details: metadata !== null || reauthentication || dataMaxBytes !== null };
}

/**
 * The store methods the details options need, at startup: a SessionOptionsError naming the
 * option when the store lacks one (a store of the app's own).
 */
export function requireDetailMethods(options: ResolvedDetailsOptions, store: SessionStore): void {
  const needs: [string, keyof SessionStore][] = [];
  if (typeof options.metadata?.lastSeen === 'number') needs.push(['metadata.lastSeen', 'touch']);
  if (options.reauthentication) needs.push(['reauthentication', 'markReauthenticated']);
  if (options.dataMaxBytes !== null) needs.push(['data', 'mergeData']);
  for (const [option, method] of needs) {
    if (typeof store[method] !== 'function') throw new SessionOptionsError(option, `needs a store with ${method}(); the storage given has none.`);
  }
}
