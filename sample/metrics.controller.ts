import { Controller, Get, Header } from '@nestjs/common';
import { register } from 'prom-client';
import { Public } from 'nestjs-sessions';

/**
 * Prometheus metrics, the session ones included (`sessions_*`). Open here for the demo; in
 * production keep it off the public internet (a separate port, or a network rule).
 */
@Controller('metrics')
export class MetricsController {
  @Public()
  @Get()
  @Header('content-type', register.contentType)
  @Header('cache-control', 'no-store')
  metrics(): Promise<string> {
    return register.metrics();
  }
}
