import { Logger } from '@nestjs/common';
import type { StoreCalls } from '../core/store-calls.js';
import type { SessionStore } from '../stores/session-store.interface.js';
import { SessionEvents } from '../telemetry/session.events.js';
import type { SessionTelemetry } from '../telemetry/session.telemetry.js';

/** Deletes expired sessions, in batches, one instance of a cluster at a time. */
export class SessionPurger {
  private readonly logger = new Logger('SessionService');

  constructor(
    private readonly store: SessionStore,
    private readonly calls: StoreCalls,
    private readonly telemetry: SessionTelemetry,
    private readonly batchSize: number,
    private readonly clock: () => number,
  ) {}

  /** How many went; 0 at once when another instance holds the purge lock. */
  async purge(): Promise<number> {
    const started = performance.now();
    const now = new Date(this.clock());
    // Each batch its own short statement, so validations keep flowing while it runs.
    const purge = async () => {
      let total = 0;
      for (;;) {
        const deleted = await this.calls.run('deleteExpired', () => this.store.deleteExpired(now, this.batchSize));
        total += deleted;
        if (deleted < this.batchSize) return total;
      }
    };
    const count = this.store.withPurgeLock ? await this.store.withPurgeLock(purge) : await purge();
    if (count === null) {
      this.logger.debug('purge skipped: another instance is purging');
      return 0;
    }
    const durationMs = Math.round(performance.now() - started);
    this.logger.log(`purged ${count} expired session(s) in ${durationMs} ms`);
    this.telemetry.purged(count);
    this.telemetry.emit(SessionEvents.Purged, { count, durationMs });
    return count;
  }
}
