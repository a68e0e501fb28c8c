import { refusal as fails } from '../../test/support/options.js';
import { resolveSessionOptions } from '../options/resolve-options.js';
import type { InvalidationListener, SessionInvalidationBus } from './session-invalidation.interface.js';

const resolveUser = async (id: string) => ({ id });

class OwnBus implements SessionInvalidationBus {
  async start(listener: InvalidationListener): Promise<void> {
    void listener;
  }
  async publish(): Promise<void> {}
  async close(): Promise<void> {}
}

describe('the invalidation slice', () => {
  it('broadcasts by default, and takes true or false', () => {
    expect(resolveSessionOptions({ resolveUser }).broadcast).toBe(true);
    expect(resolveSessionOptions({ resolveUser, broadcast: false }).broadcast).toBe(false);
  });

  it('takes a SessionInvalidationBus instance as the bus to use', () => {
    const bus = new OwnBus();
    expect(resolveSessionOptions({ resolveUser, broadcast: bus }).broadcast).toBe(bus);
  });

  it('refuses a bus missing a method, naming it', () => {
    const error = fails({ resolveUser, broadcast: { start: async () => {}, close: async () => {} } });
    expect(error.option).toBe('broadcast');
    expect(error.message).toMatch(/got a SessionInvalidationBus without publish\(\); expected every method the interface requires: start, publish, close/);
  });

  it.each([['yes'], [null], [1]])('refuses broadcast %p', (broadcast) => {
    const error = fails({ resolveUser, broadcast });
    expect(error.option).toBe('broadcast');
    expect(error.message).toMatch(/expected true or false, or a SessionInvalidationBus instance/);
  });
});
