// The promotion accepting data loss (docs/reliability.md, "Promoting a member that is not
// promotable, accepting data loss") on real licence-server processes, the real API server and the
// operator. The live member serves alone (its standby cut off), then is cut off from the operator
// too while a client on its side still reaches it: the pair is Unavailable, its standby not
// promotable. `lspctl pair promote --accept-data-loss --yes --wait` asks for the standby; the
// operator promotes it only once the old member cannot grant any more, and what was acknowledged
// alone is lost, as the command said. Packet filters on loopback addresses, as in split-brain.
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { PairStatus } from '../../src/api/pair.ts';
import { createNamespace, deleteNamespace, eventually, kube, type Kube } from '../support/kube.ts';
import { kubectl } from '../support/kubectl.ts';
import { requestOnNewConnection } from '../support/http.ts';
import {
  memberIPs,
  startOperatedLoopbackPair,
  type MemberName,
  type OperatedLoopbackPair,
} from '../support/members.ts';
import { ensureCrd } from '../support/operator.ts';
import { lspctl } from '../support/lspctl.ts';
import { otherMember } from '../../src/api/pair.ts';
import { CUT_SIDES, healAddresses, partitionAddresses } from '../support/partition.ts';
import { ServingSampler } from '../support/serving-sampler.ts';

const PAIR = 'loss';
const ANNOTATION = 'lpo.dev/promote-accepting-data-loss';
const GROUP = { group: 'lpo.dev', version: 'v1alpha1', plural: 'licenseserverpairs' };
const HOST = CUT_SIDES.host;
const ISOLATED_SIDE = CUT_SIDES.isolatedSide;
const SAMPLER = CUT_SIDES.sampler;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let k: Kube;
let ns: string;
let loopback: OperatedLoopbackPair;

async function status(): Promise<PairStatus> {
  const p = (await k.custom.getNamespacedCustomObject({ ...GROUP, namespace: ns, name: PAIR })) as {
    status?: PairStatus;
  };
  return p.status ?? {};
}

