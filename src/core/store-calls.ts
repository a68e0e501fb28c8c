import { Logger } from '@nestjs/common';
import type { SessionTelemetry } from '../telemetry/session.telemetry.js';
import { SessionStoreUnavailableException, UnknownSessionUserError } from './session.exceptions.js';
import { errorMessage, withTimeout } from './utils.js';

/**
 * Every store call (and every call of the app's resolvers) goes through `run`: bounded by
 * storeTimeout and timed, so one that errs or hangs becomes a 503, never a 401 or a request
 * stuck until the client gives up.
 */
export class StoreCalls {
  private readonly logger = new Logger('SessionService');

  constructor(
    private readonly telemetry: SessionTelemetry,
    private readonly timeoutMs: number,
  ) {}

  async run<T>(operation: string, work: () => T | Promise<T>): Promise<T> {
    const done = this.telemetry.time(operation);
    try {
      return await withTimeout(work, this.timeoutMs, operation);
    } catch (error) {
      if (error instanceof UnknownSessionUserError) throw error;
      this.logger.error(`session store failed (${operation}): ${errorMessage(error)}`);
      throw new SessionStoreUnavailableException({ cause: error });
    } finally {
      done();
    }
  }
}
