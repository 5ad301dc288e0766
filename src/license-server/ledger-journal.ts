// The ledger kept on disk (store.ts): recovered at start, every change written to the journal
// and handed to replication in the same JSON text, the active's entries applied on a standby,
// and compaction. Which changes are made, and when they may be acknowledged, is the member's.
import type { Logger } from 'pino';
import type { ServerConfig } from './config.ts';
import { Ledger } from './ledger.ts';
import type { LedgerSnapshot, LogEntry } from './ledger.ts';
import { Store } from './store.ts';

export type LedgerJournalOptions = {
  config: Pick<ServerConfig, 'leaseTtlMs' | 'stateDir' | 'fsync' | 'compactEvery'>;
  log: Logger;
  /** hands entries to replication (the stream is written before the journal) */
  replicate: (entries: LogEntry[], jsons: string[]) => void;
};

export class LedgerJournal {
  readonly ledger: Ledger;
  private readonly store: Store;
  private readonly opts: LedgerJournalOptions;

  constructor(opts: LedgerJournalOptions) {
    this.opts = opts;
    this.ledger = new Ledger({ leaseTtlMs: opts.config.leaseTtlMs });
    this.store = new Store({ dir: opts.config.stateDir, fsync: opts.config.fsync });
  }

  private now(): number {
    return performance.now();
  }

  /**
   * Replay the snapshot and journals (lease expiry times carried over by wall clock). Returns the
   * highest epoch this member has seen and the journal lines that could not be read.
   */
  load(): { epoch: number; skipped: number } {
    const loaded = this.store.open();
    const mono = this.now();
    const wall = Date.now();
    if (loaded.snapshot) this.ledger.restore(loaded.snapshot.ledger, mono - (wall - loaded.snapshot.wall));
    for (const { wall: w, entry } of loaded.entries) this.ledger.apply(entry, mono - (wall - w));
    return { epoch: Math.max(loaded.meta.epoch, this.ledger.epoch), skipped: loaded.skipped };
  }

  /** Persist and replicate entries of this member (active); resolves once they are durable. */
  persist(entries: LogEntry[]): Promise<void> {
    if (entries.length === 0) return Promise.resolve();
    // serialised once, for the standby and for the journal (the stream is written first in the
    // next turn, so the standby works while the journal is written)
    const jsons = entries.map((e) => JSON.stringify(e));
    this.opts.replicate(entries, jsons);
    this.store.appendSerialized(jsons, Date.now());
    if (this.store.journalEntries >= this.opts.config.compactEvery) this.compactInBackground();
    return this.store.durable();
  }

  /** A standby applies the active's entries; `jsons`: their texts as received, when known. */
  applyReplicated(entries: LogEntry[], jsons?: readonly string[]): void {
    const t = this.now();
    const applied: string[] = [];
    try {
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i] as LogEntry;
        if (e.seq <= this.ledger.seq) continue;
        this.ledger.apply(e, t);
        applied.push(jsons?.[i] ?? JSON.stringify(e));
      }
    } finally {
      this.store.appendSerialized(applied, Date.now());
    }
    if (this.store.journalEntries >= this.opts.config.compactEvery) this.compactInBackground();
  }

  /** A standby resyncs from the active's snapshot. */
  restore(snapshot: LedgerSnapshot): void {
    this.ledger.restore(snapshot, this.now());
    this.compact();
  }

  /** The highest epoch seen, kept for fencing across restarts. */
  saveEpoch(epoch: number): void {
    this.store.saveMeta({ epoch });
  }

  close(): void {
    this.store.close();
  }

  private compact(): void {
    const t = this.now();
    this.store.compact(this.ledger.snapshot(t), Date.now());
    this.opts.log.info({ seq: this.ledger.seq, ms: Math.round(this.now() - t) }, 'journal compacted');
  }

  /** Compaction while serving: the snapshot is written without holding requests up. */
  private compactInBackground(): void {
    const t = this.now();
    const seq = this.ledger.seq;
    this.store.compactInBackground(this.ledger.snapshot(t), Date.now(), (err) => {
      if (err) this.opts.log.error({ seq, error: err.message }, 'journal compaction failed');
      else this.opts.log.info({ seq, ms: Math.round(this.now() - t) }, 'journal compacted');
    });
  }
}
