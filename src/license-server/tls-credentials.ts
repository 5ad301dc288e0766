// The member's TLS files (certificate, key, CA bundle), loaded at start and reloaded when they
// change, without a restart. Kubernetes updates a mounted Secret by swapping a symlink
// (..data) to a new directory, which neither changes the files' own inodes nor fires a watch on
// the file path reliably, so the contents are read again on a timer (three small files a second).
// A new set is used only once it forms a usable context (key matches certificate, bundle
// parses); otherwise the loaded one stays and the refusal is logged. Nothing secret is logged:
// the key is never, certificates by subject, identity, serial and expiry.
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { describeIdentity, identitiesOf } from '../tls/identity.ts';
import { parseCertificates } from '../tls/pem.ts';
import { ConfigError } from './config.ts';
import { RepeatFilter } from './repeat-filter.ts';
import type { TlsFiles } from './config.ts';

/** PEM texts as read from the files. */
export type TlsMaterial = { cert: string; key: string; ca: string };

export type TlsSummary = {
  subject: string;
  identities: string[];
  serialNumber: string;
  notBefore: string;
  notAfter: string;
  /** subjects of the CAs in the bundle */
  ca: string[];
  /** the earliest notAfter among the bundle's CAs: the first that must be replaced */
  caNotAfter: string;
  /** whether a CA of the bundle issued the certificate (the peer checks it against its own bundle) */
  issuedByBundle: boolean;
};

function read(files: TlsFiles): TlsMaterial {
  return {
    cert: fs.readFileSync(files.certFile, 'utf8'),
    key: fs.readFileSync(files.keyFile, 'utf8'),
    ca: fs.readFileSync(files.caFile, 'utf8'),
  };
}

/** Check that `m` makes a TLS context and describe it; throws with the reason otherwise. */
export function inspect(m: TlsMaterial): TlsSummary {
  const [leaf] = parseCertificates(m.cert);
  if (!leaf) throw new Error('the certificate file holds no PEM certificate');
  const cas = parseCertificates(m.ca);
  if (cas.length === 0) throw new Error('the CA bundle file holds no PEM certificate');
  // the same check the servers make: a key that does not belong to the certificate fails here
  tls.createSecureContext({ cert: m.cert, key: m.key, ca: m.ca });
  return {
    subject: leaf.subject,
    identities: identitiesOf(leaf).map(describeIdentity),
    serialNumber: leaf.serialNumber,
    notBefore: new Date(leaf.validFrom).toISOString(),
    notAfter: new Date(leaf.validTo).toISOString(),
    ca: cas.map((c) => c.subject),
    caNotAfter: new Date(Math.min(...cas.map((c) => Date.parse(c.validTo)))).toISOString(),
    issuedByBundle: cas.some((ca: X509Certificate) => leaf.checkIssued(ca) && leaf.verify(ca.publicKey)),
  };
}

const same = (a: TlsMaterial, b: TlsMaterial): boolean =>
  a.cert === b.cert && a.key === b.key && a.ca === b.ca;

export class TlsCredentials {
  private readonly files: TlsFiles;
  private readonly log: Logger;
  private current: TlsMaterial;
  private summaryValue: TlsSummary;
  /** the last set refused, so a bad set is reported once, not every poll */
  private refused: TlsMaterial | undefined;
  private readonly listeners: ((m: TlsMaterial) => void)[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly repeats = new RepeatFilter();

  /** Load the files; a set that cannot serve is a configuration error (the member does not start). */
  constructor(files: TlsFiles, log: Logger) {
    this.files = files;
    this.log = log;
    try {
      this.current = read(files);
      this.summaryValue = inspect(this.current);
    } catch (err) {
      throw new ConfigError(
        `TLS files (${files.certFile}, ${files.keyFile}, ${files.caFile}) cannot be used: ${(err as Error).message}`,
      );
    }
    this.report('tls: certificates loaded');
    this.timer = setInterval(() => this.poll(), files.reloadMs);
    this.timer.unref();
  }

  get material(): TlsMaterial {
    return this.current;
  }

  get summary(): TlsSummary {
    return this.summaryValue;
  }

  /** Called with each new set of files once it is in force. */
  onChange(listener: (m: TlsMaterial) => void): void {
    this.listeners.push(listener);
  }

  /** Read the files again now (also what the timer does). */
  poll(): void {
    let next: TlsMaterial;
    try {
      next = read(this.files);
    } catch (err) {
      // a Secret mid-swap can be missing for a moment; the next poll sees the new one
      this.refuse(undefined, `cannot read the TLS files: ${(err as Error).message}`);
      return;
    }
    if (same(next, this.current) || (this.refused && same(next, this.refused))) return;
    let summary: TlsSummary;
    try {
      summary = inspect(next);
    } catch (err) {
      this.refuse(next, (err as Error).message);
      return;
    }
    this.current = next;
    this.summaryValue = summary;
    this.refused = undefined;
    for (const l of this.listeners) l(next);
    this.report('tls: certificates reloaded');
  }

  close(): void {
    clearInterval(this.timer);
  }

  private refuse(m: TlsMaterial | undefined, reason: string): void {
    if (m) this.refused = m;
    if (this.repeats.fresh(reason))
      this.log.warn({ reason }, 'tls: new certificate files refused; the loaded ones stay in force');
  }

  private report(msg: string): void {
    const s = this.summaryValue;
    this.log.info({ tls: s }, msg);
    const now = Date.now();
    if (Date.parse(s.notAfter) <= now)
      this.log.warn(
        { notAfter: s.notAfter },
        'tls: the certificate has expired: clients and the peer will refuse it',
      );
    else if (Date.parse(s.notBefore) > now)
      this.log.warn({ notBefore: s.notBefore }, 'tls: the certificate is not valid yet (clock skew?)');
    if (!s.issuedByBundle)
      this.log.warn(
        { subject: s.subject, ca: s.ca },
        'tls: no CA of the bundle issued this certificate: a peer using the same bundle will refuse it',
      );
  }
}
