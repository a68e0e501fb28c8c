/**
 * Soak test: the demo under mixed traffic while its stores restart and an instance dies.
 *
 *   npm run soak [-- --quick | -- --minutes N] [--keep-logs]   (builds first; 10 minutes, --quick 90 s)
 *
 * Starts its own PostgreSQL (initdb into a temp dir) and Redis on free ports, then two variants
 * side by side, each two instances of `node sample/dist/main.js`: "postgres" (sessions in
 * PostgreSQL, opaque tokens) and "redis" (sessions in Redis, JWT tokens; its users stay in
 * PostgreSQL), both with refresh tokens. Logins, /me, refreshes, logouts and logout-all run on
 * both instances while PostgreSQL is restarted twice, Redis once, and one instance of each
 * variant is SIGKILLed and restarted. The rules it holds them to are in RELIABILITY.md; it
 * prints the counts and every break, and exits 1 on any break (2 when the harness itself failed).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DemoInstance } from './soak/instances.js';
import { checkMemory, type Fault, Ledger, type Store } from './soak/ledger.js';
import { at, cleanupSync, freePort, now, openTrace, sleep, tail } from './soak/procs.js';
import { report } from './soak/report.js';
import { OwnPostgres, OwnRedis } from './soak/services.js';
import { Traffic } from './soak/traffic.js';

interface Plan {
  label: string;
  totalMs: number;
  trafficMs: number;
  /**
   * How long a stopped store stays stopped: long enough for the invalidation subscription's
   * reconnection backoff (100 ms doubling to 5 s) to grow past a second, as it does in a real
   * restart, so an instance can be back on its store before it is back on its subscription.
   */
  pauseMs: number;
}

function parseArgs(argv: string[]): Plan {
  if (argv.includes('--quick')) return { label: 'quick', totalMs: 90_000, trafficMs: 68_000, pauseMs: 3_000 };
  const index = argv.indexOf('--minutes');
  const minutes = index === -1 ? 10 : Number(argv[index + 1]);
  if (!(minutes >= 2 && minutes <= 120)) throw new Error(`--minutes: expected 2 to 120, got ${argv[index + 1]}`);
  return { label: `${minutes} minutes`, totalMs: minutes * 60_000, trafficMs: minutes * 60_000 - 30_000, pauseMs: 5_000 };
}

const WORKERS = 6;
const THINK_MS: [number, number] = [60, 120];
const USERS = 24;
/** Between a SIGKILL and the restart: the other instance carries the traffic alone meanwhile. */
const KILL_PAUSE_MS = 1_000;

interface Running {
  name: string;
  stores: Store[];
  instances: DemoInstance[];
  traffic: Traffic;
}

