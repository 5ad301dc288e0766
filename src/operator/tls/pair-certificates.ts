// Each member's certificate Secret and the pair's CA ConfigMap, kept issued and renewed from the
// installation CA (member-secret-plan.ts decides). What was found is remembered until the next
// renewal is due or the CA changes, so a steady pair costs no reads.
import type * as k8s from '@kubernetes/client-node';
import { MEMBERS, type LicenseServerPair, type Member } from '../../api/pair.ts';
import { memberIdentity, parseIdentity } from '../../tls/identity.ts';
import { issueMemberCertificate } from '../../tls/member-certificate.ts';
import { renewalTime } from '../../tls/renewal.ts';
import { memberLabels, ownerReference, pairLabels } from '../child-metadata.ts';
import { childNames } from '../child-names.ts';
import type { InstallationCa, IssuingCa } from './installation-ca.ts';
import { memberDnsNames } from './member-names.ts';
import { planMemberSecret, type MemberSecretData } from './member-secret-plan.ts';

export const CA_BUNDLE_KEY = 'ca.crt';
/** Read again at least this often: a Secret deleted or edited by hand is put back within it. */
const RECHECK_MS = 5 * 60_000;

export type PairCertificateState =
  | {
      ok: true;
      expires: Record<Member, Date>;
      renewAt: Date;
      /** certificates issued by this call, and why (for an Event) */
      issued?: { member: Member; why: string; notAfter: Date }[];
    }
  | { ok: false; message: string };

export interface PairCertificateIo {
  readSecret(namespace: string, name: string): Promise<k8s.V1Secret | undefined>;
  readConfigMap(namespace: string, name: string): Promise<k8s.V1ConfigMap | undefined>;
  /** server-side apply (skipped when `live` already carries this desired state) */
  apply(desired: k8s.KubernetesObject, live?: k8s.KubernetesObject): Promise<unknown>;
}

export type PairCertificateOptions = {
  memberLifetimeMs: number;
  clusterDomain: string;
  now?: () => number;
};

export class PairCertificates {
  private readonly ca: InstallationCa;
  private readonly io: PairCertificateIo;
  private readonly opts: PairCertificateOptions;
  private readonly now: () => number;
  private readonly known = new Map<
    string,
    { caPem: string; bundle: string; checkedAt: number; state: PairCertificateState & { ok: true } }
  >();

  constructor(ca: InstallationCa, io: PairCertificateIo, opts: PairCertificateOptions) {
    this.ca = ca;
    this.io = io;
    this.opts = opts;
    this.now = opts.now ?? Date.now;
  }

  forget(key: string): void {
    this.known.delete(key);
  }

  /** The pair's member certificates, issued or renewed as needed. Never throws: a failure is a state. */
  async ensure(pair: LicenseServerPair): Promise<PairCertificateState> {
    const key = `${pair.metadata.namespace}/${pair.metadata.name}`;
    try {
      const ca = await this.ca.current();
      const k = this.known.get(key);
      const due = k ? Math.min(k.state.renewAt.getTime(), k.checkedAt + RECHECK_MS) : 0;
      if (k && k.caPem === ca.authority.certPem && k.bundle === ca.bundle && this.now() < due) return k.state;
      const state = await this.reconcile(pair, ca, k?.bundle);
      const { issued: _issued, ...steady } = state;
      this.known.set(key, {
        caPem: ca.authority.certPem,
        bundle: ca.bundle,
        checkedAt: this.now(),
        state: steady,
      });
      return state;
    } catch (err) {
      this.known.delete(key);
      return { ok: false, message: (err as Error).message };
    }
  }

