/**
 * The revocation rule: a token whose logout (logout-all, refresh) answered is dead on every
 * instance 100 ms later. Each ended token is tried on both instances at fixed delays after the
 * answer, and any 200 to a probe sent more than 100 ms after it is a break.
 */
import type { Answer } from './http.js';
import type { DemoInstance } from './instances.js';
import type { Ledger } from './ledger.js';
import { at, now, sleep } from './procs.js';

/** The revocation deadline: a broadcast in flight may take this long to reach the other instance. */
export const REVOCATION_DEADLINE_MS = 100;

/**
 * When each ended token is tried, after its end answered: just past the deadline, then spread
 * over 5 s, long enough to see a cache that kept a revoked token until the subscription came
 * back (finding 10 saw 2.6 s), sparse enough that probing does not crowd out the traffic.
 */
const PROBE_DELAYS_MS = [120, 250, 500, 1_000, 2_000, 3_500, 5_000];

export type Call = (route: string, instance: DemoInstance, method: string, path: string, options: { token: string }) => Promise<Answer>;

export class Probes {
  private readonly pending = new Set<Promise<void>>();
  private nextId = 1;
  /** Tokens probed, and of those how many some instance accepted too late. */
  tokens = 0;
  tokensAccepted = 0;

  constructor(
    private readonly variant: string,
    private readonly instances: readonly DemoInstance[],
    private readonly ledger: Ledger,
    private readonly call: Call,
  ) {}

  /**
   * `token` ended by `how` (on `instance`), whose answer came at `endedAt`. The probes run in the
   * background; `drain` waits for them.
   */
  ended(token: string, how: string, instance: DemoInstance, endedAt: number): void {
    const id = this.nextId++;
    this.tokens++;
    const task = this.probe(id, token, how, instance, endedAt).catch((error: unknown) => {
      this.ledger.add('no answer', this.variant, now(), `probe of token #${id} failed in the harness: ${String(error)}`);
    });
    this.pending.add(task);
    void task.finally(() => this.pending.delete(task));
  }

  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  private async probe(id: number, token: string, how: string, endedOn: DemoInstance, endedAt: number): Promise<void> {
    const accepted: { on: DemoInstance; answer: Answer }[] = [];
    for (const delay of PROBE_DELAYS_MS) {
      const wait = endedAt + delay - now();
      if (wait > 0) await sleep(wait);
      const answers = await Promise.all(this.instances.map(async (on) => ({ on, answer: await this.call('GET /me (probe)', on, 'GET', '/me', { token }) })));
      for (const hit of answers) {
        if (hit.answer.status === 200 && hit.answer.sentAt - endedAt > REVOCATION_DEADLINE_MS) accepted.push(hit);
      }
    }
    if (accepted.length === 0) return;
    this.tokensAccepted++;
    for (const { on, answer } of accepted) {
      const sub = on.subscriptionDownAt(answer.sentAt);
      const subscription = sub
        ? `${on.name}'s subscription was down (lost at ${at(sub.from)}, ${sub.to === undefined ? 'not back' : `back at ${at(sub.to)}`})`
        : `${on.name}'s subscription was up`;
      this.ledger.add(
        'revoked token accepted',
        this.variant,
        answer.sentAt,
        `token #${id} ended by ${how} on ${endedOn.name} (answered at ${at(endedAt)}): 200 on ${on.name} to a probe sent ${((answer.sentAt - endedAt) / 1000).toFixed(3)} s after; ${subscription}`,
        `token #${id}`,
      );
    }
  }
}
