// Leases by expiry time, so that the sweep of expired leases touches only those that are due:
// walking every lease each second stalled the event loop for milliseconds per 10,000 leases (see
// docs/performance.md). A binary min-heap with lazy deletion: a renewal pushes a new entry, and an
// entry whose lease has moved on (renewed, released, gone) is dropped when it comes up.
export class ExpiryQueue {
  private times: number[] = [];
  private ids: string[] = [];

  get size(): number {
    return this.times.length;
  }

  push(at: number, id: string): void {
    this.times.push(at);
    this.ids.push(id);
    this.up(this.times.length - 1);
  }

  /** Removes and returns the ids of the entries due at `now` (earliest first). */
  popDue(now: number): string[] {
    const out: string[] = [];
    while (this.times.length > 0 && (this.times[0] as number) <= now) out.push(this.pop());
    return out;
  }

  /** Starts over from `entries` (when stale entries outnumber the live ones). */
  rebuild(entries: Iterable<[number, string]>): void {
    this.times = [];
    this.ids = [];
    for (const [at, id] of entries) {
      this.times.push(at);
      this.ids.push(id);
    }
    for (let i = (this.times.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  private pop(): string {
    const id = this.ids[0] as string;
    const lastTime = this.times.pop() as number;
    const lastId = this.ids.pop() as string;
    if (this.times.length > 0) {
      this.times[0] = lastTime;
      this.ids[0] = lastId;
      this.down(0);
    }
    return id;
  }

  private up(i: number): void {
    const t = this.times;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((t[parent] as number) <= (t[i] as number)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    const t = this.times;
    const n = t.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && (t[l] as number) < (t[m] as number)) m = l;
      if (r < n && (t[r] as number) < (t[m] as number)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }

  private swap(a: number, b: number): void {
    const t = this.times;
    const ids = this.ids;
    [t[a], t[b]] = [t[b] as number, t[a] as number];
    [ids[a], ids[b]] = [ids[b] as string, ids[a] as string];
  }
}
