import { resolveSessionOptions } from '../options/resolve-options.js';
import { type HttpRequestLike, SessionTransport } from './session-transport.js';

const resolveUser = async (id: string) => ({ id });

// Express's `req.ip` is a getter that runs the trust-proxy check: count its reads.
function expressLike(ip: string): { request: HttpRequestLike; reads: () => number } {
  let reads = 0;
  const request = {
    headers: { 'user-agent': 'agent/1' },
    get ip() {
      reads++;
      return ip;
    },
  };
  return { request, reads: () => reads };
}

describe('what the transport tells the service of the client', () => {
  const transport = new SessionTransport(resolveSessionOptions({ resolveUser, metadata: { ip: 'full' } }));

  it.each(['client', 'requestClient'] as const)('%s reads the address only when asked, and then the adapter’s', (method) => {
    const { request, reads } = expressLike('203.0.113.7');
    const client = transport[method](request, true);
    expect({ userAgent: client.userAgent, rotatable: client.rotatable, reads: reads() }).toEqual({ userAgent: 'agent/1', rotatable: true, reads: 0 });
    expect(client.ip).toBe('203.0.113.7');
    expect(reads()).toBe(1);
  });

  it('client() keeps the address through a spread, for createSession({ userId, ...client })', () => {
    const { request } = expressLike('203.0.113.8');
    expect({ userId: '1', ...transport.client(request) }).toMatchObject({ userId: '1', userAgent: 'agent/1', ip: '203.0.113.8', rotatable: false });
  });

  it('gives no address without metadata.ip, and never reads it', () => {
    const plain = new SessionTransport(resolveSessionOptions({ resolveUser }));
    const { request, reads } = expressLike('203.0.113.9');
    expect([plain.client(request).ip, plain.requestClient(request, false).ip, reads()]).toEqual([null, null, 0]);
  });

  it('falls back to the socket’s address, and an empty agent without a User-Agent', () => {
    const bare = { headers: {}, socket: { remoteAddress: '198.51.100.4' } } as HttpRequestLike;
    const client = transport.requestClient(bare, false);
    expect([client.userAgent, client.ip]).toEqual(['', '198.51.100.4']);
  });
});
