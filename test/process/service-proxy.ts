// A stand-in for the pair's Service on loopback: a TCP proxy whose target the test moves, as the
// operator moves the Service's selector. Like kube-proxy with conntrack, a connection stays on the
// member it was opened to; only new connections go to the new target.
import net from 'node:net';

export class ServiceProxy {
  private readonly server: net.Server;
  private target: number;
  private readonly open = new Set<net.Socket>();
  /** connections accepted, per target port */
  readonly accepted = new Map<number, number>();

  private constructor(server: net.Server, target: number) {
    this.server = server;
    this.target = target;
  }

  static async start(target: number): Promise<ServiceProxy> {
    const server = net.createServer();
    const proxy = new ServiceProxy(server, target);
    server.on('connection', (client) => proxy.accept(client));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  /** New connections go to `port` from now on; open ones stay where they are. */
  point(port: number): void {
    this.target = port;
  }

  private accept(client: net.Socket): void {
    const port = this.target;
    this.accepted.set(port, (this.accepted.get(port) ?? 0) + 1);
    const upstream = net.connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      this.open.add(s);
      s.on('close', () => this.open.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }

  async close(): Promise<void> {
    for (const s of this.open) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
