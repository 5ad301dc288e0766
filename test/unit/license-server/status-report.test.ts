import { describe, expect, it } from 'vitest';
import type { ReplicationState } from '../../../src/license-server/protocol.ts';
import { readiness } from '../../../src/license-server/status-report.ts';

function sources(
  role: 'active' | 'standby',
  state: ReplicationState,
  opts: { known?: number; seq?: number; licenceValid?: boolean } = {},
) {
  return {
    role,
    licence: { valid: opts.licenceValid ?? true, message: 'signature does not match', json: () => ({}) },
    replication: {
      state: () => state,
      knownActiveSeq: opts.known,
      lag: () => ({ entries: 0, seconds: 0 }),
      mode: () => 'sync' as const,
      peerLastSeenSeconds: () => null,
      clockSkewSeconds: () => null,
    },
    ledger: { seq: opts.seq ?? 0, leaseCount: 0 },
  } as Parameters<typeof readiness>[0];
}

describe('readiness: could it serve licences in its role', () => {
  const rows: [string, Parameters<typeof readiness>[0], boolean, RegExp][] = [
    ['an active with a valid licence', sources('active', 'in-sync'), true, /^active/],
    [
      'an active without a valid licence',
      sources('active', 'in-sync', { licenceValid: false }),
      false,
      /licence/,
    ],
    [
      'a standby following its active',
      sources('standby', 'in-sync', { known: 9, seq: 9 }),
      true,
      /following/,
    ],
    ['a standby catching up', sources('standby', 'catching-up', { known: 9, seq: 4 }), false, /catching-up/],
    [
      'a standby cut off from its active with everything it announced (its active died; being promoted)',
      sources('standby', 'disconnected', { known: 9, seq: 9 }),
      true,
      /cut off/,
    ],
    [
      'a standby cut off from its active while behind it',
      sources('standby', 'disconnected', { known: 9, seq: 8 }),
      false,
      /disconnected/,
    ],
    ['a standby that never heard an active', sources('standby', 'disconnected'), false, /disconnected/],
    ['a standby with no peer (a single server, not yet promoted)', sources('standby', 'none'), false, /none/],
    [
      'a standby in sync without a valid licence',
      sources('standby', 'in-sync', { known: 9, seq: 9, licenceValid: false }),
      false,
      /without a valid licence/,
    ],
  ];
  it.each(rows)('%s', (_name, s, ready, reason) => {
    const r = readiness(s);
    expect(r.ready).toBe(ready);
    expect(r.reason).toMatch(reason);
  });
});
