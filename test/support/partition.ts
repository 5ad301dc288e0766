import { execFileSync } from 'node:child_process';
import net from 'node:net';

/**
 * A TCP proxy in front of the API server that can be partitioned: while cut, established
 * connections and new ones stay open but nothing is forwarded either way — what a process behind a
 * broken network sees (timeouts, not refusals). TLS passes through unchanged; the API server's
 * certificate names 127.0.0.1.
 */
export class PartitionableProxy {
  private server: net.Server | undefined;
  private readonly pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  private readonly blackHoled = new Set<net.Socket>();
  private cut = false;
  port = 0;
  private readonly target: { host: string; port: number };

  constructor(target: { host: string; port: number }) {
    this.target = target;
  }

  async start(): Promise<void> {
    this.server = net.createServer((client) => {
      if (this.cut) {
        // Accepted, never answered: a black hole.
        this.blackHoled.add(client);
        client.on('error', () => undefined);
        return;
      }
      const upstream = net.connect(this.target);
      const pair = { client, upstream };
      this.pairs.add(pair);
      const drop = () => {
        this.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.on('data', (d) => {
        if (!this.cut) upstream.write(d);
      });
      upstream.on('data', (d) => {
        if (!this.cut) client.write(d);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server!.address() as net.AddressInfo).port;
  }

  /** Stop forwarding; connections stay open and silent. */
  partition(): void {
    this.cut = true;
  }

  /** Forward again. Connections that were open during the cut are closed (their streams are torn). */
  heal(): void {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
    this.pairs.clear();
    for (const c of this.blackHoled) c.destroy();
    this.blackHoled.clear();
    this.cut = false;
  }

  async stop(): Promise<void> {
    this.heal();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

const PARTITION_COMMENT = 'lpo-test-member-partition';

/**
 * Drops every packet between two addresses, both ways (iptables), leaving each reachable from
 * everything else: here the operator, on 127.0.0.1, still reaches both members, while the members
 * (which talk to each other from their own addresses) cannot.
 */
export function partitionAddresses(a: string, b: string): void {
  for (const [src, dst] of [
    [a, b],
    [b, a],
  ] as const)
    execFileSync('iptables', [
      '-w',
      '-I',
      'INPUT',
      '-s',
      src,
      '-d',
      dst,
      '-m',
      'comment',
      '--comment',
      PARTITION_COMMENT,
      '-j',
      'DROP',
    ]);
}

/**
 * The loopback addresses the partition tests talk from: the operator, the stand-in kubelet and
 * clients that follow the Service from `host`, clients on a cut-off member's side from
 * `isolatedSide`, the serving-rights sampler from `sampler` (no cut touches it).
 */
export const CUT_SIDES: Readonly<Record<'host' | 'isolatedSide' | 'sampler', string>> = {
  host: '127.0.0.1',
  isolatedSide: '127.0.0.9',
  sampler: '127.0.0.10',
};

/** Removes every rule partitionAddresses() added (idempotent). */
export function healAddresses(): void {
  const rules = execFileSync('iptables', ['-w', '-S', 'INPUT'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(PARTITION_COMMENT));
  for (const rule of rules) {
    const args = rule
      .replace(/^-A /, '-D ')
      .match(/"[^"]*"|\S+/g)!
      .map((x) => x.replace(/^"|"$/g, ''));
    execFileSync('iptables', ['-w', ...args]);
  }
}
