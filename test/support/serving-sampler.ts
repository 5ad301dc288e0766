import { requestOnNewConnection } from './http.ts';
import type { MemberName, OperatedLoopbackPair } from './members.ts';

type Serving = { role: string; epoch: number; serving?: { mayGrant: boolean; right: string } };

/**
 * Both loopback members' serving rights (each member's own /v1/status) every 100 ms, read from an
 * address no packet filter of the test touches. Two members granting at once is a split brain.
 */
export class ServingSampler {
  samples = 0;
  twoGranting: { at: number; epochs: number[] }[] = [];
  /** when each member was first seen granting in each epoch (`member@epoch`) */
  firstGranting = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private readonly pair: OperatedLoopbackPair;
  private readonly from: string;

  constructor(pair: OperatedLoopbackPair, from: string) {
    this.pair = pair;
    this.from = from;
  }

  start(): void {
    let busy = false;
    this.timer = setInterval(() => {
      if (busy) return;
      busy = true;
      void this.sample().finally(() => (busy = false));
    }, 100);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async read(m: MemberName): Promise<Serving | undefined> {
    try {
      const r = await requestOnNewConnection(`${this.pair.members[m].adminUrl}/v1/status`, {
        localAddress: this.from,
        headers: { authorization: `Bearer ${this.pair.fx.token}` },
        timeoutMs: 500,
      });
      return r.status === 200 ? (JSON.parse(r.body) as Serving) : undefined;
    } catch {
      return undefined;
    }
  }

  private async sample(): Promise<void> {
    const at = Date.now();
    const [p, r] = await Promise.all([this.read('primary'), this.read('redundant')]);
    this.samples++;
    const granting = (s: Serving | undefined): s is Serving =>
      s?.role === 'active' && s.serving?.mayGrant === true;
    for (const [m, s] of [
      ['primary', p],
      ['redundant', r],
    ] as const)
      if (granting(s) && !this.firstGranting.has(`${m}@${s.epoch}`))
        this.firstGranting.set(`${m}@${s.epoch}`, at);
    const both = [p, r].filter(granting);
    if (both.length > 1) this.twoGranting.push({ at, epochs: both.map((s) => s.epoch) });
  }
}
