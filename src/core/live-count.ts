import type { Logger } from '@nestjs/common';
import { errorMessage } from './utils.js';

// A scrape reads the live-sessions gauge at most this often: a count over the whole table is no
// per-scrape query, and Prometheus scrapes every 15 s or so.
const LIVE_COUNT_TTL_MS = 15_000;

/**
 * The live-sessions gauge's source: bounded by storeTimeout (through `run`), the last count kept
 * between scrapes, and on a failure the last one known (NaN before any), logged, so that a
 * stalled database never fails or stalls the whole metrics endpoint.
 */
export function scrapedCount(run: () => Promise<{ live: number }>, logger: Logger, clock: () => number): () => Promise<number> {
  let last = Number.NaN;
  let at = Number.NEGATIVE_INFINITY;
  return async () => {
    if (clock() - at < LIVE_COUNT_TTL_MS) return last;
    at = clock();
    try {
      last = (await run()).live;
    } catch (error) {
      logger.warn(`live-sessions gauge: the count failed, keeping the last one (${errorMessage(error)})`);
    }
    return last;
  };
}