  private async reconcile(
    pair: LicenseServerPair,
    ca: IssuingCa,
    appliedBundle: string | undefined,
  ): Promise<PairCertificateState & { ok: true }> {
    const now = new Date(this.now());
    const held = await Promise.all(MEMBERS.map((m) => this.memberCertificate(pair, m, ca, now)));
    // The ConfigMap changes only with the bundle: written once per bundle by this process.
    if (appliedBundle !== ca.bundle) await this.io.apply(caConfigMap(pair, ca.bundle));
    const issued = held.flatMap((h, i) =>
      h.issuedWhy !== undefined ? [{ member: MEMBERS[i]!, why: h.issuedWhy, notAfter: h.notAfter }] : [],
    );
    return {
      ok: true,
      expires: { primary: held[0]!.notAfter, redundant: held[1]!.notAfter },
      renewAt: new Date(Math.min(...held.map((h) => h.renewAt.getTime()))),
      ...(issued.length > 0 ? { issued } : {}),
    };
  }

  /** One member's certificate: kept, given the new bundle, or issued (and why). */
  private async memberCertificate(
    pair: LicenseServerPair,
    member: Member,
    ca: IssuingCa,
    now: Date,
  ): Promise<{ notAfter: Date; renewAt: Date; issuedWhy?: string }> {
    const { namespace, name } = pair.metadata;
    const live = await this.io.readSecret(namespace, childNames(name).tlsSecret[member]);
    const dnsNames = memberDnsNames(name, namespace, member, this.opts.clusterDomain);
    const identity = parseIdentity(memberIdentity(`${namespace}/${name}`, member))!;
    const plan = planMemberSecret(
      decode(live),
      { identity, dnsNames, caCertPem: ca.authority.certPem, bundle: ca.bundle },
      now,
    );
    if (plan.action === 'keep') return { notAfter: plan.notAfter, renewAt: plan.renewAt };
    if (plan.action === 'bundle') {
      const [cert, key] = [text(live, 'tls.crt')!, text(live, 'tls.key')!];
      await this.io.apply(memberSecret(pair, member, cert, key, ca.bundle), live);
      return { notAfter: plan.notAfter, renewAt: plan.renewAt };
    }
    const issued = await issueMemberCertificate(ca.authority, {
      pairId: `${namespace}/${name}`,
      member,
      dnsNames,
      lifetimeMs: this.opts.memberLifetimeMs,
      now,
    });
    await this.io.apply(memberSecret(pair, member, issued.certPem, issued.keyPem, ca.bundle), live);
    return { notAfter: issued.notAfter, renewAt: renewalTime(issued), issuedWhy: plan.why };
  }
}

function text(secret: k8s.V1Secret | undefined, key: string): string | undefined {
  const v = secret?.data?.[key];
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
}

function decode(secret: k8s.V1Secret | undefined): MemberSecretData | undefined {
  if (!secret) return undefined;
  const out: MemberSecretData = {};
  const cert = text(secret, 'tls.crt');
  const key = text(secret, 'tls.key');
  const bundle = text(secret, CA_BUNDLE_KEY);
  if (cert !== undefined) out.cert = cert;
  if (key !== undefined) out.key = key;
  if (bundle !== undefined) out.bundle = bundle;
  return out;
}

function memberSecret(
  pair: LicenseServerPair,
  member: Member,
  cert: string,
  key: string,
  bundle: string,
): k8s.V1Secret {
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: {
      name: childNames(pair.metadata.name).tlsSecret[member],
      namespace: pair.metadata.namespace,
      labels: memberLabels(pair, member),
      ownerReferences: [ownerReference(pair)],
    },
    data: { 'tls.crt': b64(cert), 'tls.key': b64(key), [CA_BUNDLE_KEY]: b64(bundle) },
  };
}

/** The CA bundle clients verify the pair with, readable without access to Secrets. */
export function caConfigMap(pair: LicenseServerPair, bundle: string): k8s.V1ConfigMap {
  return bundleConfigMap(pair, childNames(pair.metadata.name).caConfigMap, pairLabels(pair), bundle);
}

/** A CA bundle (key ca.crt) in a ConfigMap owned by the pair. */
export function bundleConfigMap(
  pair: LicenseServerPair,
  name: string,
  labels: Record<string, string>,
  bundle: string,
): k8s.V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace: pair.metadata.namespace, labels, ownerReferences: [ownerReference(pair)] },
    data: { [CA_BUNDLE_KEY]: bundle },
  };
}
