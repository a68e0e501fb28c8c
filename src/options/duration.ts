/** A length of time: milliseconds, or a string such as `'15m'`, `'1h'`, `'30d'`. */
export type Duration = number | string;

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  sec: 1_000,
  second: 1_000,
  seconds: 1_000,
  m: 60_000,
  min: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hr: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000,
  w: 604_800_000,
  week: 604_800_000,
  weeks: 604_800_000,
};

// Case-sensitive on purpose: 'M' (month?) and 'MS' are more likely mistakes than intent.
const DURATION = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/;

/**
 * Parses a duration to whole milliseconds, or returns `undefined` when it is not one.
 * A bare number, or a string of digits (as environment variables give), is milliseconds.
 */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') {
    return Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined;
  }
  if (typeof value !== 'string') return undefined;
  const match = DURATION.exec(value.trim());
  if (!match) return undefined;
  const unit = match[2] === '' ? 1 : UNIT_MS[match[2]];
  if (unit === undefined) return undefined;
  return Math.round(Number(match[1]) * unit);
}

/** The largest whole unit that divides `ms`: 86400000 → '1d', 90000 → '90s'. */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1_000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
