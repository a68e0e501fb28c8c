/**
 * What the demo benchmark's parent (scripts/demo-bench.ts) and its server children share beyond
 * bench/common.ts's protocol (`ready`, `cpu`, `stop`): the children, and a count of the SQL
 * statements a child sends, so the parent can say how many statements one request costs.
 *
 * The count is taken only between `count-start` and `count-stop` (a check before the measured
 * rounds): the wrapper it installs on pg's Client.prototype.query is removed again, so no
 * measured request pays for it.
 */
import pg from 'pg';

/** The server children, each its own process. */
export const SERVERS = {
  'demo-hit': 'the demo (createDemoApp), cache on (its default), plus GET /bench/open',
  'demo-miss': 'the demo (createDemoApp), cache: false (SESSION_CACHE_SIZE=0)',
  floor: 'bare Express + pg Pool: sha256 + one SELECT of the session JOIN users',
} as const;
export type ServerName = keyof typeof SERVERS;

export type CountMessage = { type: 'count-start' } | { type: 'count-stop' };
export type CountedMessage = { type: 'counted'; statements: number };

/** In a child: answers `count-stop` with the statements sent since `count-start`. */
export function countStatementsOnRequest(): void {
  const original = pg.Client.prototype.query;
  let statements = 0;
  process.on('message', (message: CountMessage) => {
    if (message?.type === 'count-start') {
      statements = 0;
      // Every pooled client is a pg.Client, TypeORM's and the floor's alike, and none has a query of its own.
      pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
        statements++;
        return (original as (...a: unknown[]) => unknown).apply(this, args);
      } as typeof original;
    } else if (message?.type === 'count-stop') {
      pg.Client.prototype.query = original;
      process.send?.({ type: 'counted', statements } satisfies CountedMessage);
    }
  });
}
