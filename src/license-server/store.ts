// Persistence of a member's state in LS_STATE_DIR, so that it survives a process restart:
//
//   snapshot.json        { generation, wall, ledger: LedgerSnapshot }   (atomic: tmp + fsync + rename)
//   journal-<gen>.log    one JSON line per log entry after that snapshot: {"w": wallMs, "e": LogEntry}
//   meta.json            { epoch }  the highest epoch this member has seen (fencing)
//
// Appends are batched: entries appended in one turn of the event loop are written with one
// write(2); fdatasync runs every `fsyncIntervalMs` (or before `durable()` resolves when
// `fsync: 'always'`). A journal line that was cut short by a crash is ignored on load.
// Compaction writes a new snapshot and starts the journal of the next generation; the journal
// of an older generation is never read again, so a crash between the steps is harmless.
import fs from 'node:fs';
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
    const journal = this.journalPath(this.generation);
    if (fs.existsSync(journal)) {
      const text = fs.readFileSync(journal, 'utf8');
      let lastSeq = snapshot?.ledger.seq ?? 0;
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

  /** Write a snapshot of the whole state and start a new, empty journal. */
  compact(ledger: LedgerSnapshot, wall: number): void {
    if (this.closed) return;
    this.flush();
    const next = this.generation + 1;
    const nextJournal = this.journalPath(next);
    const nextFd = fs.openSync(nextJournal, 'w');
    fs.fsyncSync(nextFd);
    writeAtomic(path.join(this.dir, 'snapshot.json'), JSON.stringify({ generation: next, wall, ledger }));
    const oldFd = this.fd;
    const oldJournal = this.journalPath(this.generation);
    this.fd = nextFd;
    this.generation = next;
    this.entriesSinceSnapshot = 0;
    if (oldFd !== undefined) fs.closeSync(oldFd);
    fs.rmSync(oldJournal, { force: true });
    this.wake();
  }

  saveMeta(meta: { epoch: number }): void {
    writeAtomic(path.join(this.dir, 'meta.json'), JSON.stringify(meta));
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
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
