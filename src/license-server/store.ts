// Persistence of a member's state in LS_STATE_DIR, so that it survives a process restart:
//
//   snapshot.json        { generation, wall, ledger: LedgerSnapshot }   (atomic: tmp + fsync + rename)
//   journal-<gen>.log    one JSON line per log entry after that snapshot: {"w": wallMs, "e": LogEntry}
//   meta.json            { epoch }  the highest epoch this member has seen (fencing)
//
// Appends are batched: entries appended in one turn of the event loop are written with one
// write(2); fdatasync runs every `fsyncIntervalMs` (or before `durable()` resolves when
// `fsync: 'always'`). A journal line that was cut short by a crash is ignored on load.
// Compaction starts the journal of the next generation and writes a snapshot of that
// generation. The state on disk is always snapshot.json plus the journals of its generation and
// of the following ones, in order: while a snapshot is being written in the background, the
// entries after it go to the next journal, and a crash before its rename finds the previous
// snapshot with both journals. Journals older than the snapshot are never read again.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { LedgerSnapshot, LogEntry } from './ledger.ts';

export type StoreOptions = {
  dir: string;
  /** 'batch' (default): fdatasync every fsyncIntervalMs; 'always': durable() waits for it */
  fsync?: 'batch' | 'always';
  fsyncIntervalMs?: number;
};

export type LoadedState = {
  snapshot: { wall: number; ledger: LedgerSnapshot } | undefined;
  entries: { wall: number; entry: LogEntry }[];
  meta: { epoch: number };
  /** lines that could not be parsed (a torn last write) */
  skipped: number;
};

export class Store {
  private readonly dir: string;
  private readonly mode: 'batch' | 'always';
  private readonly fsyncIntervalMs: number;
  private generation = 0;
  private fd: number | undefined;
  private buffer: string[] = [];
  private flushScheduled = false;
  private dirty = false;
  private syncing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private waiters: (() => void)[] = [];
  private entriesSinceSnapshot = 0;
  private closed = false;
  /** the background compaction in progress (its generation), if any */
  private compacting: number | undefined;
  /** fds of journals still needed until the background compaction in progress is done */
  private retiring: number[] = [];

  constructor(opts: StoreOptions) {
    this.dir = opts.dir;
    this.mode = opts.fsync ?? 'batch';
    this.fsyncIntervalMs = opts.fsyncIntervalMs ?? 50;
  }

  get journalEntries(): number {
    return this.entriesSinceSnapshot;
  }

  /** Read what is on disk and open the journal for appending. */
  open(): LoadedState {
    fs.mkdirSync(this.dir, { recursive: true });
    let snapshot: LoadedState['snapshot'];
    const snapPath = path.join(this.dir, 'snapshot.json');
    if (fs.existsSync(snapPath)) {
      const raw = JSON.parse(fs.readFileSync(snapPath, 'utf8')) as {
        generation: number;
        wall: number;
        ledger: LedgerSnapshot;
      };
      this.generation = raw.generation;
      snapshot = { wall: raw.wall, ledger: raw.ledger };
    }
    const entries: LoadedState['entries'] = [];
    let skipped = 0;
    let lastSeq = snapshot?.ledger.seq ?? 0;
    // the snapshot's journal, then those of compactions that did not finish, in order
    for (let gen = this.generation; fs.existsSync(this.journalPath(gen)); gen++) {
      this.generation = gen;
      const text = fs.readFileSync(this.journalPath(gen), 'utf8');
      for (const line of text.split('\n')) {
        if (!line) continue;
        try {
          const rec = JSON.parse(line) as { w: number; e: LogEntry };
          if (rec.e.seq <= lastSeq) continue;
          if (rec.e.seq !== lastSeq + 1) break; // never apply across a gap
          entries.push({ wall: rec.w, entry: rec.e });
          lastSeq = rec.e.seq;
        } catch {
          skipped += 1;
        }
      }
    }
    const journal = this.journalPath(this.generation);
    let meta = { epoch: 0 };
    const metaPath = path.join(this.dir, 'meta.json');
    if (fs.existsSync(metaPath)) meta = JSON.parse(fs.readFileSync(metaPath, 'utf8')) as { epoch: number };
    this.entriesSinceSnapshot = entries.length;
    this.fd = fs.openSync(journal, 'a');
    this.timer = setInterval(() => void this.sync(), this.fsyncIntervalMs);
    this.timer.unref();
    return { snapshot, entries, meta, skipped };
  }

  append(entries: readonly LogEntry[], wall: number): void {
    this.appendSerialized(
      entries.map((e) => JSON.stringify(e)),
      wall,
    );
  }

