import { register } from 'prom-client';
import { createSessionTestApp, type SessionTestApp } from './support/app.js';
import { TestClock } from './support/clock.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { startProxy, type TcpProxy } from './support/tcp-proxy.js';

// The live-sessions gauge counts over the whole table: a scrape must neither wait on a stalled
// database past storeTimeout nor fail the metrics endpoint (issue 18, finding 6).
let db: TestDatabase;
let proxy: TcpProxy;
let t: SessionTestApp;
const clock = new TestClock(Date.now());

const live = async (): Promise<number> => {
  const { values } = await register.getSingleMetric('sessions_live')!.get();
  return values[0]?.value ?? Number.NaN;
};

beforeAll(async () => {
  db = await createTestDatabase('nss_metrics_bound');
  const url = new URL(db.url);
  proxy = await startProxy(url.hostname, Number(url.port));
  t = await createSessionTestApp(proxy.url(db.url), { storeTimeout: '300ms', clock: clock.now, cleanup: false, broadcast: false });
});
afterAll(async () => {
  proxy?.restore();
  await t?.close();
  await proxy?.close();
  await db?.drop();
});

it('keeps the count between scrapes, and the last one known when the database stalls, within storeTimeout', async () => {
  const userId = await t.createUser();
  await t.sessions.createSession({ userId });
  await t.sessions.createSession({ userId });
  expect(await live()).toBe(2);

  await t.sessions.createSession({ userId });
  // Within the 15 s between counts: the figure of the last count, though there are three now.
  expect(await live()).toBe(2);

  clock.advance(15_000);
  expect(await live()).toBe(3);

  proxy.blackhole();
  clock.advance(15_000);
  const started = performance.now();
  expect(await live()).toBe(3);
  expect(performance.now() - started).toBeLessThan(1_000);
  // The whole registry still answers.
  await expect(register.metrics()).resolves.toContain('sessions_live 3');
});
