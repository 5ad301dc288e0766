// The pair's series after each reconcile: readiness and its reason, the licence in force, which
// member is live, health, certificates, serving alone. Sets gauges only; no I/O.
import { MEMBERS, otherMember, type LicenseServerPair, type PairStatus } from '../api/pair.ts';
import type { Decision } from './decision.ts';
import type { Observation } from './observation.ts';
import type { Metrics, PairSeries } from './metrics.ts';

export function exportPairMetrics(
  metrics: Metrics,
  series: PairSeries,
  pair: LicenseServerPair,
  decision: Decision,
  status: PairStatus,
  obs: Observation,
): void {
  const { namespace, name } = pair.metadata;
  const m = metrics;
  const sel = { namespace, pair: name };
  const ready = decision.conditions.find((c) => c.type === 'Ready');
  series.setReady(namespace, name, ready?.status === 'True', ready?.reason ?? 'Unknown');
  // The licence in force: the live member's, else the other's.
  const first = decision.live === '' ? pair.spec.preferredMember : decision.live;
  const licence = [first, otherMember(first)]
    .map((mb) => obs.members[mb].server?.licence)
    .find((l) => l?.state === 'valid');
  if (licence?.firstExpiry) m.pairLicenceExpiry.set(sel, licence.firstExpiry.at / 1000);
  else m.pairLicenceExpiry.remove(sel);
  m.pairLicenceWarning.set(sel, pair.spec.server.license.expiryWarningDays * 86_400);
  m.pairLicenceUpdateRefused.set(sel, licence?.lastError !== undefined ? 1 : 0);
  series.setInfo(namespace, name, decision.live, decision.phase);
  m.pairLive.set(sel, decision.live === '' ? 0 : 1);
  for (const member of MEMBERS) {
    const expires = status.members?.[member]?.certificateExpires;
    if (expires) m.memberCertificateExpiry.set({ ...sel, member }, Date.parse(expires) / 1000);
    else m.memberCertificateExpiry.remove({ ...sel, member });
    m.pairLiveMember.set({ ...sel, member }, decision.live === member ? 1 : 0);
    m.memberHealthy.set({ ...sel, member }, decision.members[member].healthy ? 1 : 0);
  }
  const standby = decision.live === '' ? undefined : otherMember(decision.live);
  m.pairStandbyReady.set(sel, standby && decision.members[standby].eligibleForFailover ? 1 : 0);
  m.pairServingAlone.set(sel, decision.serving.alone ? 1 : 0);
  if (status.liveSince) m.pairLiveSince.set(sel, Date.parse(status.liveSince) / 1000);
  m.pairOnPreferred.set(sel, decision.live === pair.spec.preferredMember ? 1 : 0);
}
