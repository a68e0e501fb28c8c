/** scripts/scale-bench.ts's command line. */
import type { IndexVariant, SettingsName } from './settings.js';

/** What a run is asked: the table sizes, the seconds per timed phase, the settings and index to run them with. */
export interface Args {
  sizes: number[];
  seconds: number;
  settings: SettingsName[];
  index: IndexVariant;
  loadIndexes: 'after' | 'during';
  json?: string;
}

/** The command line's flags, checked (an Error naming the flag for a bad one). */
export function parseArgs(argv: string[]): Args {
  const quick = argv.includes('--quick');
  const value = (flag: string) => {
    const at = argv.indexOf(flag);
    return at === -1 ? undefined : argv[at + 1];
  };
  const oneOf = <T extends string>(flag: string, allowed: readonly T[], fallback: T): T => {
    const v = value(flag) ?? fallback;
    if (!allowed.includes(v as T)) throw new Error(`${flag}: expected one of ${allowed.join(', ')}, got ${v}`);
    return v as T;
  };
  const sizes = (value('--sizes') ?? (quick ? '10000,100000' : '10000,1000000,10000000')).split(',').map((s) => Number(s.replace(/_/g, '')));
  for (const n of sizes) if (!Number.isSafeInteger(n) || n < 10_000) throw new Error(`--sizes: expected whole numbers of at least 10,000, got ${value('--sizes')}`);
  const settings = (value('--settings') ?? 'default').split(',') as SettingsName[];
  for (const s of settings) if (s !== 'default' && s !== 'recommended') throw new Error(`--settings: expected default, recommended or both, got ${s}`);
  const seconds = Number(value('--seconds') ?? (quick ? 2 : 5));
  if (!(seconds > 0)) throw new Error(`--seconds: expected a positive number, got ${value('--seconds')}`);
  return {
    sizes: [...sizes].sort((a, b) => a - b),
    seconds,
    settings,
    index: oneOf('--index', ['default', 'hash', 'covering'], 'default'),
    loadIndexes: oneOf('--load-indexes', ['after', 'during'], 'after'),
    json: value('--json'),
  };
}