async function main(): Promise<number> {
  const plan = parseArgs(process.argv.slice(2));
  if (!existsSync(path.join('sample', 'dist', 'main.js'))) throw new Error('sample/dist/main.js is missing: run npm run -s build first (npm run soak does)');
  const logDir = mkdtempSync(path.join(os.tmpdir(), 'soak-logs-'));
  const ledger = new Ledger();
  let failed = true;
  openTrace(path.join(logDir, 'requests.jsonl'));
  // The logs stay when something broke (or with --keep-logs); a clean run leaves nothing behind.
  process.on('exit', () => {
    if (!failed && !process.argv.includes('--keep-logs')) rmSync(logDir, { recursive: true, force: true });
  });
  try {
    console.log(`soak: ${plan.label}; logs in ${logDir}`);
    const postgres = await OwnPostgres.create(logDir);
    const redis = await OwnRedis.create(logDir);
    console.log(`soak: own PostgreSQL on :${postgres.port}, own Redis on :${redis.port} (${at(now())})`);

    // One secret for both variants: it signs the refresh tokens (and the redis variant's JWTs).
    const secret = randomBytes(48).toString('base64');
    const variants: Running[] = [];
    for (const [name, stores, env] of [
      ['postgres', ['postgres'], {}],
      ['redis', ['postgres', 'redis'], { SESSION_STORAGE: 'redis', REDIS_URL: redis.url, SESSION_TOKEN_TYPE: 'jwt' }],
    ] as const) {
      await postgres.createDatabase(`soak_${name}`);
      const instances: DemoInstance[] = [];
      for (const letter of ['a', 'b']) {
        const port = await freePort();
        const instanceEnv = {
          ...env,
          PORT: String(port),
          DATABASE_URL: postgres.url(`soak_${name}`),
          COOKIE_SECURE: 'false',
          SESSION_REFRESH_TOKEN: 'true',
          SESSION_JWT_SECRET: secret,
          // Every login of the soak comes from this one machine: without this the per-address
          // login limit would answer 429 within seconds. (Each login also comes from an address
          // of its own, see RequestOptions.from, so a demo without the switch is not throttled
          // either.) The per-email limit stays on; the soak never fails a login, so it never counts.
          LOGIN_IP_LIMIT: 'off',
        };
        instances.push(new DemoInstance(`${name}/${letter}`, port, instanceEnv, path.join(logDir, `${name}-${letter}.log`)));
      }
      variants.push({ name, stores: [...stores], instances, traffic: undefined as unknown as Traffic });
    }
    // Within a variant one at a time: the first runs the migrations, which two at once would race.
    await Promise.all(variants.map(async (v) => {
      for (const instance of v.instances) await instance.start();
      v.traffic = new Traffic(v, ledger, USERS);
      await v.traffic.register();
    }));
    console.log(`soak: 4 instances up, ${USERS} users registered per variant (${at(now())})`);

    const sampler = setInterval(() => variants.forEach((v) => v.instances.forEach((i) => i.sampleRss())), 1_000);
    const trafficFrom = now();
    const stopAt = trafficFrom + plan.trafficMs;
    const traffic = Promise.all(variants.map((v) => v.traffic.run(WORKERS, stopAt, THINK_MS)));
    await injectFaults(plan, trafficFrom, ledger, postgres, redis, variants);
    await traffic;
    const trafficTo = now();
    console.log(`soak: traffic done (${at(trafficTo)}); draining probes, settling, checking every live session`);

    await Promise.all(variants.map((v) => v.traffic.probes.drain()));
    const unsettled = await Promise.all(variants.map((v) => v.traffic.settle(now() + 8_000)));
    await Promise.all(variants.map((v) => v.traffic.probes.drain()));
    const live = await Promise.all(variants.map((v) => v.traffic.finalCheck()));
    clearInterval(sampler);

    const memory: string[] = [];
    for (const v of variants) {
      for (const instance of v.instances) {
        writeFileSync(path.join(logDir, `rss-${instance.name.replace('/', '-')}.csv`), ['t_ms,rss_kb,process', ...instance.rss.map((s) => `${Math.round(s.t)},${s.kb},${s.incarnation}`)].join('\n'));
        memory.push(...checkMemory(ledger, v.name, instance, trafficFrom, trafficTo));
        for (const exit of instance.unexpectedExits) ledger.add('instance exited', v.name, exit.t, `${instance.name} exited on its own (${exit.how}): ${exit.error}`);
      }
    }
    ledger.judgeUnanswered();
    report({ plan: plan.label, ledger, variants, live, unsettled, memory, elapsed: now() });
    failed = ledger.breaks.length > 0;
    if (failed) printTails(logDir);
    return failed ? 1 : 0;
  } catch (error) {
    console.error(`soak: the harness failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    printTails(logDir);
    return 2;
  }
}

/**
 * The faults, in order, each at its share of the traffic's time (or as soon as the one before
 * has finished): the kills early, so each restarted process lives long enough for its memory
 * to be judged; the store restarts through the middle; the last fifth quiet, so what breaks
 * after the last restart shows.
 */
async function injectFaults(plan: Plan, from: number, ledger: Ledger, postgres: OwnPostgres, redis: OwnRedis, variants: Running[]): Promise<void> {
  const until = async (share: number) => {
    const wait = from + share * plan.trafficMs - now();
    if (wait > 0) await sleep(wait);
  };
  const record = (fault: Fault) => {
    ledger.faults.push(fault);
    console.log(`soak: ${at(fault.from)} ${fault.kind} (${fault.target})`);
    return fault;
  };
  const kill = async (instance: DemoInstance) => {
    const fault = record({ kind: 'instance kill', target: instance.name, from: now(), how: `SIGKILL, restarted ${KILL_PAUSE_MS / 1000} s later` });
    await instance.kill();
    await sleep(KILL_PAUSE_MS);
    await instance.start();
    fault.upAt = now();
  };
  const restartPostgres = async (mode: 'fast' | 'immediate') => {
    const fault = record({ kind: 'postgres restart', target: 'both variants', from: now(), how: `pg_ctl stop -m ${mode}, ${plan.pauseMs / 1000} s stopped` });
    await postgres.stop(mode);
    await sleep(plan.pauseMs);
    await postgres.start();
    fault.upAt = now();
  };
  const restartRedis = async () => {
    const fault = record({ kind: 'redis restart', target: 'the redis variant', from: now(), how: `SIGTERM, ${plan.pauseMs / 1000} s stopped` });
    await redis.stop();
    await sleep(plan.pauseMs);
    await redis.start();
    fault.upAt = now();
  };
  await until(0.1);
  await kill(variants[0]!.instances[1]!);
  await until(0.18);
  await kill(variants[1]!.instances[1]!);
  await until(0.3);
  await restartPostgres('fast');
  await until(0.48);
  await restartRedis();
  await until(0.66);
  await restartPostgres('immediate');
}

function printTails(logDir: string): void {
  for (const file of readdirSync(logDir).sort()) {
    console.error(`\n---- ${file} (last lines; all of it in ${logDir})`);
    console.error(tail(path.join(logDir, file), 25));
  }
}

// Whatever ends the soak ends its children and removes its databases: Ctrl-C, a kill, a crash.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    console.error(`soak: ${signal}: stopping everything it started`);
    cleanupSync();
    process.exit(130);
  });
}
process.on('exit', cleanupSync);
process.on('unhandledRejection', (reason) => {
  console.error(`soak: unhandled rejection in the harness: ${String(reason)}`);
  cleanupSync();
  process.exit(2);
});

const plan = (() => {
  try {
    return parseArgs(process.argv.slice(2));
  } catch (error) {
    console.error(`soak: ${(error as Error).message}`);
    process.exit(2);
  }
})();
// A bound on the whole run, startup included, so a hang fails clearly instead of running on.
const watchdog = setTimeout(() => {
  console.error(`soak: still running ${at(now())} after start; giving up`);
  cleanupSync();
  process.exit(2);
}, plan.totalMs + 240_000);
watchdog.unref();

main().then(
  (code) => {
    cleanupSync();
    process.exit(code);
  },
  (error: unknown) => {
    console.error(`soak: ${String(error)}`);
    cleanupSync();
    process.exit(2);
  },
);
