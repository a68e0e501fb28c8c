import net from 'node:net';

/**
 * What the proxy does with traffic:
 * - `open`: forwards both ways, as if the client spoke to the target directly;
 * - `cut`: the target is down: open connections were closed, new ones are reset at once;
 * - `blackhole`: the target hangs (a stopped process, a stalled disk): connections are accepted
 *   and kept, but no byte moves either way. Bytes are held, as TCP would hold them, and go
 *   through in order on `restore()`, as a stopped server that resumes would answer them.
 */
export type ProxyMode = 'open' | 'cut' | 'blackhole';

/** A loopback TCP proxy in front of a real server, for a test to take that server away. */
export interface TcpProxy {
  readonly host: string;
  readonly port: number;
  readonly mode: ProxyMode;
  /** Connections accepted since the start (reset ones included): tells that a client reconnected. */
  readonly accepted: number;
  /** Connections open through the proxy now. */
  readonly open: number;
  /** `url` (postgres://, redis://, …) with its host and port replaced by the proxy's. */
  url(url: string): string;
  /** Closes every open connection and resets new ones until `restore()`; resolves once they are closed. */
  cut(): Promise<void>;
  /** Keeps accepting connections but moves no byte until `restore()`. */
  blackhole(): void;
  /** Forwards again, first what a blackhole held; connections closed by `cut()` stay closed. */
  restore(): void;
  /** Closes every connection and the listening socket; resolves once all are closed. */
  close(): Promise<void>;
}

interface Link {
  client: net.Socket;
  upstream?: net.Socket;
  connected: boolean;
  /** Bytes held while the upstream is not connected or the proxy is blackholed, in order. */
  toUpstream: Buffer[];
  toClient: Buffer[];
}

const HOST = '127.0.0.1';

/** Starts a proxy on a free loopback port forwarding to `targetHost:targetPort`. */
export async function startProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  let mode: ProxyMode = 'open';
  let accepted = 0;
  const links = new Set<Link>();
  // Every socket not yet closed, so cut() and close() can wait for them: no open handle is left.
  const sockets = new Set<net.Socket>();

  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    // A reset from either side is part of the game; unhandled, it would crash the test process.
    socket.on('error', () => undefined);
  };

  const closed = (): Promise<void> =>
    Promise.all([...sockets].map((socket) => new Promise<void>((resolve) => (socket.closed ? resolve() : socket.once('close', () => resolve()))))).then(() => undefined);

  const drop = (link: Link): void => {
    if (!links.delete(link)) return;
    link.client.destroy();
    link.upstream?.destroy();
  };

  const flush = (link: Link): void => {
    if (mode !== 'open') return;
    if (link.connected) for (const chunk of link.toUpstream.splice(0)) link.upstream!.write(chunk);
    for (const chunk of link.toClient.splice(0)) link.client.write(chunk);
  };

  const connectUpstream = (link: Link): void => {
    const upstream = net.connect({ host: targetHost, port: targetPort });
    track(upstream);
    upstream.setNoDelay(true);
    link.upstream = upstream;
    upstream.on('connect', () => {
      link.connected = true;
      flush(link);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (mode === 'open' && link.toClient.length === 0) link.client.write(chunk);
      else link.toClient.push(chunk);
    });
    upstream.on('close', () => drop(link));
  };

  const server = net.createServer((client) => {
    track(client);
    accepted++;
    if (mode === 'cut') {
      // RST rather than FIN: the client fails at once, as on a port nobody listens on.
      client.resetAndDestroy();
      return;
    }
    client.setNoDelay(true);
    const link: Link = { client, connected: false, toUpstream: [], toClient: [] };
    links.add(link);
    client.on('data', (chunk: Buffer) => {
      if (mode === 'open' && link.connected && link.toUpstream.length === 0) link.upstream!.write(chunk);
      else link.toUpstream.push(chunk);
    });
    client.on('close', () => drop(link));
    // In a blackhole the target is not even reached until restore(): a hung server that has
    // accepted the connection (the kernel does) but reads nothing.
    if (mode === 'open') connectUpstream(link);
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as net.AddressInfo;

  return {
    host: HOST,
    port,
    get mode() {
      return mode;
    },
    get accepted() {
      return accepted;
    },
    get open() {
      return links.size;
    },
    url(url: string): string {
      const parsed = new URL(url);
      parsed.hostname = HOST;
      parsed.port = String(port);
      return parsed.toString();
    },
    async cut(): Promise<void> {
      mode = 'cut';
      for (const link of [...links]) drop(link);
      await closed();
    },
    blackhole(): void {
      mode = 'blackhole';
    },
    restore(): void {
      mode = 'open';
      for (const link of [...links]) {
        if (link.upstream) flush(link);
        else connectUpstream(link);
      }
    },
    async close(): Promise<void> {
      mode = 'cut';
      for (const link of [...links]) drop(link);
      await Promise.all([new Promise<void>((resolve) => server.close(() => resolve())), closed()]);
    },
  };
}