  /** Append entries given as their JSON texts (serialised once by the caller). */
  appendSerialized(jsons: readonly string[], wall: number): void {
    if (this.closed || jsons.length === 0) return;
    for (const j of jsons) this.buffer.push(`{"w":${wall},"e":${j}}\n`);
    this.entriesSinceSnapshot += jsons.length;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Resolves when everything appended so far is written (and fsynced in 'always' mode). */
  durable(): Promise<void> {
    if (this.buffer.length === 0 && (this.mode === 'batch' || !this.dirty)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.buffer.length > 0 && this.fd !== undefined) {
      const data = this.buffer.join('');
      this.buffer = [];
      fs.writeSync(this.fd, data);
      this.dirty = true;
    }
    if (this.mode === 'always') void this.sync();
    else this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private async sync(): Promise<void> {
    if (this.syncing) return this.syncing;
    if (!this.dirty || this.fd === undefined) return;
    const fd = this.fd;
    const waiting = this.waiters;
    this.waiters = [];
    this.dirty = false;
    this.syncing = new Promise<void>((resolve) => {
      fs.fdatasync(fd, () => {
        this.syncing = undefined;
        for (const f of waiting) f();
        resolve();
        if (this.dirty && this.mode === 'always') void this.sync();
      });
    });
    return this.syncing;
  }

  /** Write a snapshot of the whole state and start a new, empty journal (before returning). */
  compact(ledger: LedgerSnapshot, wall: number): void {
    if (this.closed) return;
    this.compacting = undefined; // supersedes one in the background, which then drops its file
    const next = this.startGeneration();
    writeAtomic(path.join(this.dir, 'snapshot.json'), JSON.stringify({ generation: next, wall, ledger }));
    this.retire(next);
  }

  /**
   * The same without holding the event loop: the entries from now on go to a new journal at
   * once, and the snapshot (a copy of the state at this point) is serialised a slice at a time
   * and written, fsynced and renamed in the background. For 100,000 leases, writing it in one go
   * held every request for 100-200 ms. Does nothing while a compaction is in progress.
   */
  compactInBackground(ledger: LedgerSnapshot, wall: number, done?: (err?: Error) => void): void {
    if (this.closed || this.compacting !== undefined) return;
    const next = this.startGeneration();
    this.compacting = next;
    const current = (): boolean => !this.closed && this.compacting === next;
    const tmp = path.join(this.dir, 'snapshot.json.compacting');
    const previous = [...this.retiring];
    void (async () => {
      // Until the snapshot is in place, the previous journals are part of the state: their last
      // appends must be on disk before the entries that follow them in the new journal are.
      await this.syncing;
      for (const fd of previous) await new Promise<void>((r, j) => fs.fdatasync(fd, (e) => (e ? j(e) : r())));
      if (!current()) return;
      const file = await fsp.open(tmp, 'w');
      try {
        const { leases, ...rest } = ledger;
        const head = JSON.stringify({ generation: next, wall, ledger: { ...rest, leases: [] } });
        await file.write(`${head.slice(0, -3)}`);
        for (let i = 0; i < leases.length && current(); i += SNAPSHOT_SLICE) {
          const part = leases.slice(i, i + SNAPSHOT_SLICE).map((l) => JSON.stringify(l));
          await file.write(`${i === 0 ? '' : ','}${part.join(',')}`);
          await new Promise<void>((r) => setImmediate(r));
        }
        await file.write(']}}');
        await file.sync();
      } finally {
        await file.close();
      }
      if (!current()) {
        await fsp.rm(tmp, { force: true });
        return;
      }
      fs.renameSync(tmp, path.join(this.dir, 'snapshot.json'));
      this.compacting = undefined;
      await syncDir(this.dir);
      this.retire(next);
    })().then(
      () => done?.(),
      (err: unknown) => {
        if (this.compacting === next) this.compacting = undefined;
        done?.(err as Error);
      },
    );
  }

  /** Flush, and send the following appends to the journal of a new generation. */
  private startGeneration(): number {
    this.flush();
    const next = this.generation + 1;
    const nextFd = fs.openSync(this.journalPath(next), 'w');
    fs.fsyncSync(nextFd);
    if (this.fd !== undefined) this.retiring.push(this.fd);
    this.fd = nextFd;
    this.generation = next;
    this.entriesSinceSnapshot = 0;
    this.wake();
    return next;
  }

  /** The snapshot of generation `gen` is in place: the journals before it are not needed. */
  private retire(gen: number): void {
    for (const fd of this.retiring.splice(0)) fs.closeSync(fd);
    for (const name of fs.readdirSync(this.dir)) {
      const m = /^journal-(\d+)\.log$/.exec(name);
      if (m && Number(m[1]) < gen) fs.rmSync(path.join(this.dir, name), { force: true });
    }
  }

  saveMeta(meta: { epoch: number }): void {
    writeAtomic(path.join(this.dir, 'meta.json'), JSON.stringify(meta));
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    for (const fd of this.retiring.splice(0)) {
      fs.fdatasyncSync(fd);
      fs.closeSync(fd);
    }
    if (this.fd !== undefined) {
      fs.fdatasyncSync(this.fd);
      fs.closeSync(this.fd);
      this.fd = undefined;
    }
    this.wake();
  }

  private journalPath(gen: number): string {
    return path.join(this.dir, `journal-${gen}.log`);
  }
}

/** Leases serialised per turn of the event loop by a background compaction (about 1 ms). */
const SNAPSHOT_SLICE = 2000;

async function syncDir(dir: string): Promise<void> {
  const d = await fsp.open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

function writeAtomic(file: string, data: string): void {
  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  fs.writeSync(fd, data);
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
  const dfd = fs.openSync(path.dirname(file), 'r');
  try {
    fs.fsyncSync(dfd);
  } finally {
    fs.closeSync(dfd);
  }
}
