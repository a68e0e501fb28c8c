import { createHash, timingSafeEqual } from 'node:crypto';
import { Controller, Get, Header, Headers, Logger, ServiceUnavailableException, type Type, UnauthorizedException } from '@nestjs/common';
import { register } from 'prom-client';
import { Public } from 'nestjs-sessions';

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * `GET /metrics`: Prometheus metrics, the session ones included (`sessions_*`), for a scraper
 * that sends `Authorization: Bearer <METRICS_TOKEN>`. Without METRICS_TOKEN the demo has no such
 * route (a 404 like any unknown path): the refusal counts by reason tell a token thief whether
 * a stolen token still works, so they are not for everyone. Not "localhost only" instead: behind
 * a reverse proxy on the same host every request comes from localhost.
 */
export function metricsController(token: string): Type {
  const expected = digest(token);

  @Controller('metrics')
  class MetricsController {
    private readonly logger = new Logger('Metrics');

    // @Public: the session guard has nothing to say here; the metrics token is checked below.
    @Public()
    @Get()
    @Header('content-type', register.contentType)
    @Header('cache-control', 'no-store')
    async metrics(@Headers('authorization') authorization: string | undefined): Promise<string> {
      const presented = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
      // Compared as digests: equal lengths for timingSafeEqual, and no timing of how much matched.
      if (presented === undefined || !timingSafeEqual(digest(presented), expected)) throw new UnauthorizedException();
      try {
        return await register.metrics();
      } catch (error) {
        // A collector failed (the live-sessions count, with the store down): one line in the
        // log, and the scraper gets a plain 503 with no stack and no detail.
        this.logger.warn(`metrics unavailable: ${error instanceof Error ? error.message : String(error)}`);
        throw new ServiceUnavailableException();
      }
    }
  }
  return MetricsController;
}
