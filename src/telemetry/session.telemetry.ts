import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { Counter, Gauge, Histogram } from 'prom-client';
import { errorMessage } from '../core/utils.js';

type PromClient = typeof import('prom-client');

/** Why a validation refused a token (the label of `sessions_refused_total`). */
export type RefusalReason = 'malformed' | 'unknown' | 'expired' | 'user_not_found' | 'invalid_jwt' | 'invalid_refresh' | 'user_agent' | 'refresh_reused' | 'device_unbound' | 'device_proof';

/**
 * Why the shared cache (Memcached) refused an entry (the label of
 * `sessions_shared_cache_refused_total`): `unsigned`, not an entry signed by this version (an
 * older version's during a rolling upgrade, another app's under the same keyPrefix, or one
 * written by someone without the key); `forged`, signed but not with a configured key over this
 * content and this cache key (forged, tampered, moved from another token's key, or signed with
 * a `storage.secret` this instance does not have).
 */
export type SharedCacheRefusal = 'unsigned' | 'forged';

interface Emitter {
  emit(event: string, payload: unknown): boolean;
}

// What every accepted validation counts, kept as plain numbers and handed to prom-client when
// it collects (a scrape): a labelled inc() hashes its labels, and this runs on every request.
// One tally per process, like the registry the counters live in.
const tally = { accepted: 0, hit: 0, miss: 0 };

interface Metrics {
  created: Counter;
  validated: Counter<'result'>;
  refused: Counter<'reason'>;
  refreshed: Counter;
  revoked: Counter;
  purged: Counter;
  cache: Counter<'result'>;
  sharedCacheRefused: Counter<'reason'>;
  storeDuration: Histogram<'operation'>;
  live: Gauge;
}

// The app may run several SessionModules in one process (tests do); the live gauge asks the newest.
let liveSource: (() => Promise<number>) | undefined;

/**
 * Events (through @nestjs/event-emitter) and metrics (through prom-client's default registry),
 * each only when the app has the package: both are optional peers, found at startup.
 */
@Injectable()
export class SessionTelemetry implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('SessionModule');
  private emitter?: Emitter;
  private metrics?: Metrics;
  private source?: () => Promise<number>;

  constructor(@Inject(ModuleRef) private readonly moduleRef: ModuleRef) {}

  async onModuleInit(): Promise<void> {
    try {
      const { EventEmitter2 } = await import('@nestjs/event-emitter');
      this.emitter = this.moduleRef.get(EventEmitter2, { strict: false });
    } catch {
      // No @nestjs/event-emitter, or no EventEmitterModule.forRoot(): nobody is listening.
    }
    try {
      this.metrics = createMetrics(await import('prom-client'));
    } catch (error) {
      if ((error as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') {
        this.logger.warn(`session metrics are off: ${errorMessage(error)}`);
      }
    }
  }

  /** Sets what the live-sessions gauge reports. */
  countLiveWith(source: () => Promise<number>): void {
    this.source = source;
    liveSource = source;
  }

  onApplicationShutdown(): void {
    if (liveSource === this.source) liveSource = undefined;
  }

  emit(event: string, payload: object): void {
    try {
      this.emitter?.emit(event, payload);
    } catch (error) {
      // A failing audit listener must not fail a login or a logout.
      this.logger.error(`a listener of ${event} failed: ${errorMessage(error)}`);
    }
  }

  created(): void {
    this.metrics?.created.inc();
  }
  validated(cache: 'hit' | 'miss' | 'off'): void {
    if (!this.metrics) return;
    tally.accepted += 1;
    if (cache !== 'off') tally[cache] += 1;
  }
  /** Counts a refused token and says why in the debug log; null, for the caller to return. */
  refuse(reason: RefusalReason): null {
    refusals.debug(`refused: ${reason.replace(/_/g, ' ')}`);
    this.metrics?.validated.inc({ result: 'refused' });
    this.metrics?.refused.inc({ reason });
    return null;
  }
  refreshed(): void {
    this.metrics?.refreshed.inc();
  }
  revoked(count: number): void {
    if (count > 0) this.metrics?.revoked.inc(count);
  }
  purged(count: number): void {
    if (count > 0) this.metrics?.purged.inc(count);
  }
  /** Counts a shared-cache entry that was refused, and so read from the store of record instead. */
  sharedCacheRefused(reason: SharedCacheRefusal): void {
    this.metrics?.sharedCacheRefused.inc({ reason });
  }
  /** Starts timing a store call; the returned function stops it. */
  time(operation: string): () => void {
    return this.metrics ? this.metrics.storeDuration.startTimer({ operation }) : noop;
  }
}

const noop = () => undefined;
// Refusals are the service's to explain, under its name.
const refusals = new Logger('SessionService');

function createMetrics(prom: PromClient): Metrics {
  const registry = prom.register;
  const { Counter, Gauge, Histogram } = prom;
  // Reused when already registered (another SessionModule in this process, or a hot reload).
  const once = <T>(name: string, make: () => T): T => (registry.getSingleMetric(name) as T | undefined) ?? make();
  return {
    created: once('sessions_created_total', () => new Counter({ name: 'sessions_created_total', help: 'Sessions created (logins).', registers: [registry] })),
    validated: once('sessions_validated_total', () =>
      new Counter({
        name: 'sessions_validated_total',
        help: 'Session validations, by result (accepted, refused).',
        labelNames: ['result'],
        registers: [registry],
        collect() {
          if (tally.accepted > 0) this.inc({ result: 'accepted' }, tally.accepted);
          tally.accepted = 0;
        },
      }),
    ),
    refused: once('sessions_refused_total', () => new Counter({ name: 'sessions_refused_total', help: 'Refused session tokens, by reason.', labelNames: ['reason'], registers: [registry] })),
    refreshed: once('sessions_refreshed_total', () => new Counter({ name: 'sessions_refreshed_total', help: 'Sliding-expiry writes.', registers: [registry] })),
    revoked: once('sessions_revoked_total', () => new Counter({ name: 'sessions_revoked_total', help: 'Sessions ended by logout, revocation or rotation.', registers: [registry] })),
    purged: once('sessions_purged_total', () => new Counter({ name: 'sessions_purged_total', help: 'Expired sessions deleted by purges.', registers: [registry] })),
    cache: once('sessions_cache_total', () =>
      new Counter({
        name: 'sessions_cache_total',
        help: 'Local session cache lookups, by result (hit, miss).',
        labelNames: ['result'],
        registers: [registry],
        collect() {
          if (tally.hit > 0) this.inc({ result: 'hit' }, tally.hit);
          if (tally.miss > 0) this.inc({ result: 'miss' }, tally.miss);
          tally.hit = 0;
          tally.miss = 0;
        },
      }),
    ),
    sharedCacheRefused: once('sessions_shared_cache_refused_total', () =>
      new Counter({
        name: 'sessions_shared_cache_refused_total',
        help: 'Shared cache (Memcached) entries refused as not signed with storage.secret, by reason (unsigned, forged); each was deleted and its session read from the store of record.',
        labelNames: ['reason'],
        registers: [registry],
      }),
    ),
    storeDuration: once('sessions_store_duration_seconds', () =>
      new Histogram({
        name: 'sessions_store_duration_seconds',
        help: 'Latency of session store calls, by operation.',
        labelNames: ['operation'],
        buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
        registers: [registry],
      }),
    ),
    live: once('sessions_live', () =>
      new Gauge({
        name: 'sessions_live',
        help: 'Sessions not yet expired (counted in the store at scrape time).',
        registers: [registry],
        async collect() {
          if (liveSource) this.set(await liveSource());
        },
      }),
    ),
  };
}
