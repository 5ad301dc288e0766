// Says whether a log line is worth writing: the same refusal (same key) at most once per window,
// so a caller retrying every second with the wrong certificate fills no disk, and a new kind of
// refusal still shows at once.
export class RepeatFilter {
  private readonly windowMs: number;
  private readonly now: () => number;
  private readonly last = new Map<string, number>();

  constructor(windowMs = 60_000, now: () => number = () => performance.now()) {
    this.windowMs = windowMs;
    this.now = now;
  }

  /** true the first time `key` is seen in a window (and then the window restarts for it) */
  fresh(key: string): boolean {
    const t = this.now();
    const at = this.last.get(key);
    if (at !== undefined && t - at < this.windowMs) return false;
    if (this.last.size > 1000) this.last.clear(); // a flood of distinct keys: forget rather than grow
    this.last.set(key, t);
    return true;
  }
}
