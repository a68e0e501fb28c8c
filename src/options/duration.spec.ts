import { formatDuration, parseDuration } from './duration.js';

describe('parseDuration', () => {
  it.each([
    [0, 0],
    [1500, 1500],
    [1500.4, 1500],
    ['250', 250],
    ['250ms', 250],
    ['15s', 15_000],
    ['15m', 900_000],
    ['15 min', 900_000],
    ['1h', 3_600_000],
    ['1.5h', 5_400_000],
    ['2 hours', 7_200_000],
    ['30d', 2_592_000_000],
    ['1 day', 86_400_000],
    ['2w', 1_209_600_000],
    ['  7d  ', 604_800_000],
  ])('reads %p as %p ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each([[-1], [NaN], [Infinity], [''], ['h'], ['1y'], ['1M'], ['1 H'], ['-5m'], ['5m ago'], ['1e3'], [null], [undefined], [{}], [[1]], [true]])(
    'refuses %p',
    (input) => {
      expect(parseDuration(input)).toBeUndefined();
    },
  );
});

describe('formatDuration', () => {
  it.each([
    [86_400_000, '1d'],
    [2_592_000_000, '30d'],
    [5_400_000, '90m'],
    [90_000, '90s'],
    [1_500, '1500ms'],
  ])('writes %p as %p', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