async function annotate(value: string): Promise<void> {
  await k.custom.patchNamespacedCustomObject(
    { ...GROUP, namespace: ns, name: PAIR, body: { metadata: { annotations: { [ANNOTATION]: value } } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
}

async function events(reason: string): Promise<k8s.CoreV1Event[]> {
  const list = await k.core.listNamespacedEvent({
    namespace: ns,
    fieldSelector: `involvedObject.name=${PAIR},involvedObject.kind=LicenseServerPair,reason=${reason}`,
  });
  return list.items;
}

async function post(member: MemberName, path: string, json: unknown, from: string) {
  const r = await requestOnNewConnection(`${loopback.members[member].clientUrl}${path}`, {
    json,
    localAddress: from,
    timeoutMs: 1500,
  });
  return { status: r.status, body: JSON.parse(r.body) as { code?: string; lease?: { id: string } } };
}

async function checkout(member: MemberName, clientId: string, from = HOST): Promise<string | undefined> {
  const r = await post(
    member,
    '/v1/checkout',
    { feature: 'synth', clientId, user: clientId, host: 'loss' },
    from,
  );
  return r.status === 200 ? r.body.lease?.id : undefined;
}

async function leaseIds(member: MemberName, from = HOST): Promise<string[]> {
  const r = await requestOnNewConnection(`${loopback.members[member].adminUrl}/v1/admin/leases`, {
    localAddress: from,
    headers: { authorization: `Bearer ${loopback.fx.token}` },
    timeoutMs: 1500,
  });
  return (JSON.parse(r.body) as { leases: { id: string }[] }).leases.map((l) => l.id);
}

beforeAll(async () => {
  process.env.KUBECONFIG = inject('kubeconfig');
  k = kube();
  await ensureCrd(kubectl);
  ns = await createNamespace(k, 'loss');
  loopback = await startOperatedLoopbackPair(k, ns, PAIR, {
    healthCheck: { periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 2, successThreshold: 1 },
    failover: { failback: 'Manual', minSecondsBetweenFailovers: 1 },
  });
  await eventually(
    'the pair Running, the standby in sync',
    async () => {
      const s = await status();
      const cond = (t: string) => s.conditions?.find((c) => c.type === t)?.status;
      return s.phase === 'Running' && cond('Ready') === 'True' && cond('StandbyReady') === 'True';
    },
    60_000,
    200,
  );
});

afterAll(async () => {
  healAddresses();
  await loopback?.stop();
  await deleteNamespace(k, ns);
});

describe('promoting the member marked not promotable, accepting data loss', () => {
  it('the member that served alone is lost: a stale request is refused, the command promotes the other once no grant can be valid, never two granting, and the request cannot fire again', async () => {
    const before = await status();
    const live = before.liveMember as MemberName;
    const standby = otherMember(live);
    const leaseBefore = await checkout(live, 'before-the-episode');
    expect(leaseBefore).toBeDefined();
    await eventually('the standby has the first lease', async () =>
      (await leaseIds(standby)).includes(leaseBefore!),
    );

    const sampler = new ServingSampler(loopback, SAMPLER);
    sampler.start();
    const isolatedOk: number[] = [];
    let isolatedRunning = true;
    const isolatedClient = (async () => {
      // A client on the cut-off member's side checks its lease out again and again (one seat):
      // each answer is a change acknowledged, so it needs a right, as long as that member has one.
      while (isolatedRunning) {
        const id = await checkout(live, 'isolated', ISOLATED_SIDE).catch(() => undefined);
        if (id) isolatedOk.push(Date.now());
        await sleep(200);
      }
    })();
    try {
      // The live member loses its standby: it is granted to serve alone, and its standby marked.
      partitionAddresses(memberIPs[live], memberIPs[standby]);
      const episode = await eventually(
        'the live member serving alone',
        async () => {
          const s = await status();
          return s.servingAlone?.member === live ? s.servingAlone : undefined;
        },
        15_000,
      );
      const leaseAlone = await eventually(
        'a checkout acknowledged alone',
        () => checkout(live, 'served-alone'),
        10_000,
        300,
      );
      // Now its node is "gone": the operator cannot reach it, its clients still can.
      partitionAddresses(memberIPs[live], HOST);
      const cutAt = Date.now();
      const unavailable = await eventually(
        'no member live, the standby not promotable',
        async () => {
          const s = await status();
          const ready = s.conditions?.find((c) => c.type === 'Ready');
          return s.liveMember === '' && ready?.reason === 'StandbyNotPromotable' ? s : undefined;
        },
        20_000,
      );
      expect(unavailable.servingAlone).toEqual(episode);
      expect((await loopback.members[standby].status()).role).toBe('standby');

      // A request left from an earlier episode never fires: refused, recorded, a Warning Event.
      const stale = `${standby}@${new Date(Date.parse(episode.since) - 3_600_000).toISOString()}#old`;
      await annotate(stale);
      const refused = await eventually('the stale request refused', async () => {
        const r = (await status()).dataLossPromotion;
        return r?.request === stale ? r : undefined;
      });
      expect(refused).toMatchObject({ outcome: 'Refused', reason: 'StaleEpisode' });
      const refusedEvent = await eventually(
        'the DataLossPromotionRefused Event',
        async () => (await events('DataLossPromotionRefused'))[0],
      );
      expect(refusedEvent.type).toBe('Warning');
      expect(refusedEvent.message).toContain('StaleEpisode');
      expect((await status()).liveMember).toBe('');

      // The command: what is lost, then the request; --wait until the operator has carried it out.
      const asked = Date.now();
      const cli = await lspctl([
        'pair',
        'promote',
        PAIR,
        '-n',
        ns,
        '--accept-data-loss',
        '--yes',
        '--wait',
        '--timeout',
        '60s',
      ]);
      expect(cli.code, `${cli.out}\n${cli.err}`).toBe(0);
      expect(cli.out).toContain(
        `gives up every lease change the ${live} member acknowledged alone since ${episode.since}`,
      );
      expect(cli.out).toMatch(new RegExp(`${standby} is live \\(epoch \\d+\\), promoted accepting the loss`));

      const after = await status();
      const record = after.dataLossPromotion!;
      expect(record).toMatchObject({
        outcome: 'Promoted',
        reason: 'DataLossAccepted',
        member: standby,
        epoch: after.epoch,
        servedAlone: episode,
      });
      expect(record.request.startsWith(`${standby}@${episode.since}#`)).toBe(true);
      expect(after.liveMember).toBe(standby);
      expect(after.epoch).toBe((before.epoch ?? 0) + 1);
      expect(after.lastFailover).toMatchObject({
        from: '',
        to: standby,
        action: 'promote-accepting-data-loss',
      });
      // the promoted member serves alone in turn: the old one must resync before it is promotable
      expect(after.servingAlone?.member).toBe(standby);
      const promoted = await eventually(
        'the PromotedWithDataLoss Event',
        async () => (await events('PromotedWithDataLoss'))[0],
      );
      expect(promoted.type).toBe('Warning');
      expect(promoted.message).toContain(`since ${new Date(Date.parse(episode.since)).toISOString()}`);
      expect(promoted.message).toContain(record.request);
      // If the request came while a grant could still be valid, the operator said it waits.
      const pending = await events('DataLossPromotionPending');
      if (pending.length > 0) expect(pending[0]!.message).toContain('GrantMayBeValid');

      // Never two granting; the cut-off member granted nothing once the standby could.
      const grantingAt = await eventually('the promoted member granting', async () =>
        sampler.firstGranting.get(`${standby}@${after.epoch}`),
      );
      expect(grantingAt).toBeGreaterThan(asked);
      expect(isolatedOk.filter((t) => t >= grantingAt)).toEqual([]);
      expect(isolatedOk.some((t) => t > cutAt)).toBe(true); // it did serve its side for a while
      expect(sampler.twoGranting).toEqual([]);

      // What was acknowledged with the standby is kept; what was acknowledged alone is lost.
      const onPromoted = await leaseIds(standby);
      expect(onPromoted).toContain(leaseBefore);
      expect(onPromoted).not.toContain(leaseAlone);
      // it serves: new checkouts are granted (alone, under the operator's grants)
      await eventually(
        'a checkout on the promoted member',
        () => checkout(standby, 'after-promotion'),
        10_000,
        300,
      );

      // Healed: the old member steps down, resyncs from the promoted one, and drops what it had alone.
      healAddresses();
      await eventually(
        'the old member a standby again, without what it acknowledged alone',
        async () => {
          const s = await loopback.members[live].status();
          const ids = await leaseIds(live);
          return (
            s.role === 'standby' &&
            s.replication.state === 'in-sync' &&
            !ids.includes(leaseAlone) &&
            ids.includes(leaseBefore!)
          );
        },
        40_000,
        500,
      );
      await eventually(
        'the promoted member resynced (no member serves alone)',
        async () => (await status()).servingAlone === undefined,
        40_000,
      );
      expect(sampler.twoGranting).toEqual([]);

      // The handled value is inert; written again after another one, it is judged again, and the
      // episode it names is over: refused, nothing moves.
      await annotate('not a request');
      await eventually(
        'the malformed request refused',
        async () => (await status()).dataLossPromotion?.reason === 'Malformed',
      );
      await annotate(record.request);
      await eventually('the old request refused', async () => {
        const r = (await status()).dataLossPromotion;
        return r?.request === record.request && r.outcome === 'Refused';
      });
      await sleep(3000);
      const end = await status();
      expect(end.liveMember).toBe(standby);
      expect(end.epoch).toBe(after.epoch);
    } finally {
      isolatedRunning = false;
      sampler.stop();
      healAddresses();
      await isolatedClient;
    }
  }, 240_000);
});
