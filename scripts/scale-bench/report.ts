/** The scale benchmark's results and how they are printed. */
import type { Summary } from './measure.js';
import type { TableSize } from './data.js';
import { LISTING_SESSIONS } from './data.js';
import type { IndexVariant, SettingsName } from './settings.js';

const PURGE_GOAL_SECONDS = 60;
const int = (n: number) => Math.round(n).toLocaleString('en-US');

export interface SizeResult {
  rows: number;
  settings: SettingsName;
  index: IndexVariant;
  hotTokens: number;
  plans: Record<string, string>;
  load: { insertSeconds: number; indexSeconds: number; vacuumSeconds: number; checkpointSeconds: number; totalSeconds: number };
  table: TableSize & { bytesPerRow: number };
  validation: Summary;
  /** The same loops on the one indexed SELECT, on a pg pool: the floor at this size. */
  validationRaw: Summary;
  listing: Summary;
  login: Summary;
  /** WAL per login, server-wide (anything else running on the server counts too). */
  loginWal: { bytes: number; fullPageImages: number };
  repair: { removed: number; restored: number; seconds: number };
  purge: { rows: number; expected: number; seconds: number; rowsPerSecond: number; secondsFor5M: number; before: Summary; during: Summary; p99Ratio: number };
  vacuumAfterPurgeSeconds: number;
  wallSeconds: number;
}

const ms = (n: number) => n.toFixed(2);
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const pad = (cells: string[], widths: number[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');

export function sizeReport(r: SizeResult): string[] {
  const w = [22, 10, 9, 9, 9, 9, 9];
  const phase = (name: string, s: Summary) => pad([name, int(s.count), int(s.perSecond), ms(s.p50), ms(s.p99), ms(s.max), int(s.failures)], w);
  return [
    `== ${int(r.rows)} rows (settings ${r.settings}, index ${r.index}; ${int(r.hotTokens)} hot tokens), ${r.wallSeconds.toFixed(0)} s in all`,
    `load        ${r.load.totalSeconds.toFixed(1)} s: insert ${r.load.insertSeconds.toFixed(1)} s (${int(r.rows / r.load.insertSeconds)} rows/s), indexes ${r.load.indexSeconds.toFixed(1)} s, VACUUM ANALYZE ${r.load.vacuumSeconds.toFixed(1)} s, CHECKPOINT ${r.load.checkpointSeconds.toFixed(1)} s`,
    `table       ${mb(r.table.totalBytes)}, ${r.table.bytesPerRow.toFixed(0)} bytes/row: heap ${mb(r.table.heapBytes)} (${(r.table.heapBytes / r.rows).toFixed(0)} B/row)` +
      r.table.indexes.map((x) => `, ${x.name} ${mb(x.bytes)} (${(x.bytes / r.rows).toFixed(0)} B/row)`).join(''),
    ...Object.entries(r.plans).map(([name, plan]) => `plan        ${name}: ${plan}`),
    '',
    pad(['', 'count', 'per s', 'p50 ms', 'p99 ms', 'max ms', 'failures'], w),
    phase('validation (miss)', r.validation),
    phase('  raw SELECT floor', r.validationRaw),
    phase('login', r.login),
    phase(`listing (${LISTING_SESSIONS} sessions)`, r.listing),
    phase('validation pre-purge', r.purge.before),
    phase('validation in purge', r.purge.during),
    '',
    `purge       ${int(r.purge.rows)} rows${r.purge.rows === r.purge.expected ? '' : ` (expected ${int(r.purge.expected)})`} in ${r.purge.seconds.toFixed(2)} s = ${int(r.purge.rowsPerSecond)} rows/s; 5,000,000 at this rate: ${r.purge.secondsFor5M.toFixed(1)} s`,
    `            validation p99 in purge / before: ${r.purge.p99Ratio.toFixed(2)}x; VACUUM after the purge ${r.vacuumAfterPurgeSeconds.toFixed(1)} s`,
    `login WAL   ${int(r.loginWal.bytes)} bytes and ${r.loginWal.fullPageImages.toFixed(2)} full-page images per login (server-wide counters)`,
    `after login ${int(r.repair.removed)} new sessions removed, ${int(r.repair.restored)} deleted expired ones put back, in ${r.repair.seconds.toFixed(1)} s`,
    '',
  ];
}

export interface Check {
  goal: string;
  value: string;
  pass: boolean;
  /** A figure beside the goals, not one of them. */
  informational?: true;
}

export function checks(results: SizeResult[]): Check[] {
  const small = results[0];
  const big = results[results.length - 1];
  const span = `${int(small.rows)} -> ${int(big.rows)}`;
  return [
    { goal: `validation throughput no more than 10% lower (${span})`, value: (big.validation.perSecond / small.validation.perSecond).toFixed(2), pass: big.validation.perSecond / small.validation.perSecond >= 0.9 },
    {
      goal: `the raw SELECT floor's throughput, the same span: what PostgreSQL itself loses`,
      value: (big.validationRaw.perSecond / small.validationRaw.perSecond).toFixed(2),
      pass: true,
      informational: true,
    },
    { goal: `login throughput no more than 10% lower (${span})`, value: (big.login.perSecond / small.login.perSecond).toFixed(2), pass: big.login.perSecond / small.login.perSecond >= 0.9 },
    { goal: `validation p99 within 1.5x (${span})`, value: `${(big.validation.p99 / small.validation.p99).toFixed(2)}x`, pass: big.validation.p99 / small.validation.p99 <= 1.5 },
    {
      goal: `purge of 5,000,000 rows under ${PURGE_GOAL_SECONDS} s (at ${int(big.rows)} rows' rate)`,
      value: `${big.purge.secondsFor5M.toFixed(1)} s`,
      pass: big.purge.secondsFor5M < PURGE_GOAL_SECONDS,
    },
  ];
}

export function summaryReport(results: SizeResult[]): string[] {
  const small = results[0];
  const w = [12, 10, 6, 8, 6, 9, 6, 9, 10, 9, 8, 6];
  const lines = [
    `== summary, settings ${small.settings}, index ${small.index} (ratios against ${int(small.rows)} rows)`,
    pad(['rows', 'valid./s', 'ratio', 'p99 ms', 'ratio', 'login/s', 'ratio', 'list p50', 'purge r/s', '5M purge', 'in/pre', 'B/row'], w),
  ];
  for (const r of results) {
    lines.push(
      pad(
        [
          int(r.rows),
          int(r.validation.perSecond),
          (r.validation.perSecond / small.validation.perSecond).toFixed(2),
          ms(r.validation.p99),
          (r.validation.p99 / small.validation.p99).toFixed(2),
          int(r.login.perSecond),
          (r.login.perSecond / small.login.perSecond).toFixed(2),
          ms(r.listing.p50),
          int(r.purge.rowsPerSecond),
          `${r.purge.secondsFor5M.toFixed(1)} s`,
          r.purge.p99Ratio.toFixed(2),
          r.table.bytesPerRow.toFixed(0),
        ],
        w,
      ),
    );
  }
  lines.push('');
  if (results.length > 1) for (const c of checks(results)) lines.push(`${c.informational ? 'info' : c.pass ? 'PASS' : 'MISS'}  ${c.goal}: ${c.value}`);
  else lines.push('(one size only: no goal checks, they compare the smallest size with the largest)');
  lines.push('');
  return lines;
}

