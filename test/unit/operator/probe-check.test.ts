import { describe, expect, it } from 'vitest';
import type { MemberStatus, ProbeResult } from '../../../src/operator/member-wire.ts';
import { EMPTY_PROBE_HISTORY, recordProbe } from '../../../src/operator/observation.ts';
import {
  aloneRecheckAt,
  answered,
  signalOf,
  type MemberProbeState,
  type ProbeTarget,
} from '../../../src/operator/probe-check.ts';

const target: ProbeTarget = {
  pairKey: 'ns/p',
  member: 'primary',
  podUID: 'u',
  podIP: '10.0.0.1',
  type: 'HTTP',
  port: 8080,
  path: '/healthz',
  periodMs: 2000,
  timeoutMs: 1000,
  failureThreshold: 3,
  successThreshold: 2,
  statusUrl: 'http://10.0.0.1:9090',
};
const standby: MemberStatus = { role: 'standby', epoch: 1, replication: 'in-sync', anchor: 7 };
const ok: ProbeResult = { ok: true, latencyMs: 3, message: 'ok' };
const failed: ProbeResult = { ok: false, latencyMs: 1000, message: 'timeout' };

describe('answered', () => {
  it('keeps the report for the decision and the anchor for grants apart', () => {
    const a = answered({ history: EMPTY_PROBE_HISTORY }, standby, 100, 150);
    expect(a.server).toEqual({
      role: 'standby',
      epoch: 1,
      replication: 'in-sync',
      sentAt: 100,
      inSyncSince: 150,
      at: 150,
    });
    expect(a.anchor).toEqual({ n: 7, receivedAt: 150 });
    // No answer: no report, the last anchor stays.
    expect(answered({ history: EMPTY_PROBE_HISTORY, ...a }, undefined, 200, 250)).toEqual({
      anchor: { n: 7, receivedAt: 150 },
    });
  });
});

describe('aloneRecheckAt', () => {
  it('looks again when a live member without its standby may be granted', () => {
    const report = (right: 'none' | 'peer', withoutPeerSeconds?: number) => ({
      role: 'active' as const,
      epoch: 1,
      replication: 'disconnected' as const,
      serving: { right, ...(withoutPeerSeconds !== undefined ? { withoutPeerSeconds } : {}) },
    });
    expect(aloneRecheckAt(report('none', 0.25), 1000)).toBe(1000 + 750 + 50);
    expect(aloneRecheckAt(report('none'), 1000)).toBe(1000 + 1000 + 50);
    expect(aloneRecheckAt(report('none', 1), 1000)).toBeUndefined();
    expect(aloneRecheckAt(report('peer', 0.25), 1000)).toBeUndefined();
    expect(aloneRecheckAt(undefined, 1000)).toBeUndefined();
  });
});

describe('signalOf', () => {
  const after = (prev: MemberProbeState, result: ProbeResult, status = standby) => ({
    history: recordProbe(prev.history, result.ok, 0),
    server: answered(prev, status, 0, 0).server,
    result,
  });
  const steady = (n: number): MemberProbeState => ({
    history: { consecutiveSuccesses: n, consecutiveFailures: 0, successSince: 0 },
    server: answered({ history: EMPTY_PROBE_HISTORY }, standby, 0, 0).server!,
    lastResult: ok,
  });

  it('wakes the pair on what the decision reads, and not on a steady check', () => {
    expect(signalOf(target, steady(5), after(steady(5), ok), false)).toBeUndefined();
    expect(signalOf(target, { history: EMPTY_PROBE_HISTORY }, after(steady(0), ok), false)).toBe('changed');
    expect(signalOf(target, steady(1), after(steady(1), ok), false)).toBe('healthy');
    expect(signalOf(target, steady(5), after(steady(5), failed), false)).toBe('failure');
    expect(signalOf(target, steady(5), after(steady(5), ok, { ...standby, role: 'active' }), false)).toBe(
      'changed',
    );
    expect(signalOf(target, steady(5), after(steady(5), ok), true)).toBe('failure');
  });
});
