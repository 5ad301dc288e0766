// The journal and snapshot on disk: compaction in the background keeps every entry, whether it
// finishes, is cut short (the process stops before the snapshot is renamed into place), or is
// overtaken by a compaction that writes at once.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Ledger } from '../../../src/license-server/ledger.ts';
import type { LogEntry } from '../../../src/license-server/ledger.ts';
import { Store } from '../../../src/license-server/store.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function setup() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lsp-store-'));
  dirs.push(dir);
  const ledger = new Ledger({ leaseTtlMs: 600_000 });
  ledger.setFeatures([
    {
      name: 'f',
      seats: 1_000_000,
      startMs: 0,
      expiryMs: Date.parse('2099-01-01'),
      reserved: [],
      excludeUsers: [],
      excludeHosts: [],
      lingerMs: 0,
    },
  ]);
  const store = new Store({ dir });
  store.open();
  let n = 0;
  /** check out `count` more leases, journaled as the active does */
  const grant = async (count: number): Promise<void> => {
    const entries: LogEntry[] = [];
    for (let i = 0; i < count; i++, n++)
      entries.push(
        ...ledger.checkout({ feature: 'f', count: 1, clientId: `c${n}`, user: 'u', host: 'h' }, 0, Date.now())
          .entries,
      );
    store.append(entries, Date.now());
    await store.durable();
  };
  /** what a restart reads back, replayed into a fresh ledger */
  const reload = (): { seq: number; leases: number; journals: string[] } => {
    const s = new Store({ dir });
    const loaded = s.open();
    s.close();
    const l = new Ledger({ leaseTtlMs: 600_000 });
    if (loaded.snapshot) l.restore(loaded.snapshot.ledger, 0);
    for (const { entry } of loaded.entries) l.apply(entry, 0);
    const journals = fs.readdirSync(dir).filter((f) => f.startsWith('journal-'));
    return { seq: l.seq, leases: l.leaseCount, journals: journals.sort() };
  };
  return { dir, ledger, store, grant, reload };
}

const compacted = (store: Store, ledger: Ledger): Promise<Error | undefined> =>
  new Promise((resolve) => store.compactInBackground(ledger.snapshot(0), Date.now(), resolve));

describe('journal compaction in the background', () => {
  it('keeps the entries appended while the snapshot is written, and drops the old journal', async () => {
    const { dir, store, ledger, grant, reload } = setup();
    await grant(5000);
    const done = compacted(store, ledger);
    await grant(300); // into the next journal, before the snapshot is in place
    expect(await done).toBeUndefined();
    await grant(200);
    store.close();
    const r = reload();
    expect(r).toEqual({ seq: 5500, leases: 5500, journals: ['journal-1.log'] });
    const snap = JSON.parse(fs.readFileSync(path.join(dir, 'snapshot.json'), 'utf8')) as {
      generation: number;
      ledger: { seq: number; leases: unknown[] };
    };
    expect([snap.generation, snap.ledger.seq, snap.ledger.leases.length]).toEqual([1, 5000, 5000]);
  });

  it('loses nothing when the process stops before the snapshot is renamed into place', async () => {
    const { dir, store, ledger, grant, reload } = setup();
    await grant(3000);
    const done = compacted(store, ledger);
    await grant(100);
    store.close(); // the compaction in flight gives up: its snapshot never replaces the old state
    await done;
    expect(fs.existsSync(path.join(dir, 'snapshot.json'))).toBe(false);
    expect(reload()).toEqual({ seq: 3100, leases: 3100, journals: ['journal-0.log', 'journal-1.log'] });
    // a restart appends to the newest journal, and the next compaction retires both
    const again = new Store({ dir });
    const loaded = again.open();
    const l = new Ledger({ leaseTtlMs: 600_000 });
    l.setFeatures(ledger.getFeatures());
    for (const { entry } of loaded.entries) l.apply(entry, 0);
    again.append(
      l.checkout({ feature: 'f', count: 1, clientId: 'late', user: 'u', host: 'h' }, 0, Date.now()).entries,
      Date.now(),
    );
    await again.durable();
    expect(await compacted(again, l)).toBeUndefined();
    again.close();
    expect(reload()).toEqual({ seq: 3101, leases: 3101, journals: ['journal-2.log'] });
  });

  it('is overtaken by a compaction that writes at once', async () => {
    const { dir, store, ledger, grant, reload } = setup();
    await grant(4000);
    const done = compacted(store, ledger);
    await grant(10);
    store.compact(ledger.snapshot(0), Date.now());
    await done;
    await grant(10);
    store.close();
    expect(reload()).toEqual({ seq: 4020, leases: 4020, journals: ['journal-2.log'] });
    expect(fs.readdirSync(dir).filter((f) => f.includes('compacting'))).toEqual([]);
  });
});
