/**
 * The soak's closing report: the faults, the requests by route and status per variant, the
 * session and memory checks, and every invariant break with its time (the acceptances of one
 * revoked token, or one user's 429s, folded onto one line, as they are one episode).
 */
import type { DemoInstance } from './instances.js';
import { type Break, type Ledger, type Store } from './ledger.js';
import { at } from './procs.js';
import type { Traffic } from './traffic.js';

export interface ReportInput {
  plan: string;
  ledger: Ledger;
  variants: { name: string; stores: Store[]; instances: DemoInstance[]; traffic: Traffic }[];
  /** Sessions checked at the end, per variant. */
  live: number[];
  /** Users whose pending operation never got an outcome, per variant. */
  unsettled: number[];
  memory: string[];
  elapsed: number;
}

/** Most lines of breaks printed; the counts above them are complete. */
const MAX_BREAK_LINES = 80;

export function report(input: ReportInput): void {
  const { ledger } = input;
  const out: string[] = [];
  out.push('', `== soak (${input.plan}) finished at ${at(input.elapsed)}`);

  out.push('', '== faults injected');
  const kinds = new Map<string, number>();
  for (const fault of ledger.faults) {
    kinds.set(fault.kind, (kinds.get(fault.kind) ?? 0) + 1);
    const down = fault.upAt === undefined ? 'never back' : `down ${((fault.upAt - fault.from) / 1000).toFixed(1)} s`;
    const last503 = fault.last503 === undefined ? '' : fault.upAt !== undefined && fault.last503 > fault.upAt ? `; last 503 it explains ${((fault.last503 - fault.upAt) / 1000).toFixed(1)} s after it was back` : '; last 503 it explains while down';
    out.push(`${at(fault.from).padStart(10)}  ${fault.kind} (${fault.target}): ${fault.how}; ${down}${last503}`);
  }
  out.push(`total: ${[...kinds.entries()].map(([k, n]) => `${k} ×${n}`).join(', ')}`);

  input.variants.forEach((v, i) => {
    out.push('', `== requests, ${v.name} variant (${v.traffic.counts.total()})`);
    out.push(...v.traffic.counts.lines().map((l) => `  ${l}`));
    out.push(`  ended tokens probed: ${v.traffic.probes.tokens}, accepted late: ${v.traffic.probes.tokensAccepted}; live sessions checked at the end: ${input.live[i]} (on both instances); users with an operation still unresolved: ${input.unsettled[i]}`);
    const episodes = v.instances.flatMap((inst) => inst.subscriptionDown.map((d) => `${inst.name} ${at(d.from)}–${d.to === undefined ? '…' : at(d.to)}`));
    out.push(`  invalidation subscription down (from the logs): ${episodes.length === 0 ? 'never' : episodes.join(', ')}`);
    // The store failures an outage causes are logged at ERROR too; those outside one are worth reading.
    const errors = v.instances.flatMap((inst) => inst.errorLines.map((e) => ({ inst, ...e })));
    const unexplained = errors.filter((e) => !ledger.outageAt(v.stores, e.t) && !e.inst.isDown(e.t));
    out.push(`  ERROR lines in the instances' logs: ${errors.length}, outside an outage: ${unexplained.length}`);
    out.push(...unexplained.slice(0, 5).map((e) => `    ${at(e.t)} ${e.inst.name}: ${e.line.replace(/\x1b\[[0-9;]*m/g, '').slice(0, 200)}`));
  });

  out.push('', '== memory (RSS, per process, under traffic)');
  out.push(...input.memory.map((l) => `  ${l}`));

  const breaks = ledger.breaks;
  out.push('', `== invariant breaks: ${breaks.length}`);
  const byKind = new Map<string, number>();
  for (const b of breaks) byKind.set(`${b.variant}: ${b.kind}`, (byKind.get(`${b.variant}: ${b.kind}`) ?? 0) + 1);
  for (const [kind, n] of [...byKind.entries()].sort()) out.push(`  ${kind}: ${n}`);
  const lines = breakLines(breaks);
  out.push(...lines.slice(0, MAX_BREAK_LINES).map((l) => `  ${l}`));
  if (lines.length > MAX_BREAK_LINES) out.push(`  … and ${lines.length - MAX_BREAK_LINES} more lines`);
  out.push('', `soak: ${breaks.length === 0 ? 'passed' : 'FAILED'}: ${breaks.length} invariant break(s), ${ledger.faults.length} fault(s) injected`);
  console.log(out.join('\n'));
}

/** One line per break, except a group's (one token's late acceptances, one user's 429s): its first, with how many and until when. */
function breakLines(breaks: Break[]): string[] {
  const lines: string[] = [];
  const groups = new Map<string, Break[]>();
  for (const b of [...breaks].sort((x, y) => x.t - y.t)) {
    if (!b.group) {
      lines.push(`${at(b.t).padStart(10)}  ${b.variant}: ${b.kind}: ${b.detail}`);
      continue;
    }
    const key = `${b.variant} ${b.group}`;
    let group = groups.get(key);
    if (!group) {
      groups.set(key, (group = []));
      lines.push(key);
    }
    group.push(b);
  }
  return lines.map((line) => {
    const group = groups.get(line);
    if (!group) return line;
    const first = group[0]!;
    const more = group.length > 1 ? ` (${group.length} times, the last at ${at(group.at(-1)!.t)})` : '';
    return `${at(first.t).padStart(10)}  ${first.variant}: ${first.kind}: ${first.detail}${more}`;
  });
}
