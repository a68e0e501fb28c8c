import type { SessionInvalidationBus } from './session-invalidation.interface.js';

/** For `broadcast: false`: one instance, nobody to tell. */
export class NoopInvalidationBus implements SessionInvalidationBus {
  async start(): Promise<void> {}
  async publish(): Promise<void> {}
  async close(): Promise<void> {}
}
