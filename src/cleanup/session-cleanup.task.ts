import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown, Optional } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { CronJob } from 'cron';
import { SESSION_OPTIONS } from '../session.constants.js';
import { SessionOptionsError } from '../core/session.exceptions.js';
import type { ResolvedSessionOptions } from '../options/resolve-options.js';
import { SessionService } from '../core/session.service.js';
import { errorMessage } from '../core/utils.js';

/** Name of the cleanup job in SchedulerRegistry. */
export const SESSION_CLEANUP_JOB = 'nestjs-sessions:cleanup';

/**
 * Purges expired sessions on `cleanup.schedule`. Registered with SchedulerRegistry at bootstrap,
 * because the schedule is configuration, not a decorator; stopped at shutdown. A failed run is
 * logged and the next one runs as usual.
 */
@Injectable()
export class SessionCleanupTask implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('SessionCleanup');
  private job?: CronJob;

  constructor(
    @Inject(SESSION_OPTIONS) private readonly options: ResolvedSessionOptions,
    @Inject(SessionService) private readonly sessions: SessionService,
    @Optional() @Inject(SchedulerRegistry) private readonly registry?: SchedulerRegistry,
  ) {}

  onApplicationBootstrap(): void {
    const cleanup = this.options.cleanup;
    if (!cleanup) return;
    if (!this.registry) {
      throw new SessionOptionsError(
        'cleanup',
        "needs @nestjs/schedule: import ScheduleModule.forRoot() in your AppModule, or set cleanup: false and purge from an external job (SessionService.purgeExpiredSessions).",
      );
    }
    // waitForCompletion: a slow purge is never overlapped by the next tick.
    this.job = CronJob.from({ cronTime: cleanup.cron, onTick: () => this.run(), waitForCompletion: true, start: false });
    this.registry.addCronJob(SESSION_CLEANUP_JOB, this.job as unknown as Parameters<SchedulerRegistry['addCronJob']>[1]);
    this.job.start();
    this.logger.log(`expired sessions are purged on "${cleanup.schedule}" (cron ${cleanup.cron}, server time)`);
  }

  /** One purge, as the schedule runs it: never throws. */
  async run(): Promise<void> {
    try {
      await this.sessions.purgeExpiredSessions();
    } catch (error) {
      this.logger.error(`purge failed: ${errorMessage(error)}`);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    if (!this.job) return;
    await this.job.stop();
    if (this.registry?.doesExist('cron', SESSION_CLEANUP_JOB)) this.registry.deleteCronJob(SESSION_CLEANUP_JOB);
  }
}
