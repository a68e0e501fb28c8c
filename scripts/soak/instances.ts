/**
 * One demo instance: `node sample/dist/main.js` as its own process (so SIGKILL kills the app
 * and nothing else), its log stamped on the soak's clock, its RSS sampled from /proc, and what
 * its log says about the invalidation subscription (lost, back) kept as intervals.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { forgetAgent, request } from './http.js';
import { type Logged, now, sleep, spawnLogged, tail } from './procs.js';

export interface Interval {
  from: number;
  /** Undefined while still open. */
  to?: number;
}

export interface RssSample {
  t: number;
  kb: number;
  /** Which process: 0 for the first, 1 after the first restart, … */
  incarnation: number;
}

const START_TIMEOUT_MS = 90_000;

export class DemoInstance {
  readonly rss: RssSample[] = [];
  /** From a SIGKILL until the restarted process answers /health with 200. */
  readonly down: Interval[] = [];
  /** Between the log's "Lost the invalidation subscription" and its "… is back" (or the process's end). */
  readonly subscriptionDown: Interval[] = [];
  /** The log's ERROR lines (Nest logs a 500's stack there), with their times. */
  readonly errorLines: { t: number; line: string }[] = [];
  /** Exits the soak did not cause, with the error the process printed last. */
  readonly unexpectedExits: { t: number; how: string; error: string }[] = [];
  /** The last lines of output, for what a crash printed. */
  private readonly lastLines: string[] = [];
  incarnation = -1;
  private process: Logged | undefined;
  private killing = false;
  private starting = false;

  constructor(
    readonly name: string,
    readonly port: number,
    private readonly env: NodeJS.ProcessEnv,
    readonly logFile: string,
  ) {}

  get pid(): number | undefined {
    return this.process?.child.pid;
  }

  /** Starts the process and waits for /health to answer 200 (its migrations have run by then). */
  async start(): Promise<void> {
    this.incarnation++;
    this.starting = true;
    try {
      await this.spawnAndWait();
    } finally {
      this.starting = false;
    }
  }

  private async spawnAndWait(): Promise<void> {
    const logged = spawnLogged(process.execPath, [path.join('sample', 'dist', 'main.js')], {
      logFile: this.logFile,
      env: { ...process.env, ...this.env },
      onLine: (line, t) => this.onLine(line, t),
    });
    this.process = logged;
    void logged.exited.then(({ code, signal }) => {
      const t = now();
      this.closeSubscriptionInterval(t);
      if (this.killing || this.process !== logged || this.starting) return;
      // A crash is a break (the soak reports it); the instance is restarted, as a process
      // manager would, so the rest of the run still measures two instances.
      this.unexpectedExits.push({ t, how: String(signal ?? code), error: this.lastError() });
      this.down.push({ from: t });
      setTimeout(() => {
        this.start().catch((e: unknown) => this.unexpectedExits.push({ t: now(), how: 'restart failed', error: String(e).slice(0, 200) }));
      }, 1_000);
    });
    const deadline = now() + START_TIMEOUT_MS;
    for (;;) {
      if (logged.child.exitCode !== null || logged.child.signalCode !== null) {
        throw new Error(`${this.name} exited while starting:\n${tail(this.logFile)}`);
      }
      const answer = await request(this.port, 'GET', '/health');
      if (answer.status === 200) break;
      if (now() > deadline) throw new Error(`${this.name}: /health did not answer 200 within ${START_TIMEOUT_MS / 1000} s:\n${tail(this.logFile)}`);
      await sleep(200);
    }
    const open = this.down.at(-1);
    if (open && open.to === undefined) open.to = now();
  }

  /** SIGKILL: no shutdown hook runs, sockets are reset, the cache and subscription vanish. */
  async kill(): Promise<void> {
    const current = this.process;
    if (!current) return;
    this.down.push({ from: now() });
    this.killing = true;
    current.child.kill('SIGKILL');
    await current.exited;
    this.killing = false;
    forgetAgent(this.port);
  }

  isDown(t: number, afterMs = 0): boolean {
    return this.down.some((d) => t >= d.from && (d.to === undefined || t <= d.to + afterMs));
  }

  subscriptionDownAt(t: number): Interval | undefined {
    return this.subscriptionDown.find((d) => t >= d.from && (d.to === undefined || t <= d.to));
  }

  /** One RSS sample from /proc/<pid>/status (VmRSS, in kB); nothing while the process is down. */
  sampleRss(): void {
    const pid = this.pid;
    if (!pid || this.process?.child.exitCode !== null || this.killing) return;
    try {
      const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (match) this.rss.push({ t: now(), kb: Number(match[1]), incarnation: this.incarnation });
    } catch {
      // the process is just gone; the next sample is the next incarnation's
    }
  }

  /** What a crash printed: its error's line and the first frames in the library or the demo. */
  private lastError(): string {
    const at = this.lastLines.findLastIndex((l) => /^\w*Error: /.test(l));
    if (at === -1) return (this.lastLines.at(-1) ?? '').slice(0, 200);
    const frames = this.lastLines.slice(at + 1).filter((l) => /^at .*\/(dist|sample)\//.test(l) && !l.includes('node_modules'));
    const short = (frame: string) => frame.replace(/^at (async )?/, '').replace(/ \(?file:\/\/\S*?\/(dist|sample)\//, ' $1/').replace(/\)? ?\{?$/, '');
    return [this.lastLines[at]!.slice(0, 200), ...frames.slice(0, 3).map(short)].join(' ← ');
  }

  private onLine(line: string, t: number): void {
    this.lastLines.push(line.trim());
    if (this.lastLines.length > 40) this.lastLines.shift();
    if (line.includes('Lost the invalidation subscription')) {
      if (!this.subscriptionDownAt(t)) this.subscriptionDown.push({ from: t });
    } else if (/Invalidation subscription .* is back/.test(line)) {
      this.closeSubscriptionInterval(t);
    }
    if (/\bERROR\b/.test(line)) this.errorLines.push({ t, line: line.trim() });
  }

  private closeSubscriptionInterval(t: number): void {
    const open = this.subscriptionDown.at(-1);
    if (open && open.to === undefined) open.to = t;
  }
}
