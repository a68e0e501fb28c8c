/**
 * The demo benchmark's figures: what is measured, the round order, medians, the table, the two
 * targets of issue 20 (items 1 and 2) with PASS or MISS, and the JSON file.
 */
import { writeFileSync } from 'node:fs';
import type { Sample } from './processes.js';
import type { ServerName } from './protocol.js';

/** The measurements: two routes of the cache-on demo, the cache-off demo, the floor (and prepared). */
export const MEASURES = {
  hit: { server: 'demo-hit', path: '/me', what: 'demo, cache on: GET /me (a cache hit)' },
  open: { server: 'demo-hit', path: '/bench/open', what: 'demo, same process: @Public() GET /bench/open, same params' },
  miss: { server: 'demo-miss', path: '/me', what: 'demo, cache off: GET /me' },
  floor: { server: 'floor', path: '/me', what: 'floor: Express + pg, sha256 + one SELECT JOIN users' },
  floorp: { server: 'floor', path: '/me/prepared', what: 'floor, the SELECT prepared (no target)' },
} as const satisfies Record<string, { server: ServerName; path: string; what: string }>;
export type Measure = keyof typeof MEASURES;

/** `items` in a random order drawn from `seed` (xorshift32, Fisher-Yates): bench/run.ts's, so the same seed gives the same order. */
export function shuffled<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let state = Math.imul(seed, 0x9e3779b1) >>> 0 || 1;
  const random = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

export function median(values: number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');
const fixed = (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : '-');
const signed = (n: number, d = 1) => (Number.isFinite(n) ? `${n >= 0 ? '+' : ''}${n.toFixed(d)}` : '-');

function table(head: string[], rows: string[][], leftColumns = 1): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < leftColumns ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export interface RunFacts {
  command: string;
  options: { quick: boolean; rounds: number; durationMs: number; connections: number };
  machine: { cores: number; cpu: string; node: string; postgres: string; loadStart: number[]; loadEnd: number[]; build: string };
  samples: Record<Measure, Sample[]>;
  /** SQL statements per request, counted in the server before the rounds. */
  statements: Record<Measure, number>;
  seconds: number;
}

/** The report as text, and what --json writes. */
export function report(facts: RunFacts): { text: string; json: unknown } {
  const { samples, options, machine } = facts;
  const perRound = (f: (i: number) => number) => samples.hit.map((_, i) => f(i));
  const cpuDiff = perRound((i) => samples.hit[i].cpuPerRequest - samples.open[i].cpuPerRequest);
  const missFloor = perRound((i) => samples.miss[i].rps / samples.floor[i].rps);
  const missFloorCpu = perRound((i) => samples.miss[i].cpuPerRequest - samples.floor[i].cpuPerRequest);
  const missFloorp = perRound((i) => samples.miss[i].rps / samples.floorp[i].rps);
  const hitOpen = perRound((i) => samples.hit[i].rps / samples.open[i].rps);
  const hits = samples.hit.reduce((n, s) => n + (s.cache?.hit ?? 0), 0);
  const misses = samples.hit.reduce((n, s) => n + (s.cache?.miss ?? 0), 0);
  const during = Object.values(samples).flat().map((s) => s.loadAverage);

  const out: string[] = [''];
  out.push(`nestjs-sessions demo benchmark (${options.quick ? 'quick' : 'full'}): ${facts.command}`);
  out.push(
    `machine: ${machine.cores} cores (${machine.cpu}), Node ${machine.node}, PostgreSQL ${machine.postgres}; load average (1 min) ${fixed(machine.loadStart[0])} at the start, ` +
      `${fixed(Math.min(...during))}-${fixed(Math.max(...during))} during the rounds, ${machine.loadEnd.map((l) => fixed(l)).join(' ')} at the end`,
  );
  out.push(`measured: ${machine.build}`);
  out.push('');
  out.push(
    `${options.connections} connections (one user's session each, bearer), ${options.rounds} rounds x ${options.durationMs / 1000} s per measurement, interleaved in a shuffled order per round (fixed seeds); medians over rounds`,
  );
  out.push(
    table(
      ['', 'measurement', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req', 'SQL/req', 'req/s per round', 'CPU µs/req per round'],
      (Object.keys(MEASURES) as Measure[]).map((m) => {
        const list = samples[m];
        const bad = list.reduce((n, s) => n + s.non2xx + s.errors, 0);
        return [
          m,
          MEASURES[m].what + (bad > 0 ? ` (${bad} failed)` : ''),
          int(median(list.map((s) => s.rps))),
          fixed(median(list.map((s) => s.p50)), 0),
          fixed(median(list.map((s) => s.p99)), 0),
          fixed(median(list.map((s) => s.cpuPerRequest)), 1),
          fixed(facts.statements[m], 2),
          list.map((s) => int(s.rps)).join(' '),
          list.map((s) => fixed(s.cpuPerRequest, 1)).join(' '),
        ];
      }),
      2,
    ),
  );
  out.push(`cache-hit rounds: ${int(hits)} hits, ${int(misses)} misses in the demo's sessions_cache_total (hit ratio ${fixed(hits / (hits + misses), 4)})`);

  const spread = (xs: number[], d: number) => `min ${signed(Math.min(...xs), d)}, median ${signed(median(xs), d)}, max ${signed(Math.max(...xs), d)}; per round ${xs.map((x) => signed(x, d)).join(' ')}`;
  const diff = median(cpuDiff);
  const ratio = median(missFloor);
  const targets = [
    { name: 'hit - open, server CPU µs/req (median of per-round differences)', goal: '<= 5', shown: signed(diff), pass: diff <= 5 },
    { name: 'miss / floor, req/s (median of per-round ratios)', goal: '>= 0.8', shown: fixed(ratio), pass: ratio >= 0.8 },
  ];
  out.push('');
  out.push('targets (issue 20, items 1 and 2)');
  out.push(table(['target', 'goal', 'measured', ''], targets.map((t) => [t.name, t.goal, t.shown, t.pass ? 'PASS' : 'MISS'])));
  out.push(`  hit - open CPU µs/req: ${spread(cpuDiff, 1)}`);
  out.push(`  hit / open req/s (no target): ${spread(hitOpen, 2).replace(/\+/g, '')}`);
  out.push(`  miss / floor req/s: ${spread(missFloor, 2).replace(/\+/g, '')}`);
  out.push(`  miss / floorp req/s (the floor prepared, no target): ${spread(missFloorp, 2).replace(/\+/g, '')}`);
  out.push(
    `  CPU µs/req: miss ${fixed(median(samples.miss.map((s) => s.cpuPerRequest)), 1)}, floor ${fixed(median(samples.floor.map((s) => s.cpuPerRequest)), 1)}; miss - floor ${spread(missFloorCpu, 1)}`,
  );
  const missed = targets.filter((t) => !t.pass);
  out.push('');
  out.push(missed.length === 0 ? 'both targets met' : `MISSED: ${missed.map((t) => t.name.split(',')[0]).join('; ')}`);
  out.push(`took ${facts.seconds.toFixed(0)} s`);
  out.push('');

  const json = {
    ...facts,
    derived: { cpuDiffHitOpen: cpuDiff, ratioMissFloor: missFloor, ratioMissFloorPrepared: missFloorp, cpuDiffMissFloor: missFloorCpu, ratioHitOpen: hitOpen, cacheHits: hits, cacheMisses: misses },
    targets,
  };
  return { text: out.join('\n'), json };
}

export function writeJson(file: string, json: unknown): void {
  writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);
}
