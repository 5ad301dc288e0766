import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { parseSpec } from '../../../src/api/pair-parse.ts';
import {
  EMPTY_PROBE_HISTORY,
  policyFromSpec,
  recordProbe,
  recordServerReport,
} from '../../../src/operator/observation.ts';
import { observeNode, observePod } from '../../../src/operator/observe-kube.ts';

describe('recordProbe', () => {
  it('tracks streaks and their start times', () => {
    let h = recordProbe(EMPTY_PROBE_HISTORY, true, 1000);
    h = recordProbe(h, true, 3000);
    expect(h).toEqual({
      consecutiveSuccesses: 2,
      consecutiveFailures: 0,
      lastSuccessAt: 3000,
      successSince: 1000,
    });
    h = recordProbe(h, false, 5000);
    h = recordProbe(h, false, 7000);
    expect(h).toEqual({
      consecutiveSuccesses: 0,
      consecutiveFailures: 2,
      lastSuccessAt: 3000,
      lastFailureAt: 7000,
      firstFailureAt: 5000,
    });
    h = recordProbe(h, true, 9000);
    expect(h).toMatchObject({
      consecutiveSuccesses: 1,
      consecutiveFailures: 0,
      successSince: 9000,
      lastFailureAt: 7000,
    });
  });
});

describe('recordServerReport', () => {
  const rep = (replication: 'in-sync' | 'catching-up') => ({
    role: 'standby' as const,
    epoch: 1,
    replication,
  });
  it('keeps inSyncSince while in sync and resets it otherwise', () => {
    let r = recordServerReport(undefined, rep('in-sync'), 100);
    expect(r?.inSyncSince).toBe(100);
    r = recordServerReport(r, rep('in-sync'), 200);
    expect(r?.inSyncSince).toBe(100);
    r = recordServerReport(r, rep('catching-up'), 300);
    expect(r?.inSyncSince).toBeUndefined();
    r = recordServerReport(r, rep('in-sync'), 400);
    expect(r?.inSyncSince).toBe(400);
    expect(recordServerReport(r, undefined, 500)).toBeUndefined();
  });
});

