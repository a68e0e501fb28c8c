import { Logger } from '@nestjs/common';
import type { StoreCalls } from '../core/store-calls.js';
import { errorMessage } from '../core/utils.js';
import type { SessionStore, StoredSession, StoredSessionDetails } from '../stores/session-store.interface.js';

/**
 * `metadata.lastSeen`: with the sliding write ('slide'), or at most once per step. A due step
 * is marked in the caller's copy of the details before the write goes out, so concurrent
 * requests of one process send one write; the store's condition makes it one across instances.
 * The write is not awaited: a request never waits on, or fails for, its last-seen time.
 */
export class LastSeen {
  private readonly logger = new Logger('SessionService');

  constructor(
    private readonly store: SessionStore,
    private readonly calls: StoreCalls,
    private readonly mode: 'slide' | number | null,
  ) {}

  /** Whether the sliding write also sets `lastSeenAt`. */
  get withSlide(): boolean {
    return this.mode !== null;
  }

  /**
   * The details with `lastSeenAt` at `now` when its step is due (and the write sent); else the
   * same details. `target` gives the session to write, only when one is due.
   */
  touchIfDue(details: StoredSessionDetails, now: number, target: () => StoredSession): StoredSessionDetails {
    const step = this.mode;
    if (typeof step !== 'number') return details;
    const last = details.lastSeenAt?.getTime();
    if (last !== undefined && now - last < step) return details;
    const seenAt = new Date(now);
    const session = target();
    this.calls.run('touch', () => this.store.touch!(session, seenAt, new Date(now - step + 1))).catch((error: unknown) => {
      this.logger.warn(`last-seen time of session ${session.id} not written: ${errorMessage(error)}`);
    });
    return { ...details, lastSeenAt: seenAt };
  }
}
