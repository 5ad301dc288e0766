// The members' certificates when the user provides them (`spec.tls.mode: Provided`): the Secrets
// named in spec.tls.secretNames are read by name (never listed or watched), checked
// (provided-check.ts), and, when both can serve, the members' trust ConfigMap and the clients'
// CA ConfigMap are written. A user CA the Secrets no longer hold stays in both ConfigMaps for
// PROVIDED_CA_OVERLAP_MS (provided-trust.ts), so that an issuer's CA rotation refuses nothing
// while the kubelet brings each pod the new files. Nothing is issued and the user's Secrets are never written. A pair's
// Secrets are read again at most every PROVIDED_RECHECK_MS while they are good, every
// CERTIFICATE_RETRY_MS while they are not (a fix shows within seconds, without watching every
// Secret of the namespace), and at once when the pair's spec changes.
import type { LicenseServerPair, Member } from '../../api/pair.ts';
import { MEMBERS } from '../../api/pair.ts';
import { memberIdentity } from '../../tls/identity.ts';
import { renewalTime } from '../../tls/renewal.ts';
import type { InstallationCa } from './installation-ca.ts';
import { memberDnsNames } from './member-names.ts';
import { caConfigMap, type PairCertificateIo } from './pair-certificates.ts';
import {
  checkProvidedSecret,
  PROVIDED_KEYS,
  type ProvidedDefect,
  type ProvidedKey,
  type ProvidedSecretFinding,
} from './provided-check.ts';
import { childNames } from '../child-names.ts';
import {
  memberTrustBundle,
  trustConfigMap,
  trustedUserCas,
  unionBundle,
  type UserCaSet,
} from './provided-trust.ts';
import { refusedRecheck } from '../refused-recheck.ts';

/** Good Secrets are read again at most this often (and when the pair's spec changes). */
export const PROVIDED_RECHECK_MS = 30_000;
/** Certificates that cannot serve (a broken Secret, a failed issue) are looked at again this often. */
export const CERTIFICATE_RETRY_MS = 5_000;
/** A steady pair is reconciled at least this often to look at its Secrets (a renewal, an edit). */
const STEADY_RECHECK_MS = 5 * 60_000;
/** A certificate in the last sixth of its life was not renewed when cert-manager (by default) would have. */
export const OVERDUE_FRACTION = 5 / 6;

export type ProvidedCertificateState =
  | {
      ok: true;
      mode: 'Provided';
      expires: Record<Member, Date>;
      /** when to look at the Secrets again even if nothing else wakes the pair */
      renewAt: Date;
      /** a certificate whose renewal is overdue (still valid) */
      overdue?: { member: Member; secret: string; notAfter: Date };
      issued?: undefined;
    }
  | { ok: false; mode: 'Provided'; reason: ProvidedDefect | 'CheckFailed'; message: string };

type Known = { spec: string; bundle: string; checkedAt: number; state: ProvidedCertificateState };

export class ProvidedCertificates {
  private readonly ca: InstallationCa;
  private readonly io: PairCertificateIo;
  private readonly clusterDomain: string;
  private readonly now: () => number;
  private readonly known = new Map<string, Known>();
  /** Per pair: the user's CAs in the Secrets as last read (what the operator verifies members with). */
  private readonly trusted = new Map<string, string>();
  /** Per pair: the user CAs trusted after the last read, with those kept for the overlap. */
  private readonly userCas = new Map<string, UserCaSet>();
  /** Per pair: the ConfigMap contents written by this process (written again only when they change). */
  private readonly written = new Map<string, { trust: string; clients: string }>();

  constructor(
    ca: InstallationCa,
    io: PairCertificateIo,
    opts: { clusterDomain: string; now?: () => number },
  ) {
    this.ca = ca;
    this.io = io;
    this.clusterDomain = opts.clusterDomain;
    this.now = opts.now ?? Date.now;
  }

  forget(key: string): void {
    this.known.delete(key);
    this.trusted.delete(key);
    this.userCas.delete(key);
    this.written.delete(key);
  }

  /**
   * `refused`: the operator's last call to a member of the pair failed on its certificate, most
   * likely one its issuer renewed from a new CA that this process has not read yet. Forget the
   * last read so the next reconcile reads the Secrets again (at most every CERTIFICATE_RETRY_MS)
   * instead of waiting out PROVIDED_RECHECK_MS; returns when to come back.
   */
  recheckIfRefused(key: string, refused: boolean): number | undefined {
    const k = this.known.get(key);
    if (!k || !refused) return undefined;
    const r = refusedRecheck(k.checkedAt, CERTIFICATE_RETRY_MS, this.now());
    if (r.forget) this.known.delete(key);
    return r.afterMs;
  }

  /** The user's CAs (PEM) the operator verifies the pair's members with; undefined before a first read. */
  trustedCa(key: string): string | undefined {
    return this.trusted.get(key);
  }

