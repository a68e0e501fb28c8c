import { CronTime } from 'cron';
import { parseCleanupSchedule, ScheduleError } from './cleanup-schedule.js';

// Monday 2026-11-23, 10:07:30 local time.
const MONDAY = new Date(2026, 10, 23, 10, 7, 30);

function nextRun(schedule: string, from = MONDAY): Date {
  const time = new CronTime(parseCleanupSchedule(schedule));
  return time.getNextDateFrom(from).toJSDate();
}

describe('parseCleanupSchedule, short form', () => {
  it.each([
    ['15 * *', '0 15 * * * *', new Date(2026, 10, 23, 10, 15)],
    ['0 * *', '0 0 * * * *', new Date(2026, 10, 23, 11, 0)],
    ['* * *', '0 * * * * *', new Date(2026, 10, 23, 10, 8)],
    ['30 3 *', '0 30 3 * * *', new Date(2026, 10, 24, 3, 30)],
    ['0 4 1', '0 0 4 * * 1', new Date(2026, 10, 30, 4, 0)],
    ['0 4 7', '0 0 4 * * 7', new Date(2026, 10, 29, 4, 0)],
    ['05 09 3', '0 5 9 * * 3', new Date(2026, 10, 25, 9, 5)],
    ['  59   23   *  ', '0 59 23 * * *', new Date(2026, 10, 23, 23, 59)],
  ])('reads %p as %p, next run %p', (schedule, cron, next) => {
    expect(parseCleanupSchedule(schedule)).toBe(cron);
    expect(nextRun(schedule)).toEqual(next);
  });

  it.each([
    ['60 * *', 'minute', 'minute "60" in "60 * *" is not 0-59 or *'],
    ['-1 * *', 'minute', 'minute "-1"'],
    ['x * *', 'minute', 'minute "x"'],
    ['*/5 * *', 'minute', 'minute "*/5"'],
    ['0 24 *', 'hour', 'hour "24" in "0 24 *" is not 0-23 or *'],
    ['0 * 0', 'week-day', 'week-day "0" in "0 * 0" is not 1-7 or *'],
    ['0 * 8', 'week-day', 'week-day "8"'],
    ['0 * mon', 'week-day', 'week-day "mon"'],
    ['0 *', 'fields', 'has 2 field(s)'],
    ['', 'fields', 'has 1 field(s)'],
    ['0 0 0 0 0 0 0', 'fields', 'has 7 field(s)'],
    ['0 99 * * *', 'cron', 'is not a valid cron expression'],
  ])('refuses %p, naming the %s', (schedule, field, message) => {
    let error: unknown;
    try {
      parseCleanupSchedule(schedule);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ScheduleError);
    expect((error as ScheduleError).field).toBe(field);
    expect((error as ScheduleError).message).toContain(message);
  });
});

describe('parseCleanupSchedule, cron strings', () => {
  it('takes five fields (adding seconds) and six as they are', () => {
    expect(parseCleanupSchedule('*/10 * * * *')).toBe('0 */10 * * * *');
    expect(parseCleanupSchedule('30 */10 * * * *')).toBe('30 */10 * * * *');
    expect(nextRun('*/10 * * * *')).toEqual(new Date(2026, 10, 23, 10, 10));
  });
});
