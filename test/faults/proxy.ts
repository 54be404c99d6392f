/**
 * A TCP proxy for network faults: forwards each accepted connection to a real server, and on
 * `blip(ms)` cuts every open connection with a reset and resets each new one for `ms`, as a
 * network outage would look to a client; then it forwards again. Workers get `url` instead of the
 * server's, so the test's own direct connections are not affected. It can also delay what the
 * server sends, as a slow network would.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export class TcpProxy {
  /** Connections open now: [client, upstream]. */
  private readonly pairs = new Set<[Socket, Socket]>();
  private down = false;
  /** Client connections cut by blips. */
  cut = 0;
  /** Connections attempted during blips (and reset at once): the clients noticed and retried. */
  refused = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** `latencyMs`: each chunk from the server reaches its client this much later (in order), as over a slow network. */
  static async start(targetPort: number, targetHost = '127.0.0.1', latencyMs = 0): Promise<TcpProxy> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (typeof address !== 'object' || !address) throw new Error('the proxy has no port');
    const proxy = new TcpProxy(server, address.port);
    server.on('connection', (client) => proxy.accept(client, targetPort, targetHost, latencyMs));
    return proxy;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  private accept(client: Socket, targetPort: number, targetHost: string, latencyMs: number): void {
    client.on('error', () => {}); // resets are what this proxy is for
    if (this.down) {
      this.refused++;
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(targetPort, targetHost);
    upstream.on('error', () => {});
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    client.pipe(upstream);
    if (latencyMs > 0) {
      // Timers of one delay fire in the order they were set: the replies keep their order.
      upstream.on('data', (chunk: Buffer) => setTimeout(() => client.writable && client.write(chunk), latencyMs));
    } else {
      upstream.pipe(client);
    }
    const drop = (): void => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.once('close', drop);
    upstream.once('close', drop);
  }

  /**
   * Cuts every connection and resets new ones for `ms`, then accepts again. With `until`, the outage
   * lasts longer while `until()` is false (checked every 50 ms), up to `maxMs`: what a test wants to
   * see happen during the outage may take longer on a loaded machine.
   */
  async blip(ms: number, until?: () => boolean, maxMs = ms): Promise<void> {
    this.down = true;
    for (const [client, upstream] of [...this.pairs]) {
      this.cut++;
      client.resetAndDestroy();
      upstream.resetAndDestroy();
    }
    this.pairs.clear();
    const start = Date.now();
    await new Promise((r) => setTimeout(r, ms)); // the outage itself (the fault), not a wait for a condition
    while (until && !until() && Date.now() - start < maxMs) await new Promise((r) => setTimeout(r, 50));
    this.down = false;
  }

  async close(): Promise<void> {
    this.down = true;
    for (const [client, upstream] of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
