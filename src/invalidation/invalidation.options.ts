import { SessionOptionsError } from '../core/session.exceptions.js';
import { checkMethods, type MethodRecord, optionKeys, show } from '../options/option-checks.js';
import type { SessionInvalidationBus } from './session-invalidation.interface.js';

/** How revocations reach the other instances' caches. */
export interface InvalidationOptions {
  /**
   * Tell other instances of revocations so their caches drop the session at once: PostgreSQL
   * LISTEN/NOTIFY, or Redis pub/sub with `storage.type: 'redis'`. Default `true`; `false` for a
   * single instance (or a database without LISTEN/NOTIFY across connections, such as PGlite).
   * A `SessionInvalidationBus` instance (`start`, `publish`, `close`) is the channel to use
   * instead, whatever the storage.
   */
  broadcast?: boolean | SessionInvalidationBus;
}

export interface ResolvedInvalidationOptions {
  /** `true`: the bus that fits the storage; an instance: that bus. */
  broadcast: boolean | SessionInvalidationBus;
}

export const INVALIDATION_OPTION_KEYS = optionKeys<InvalidationOptions>({ broadcast: true });

export const DEFAULT_BROADCAST = true;
const BUS_METHODS: MethodRecord<SessionInvalidationBus> = { start: 'required', publish: 'required', close: 'required' };

export function resolveInvalidationOptions(raw: InvalidationOptions): ResolvedInvalidationOptions {
  const { broadcast } = raw;
  if (broadcast === undefined) return { broadcast: DEFAULT_BROADCAST };
  if (typeof broadcast === 'boolean') return { broadcast };
  if (broadcast === null || typeof broadcast !== 'object') {
    throw new SessionOptionsError('broadcast', `got ${show(broadcast)}; expected true or false, or a SessionInvalidationBus instance (with start, publish and close).`);
  }
  return { broadcast: checkMethods<SessionInvalidationBus>('broadcast', broadcast, 'SessionInvalidationBus', BUS_METHODS) };
}
