import type { Logger } from '@nestjs/common';

/** How often a warning of one kind is written at most, when none is given. */
export const DEFAULT_WARN_INTERVAL_MS = 10_000;

/**
 * Warnings of one kind, at most one per interval; the next one written says how many were held
 * back. What triggers them may be in an attacker's hands (forged cache entries, tokens tried from
 * other agents) or repeat on every request (an outage), and a log flooded by one kind hides the
 * others, so each kind gets its own limiter.
 */
export class RateLimitedWarnings {
  private lastAt = -Infinity;
  private held = 0;

  constructor(
    private readonly logger: Pick<Logger, 'warn'>,
    private readonly intervalMs = DEFAULT_WARN_INTERVAL_MS,
  ) {}

  /** Writes `text` (and a period) unless one was written less than the interval ago. */
  warn(text: string): void {
    const now = Date.now();
    if (now - this.lastAt < this.intervalMs) {
      this.held++;
      return;
    }
    const held = this.held;
    this.lastAt = now;
    this.held = 0;
    this.logger.warn(`${text}${held > 0 ? ` (${held} more warning(s) in the last ${this.intervalMs / 1000} s not shown)` : ''}.`);
  }
}
