/**
 * bench/run.ts's report: the tables of the HTTP and service-level figures, and each target with
 * its measured value and PASS or MISS. Ratios are medians of the per-round ratios.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { POOL_SIZE, type Variant, VARIANTS } from './common.js';
import type { MemoryResult } from './memory.js';
import type { ServiceResult, Throughput } from './service.js';
import type { Sample } from './support.js';

/** The median of the finite values; NaN for none. */
export function median(values: number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');
export const fixed = (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : '-');

export function table(head: string[], rows: string[][], leftColumns = 1): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < leftColumns ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function versionOf(name: string): string {
  try {
    return (JSON.parse(readFileSync(join(process.cwd(), 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

/** A target, as printed and written to --json. */
export interface Target {
  name: string;
  goal: string;
  value: number;
  shown: string;
  pass: boolean;
}

/** What a run measured, and what it was asked. */
export interface RunResult {
  options: { quick: boolean; rounds: number; durationMs: number; connections: number; variants: Variant[] };
  command: string;
  samples: Map<Variant, Sample[]>;
  service?: ServiceResult;
  memory: MemoryResult;
  pgVersion: string;
  redisVersion: string;
  /** Date.now() at the start. */
  started: number;
}

/** The report's text and its targets. */
export function report(run: RunResult): { text: string; targets: Target[] } {
  const { options, command, samples, service, memory, pgVersion, started } = run;
  const stats = new Map<Variant, { rps: number; p50: number; p99: number; cpu: number; bad: number; rounds: number[] }>();
  for (const [variant, list] of samples) {
    stats.set(variant, {
      rps: median(list.map((s) => s.rps)),
      p50: median(list.map((s) => s.p50)),
      p99: median(list.map((s) => s.p99)),
      cpu: median(list.map((s) => s.cpuPerRequest)),
      bad: list.reduce((n, s) => n + s.non2xx + s.errors, 0),
      rounds: list.map((s) => s.rps),
    });
  }
  // The median of the per-round ratios.
  const pairedRatio = (xs: number[], ys: number[]) => median(xs.map((x, i) => x / ys[i]).filter((r) => Number.isFinite(r)));
  const ratio = (x: Variant, y: Variant) =>
    samples.has(x) && samples.has(y) ? pairedRatio(samples.get(x)!.map((s) => s.rps), samples.get(y)!.map((s) => s.rps)) : NaN;
  // Server CPU per request of x over y, per round (the two ran minutes apart at most): the median and the spread.
  const cpuOver = (x: Variant, y: Variant) => {
    const ys = samples.get(y)!;
    const over = samples.get(x)!.map((s, i) => s.cpuPerRequest - ys[i].cpuPerRequest);
    return { median: median(over), min: Math.min(...over), max: Math.max(...over) };
  };

  const out: string[] = [];
  out.push('');
  out.push(`nestjs-sessions benchmark (${options.quick ? 'quick' : 'full'}): ${command}`);
  out.push(
    `machine: ${os.cpus().length} cores (${os.cpus()[0]?.model.trim() ?? '?'}), ${Math.round(os.totalmem() / 2 ** 30)} GB, Node ${process.version}, PostgreSQL ${pgVersion}, Redis ${run.redisVersion}; ` +
      `load average at the end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
  );
  out.push(
    `versions: @nestjs/core ${versionOf('@nestjs/core')}, express ${versionOf('express')}, typeorm ${versionOf('typeorm')}, pg ${versionOf('pg')}, ioredis ${versionOf('ioredis')}, ` +
      `express-session ${versionOf('express-session')}, connect-pg-simple ${versionOf('connect-pg-simple')}, connect-redis ${versionOf('connect-redis')}, redis ${versionOf('redis')}, autocannon ${versionOf('autocannon')}`,
  );
  if (options.variants.length > 0) {
    out.push('');
    out.push(
      `HTTP: GET /me -> {id,email}, ${options.connections} connections (one user's session each), ${options.rounds} rounds x ${options.durationMs / 1000} s per variant, interleaved; medians over rounds (ratios: median of the per-round ratios)`,
    );
    out.push(
      table(
        ['', 'variant', 'req/s', 'p50 ms', 'p99 ms', 'server CPU µs/req', 'req/s per round'],
        options.variants.map((v) => {
          const s = stats.get(v)!;
          return [v, VARIANTS[v] + (s.bad > 0 ? ` (${s.bad} failed)` : ''), int(s.rps), fixed(s.p50, 0), fixed(s.p99, 0), int(s.cpu), s.rounds.map(int).join(' ')];
        }),
        2,
      ),
    );
  }
  const extraRatios: [string, number][] = [
    // No guard can beat the route without one: b/d is at most a/d, e/f at most a/f.
    ['a/d (no auth vs express-session + pg, the bound of b/d; "about 4.8")', ratio('a', 'd')],
    ['a/f (no auth vs express-session + Redis, the bound of e/f)', ratio('a', 'f')],
    ['g/d (floor vs express-session + pg; "about 2.6")', ratio('g', 'd')],
    ['c/g0 (cache off vs the node:http floor)', ratio('c', 'g0')],
    ['bt/a (a guard and @CurrentUser() with no session check, vs no guard)', ratio('bt', 'a')],
    ['b/bt (the session check, cache on, vs a guard that checks nothing)', ratio('b', 'bt')],
    ['c/gp (cache off vs the floor with its SELECT prepared, as the store prepares its own)', ratio('c', 'gp')],
    ['af/a (Fastify vs Express, no auth)', ratio('af', 'a')],
    ['bf/b (Fastify vs Express, cache on)', ratio('bf', 'b')],
    ['cf/c (Fastify vs Express, cache off)', ratio('cf', 'c')],
    ['gf/g (Fastify vs Express, the floor)', ratio('gf', 'g')],
    ['c2/g (cache off, resolveUser: two queries, vs the floor)', ratio('c2', 'g')],
    ['c2/d (cache off, resolveUser, vs express-session + pg)', ratio('c2', 'd')],
    ['b/d0 (cache on vs express-session + pg without Nest)', ratio('b', 'd0')],
    ['c/d0 (cache off vs express-session + pg without Nest)', ratio('c', 'd0')],
    ['e0/f (Redis store, cache off, vs connect-redis)', ratio('e0', 'f')],
    ['bj/b (JWT vs opaque token, cache on)', ratio('bj', 'b')],
    ['bx/b (JWE vs opaque token, cache on)', ratio('bx', 'b')],
    ['bj/d (JWT, cache on, vs express-session + pg)', ratio('bj', 'd')],
    ['bm/b (details on vs off, cache hit)', ratio('bm', 'b')],
    ['cm/c (details on vs off, cache miss)', ratio('cm', 'c')],
    ['bm/a (details on, cache hit, vs no auth)', ratio('bm', 'a')],
    ['cm/g (details on, cache off, vs the floor)', ratio('cm', 'g')],
  ].filter(([, n]) => Number.isFinite(n)) as [string, number][];
  if (extraRatios.length) {
    out.push('');
    out.push('other ratios (no target): ' + extraRatios.map(([k, n]) => `${k} ${fixed(n)}`).join('; '));
  }

  if (service) {
    const med = (list: Throughput[], key: keyof Throughput) => median(list.map((t) => t[key]));
    out.push('');
    out.push(
      `service level (in-process, no HTTP): ${service.config.concurrency} concurrent callers, pool ${POOL_SIZE}, ${service.config.rounds} rounds x ${service.config.durationMs / 1000} s per side, interleaved; medians`,
    );
    const row = (name: string, list: Throughput[]) => [name, int(med(list, 'opsPerSec')), fixed(med(list, 'p50')), fixed(med(list, 'p99')), int(list.reduce((n, t) => n + t.errors, 0))];
    out.push(
      table(
        ['operation', 'ops/s', 'p50 ms', 'p99 ms', 'errors'],
        [
          row('createSession', service.create.ours),
          row('raw pg INSERT of the same row', service.create.raw),
          row("raw pg, createSession's own SQL (DELETE user's expired + INSERT), prepared", service.create.rawSameSql),
          row('  the same SQL unprepared (the store before issue 20)', service.create.rawSameSqlUnprepared),
          row('  raw pg INSERT of the same row, prepared', service.create.rawPrepared),
          row('validateSession, cache miss', service.validate.ours),
          row('raw pg SELECT by token hash', service.validate.raw),
        ],
      ),
    );
    out.push(
      `purge: ${int(service.purge.purged)} of ${int(service.purge.rows)} expired rows in ${fixed(service.purge.seconds)} s (${int(service.purge.purged / service.purge.seconds)} rows/s, batch ${int(service.purge.batchSize)}; loading them took ${fixed(service.purge.loadSeconds, 1)} s)`,
    );
  }
  out.push(
    `memory: ${fixed(memory.bytesPerSession, 0)} bytes per cached session (${int(memory.entries)} sessions through validateSession, heap ${fixed(memory.heapBeforeMb, 1)} -> ${fixed(memory.heapAfterMb, 1)} MB after GC)`,
  );

  // ---- targets ----
  const targets: Target[] = [];
  const atLeast = (name: string, value: number, goal: number) =>
    targets.push({ name, goal: `>= ${goal}`, value, shown: fixed(value), pass: value >= goal });
  const httpTargets: [Variant, Variant, number, string][] = [
    ['b', 'a', 0.9, 'b/a  SessionGuard (cache) vs no auth'],
    ['b', 'd', 4, 'b/d  SessionGuard (cache) vs express-session + pg'],
    ['c', 'd', 1.5, 'c/d  SessionGuard (no cache) vs express-session + pg'],
    ['c', 'g', 0.95, 'c/g  SessionGuard (no cache) vs one-SELECT floor'],
    // Issue 20's goals for the Fastify adapter, where Nest's own share of a request is smaller.
    ['bf', 'af', 0.95, 'bf/af  on Fastify: SessionGuard (cache) vs no auth'],
    ['cf', 'gf', 0.9, 'cf/gf  on Fastify: SessionGuard (no cache) vs one-SELECT floor'],
    ['e', 'f', 2, 'e/f  SessionGuard on Redis vs connect-redis'],
  ];
  for (const [x, y, goal, name] of httpTargets) if (stats.has(x) && stats.has(y)) atLeast(name, ratio(x, y), goal);
  // Issue 20: what the check adds to a request's server CPU, against the same route without it.
  const cpuTargets: [Variant, Variant, number, string][] = [
    ['b', 'a', 5, 'b - a  server CPU of a cache hit over no auth'],
    ['c', 'g', 40, 'c - g  server CPU of a cache miss over the floor'],
    ['bf', 'af', 5, 'bf - af  on Fastify: server CPU of a cache hit over no auth'],
  ];
  for (const [x, y, goal, name] of cpuTargets) {
    if (!stats.has(x) || !stats.has(y)) continue;
    const over = cpuOver(x, y);
    targets.push({ name: `${name} (µs/req; rounds ${fixed(over.min, 1)} to ${fixed(over.max, 1)})`, goal: `<= ${goal}`, value: over.median, shown: fixed(over.median, 1), pass: over.median <= goal });
  }
  if (service) {
    const create = pairedRatio(service.create.ours.map((t) => t.opsPerSec), service.create.raw.map((t) => t.opsPerSec));
    atLeast('createSession / raw INSERT', create, 0.9);
    const vsPrepared = pairedRatio(service.create.ours.map((t) => t.opsPerSec), service.create.rawPrepared.map((t) => t.opsPerSec));
    targets.push({ name: 'createSession / raw INSERT prepared (no target)', goal: '-', value: vsPrepared, shown: fixed(vsPrepared), pass: true });
    const validate = pairedRatio(service.validate.ours.map((t) => t.opsPerSec), service.validate.raw.map((t) => t.opsPerSec));
    targets.push({ name: 'cache-miss validation / raw SELECT (no target)', goal: '-', value: validate, shown: fixed(validate), pass: true });
    const scale = 1_000_000 / service.purge.rows;
    const seconds = service.purge.seconds * scale;
    targets.push({
      name: `purge 1,000,000 expired rows${scale === 1 ? '' : ` (${int(service.purge.rows)} measured, x${fixed(scale, 0)})`}`,
      goal: '< 20 s',
      value: seconds,
      shown: `${fixed(seconds, 1)} s`,
      pass: seconds < 20 && service.purge.purged === service.purge.rows,
    });
  }
  targets.push({
    name: 'memory per cached session',
    goal: '< 1024 B',
    value: memory.bytesPerSession,
    shown: `${fixed(memory.bytesPerSession, 0)} B`,
    pass: memory.bytesPerSession < 1024,
  });
  out.push('');
  out.push('targets');
  out.push(table(['target', 'goal', 'measured', ''], targets.map((t) => [t.name, t.goal, t.shown, t.goal === '-' ? '' : t.pass ? 'PASS' : 'MISS'])));
  const misses = targets.filter((t) => t.goal !== '-' && !t.pass);
  out.push('');
  out.push(misses.length === 0 ? 'all targets met' : `MISSED: ${misses.map((t) => t.name.split('  ')[0]).join(', ')}`);
  out.push(`took ${((Date.now() - started) / 1000).toFixed(0)} s`);
  out.push('');
  return { text: out.join('\n'), targets };
}