  /** Reads (when due) and checks the pair's Secrets. Never throws: a failure is a state. */
  async ensure(pair: LicenseServerPair): Promise<ProvidedCertificateState> {
    const key = `${pair.metadata.namespace}/${pair.metadata.name}`;
    const spec = `${pair.metadata.uid}/${pair.metadata.generation}/${JSON.stringify(pair.spec.tls)}`;
    try {
      const { bundle } = await this.ca.current();
      const k = this.known.get(key);
      const fresh = k?.state.ok ? PROVIDED_RECHECK_MS : CERTIFICATE_RETRY_MS;
      if (k && k.spec === spec && k.bundle === bundle && this.now() < k.checkedAt + fresh) return k.state;
      const state = await this.check(pair, key, bundle);
      this.known.set(key, { spec, bundle, checkedAt: this.now(), state });
      return state;
    } catch (err) {
      this.known.delete(key);
      return {
        ok: false,
        mode: 'Provided',
        reason: 'CheckFailed',
        message: `could not read the members' Secrets or load the installation CA (the members must trust its operator certificate): ${(err as Error).message}`,
      };
    }
  }

  private async check(
    pair: LicenseServerPair,
    key: string,
    installationBundle: string,
  ): Promise<ProvidedCertificateState> {
    const { namespace, name } = pair.metadata;
    const names = pair.spec.tls.secretNames;
    if (!names)
      return {
        ok: false,
        mode: 'Provided',
        reason: 'SecretMissing',
        message:
          'spec.tls.mode is Provided but spec.tls.secretNames is not set; name each member’s kubernetes.io/tls Secret there',
      };
    const now = new Date(this.now());
    const read = await Promise.all(
      MEMBERS.map(async (m) => decode(await this.io.readSecret(namespace, names[m]))),
    );
    const findings: ProvidedSecretFinding[] = MEMBERS.map((m, i) =>
      checkProvidedSecret({
        member: m,
        namespace,
        secretName: names[m],
        data: read[i],
        identity: memberIdentity(key, m),
        dnsNames: memberDnsNames(name, namespace, m, this.clusterDomain),
        now,
      }),
    );
    // The operator verifies the members with the CAs their Secrets hold now, even when a Secret
    // is broken otherwise: the kubelet gives the members what the Secrets hold.
    // With CAs no Secret holds any more, still in their overlap.
    const previous = this.userCas.get(key) ?? (await this.trustedBefore(pair));
    const set = trustedUserCas(unionBundle(...read.map((d) => d?.['ca.crt'] ?? '')), previous, this.now());
    this.userCas.set(key, set);
    const cas = set.cas;
    if (cas !== '') this.trusted.set(key, cas);

    const bad = findings.find((f): f is ProvidedSecretFinding & { ok: false } => !f.ok);
    if (bad) return { ok: false, mode: 'Provided', reason: bad.reason, message: bad.message };
    const good = findings as (ProvidedSecretFinding & { ok: true })[];

    // Both can serve: the members' trust and the clients' bundle follow the user's CAs (each
    // finding's caPem is its Secret's ca.crt, so `cas` is their union, with the retired ones).
    const trust = memberTrustBundle([cas], installationBundle);
    const clients = cas;
    const was = this.written.get(key);
    if (was?.trust !== trust) await this.io.apply(trustConfigMap(pair, trust));
    if (was?.clients !== clients) await this.io.apply(caConfigMap(pair, clients));
    this.written.set(key, { trust, clients });

    const t = now.getTime();
    const overdueAt = good.map((f) => renewalTime(f, OVERDUE_FRACTION).getTime());
    const overdueIndex = overdueAt.findIndex((at) => at <= t);
    const next = [
      t + STEADY_RECHECK_MS,
      ...overdueAt.filter((at) => at > t),
      ...good.map((f) => f.notAfter.getTime()),
      ...set.retired.map((r) => r.until),
    ];
    return {
      ok: true,
      mode: 'Provided',
      expires: { primary: good[0]!.notAfter, redundant: good[1]!.notAfter },
      renewAt: new Date(Math.min(...next)),
      ...(overdueIndex >= 0
        ? {
            overdue: {
              member: MEMBERS[overdueIndex]!,
              secret: names[MEMBERS[overdueIndex]!],
              notAfter: good[overdueIndex]!.notAfter,
            },
          }
        : {}),
    };
  }

  /**
   * A process that has not read this pair's Secrets yet (it just started) takes the clients'
   * bundle it finds as what was trusted before: a CA in it that the Secrets no longer hold starts
   * its overlap now (a restart can lengthen an overlap, never cut one short).
   */
  private async trustedBefore(pair: LicenseServerPair): Promise<UserCaSet | undefined> {
    const { namespace, name } = pair.metadata;
    const cm = await this.io.readConfigMap(namespace, childNames(name).caConfigMap);
    const cas = cm?.data?.['ca.crt'];
    return cas ? { cas, retired: [] } : undefined;
  }
}

function decode(
  secret: { data?: Record<string, string> } | undefined,
): Partial<Record<ProvidedKey, string>> | undefined {
  if (!secret) return undefined;
  const out: Partial<Record<ProvidedKey, string>> = {};
  for (const k of PROVIDED_KEYS) {
    const v = secret.data?.[k];
    if (v !== undefined) out[k] = Buffer.from(v, 'base64').toString('utf8');
  }
  return out;
}
