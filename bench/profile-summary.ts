/**
 * Where a server's CPU time goes: summarizes a .cpuprofile written by `npm run bench -- --profile b`.
 *
 *   node --import tsx bench/profile-summary.ts bench/profiles/b-1234.cpuprofile [--top 25] [--match session.service]
 *
 * Prints self time by package or source folder (node_modules/<pkg>, src/<dir>, node: internals,
 * GC, idle), the top functions by self time, and, with --match, the inclusive time of the
 * functions whose location contains that text (time spent in them and everything they call).
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith('--') && !/^\d+$/.test(a));
if (!file) {
  process.stderr.write('usage: profile-summary.ts FILE.cpuprofile [--top N] [--match TEXT]\n');
  process.exit(2);
}
const topAt = args.indexOf('--top');
const top = topAt === -1 ? 25 : Number(args[topAt + 1]);
const matchAt = args.indexOf('--match');
const matches = matchAt === -1 ? [] : args.slice(matchAt + 1).filter((a) => !a.startsWith('--'));

const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const self = new Map<number, number>();
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const total = [...self.values()].reduce((a, b) => a + b, 0);

function bucket(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node: internals';
  const nm = url.lastIndexOf('node_modules/');
  if (nm !== -1) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return `node_modules/${rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  const src = url.indexOf('/src/');
  if (src !== -1) return url.slice(src + 1).split('/').slice(0, -1).join('/') + '/' + url.split('/').pop();
  const bench = url.indexOf('/bench/');
  if (bench !== -1) return url.slice(bench + 1);
  return url;
}

const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
const ms = (us: number) => `${(us / 1000).toFixed(0).padStart(7)} ms`;

const buckets = new Map<string, number>();
const functions = new Map<string, number>();
for (const [id, us] of self) {
  const node = byId.get(id)!;
  const b = bucket(node.callFrame);
  buckets.set(b, (buckets.get(b) ?? 0) + us);
  const f = `${node.callFrame.functionName || '(anonymous)'}  ${bucket(node.callFrame)}:${node.callFrame.lineNumber + 1}`;
  functions.set(f, (functions.get(f) ?? 0) + us);
}

const busy = total - (buckets.get('(idle)') ?? 0);
process.stdout.write(`${file}: ${(total / 1e6).toFixed(2)} s sampled, busy ${(busy / 1e6).toFixed(2)} s (${((100 * busy) / total).toFixed(0)}%)\n\nself time by package / folder\n`);
for (const [b, us] of [...buckets].sort((x, y) => y[1] - x[1]).slice(0, 30)) process.stdout.write(`${ms(us)} ${pct(us)}  ${b}\n`);
process.stdout.write(`\ntop ${top} functions by self time\n`);
for (const [f, us] of [...functions].sort((x, y) => y[1] - x[1]).slice(0, top)) process.stdout.write(`${ms(us)} ${pct(us)}  ${f}\n`);

// Inclusive time of the functions matching each --match text (each sample counted once per text).
for (const text of matches) {
  const inclusive = new Map<string, number>();
  let any = 0;
  for (const [id, us] of self) {
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame;
      if (!`${frame.url}:${frame.functionName}`.includes(text)) continue;
      const key = `${frame.functionName || '(anonymous)'}  ${bucket(frame)}:${frame.lineNumber + 1}`;
      if (!seen.has(key)) inclusive.set(key, (inclusive.get(key) ?? 0) + us);
      seen.add(key);
    }
    if (seen.size > 0) any += us;
  }
  process.stdout.write(`\ninclusive time under "${text}": ${ms(any)} ${pct(any)} of samples\n`);
  for (const [f, us] of [...inclusive].sort((x, y) => y[1] - x[1]).slice(0, top)) process.stdout.write(`${ms(us)} ${pct(us)}  ${f}\n`);
}
