import type { InvalidationListener, SessionInvalidationBus } from '../../src/index.js';

/**
 * In-process instances' buses, connected to one another: `bus()` gives each instance its own,
 * and a publish on one reaches the listeners of the others (never its own), as the real buses
 * do. Plugged in as `broadcast: hub.bus()`, it proves the option takes any implementation.
 */
export class InMemoryInvalidationHub {
  private readonly buses = new Set<InMemoryInvalidationBus>();
  /** Every publish, by any bus of the hub, in order. */
  readonly published: Buffer[][] = [];

  bus(): InMemoryInvalidationBus {
    const bus = new InMemoryInvalidationBus(this);
    this.buses.add(bus);
    return bus;
  }

  deliver(from: InMemoryInvalidationBus, tokenHashes: Buffer[]): void {
    this.published.push(tokenHashes);
    for (const bus of this.buses) if (bus !== from) bus.listener?.evict(tokenHashes.map((hash) => Buffer.from(hash)));
  }
}

export class InMemoryInvalidationBus implements SessionInvalidationBus {
  listener?: InvalidationListener;
  started = 0;
  closed = 0;

  constructor(private readonly hub: InMemoryInvalidationHub) {}

  async start(listener: InvalidationListener): Promise<void> {
    this.started += 1;
    this.listener = listener;
  }

  async publish(tokenHashes: Buffer[]): Promise<void> {
    // Later, as over a network: the publisher has already dropped its own entry by then.
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.hub.deliver(this, tokenHashes);
  }

  async close(): Promise<void> {
    this.closed += 1;
    this.listener = undefined;
  }
}
