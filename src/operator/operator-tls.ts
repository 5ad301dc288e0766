import type { Logger } from 'pino';
import type { KubeWriter } from '../kube/writer.ts';
import type { Metrics } from './metrics.ts';
import type { ReconcilerDeps } from './reconciler.ts';
import { InstallationCa } from './tls/installation-ca.ts';
import { operatorContexts } from './tls/member-endpoint.ts';
import { OperatorCertificate } from './tls/operator-certificate.ts';
import { PairCertificates, type PairCertificateIo } from './tls/pair-certificates.ts';
import { ProvidedCertificates } from './tls/provided-certificates.ts';

/** Where the installation CA lives and how long the certificates the operator issues live. */
export interface TlsSettings {
  operatorNamespace: string;
  caLifetimeMs: number;
  caPropagationMs: number;
  memberLifetimeMs: number;
  operatorLifetimeMs: number;
  clusterDomain: string;
}

/** How often the operator's own certificate is checked for renewal (it renews at two thirds). */
const OPERATOR_CERT_CHECK_MS = 60_000;

/**
 * The certificates of an installation, all from its one CA: the members' (issued, or provided and
 * checked) for the reconciler, and the operator's own client certificate for calling them.
 */
export class OperatorTls {
  readonly certificates: NonNullable<ReconcilerDeps['certificates']>;
  private readonly operatorCertificate: OperatorCertificate;
  private readonly metrics: Metrics;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;

  /** `onCaChange`: the installation CA changed (every pair's certificates and trust follow it). */
  constructor(
    writer: Pick<
      KubeWriter,
      'readSecret' | 'readConfigMap' | 'createIfAbsent' | 'replaceSecret' | 'applyIfChanged'
    >,
    settings: TlsSettings,
    metrics: Metrics,
    log: Logger,
    onCaChange: () => void,
  ) {
    this.metrics = metrics;
    this.log = log;
    const ca = new InstallationCa(
      {
        read: (ns, name) => writer.readSecret(ns, name),
        create: (secret) => writer.createIfAbsent(secret),
        replace: (secret) => writer.replaceSecret(secret),
      },
      settings.operatorNamespace,
      { caLifetimeMs: settings.caLifetimeMs, propagationMs: settings.caPropagationMs },
      log,
    );
    ca.onChange = onCaChange;
    this.operatorCertificate = new OperatorCertificate(ca, settings.operatorLifetimeMs);
    const io: PairCertificateIo = {
      readSecret: (ns, name) => writer.readSecret(ns, name),
      readConfigMap: (ns, name) => writer.readConfigMap(ns, name),
      apply: (desired, live) => writer.applyIfChanged(desired, live),
    };
    const pairCertificates = new PairCertificates(ca, io, {
      memberLifetimeMs: settings.memberLifetimeMs,
      clusterDomain: settings.clusterDomain,
    });
    const providedCertificates = new ProvidedCertificates(ca, io, { clusterDomain: settings.clusterDomain });
    this.certificates = {
      pairs: pairCertificates,
      provided: providedCertificates,
      operatorContext: operatorContexts(this.operatorCertificate, providedCertificates),
    };
  }

  /** Loads the operator's certificate, then keeps it renewed. */
  async start(): Promise<void> {
    await this.refreshOperatorCertificate();
    this.timer = setInterval(() => void this.refreshOperatorCertificate(), OPERATOR_CERT_CHECK_MS);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The operator's client certificate for TLS members; a failure is logged and retried on the timer. */
  private async refreshOperatorCertificate(): Promise<void> {
    try {
      await this.operatorCertificate.refresh();
      const notAfter = this.operatorCertificate.notAfter;
      if (notAfter) this.metrics.operatorCertificateExpiry.set(notAfter.getTime() / 1000);
    } catch (err) {
      this.log.error(
        { err: (err as Error).message },
        'could not load the installation CA or issue the operator certificate',
      );
    }
  }
}
