/**
 * Names for the JIT code in a callgrind dump (scripts/instructions-bench.ts `--names`): callgrind
 * knows V8's generated code only by address, and a Node started with `--perf-basic-prof` writes
 * each function's address range to /tmp/perf-<pid>.map. With both, a count per request can be
 * split by function, JavaScript included, and two variants compared function by function.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';

interface Range {
  start: number;
  end: number;
  name: string;
}

function readPerfMap(pid: number): Range[] {
  const ranges: Range[] = [];
  for (const line of readFileSync(`/tmp/perf-${pid}.map`, 'utf8').split('\n')) {
    const [start, size, ...name] = line.split(' ');
    if (name.length === 0) continue;
    const from = Number.parseInt(start, 16);
    ranges.push({ start: from, end: from + Number.parseInt(size, 16), name: name.join(' ') });
  }
  // Node leaves the map behind; it is read once, and a server's is about a megabyte.
  rmSync(`/tmp/perf-${pid}.map`);
  return ranges.sort((x, y) => x.start - y.start);
}

function lookUp(ranges: Range[], address: number): string | undefined {
  let low = 0;
  let high = ranges.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    if (ranges[middle].start > address) high = middle - 1;
    else if (ranges[middle].end <= address) low = middle + 1;
    else return ranges[middle].name;
  }
  return undefined;
}

// A function across tiers and recompilations is one name: V8 marks the tier (`~` `^` `+` `*`)
// and a context-specialized copy (`'`) before it, and callgrind a recursion depth after it.
function canonical(name: string): string {
  return name.replace(/^JS:[~^+*]?'?/, 'JS:').replace(/'\d+$/, '');
}

/**
 * Self instructions per function in `dump` (of process `pid`), divided by `requests`: every
 * function callgrind names, and each JIT address given the name of the function whose code holds it.
 */
export function instructionsByFunction(dump: string, pid: number, requests: number): Map<string, number> {
  const ranges = readPerfMap(pid);
  const annotated = execFileSync('callgrind_annotate', ['--inclusive=no', '--threshold=100', '--auto=no', dump], { encoding: 'utf8', maxBuffer: 256 << 20 });
  const totals = new Map<string, number>();
  let listing = false;
  for (const line of annotated.split('\n')) {
    if (line.includes('file:function')) listing = true;
    const row = listing ? /^\s*([\d,]+) \([^)]*\)\s+(?:\S*?:)?(.+?)(?: \[([^\]]*)\])?$/.exec(line) : null;
    // The process's entry and thread starts come out with their callees' cost; they are no one's own.
    if (!row || row[2].includes('(below main)') || /^(?:main|node::Start|node::NodeMainInstance::Run|node::SpinEventLoopInternal|__libc_start_main|start_thread|clone)(?:\(|@|$)/.test(row[2])) continue;
    const address = /^0x([0-9a-f]+)/.exec(row[2]);
    if (address && row[3] !== '???') continue;
    const name = canonical(address ? (lookUp(ranges, Number.parseInt(address[1], 16)) ?? 'JIT code without a name') : row[2]);
    totals.set(name, (totals.get(name) ?? 0) + Number(row[1].replaceAll(',', '')) / requests);
  }
  return totals;
}

/** The `limit` functions whose cost differs most between `base` and `other`, either way: name, other − base, other. */
export function largestDifferences(base: Map<string, number>, other: Map<string, number>, limit: number): Array<[string, number, number]> {
  const names = new Set([...base.keys(), ...other.keys()]);
  return [...names]
    .map((name): [string, number, number] => [name, (other.get(name) ?? 0) - (base.get(name) ?? 0), other.get(name) ?? 0])
    .sort((x, y) => Math.abs(y[1]) - Math.abs(x[1]))
    .slice(0, limit);
}
