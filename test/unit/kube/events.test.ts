import type * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { EventRecorder } from '../../../src/kube/events.ts';
import type { KubeWriter } from '../../../src/kube/writer.ts';

// The recorder's own logic (aggregation, background sending, a failed create not counted on),
// with a writer that records the calls instead of sending them.
function recorder(failCreates = 0) {
  const calls: { verb: 'create' | 'patch'; name: string; count?: number; reason?: string }[] = [];
  let failures = failCreates;
  const writer = {
    createEvent: async (_ns: string, e: k8s.CoreV1Event) => {
      await new Promise((r) => setTimeout(r, 5));
      if (failures-- > 0) throw new Error('API server unavailable');
      calls.push({ verb: 'create', name: e.metadata!.name!, count: e.count!, reason: e.reason! });
    },
    patchEvent: async (_ns: string, name: string, patch: { count: number }) => {
      calls.push({ verb: 'patch', name, count: patch.count });
    },
  } as unknown as KubeWriter;
  return { rec: new EventRecorder(writer, 'test', pino({ level: 'silent' })), calls };
}

const pair = {
  apiVersion: 'lpo.dev/v1alpha1',
  kind: 'LicenseServerPair',
  metadata: { name: 'p', namespace: 'ns', uid: 'u1' },
};
const settle = () => new Promise((r) => setTimeout(r, 50));

describe('EventRecorder', () => {
  it('returns at once and sends in the background', async () => {
    const { rec, calls } = recorder();
    rec.record(pair, 'Normal', 'Promoted', 'primary promoted');
    expect(calls).toEqual([]);
    await settle();
    expect(calls).toMatchObject([{ verb: 'create', count: 1, reason: 'Promoted' }]);
  });

  it('counts repeats on one Event, also a repeat recorded while it is being created', async () => {
    const { rec, calls } = recorder();
    rec.record(pair, 'Warning', 'FailedOver', 'primary → redundant');
    rec.record(pair, 'Warning', 'FailedOver', 'primary → redundant');
    await settle();
    rec.record(pair, 'Warning', 'FailedOver', 'primary → redundant');
    rec.record(pair, 'Normal', 'Promoted', 'other message');
    await settle();
    const first = calls.find((c) => c.reason === 'FailedOver')!;
    expect(calls.filter((c) => c.name === first.name).map((c) => [c.verb, c.count])).toEqual([
      ['create', 1],
      ['patch', 2],
      ['patch', 3],
    ]);
    expect(calls.filter((c) => c.verb === 'create').map((c) => c.reason)).toEqual(['FailedOver', 'Promoted']);
  });

  it('creates the Event afresh after a failed create instead of counting on it', async () => {
    const { rec, calls } = recorder(1);
    rec.record(pair, 'Warning', 'Fenced', 'primary fenced');
    await settle();
    expect(calls).toEqual([]);
    rec.record(pair, 'Warning', 'Fenced', 'primary fenced');
    await settle();
    expect(calls).toMatchObject([{ verb: 'create', count: 1, reason: 'Fenced' }]);
  });
});
