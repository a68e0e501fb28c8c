import { validateCronExpression } from 'cron';

/** The cleanup schedule when none is given: hourly, on the hour. */
export const DEFAULT_CLEANUP_SCHEDULE = '0 * *';

const SHORT_FIELDS = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'week-day', min: 1, max: 7 },
] as const;

const SHORT_FORM = '"<minute 0-59> <hour 0-23> <week-day 1-7, 1 = Monday>", each a number or *';

/** Why a schedule was refused; `field` names the part at fault. */
export class ScheduleError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Reads a cleanup schedule: the short form `<minute> <hour> <week-day>` (week-day 1 = Monday …
 * 7 = Sunday, `*` for any; `"15 * *"` is 15 past every hour), or a 5- or 6-field cron string.
 * Returns the cron expression (with seconds) to register; throws ScheduleError naming the field.
 */
export function parseCleanupSchedule(schedule: string): string {
  const fields = schedule.trim().split(/\s+/);
  if (fields.length === 3) {
    const cron = fields.map((value, i) => {
      const { name, min, max } = SHORT_FIELDS[i];
      if (value === '*') return '*';
      if (!/^\d{1,2}$/.test(value) || Number(value) < min || Number(value) > max) {
        throw new ScheduleError(name, `${name} ${JSON.stringify(value)} in ${JSON.stringify(schedule)} is not ${min}-${max} or *; the short form is ${SHORT_FORM}.`);
      }
      return String(Number(value));
    });
    // cron's day-of-week runs 0-7 with 1 = Monday and 7 = Sunday, as the short form does.
    return `0 ${cron[0]} ${cron[1]} * * ${cron[2]}`;
  }
  if (fields.length === 5 || fields.length === 6) {
    const cron = fields.length === 5 ? `0 ${fields.join(' ')}` : fields.join(' ');
    const { valid, error } = validateCronExpression(cron);
    if (!valid) throw new ScheduleError('cron', `${JSON.stringify(schedule)} is not a valid cron expression (${error?.message ?? 'unknown error'}).`);
    return cron;
  }
  throw new ScheduleError(
    'fields',
    `${JSON.stringify(schedule)} has ${fields.length} field(s); expected the short form ${SHORT_FORM}, or a cron string of 5 or 6 fields.`,
  );
}
