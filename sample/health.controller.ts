import { Controller, Get, ServiceUnavailableException } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { Public, SessionService } from 'nestjs-sessions';

const HEALTH_TIMEOUT_MS = 2_000;

@Controller('health')
export class HealthController {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly sessions: SessionService,
  ) {}

  @Public()
  @Get()
  async check(): Promise<{ status: 'ok' }> {
    let timer: NodeJS.Timeout | undefined;
    try {
      // The users' database and the session store (the same PostgreSQL, or Redis).
      await Promise.race([
        Promise.all([this.dataSource.query('SELECT 1'), this.sessions.checkStore()]),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), HEALTH_TIMEOUT_MS))),
      ]);
      return { status: 'ok' };
    } catch {
      throw new ServiceUnavailableException();
    } finally {
      clearTimeout(timer);
    }
  }
}
