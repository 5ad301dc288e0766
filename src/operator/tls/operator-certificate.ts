// The operator's own client certificate (identity spiffe://license-pair-operator/operator), kept
// in memory only: issued from the installation CA at start and again at two thirds of its
// lifetime, or as soon as the issuing CA changes. Members admit admin calls with it.
import { createSecureContext, type SecureContext } from 'node:tls';
import { issueOperatorCertificate } from '../../tls/client-certificate.ts';
import { shouldRenew } from '../../tls/renewal.ts';
import type { InstallationCa } from './installation-ca.ts';

export class OperatorCertificate {
  private readonly ca: InstallationCa;
  private readonly lifetimeMs: number;
  private readonly now: () => number;
  private held:
    | {
        context: SecureContext;
        certPem: string;
        keyPem: string;
        notBefore: Date;
        notAfter: Date;
        caPem: string;
        bundle: string;
        /** contexts with other CAs to verify members with (Provided pairs), by their PEM */
        trusting: Map<string, SecureContext>;
      }
    | undefined;
  private renewing: Promise<void> | undefined;

  constructor(ca: InstallationCa, lifetimeMs: number, now: () => number = Date.now) {
    this.ca = ca;
    this.lifetimeMs = lifetimeMs;
    this.now = now;
  }

  /** The context for calls to members: the bundle to verify them and the certificate to present. */
  async context(): Promise<SecureContext> {
    const ca = await this.ca.current();
    const h = this.held;
    const due =
      !h ||
      h.caPem !== ca.authority.certPem ||
      h.bundle !== ca.bundle ||
      shouldRenew({ notBefore: h.notBefore, notAfter: h.notAfter }, new Date(this.now()));
    if (due) {
      this.renewing ??= this.renew().finally(() => (this.renewing = undefined));
      await this.renewing;
    }
    return this.held!.context;
  }

  /** The context issued last, for calls made now (undefined until the first refresh succeeded). */
  current(): SecureContext | undefined {
    return this.held?.context;
  }

  /**
   * The certificate issued last with `cas` (PEM) to verify the members instead of the installation
   * bundle: members whose certificates the user provides (spec.tls.mode Provided).
   */
  currentTrusting(cas: string): SecureContext | undefined {
    const h = this.held;
    if (!h) return undefined;
    let context = h.trusting.get(cas);
    if (!context) {
      context = createSecureContext({ ca: cas, cert: h.certPem, key: h.keyPem });
      // A few pairs' CAs at most; a CA rotation of theirs adds one, the next renewal starts over.
      if (h.trusting.size >= 64) h.trusting.clear();
      h.trusting.set(cas, context);
    }
    return context;
  }

  /** Renews when due (the CA changed, two thirds of the lifetime passed); the caller does this on a timer. */
  async refresh(): Promise<void> {
    await this.context();
  }

  /** When the certificate in use expires (for the metric), once issued. */
  get notAfter(): Date | undefined {
    return this.held?.notAfter;
  }

  private async renew(): Promise<void> {
    const ca = await this.ca.current();
    const issued = await issueOperatorCertificate(ca.authority, {
      lifetimeMs: this.lifetimeMs,
      now: new Date(this.now()),
    });
    this.held = {
      context: createSecureContext({ ca: ca.bundle, cert: issued.certPem, key: issued.keyPem }),
      certPem: issued.certPem,
      keyPem: issued.keyPem,
      trusting: new Map(),
      notBefore: issued.notBefore,
      notAfter: issued.notAfter,
      caPem: ca.authority.certPem,
      bundle: ca.bundle,
    };
  }
}