describe('observePod / observeNode', () => {
  const base: V1Pod = {
    metadata: { name: 'eda-primary' },
    spec: { nodeName: 'n1', containers: [] },
    status: {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: new Date(5000) }],
      containerStatuses: [
        {
          name: 'license-server',
          ready: true,
          restartCount: 0,
          image: 'i',
          imageID: '',
          state: { running: {} },
        },
      ],
    },
  };
  it('reads a running, ready pod', () => {
    expect(observePod(base)).toEqual({
      phase: 'Running',
      deleting: false,
      ready: true,
      readyTransitionAt: 5000,
      containerTerminated: false,
      restarts: 0,
    });
    expect(observePod(undefined)).toBeUndefined();
  });
  it('reads what names a cause: the waiting reason, the last termination, the scheduler, the image', () => {
    const p = structuredClone(base);
    // Not bound to a node yet: the scheduler's word counts.
    p.spec = { containers: [{ name: 'license-server', image: 'reg.example/ls:9' }] };
    p.status!.phase = 'Pending';
    p.status!.conditions = [
      { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1 nodes are available' },
    ];
    p.status!.containerStatuses![0]!.state = { waiting: { reason: 'ImagePullBackOff', message: 'back-off' } };
    p.status!.containerStatuses![0]!.lastState = {
      terminated: { exitCode: 2, reason: 'Error', message: 'boom', finishedAt: new Date(1) },
    };
    expect(observePod(p)).toMatchObject({
      image: 'reg.example/ls:9',
      unschedulable: '0/1 nodes are available',
      waiting: { reason: 'ImagePullBackOff', message: 'back-off' },
      lastTermination: { reason: 'Error', exitCode: 2, message: 'boom' },
    });
    // Scheduled: no scheduler message.
    p.status!.conditions = [{ type: 'PodScheduled', status: 'True' }];
    expect(observePod(p)).not.toHaveProperty('unschedulable');
    // Bound to a node: scheduled, even if a scheduler's late write left Unschedulable behind.
    p.status!.conditions = [
      { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1 nodes are available' },
    ];
    p.spec!.nodeName = 'n1';
    expect(observePod(p)).not.toHaveProperty('unschedulable');
  });
  it('reads deletion (request time = deletionTimestamp − grace)', () => {
    const p = structuredClone(base);
    p.metadata!.deletionTimestamp = new Date(40_000);
    p.metadata!.deletionGracePeriodSeconds = 30;
    expect(observePod(p)).toMatchObject({ deleting: true, deletionRequestedAt: 10_000 });
  });
  it('reads a terminated or crash-looping container', () => {
    const p = structuredClone(base);
    p.status!.containerStatuses![0]!.state = { terminated: { exitCode: 1, finishedAt: new Date(7000) } };
    expect(observePod(p)).toMatchObject({ containerTerminated: true, terminatedAt: 7000 });
    const q = structuredClone(base);
    q.status!.containerStatuses![0]!.state = { waiting: { reason: 'CrashLoopBackOff' } };
    q.status!.containerStatuses![0]!.restartCount = 4;
    expect(observePod(q)?.containerTerminated).toBe(true);
    const r = structuredClone(base);
    r.status!.containerStatuses![0]!.state = { waiting: { reason: 'ContainerCreating' } };
    expect(observePod(r)?.containerTerminated).toBe(false);
  });
  it('reads when the pod was made and when its running container started (none while it does not run)', () => {
    const p = structuredClone(base);
    p.metadata = { ...p.metadata, creationTimestamp: new Date(2000) };
    p.status!.containerStatuses![0]!.state = { running: { startedAt: new Date(8000) } };
    expect(observePod(p)).toMatchObject({ createdAt: 2000, runningSince: 8000, startedAt: 8000 });
    p.status!.containerStatuses![0]!.state = { terminated: { exitCode: 137, finishedAt: new Date(9000) } };
    const stopped = observePod(p)!;
    expect(stopped).toMatchObject({ createdAt: 2000, startedAt: 2000, containerTerminated: true });
    expect(stopped.runningSince).toBeUndefined();
  });
  it('accepts timestamps as strings too', () => {
    const p = structuredClone(base);
    (p.status!.conditions![0] as { lastTransitionTime: unknown }).lastTransitionTime = '1970-01-01T00:00:06Z';
    expect(observePod(p)?.readyTransitionAt).toBe(6000);
  });
  it('reads node readiness; a bound pod whose node is gone counts as Unknown', () => {
    const node: V1Node = {
      metadata: { name: 'n1' },
      status: { conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: new Date(9000) }] },
    };
    expect(observeNode(base, node)).toEqual({ ready: 'False', transitionAt: 9000 });
    expect(observeNode(base, undefined)).toEqual({ ready: 'Unknown' });
    expect(observeNode({ ...base, spec: { containers: [] } }, node)).toBeUndefined();
    expect(observeNode(base, { metadata: { name: 'n1' } })).toEqual({ ready: 'Unknown' });
  });
});

describe('policyFromSpec', () => {
  it('takes the defaults of the spec', () => {
    expect(policyFromSpec(parseSpec({ server: { license: { secretName: 'l' } } }))).toEqual({
      enabled: true,
      delaySeconds: 0,
      failback: 'Automatic',
      failbackStableSeconds: 30,
      minSecondsBetweenFailovers: 10,
      preferredMember: 'primary',
      promiseMs: 1000,
      failureThreshold: 3,
      successThreshold: 2,
      protocol: 'reference',
      periodSeconds: 2,
      licence: {
        secretName: 'l',
        fileKey: 'license.json',
        publicKeyKey: 'public-key.pem',
        expiryWarningDays: 14,
      },
    });
  });
});
