// When the member's TLS certificate and its CA bundle expire, as gauges on the metrics port, so
// that an alert can fire days before clients and the peer start refusing the member (its log
// says so only once it has happened). Registered only with TLS on: a plaintext member has no
// certificate, and a gauge of 0 would read as "expired in 1970".
import { Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import type { TlsSummary } from './tls-credentials.ts';

export const TLS_CERTIFICATE_EXPIRY_METRIC = 'license_server_tls_certificate_expiry_timestamp_seconds';
export const TLS_CA_EXPIRY_METRIC = 'license_server_tls_ca_expiry_timestamp_seconds';

/** What the gauges read: the summary of the set in force, and a way to hear of the next one. */
export type TlsExpirySource = {
  readonly summary: TlsSummary;
  onChange(listener: () => void): void;
};

const seconds = (iso: string): number => Date.parse(iso) / 1000;

export function exportTlsExpiry(registry: Registry, credentials: TlsExpirySource): void {
  const certificate = new Gauge({
    name: TLS_CERTIFICATE_EXPIRY_METRIC,
    help: "Expiry (notAfter, unix seconds) of the member's TLS certificate in force",
    registers: [registry],
  });
  const ca = new Gauge({
    name: TLS_CA_EXPIRY_METRIC,
    help: "Earliest expiry (notAfter, unix seconds) among the CAs of the member's TLS CA bundle",
    registers: [registry],
  });
  const update = (): void => {
    const s = credentials.summary;
    certificate.set(seconds(s.notAfter));
    ca.set(seconds(s.caNotAfter));
  };
  update();
  // Set on a reload rather than read at each scrape: the summary changes only then.
  credentials.onChange(update);
}
