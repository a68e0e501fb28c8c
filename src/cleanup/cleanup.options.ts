import { SessionOptionsError } from '../core/session.exceptions.js';
import { checkKeys, optionKeys, show } from '../options/option-checks.js';
import { DEFAULT_CLEANUP_SCHEDULE, parseCleanupSchedule, ScheduleError } from './cleanup-schedule.js';

/** The `cleanup` option in its object form. */
export interface SessionCleanupOptions {
  schedule?: string;
}

/** The purge of expired sessions. */
export interface CleanupOptions {
  /**
   * The scheduled purge of expired sessions (@nestjs/schedule; the app imports
   * `ScheduleModule.forRoot()`). `schedule` is a cron string or the short form
   * `<minute> <hour> <week-day>` (week-day 1 = Monday … 7 = Sunday, `*` for any), server local
   * time. One instance of a cluster runs it at a time. `false` turns it off (for an external
   * job). Default `{ schedule: '0 * *' }`: hourly, on the hour.
   */
  cleanup?: SessionCleanupOptions | false;
  /** Rows deleted per statement when purging expired sessions. Default `5000`. */
  purgeBatchSize?: number;
}

export interface ResolvedCleanupOptions {
  /** The cleanup task's cron expression (seconds first), or null when it is off. */
  cleanup: { cron: string; schedule: string } | null;
  purgeBatchSize: number;
}

export const CLEANUP_OPTION_KEYS = optionKeys<CleanupOptions>({ cleanup: true, purgeBatchSize: true });

export const DEFAULT_PURGE_BATCH_SIZE = 5_000;
const MAX_PURGE_BATCH_SIZE = 100_000;
const CLEANUP_KEYS = optionKeys<SessionCleanupOptions>({ schedule: true });

export function resolveCleanupOptions(raw: CleanupOptions): ResolvedCleanupOptions {
  const purgeBatchSize = raw.purgeBatchSize ?? DEFAULT_PURGE_BATCH_SIZE;
  if (!Number.isInteger(purgeBatchSize) || purgeBatchSize < 1 || purgeBatchSize > MAX_PURGE_BATCH_SIZE) {
    throw new SessionOptionsError('purgeBatchSize', `got ${show(raw.purgeBatchSize)}; expected a whole number from 1 to ${MAX_PURGE_BATCH_SIZE}.`);
  }
  return { cleanup: resolveCleanup(raw.cleanup), purgeBatchSize };
}

function resolveCleanup(raw: unknown): ResolvedCleanupOptions['cleanup'] {
  if (raw === false) return null;
  if (raw !== undefined && (raw === null || typeof raw !== 'object')) {
    throw new SessionOptionsError('cleanup', `got ${show(raw)}; expected false or an object such as { schedule: '15 * *' }.`);
  }
  const cleanup = (raw ?? {}) as { schedule?: unknown };
  checkKeys('cleanup', cleanup, CLEANUP_KEYS);
  const schedule = cleanup.schedule ?? DEFAULT_CLEANUP_SCHEDULE;
  if (typeof schedule !== 'string') {
    throw new SessionOptionsError('cleanup.schedule', `got ${show(schedule)}; expected a string such as '15 * *' or a cron string.`);
  }
  try {
    return { cron: parseCleanupSchedule(schedule), schedule };
  } catch (error) {
    if (error instanceof ScheduleError) throw new SessionOptionsError('cleanup.schedule', error.message);
    throw error;
  }
}
