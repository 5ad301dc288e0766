import { describe, expect, it } from 'vitest';
import {
  CAUSE_REASONS,
  lastLogMessage,
  licenceCause,
  licenceCondition,
  pairCause,
  podCause,
} from '../../../src/operator/diagnosis.ts';
import { decide } from '../../../src/operator/failover.ts';
import type {
  LicenceReport,
  LicenceSecretCheck,
  LicenceSource,
  MemberObservation,
  Observation,
  PodObservation,
  Policy,
} from '../../../src/operator/observation.ts';

const SRC: LicenceSource = {
  secretName: 'eda-licence',
  fileKey: 'license.json',
  publicKeyKey: 'public-key.pem',
  expiryWarningDays: 14,
};
const T0 = Date.parse('2027-01-10T00:00:00Z');
const DAY = 86_400_000;

const pending = (patch: Partial<PodObservation> = {}): PodObservation => ({
  phase: 'Pending',
  deleting: false,
  ready: false,
  containerTerminated: false,
  image: 'reg.example/license-server:9',
  ...patch,
});

describe('podCause: what a pod says about why it does not run', () => {
  const rows: [string, PodObservation, Parameters<typeof podCause>[1], string | undefined, RegExp?][] = [
    [
      'unschedulable, with the scheduler message',
      pending({ unschedulable: '0/3 nodes are available: 3 Insufficient memory.' }),
      undefined,
      'Unschedulable',
      /cannot be scheduled \(0\/3 nodes are available: 3 Insufficient memory\.\); change spec\.server\.resources/,
    ],
    [
      'image pull back-off, naming the image and the fix',
      pending({ waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image' } }),
      undefined,
      'ImagePullFailed',
      /the image reg\.example\/license-server:9 cannot be pulled \(ImagePullBackOff: Back-off pulling image\); set spec\.server\.image/,
    ],
    ['ErrImagePull', pending({ waiting: { reason: 'ErrImagePull' } }), undefined, 'ImagePullFailed'],
    ['InvalidImageName', pending({ waiting: { reason: 'InvalidImageName' } }), undefined, 'ImagePullFailed'],
    [
      'ErrImageNeverPull',
      pending({ waiting: { reason: 'ErrImageNeverPull' } }),
      undefined,
      'ImagePullFailed',
    ],
    [
      'crash loop, with the last exit and the last log line',
      {
        ...pending({ phase: 'Running', waiting: { reason: 'CrashLoopBackOff' } }),
        restarts: 4,
        lastTermination: {
          reason: 'Error',
          exitCode: 1,
          message:
            '{"level":50,"msg":"first"}\n{"level":60,"msg":"cannot open the journal","err":{"message":"EACCES"}}\n',
        },
      },
      undefined,
      'CrashLooping',
      /keeps crashing \(restarted 4 times, last exit: Error, code 1: cannot open the journal: EACCES\); see kubectl logs --previous/,
    ],
    [
      'container config error (a Secret an env var names is missing)',
      pending({ waiting: { reason: 'CreateContainerConfigError', message: 'secret "x" not found' } }),
      undefined,
      'ContainerConfigInvalid',
      /cannot be created \(CreateContainerConfigError: secret "x" not found\)/,
    ],
    [
      'waiting to start, the Secret missing',
      pending({ waiting: { reason: 'ContainerCreating' } }),
      { state: 'missing' },
      'LicenceSecretMissing',
      /the licence Secret eda-licence does not exist.*kubectl create secret generic eda-licence --from-file=license\.json=license\.json --from-file=public-key\.pem=public-key\.pem/,
    ],
    ['not yet created at all, the Secret missing', pending(), { state: 'missing' }, 'LicenceSecretMissing'],
    [
      'waiting to start, a key missing',
      pending({ waiting: { reason: 'ContainerCreating' } }),
      { state: 'missingKeys', keys: ['license.json'] },
      'LicenceKeyMissing',
      /Secret eda-licence has no key license\.json; add it, or set spec\.server\.license\.fileKey/,
    ],
    [
      'waiting to start, the Secret found: no cause (it is starting)',
      pending(),
      { state: 'found' },
      undefined,
    ],
    ['waiting to start, the Secret not checked yet: no cause', pending(), undefined, undefined],
    [
      'running: a Secret finding from before does not apply',
      pending({ phase: 'Running', ready: true }),
      { state: 'missing' },
      undefined,
    ],
    [
      'an image pull failure beats a missing Secret (it is what stops the pod first)',
      pending({ waiting: { reason: 'ErrImagePull' } }),
      { state: 'missing' },
      'ImagePullFailed',
    ],
  ];
  it.each(rows)('%s', (_name, pod, secret, reason, message) => {
    const c = podCause(pod, secret, SRC);
    expect(c?.reason).toBe(reason);
    if (message) expect(c?.message).toMatch(message);
  });

  it('keeps long kubelet and scheduler messages readable', () => {
    const c = podCause(pending({ unschedulable: 'x'.repeat(5000) }), undefined, SRC)!;
    expect(c.message.length).toBeLessThan(500);
  });
});

describe('lastLogMessage', () => {
  it('takes the last line; the msg of a JSON log line', () => {
    expect(lastLogMessage('a\nb\n\n')).toBe('b');
    expect(lastLogMessage('{"msg":"m"}')).toBe('m');
    expect(lastLogMessage('{"nomsg":1}')).toBe('{"nomsg":1}');
    expect(lastLogMessage('\n \n')).toBeUndefined();
  });
});

describe('licenceCause: a member without a licence in force', () => {
  const report = (patch: Partial<LicenceReport>): LicenceReport => ({
    state: 'invalid',
    message: 'm',
    ...patch,
  });
  it.each([
    [
      'BAD_SIGNATURE',
      report({ code: 'BAD_SIGNATURE' }),
      'LicenceSignatureInvalid',
      /not signed by the issuer key in Secret eda-licence/,
    ],
    [
      'EXPIRED',
      report({ state: 'expired', code: 'EXPIRED' }),
      'LicenceExpired',
      /has expired \(EXPIRED: m\); put a renewed licence file into Secret eda-licence/,
    ],
    ['MALFORMED', report({ code: 'MALFORMED' }), 'LicenceInvalid', /was refused \(MALFORMED: m\)/],
    ['WRONG_PAIR', report({ code: 'WRONG_PAIR' }), 'LicenceInvalid', /WRONG_PAIR/],
    ['UNREADABLE', report({ state: 'missing', code: 'UNREADABLE' }), 'LicenceInvalid', /UNREADABLE/],
  ] as const)('%s', (_n, r, reason, message) => {
    const c = licenceCause(r, SRC);
    expect(c?.reason).toBe(reason);
    expect(c?.message).toMatch(message);
  });
  it('a licence in force, or no report (an older server), is no cause', () => {
    expect(licenceCause({ state: 'valid', message: 'ok', lastError: 'x' }, SRC)).toBeUndefined();
    expect(licenceCause(undefined, SRC)).toBeUndefined();
  });
});

describe('pairCause', () => {
  const r = (reason: string, message = reason) => ({ reason, message });
  it('names both members when they share the cause, else the first in order with one', () => {
    expect(
      pairCause({ primary: r('LicenceInvalid', 'x'), redundant: r('LicenceInvalid', 'y') }, [
        'primary',
        'redundant',
      ]),
    ).toEqual({
      reason: 'LicenceInvalid',
      message: 'both members: x',
    });
    expect(
      pairCause({ primary: r('PodPending'), redundant: r('ImagePullFailed', 'z') }, ['primary', 'redundant']),
    ).toEqual({
      reason: 'ImagePullFailed',
      message: 'the redundant member: z',
    });
    expect(
      pairCause({ primary: r('CrashLooping', 'p'), redundant: r('ImagePullFailed', 'z') }, [
        'redundant',
        'primary',
      ]),
    ).toEqual({
      reason: 'ImagePullFailed',
      message: 'the redundant member: z',
    });
    expect(
      pairCause({ primary: r('PodPending'), redundant: r('Healthy') }, ['primary', 'redundant']),
    ).toBeUndefined();
  });
});

describe('licenceCondition', () => {
  const valid = (patch: Partial<LicenceReport> = {}): LicenceReport => ({
    state: 'valid',
    message: '1 feature',
    expiresAt: Date.parse('2099-12-31'),
    firstExpiry: { feature: 'synth', at: Date.parse('2099-12-31') },
    ...patch,
  });
  it.each([
    ['a licence in force', [valid()], 'True', 'Valid', /^valid; feature synth expires first, on 2099-12-31$/],
    [
      'the first feature expires within the window',
      [valid({ firstExpiry: { feature: 'sim', at: T0 + 3 * DAY } })],
      'True',
      'ExpiringSoon',
      /^feature sim expires on 2027-01-13 \(in 3 days\); put a renewed licence file into Secret eda-licence$/,
    ],
    [
      'just outside the window',
      [valid({ firstExpiry: { feature: 'sim', at: T0 + 15 * DAY } })],
      'True',
      'Valid',
      /sim expires first/,
    ],
    [
      'a newer file refused, the previous in force',
      [valid({ lastError: 'licence file refused (file changed): bad', lastErrorCode: 'MALFORMED' })],
      'True',
      'UpdateRefused',
      /a new licence file in Secret eda-licence was refused \(MALFORMED: .*bad\); the members keep serving the previous licence, valid until 2099-12-31/,
    ],
    [
      'the live member refused it, the other has one: in force',
      [{ state: 'invalid', code: 'MALFORMED', message: 'x' } as LicenceReport, valid()],
      'True',
      'Valid',
      /valid/,
    ],
    [
      'every member refused it',
      [{ state: 'expired', code: 'EXPIRED', message: 'x' } as LicenceReport, undefined],
      'False',
      'LicenceExpired',
      /has expired/,
    ],
    ['nobody reported', [undefined, undefined], 'Unknown', 'NotReported', /no member has reported/],
  ] as const)('%s', (_n, reports, status, reason, message) => {
    const c = licenceCondition(reports, undefined, SRC, T0);
    expect(c).toMatchObject({ type: 'LicenceValid', status, reason });
    expect(c.message).toMatch(message);
  });
  it('with no report, the Secret finding says why', () => {
    const c = licenceCondition(
      [undefined],
      { reason: 'LicenceSecretMissing', message: 'no Secret' },
      SRC,
      T0,
    );
    expect(c).toMatchObject({ status: 'False', reason: 'LicenceSecretMissing', message: 'no Secret' });
  });
  it('a warning window of 0 turns the warning off', () => {
    const c = licenceCondition(
      [valid({ firstExpiry: { feature: 'sim', at: T0 + DAY } })],
      undefined,
      { ...SRC, expiryWarningDays: 0 },
      T0,
    );
    expect(c.reason).toBe('Valid');
  });
});

// ---------------------------------------------------------------------------------------------
// Through decide(): the member's cause becomes its health reason, and the pair's Ready reason.

const POLICY: Policy = {
  enabled: true,
  delaySeconds: 0,
  failback: 'Manual',
  failbackStableSeconds: 30,
  minSecondsBetweenFailovers: 10,
  preferredMember: 'primary',
  failureThreshold: 3,
  successThreshold: 1,
  protocol: 'reference',
  licence: SRC,
};

function healthy(role: 'active' | 'standby', licence?: LicenceReport, epoch = 1): MemberObservation {
  return {
    pod: {
      phase: 'Running',
      deleting: false,
      ready: true,
      readyTransitionAt: T0 - 900_000,
      containerTerminated: false,
    },
    probe: {
      consecutiveSuccesses: 100,
      consecutiveFailures: 0,
      lastSuccessAt: T0 - 1000,
      successSince: T0 - 600_000,
    },
    server: {
      role,
      epoch,
      replication: 'in-sync',
      inSyncSince: T0 - 600_000,
      ...(licence ? { licence } : {}),
    },
  };
}
const waitingPod = (patch: Partial<PodObservation>): MemberObservation => ({
  pod: pending(patch),
  probe: { consecutiveSuccesses: 0, consecutiveFailures: 0 },
});
const newPair = (
  p: MemberObservation,
  r: MemberObservation,
  extra: Partial<Observation> = {},
): Observation => ({
  members: { primary: p, redundant: r },
  status: { liveMember: '', epoch: 0, failoverCount: 0 },
  ...extra,
});
const refused: LicenceReport = { state: 'invalid', code: 'MALFORMED', message: 'not JSON' };
const good: LicenceReport = {
  state: 'valid',
  message: 'ok',
  firstExpiry: { feature: 'synth', at: T0 + 400 * DAY },
};
const ready = (o: Observation, policy = POLICY) =>
  decide(o, policy, T0).conditions.find((c) => c.type === 'Ready')!;

describe('decide: the pair names the cause', () => {
  it('a new pair whose pods wait for a missing Secret: Ready False LicenceSecretMissing (Degraded too), nobody promoted', () => {
    const w = waitingPod({ waiting: { reason: 'ContainerCreating' } });
    const d = decide(newPair(w, w, { licenceSecret: { state: 'missing' } }), POLICY, T0);
    expect(d.action).toBe('none');
    expect(d.phase).toBe('Pending');
    expect(d.reason).toBe('LicenceSecretMissing');
    const c = Object.fromEntries(d.conditions.map((x) => [x.type, x]));
    expect(c['Ready']).toMatchObject({ status: 'False', reason: 'LicenceSecretMissing' });
    expect(c['Ready']!.message).toMatch(/^both members: the licence Secret eda-licence does not exist/);
    expect(c['Degraded']).toMatchObject({ status: 'Unknown', reason: 'LicenceSecretMissing' });
    expect(c['LicenceValid']).toMatchObject({ status: 'False', reason: 'LicenceSecretMissing' });
    expect(d.members.primary).toMatchObject({ health: 'Unhealthy', reason: 'LicenceSecretMissing' });
  });

  it('both members refused the licence: nobody is promoted, Ready names it', () => {
    const d = decide(newPair(healthy('standby', refused, 0), healthy('standby', refused, 0)), POLICY, T0);
    expect(d.action).toBe('none');
    expect(ready(newPair(healthy('standby', refused, 0), healthy('standby', refused, 0)))).toMatchObject({
      status: 'False',
      reason: 'LicenceInvalid',
    });
    expect(d.members.primary).toMatchObject({
      health: 'Unhealthy',
      reason: 'LicenceInvalid',
      eligibleForFailover: false,
    });
  });

  it('a member that cannot serve is not made live while one that can exists', () => {
    const d = decide(newPair(healthy('standby', refused, 0), healthy('standby', good, 0)), POLICY, T0);
    expect(d).toMatchObject({ action: 'initial-promote', promote: 'redundant' });
  });

  it('the live member loses its licence (expired), the standby has one: failover', () => {
    const expired: LicenceReport = { state: 'expired', code: 'EXPIRED', message: 'gone' };
    const o: Observation = {
      members: { primary: healthy('active', expired), redundant: healthy('standby', good) },
      status: {
        liveMember: 'primary',
        epoch: 1,
        failoverCount: 0,
        liveSince: T0 - 800_000,
        lastFailoverAt: T0 - 3_600_000,
      },
    };
    const d = decide(o, POLICY, T0);
    expect(d).toMatchObject({ action: 'failover', live: 'redundant', reason: 'LicenceExpired' });
  });

  it('the live member runs but its pod is not Ready: Ready False LiveMemberNotReady', () => {
    const live = healthy('active', good);
    live.pod = { ...live.pod!, ready: false, readyTransitionAt: T0 - 900_000 };
    const o: Observation = {
      members: { primary: live, redundant: healthy('standby', good) },
      status: { liveMember: 'primary', epoch: 1, failoverCount: 0, liveSince: T0 - 800_000 },
    };
    expect(ready(o)).toMatchObject({ status: 'False', reason: 'LiveMemberNotReady' });
  });

  it('the standby cannot pull its image: the pair serves, StandbyReady names the cause', () => {
    const o: Observation = {
      members: {
        primary: healthy('active', good),
        redundant: waitingPod({ waiting: { reason: 'ErrImagePull' } }),
      },
      status: { liveMember: 'primary', epoch: 1, failoverCount: 0, liveSince: T0 - 800_000 },
    };
    const d = decide(o, POLICY, T0);
    const c = Object.fromEntries(d.conditions.map((x) => [x.type, x]));
    expect(c['Ready']!.status).toBe('True');
    expect(c['StandbyReady']).toMatchObject({ status: 'False', reason: 'ImagePullFailed' });
    expect(d.members.redundant.health).toBe('Unhealthy');
  });

  it('every cause reason is reachable through decide()', () => {
    const seen = new Set<string>();
    const pods: Partial<PodObservation>[] = [
      { unschedulable: 'no node' },
      { waiting: { reason: 'ImagePullBackOff' } },
      { waiting: { reason: 'CreateContainerConfigError' } },
      { phase: 'Running', waiting: { reason: 'CrashLoopBackOff' }, containerTerminated: true },
    ];
    for (const p of pods) seen.add(ready(newPair(waitingPod(p), waitingPod(p))).reason);
    for (const s of [{ state: 'missing' }, { state: 'missingKeys', keys: ['k'] }] as LicenceSecretCheck[])
      seen.add(ready(newPair(waitingPod({}), waitingPod({}), { licenceSecret: s })).reason);
    for (const code of ['MALFORMED', 'BAD_SIGNATURE', 'EXPIRED']) {
      const r: LicenceReport = { state: code === 'EXPIRED' ? 'expired' : 'invalid', code, message: 'm' };
      seen.add(ready(newPair(healthy('standby', r, 0), healthy('standby', r, 0))).reason);
    }
    expect([...seen].sort()).toEqual([...CAUSE_REASONS].sort());
  });
});
