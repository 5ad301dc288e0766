// The installation CA, kept in a Secret of the operator's namespace: read, created when missing,
// rotated by ca-plan.ts. Several operator replicas may race: every write carries the
// resourceVersion it read, and a conflict means "read again".
import type * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import {
  issueCertificateAuthority,
  loadCertificateAuthority,
  type CertificateAuthority,
} from '../../tls/certificate-authority.ts';
import { addToBundle } from '../../tls/trust-bundle.ts';
import { planCa, type CaSecretData } from './ca-plan.ts';

export const CA_SECRET_NAME = 'license-pair-operator-ca';
const NEXT_ACTIVE_AT = 'lpo.dev/next-ca-active-at';
/** Re-read at least this often: another replica (a new leader) may have rotated it. */
const REREAD_MS = 60_000;

/** The Secret calls the CA needs; `replace` is false on a conflict (someone wrote it since). */
export interface SecretIo {
  read(namespace: string, name: string): Promise<k8s.V1Secret | undefined>;
  create(secret: k8s.V1Secret): Promise<boolean>;
  replace(secret: k8s.V1Secret): Promise<boolean>;
}

export type CaLifetimes = {
  /** how long a new CA is valid */
  caLifetimeMs: number;
  /** how long a next CA is in the bundle before it issues */
  propagationMs: number;
};

export type IssuingCa = {
  authority: CertificateAuthority;
  /** PEM of every CA to trust */
  bundle: string;
};

export class InstallationCa {
  private cached: { ca: IssuingCa; until: number } | undefined;
  private loading: Promise<IssuingCa> | undefined;

  private readonly io: SecretIo;
  private readonly namespace: string;
  private readonly lifetimes: CaLifetimes;
  private readonly log: Logger;
  private readonly now: () => number;
  /** Called when the issuing CA or the bundle changed: every pair's Secrets need the new one. */
  onChange: (() => void) | undefined;

  constructor(
    io: SecretIo,
    namespace: string,
    lifetimes: CaLifetimes,
    log: Logger,
    now: () => number = Date.now,
  ) {
    this.io = io;
    this.namespace = namespace;
    this.lifetimes = lifetimes;
    this.log = log;
    this.now = now;
  }

  /** The CA that issues now and the bundle; read (and rotated) again when due. */
  async current(): Promise<IssuingCa> {
    if (this.cached && this.now() < this.cached.until) return this.cached.ca;
    this.loading ??= this.load().finally(() => (this.loading = undefined));
    return this.loading;
  }

  private async load(): Promise<IssuingCa> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const secret = await this.io.read(this.namespace, CA_SECRET_NAME);
      const have = secret ? decode(secret) : undefined;
      const now = new Date(this.now());
      const plan = planCa(have, now);
      if (plan.action === 'keep') {
        const before = this.cached?.ca;
        const ca = {
          authority: await loadCertificateAuthority(have!.cert!, have!.key!),
          bundle: have!.bundle!,
        };
        this.cached = { ca, until: Math.min(plan.recheckAt.getTime(), this.now() + REREAD_MS) };
        if (before && (before.authority.certPem !== ca.authority.certPem || before.bundle !== ca.bundle))
          this.onChange?.();
        return ca;
      }
      const next = await this.apply(plan, have, now);
      const written = secret
        ? await this.io.replace(encode(this.namespace, next, secret.metadata?.resourceVersion))
        : await this.io.create(encode(this.namespace, next));
      if (written)
        this.log.info(
          { secret: `${this.namespace}/${CA_SECRET_NAME}`, why: plan.why },
          `installation CA: ${plan.action}`,
        );
    }
    throw new Error(`the CA Secret ${this.namespace}/${CA_SECRET_NAME} kept changing while it was written`);
  }

  private async apply(
    plan: Exclude<ReturnType<typeof planCa>, { action: 'keep' }>,
    have: CaSecretData | undefined,
    now: Date,
  ): Promise<CaSecretData> {
    const fresh = () =>
      issueCertificateAuthority({
        commonName: `license-pair-operator CA ${now.toISOString().slice(0, 10)}`,
        lifetimeMs: this.lifetimes.caLifetimeMs,
        now,
      });
    switch (plan.action) {
      case 'issue': {
        const ca = await fresh();
        return { cert: ca.certPem, key: ca.keyPem, bundle: ca.certPem };
      }
      case 'prepare-next': {
        const ca = await fresh();
        return {
          ...have,
          nextCert: ca.certPem,
          nextKey: ca.keyPem,
          nextActiveAt: new Date(now.getTime() + this.lifetimes.propagationMs),
          bundle: addToBundle(have!.bundle!, ca.certPem, now),
        };
      }
      case 'activate-next':
        return {
          cert: have!.nextCert!,
          key: have!.nextKey!,
          bundle: addToBundle(have!.bundle!, have!.nextCert!, now),
        };
      case 'rebundle':
        return { ...have, bundle: plan.bundle };
    }
  }
}

function text(secret: k8s.V1Secret, key: string): string | undefined {
  const v = secret.data?.[key];
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
}

function decode(secret: k8s.V1Secret): CaSecretData {
  const at = secret.metadata?.annotations?.[NEXT_ACTIVE_AT];
  const out: CaSecretData = {};
  const set = (k: keyof CaSecretData, key: string) => {
    const v = text(secret, key);
    if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  };
  set('cert', 'tls.crt');
  set('key', 'tls.key');
  set('bundle', 'ca.crt');
  set('nextCert', 'next.crt');
  set('nextKey', 'next.key');
  if (at !== undefined && Number.isFinite(Date.parse(at))) out.nextActiveAt = new Date(at);
  return out;
}

function encode(namespace: string, d: CaSecretData, resourceVersion?: string): k8s.V1Secret {
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  const data: Record<string, string> = {};
  if (d.cert) data['tls.crt'] = b64(d.cert);
  if (d.key) data['tls.key'] = b64(d.key);
  if (d.bundle) data['ca.crt'] = b64(d.bundle);
  if (d.nextCert && d.nextKey) {
    data['next.crt'] = b64(d.nextCert);
    data['next.key'] = b64(d.nextKey);
  }
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: {
      name: CA_SECRET_NAME,
      namespace,
      labels: {
        'app.kubernetes.io/managed-by': 'license-pair-operator',
        'app.kubernetes.io/component': 'ca',
      },
      ...(resourceVersion ? { resourceVersion } : {}),
      ...(d.nextActiveAt && d.nextCert
        ? { annotations: { [NEXT_ACTIVE_AT]: d.nextActiveAt.toISOString() } }
        : {}),
    },
    data,
  };
}
